import { configureFireCommand } from '../fire-command.js';
import { newProgram, runProgram, VERSION } from '../commander-program.js';
import { runMain } from '../run-main.js';

/** `fire-event`. */
export function main(): void {
  runMain((argv) => {
    const result = { code: 0 };
    return runProgram(configureFireCommand(newProgram('fire-event', '').version(VERSION), result), argv, result);
  });
}
