import { EXIT } from './exit-codes.js';

/**
 * Entry point of every bin (see cli/bins/): run a program on process.argv and exit with its code. The only place that
 * calls process.exit (open sockets and Redis connections would otherwise keep the
 * process alive after a clean shutdown).
 */
export function runMain(run: (argv: readonly string[]) => Promise<number>): void {
  run(process.argv).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(EXIT.SOFTWARE);
    },
  );
}
