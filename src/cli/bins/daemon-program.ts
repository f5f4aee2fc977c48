import type { Command } from 'commander';
import type { Part } from '../../daemons/start-daemons.js';
import { newProgram, runProgram, VERSION } from '../commander-program.js';
import { runMain } from '../run-main.js';

/** The `main()` of `event-router`, `event-sub` or `event-worker`: one daemon each. */
export function daemonProgram(part: Part, configure: (cmd: Command, part: Part, result: { code: number }) => Command): () => void {
  return () =>
    runMain((argv) => {
      const result = { code: 0 };
      return runProgram(configure(newProgram(`event-${part}`, '').version(VERSION), part, result), argv, result);
    });
}
