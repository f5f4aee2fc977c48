/**
 * Bench output: progress on stderr, a human table on stdout, and one final JSON line on
 * stdout that run-all.ts (or a person with `tail -1`) reads.
 */

/** A progress line on stderr, prefixed with the bench name and seconds since start. */
export function progress(bench: string, message: string): void {
  const s = (performance.now() / 1000).toFixed(1);
  process.stderr.write(`[${bench} ${s}s] ${message}\n`);
}

/**
 * Print `rows` under `header` as an aligned plain-text table. `align` gives `l` or `r`
 * per column; default: the first column left, the others right.
 */
export function printTable(title: string, header: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r')[]): void {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const left = (c: number): boolean => (align ? align[c] === 'l' : c === 0);
  const line = (r: readonly string[]): string =>
    r
      .map((cell, c) => (left(c) ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd();
  const out = [`\n${title}`, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), ''];
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Print the one final JSON line. */
export function printJson(figures: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}
