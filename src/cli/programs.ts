import { newProgram, runProgram } from './program.js';
import { configureDaemonCommand } from './daemon-command.js';
import { configureFireCommand } from './fire-command.js';
import { configureCheckConfigCommand } from './check-config-command.js';
import { configureDlqCommand } from './dlq-command.js';
import { configureUpCommand } from './up-command.js';
import { configureStatusCommand } from './status-command.js';
import type { Part } from './run-daemons.js';

const VERSION = '0.1.0';

/** `event-router`, `event-sub`, `event-worker`: one daemon each. */
export function runDaemonProgram(part: Part, argv: readonly string[]): Promise<number> {
  const result = { code: 0 };
  const program = configureDaemonCommand(newProgram(`event-${part}`, '').version(VERSION), part, result);
  return runProgram(program, argv, result);
}

/** `fire-event`. */
export function runFireProgram(argv: readonly string[]): Promise<number> {
  const result = { code: 0 };
  return runProgram(configureFireCommand(newProgram('fire-event', '').version(VERSION), result), argv, result);
}

/** `event-reactor <router|sub|worker|fire|check-config|dlq|up>`. */
export function runReactorProgram(argv: readonly string[]): Promise<number> {
  const result = { code: 0 };
  const program = newProgram('event-reactor', 'event-reactor: ZeroMQ event router, subscriber and handler workers').version(VERSION);
  for (const part of ['router', 'sub', 'worker'] as const) {
    configureDaemonCommand(program.command(part).exitOverride(), part, result);
  }
  configureFireCommand(program.command('fire').exitOverride(), result);
  configureCheckConfigCommand(program.command('check-config').exitOverride(), result);
  configureDlqCommand(program.command('dlq').exitOverride(), result);
  configureUpCommand(program.command('up').exitOverride(), result);
  configureStatusCommand(program.command('status').exitOverride(), result);
  return runProgram(program, argv, result);
}
