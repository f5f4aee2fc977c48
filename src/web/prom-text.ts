/** One sample of the Prometheus text format: `name{label="value",...} 12.5`. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /\s*([A-Za-z_]\w*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/gy;

/**
 * Parse Prometheus text exposition (version 0.0.4, what prom-client serves). Comment
 * lines are skipped, and so is any line that does not parse: a scrape is read for the few
 * counters the console charts, not validated.
 */
export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const value = Number(m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') continue;
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    let pos = 0;
    for (let l = LABEL.exec(body); l; l = LABEL.exec(body)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
      pos = LABEL.lastIndex;
    }
    if (body.slice(pos).trim() !== '') continue;
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/**
 * The sum of the samples named `name` whose labels include `match`, or undefined when
 * there is none (a counter that has never been incremented has no labelled sample yet, so
 * callers that know the metric exists treat undefined as 0).
 */
export function sumOf(samples: readonly PromSample[], name: string, match: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    total = (total ?? 0) + s.value;
  }
  return total;
}
