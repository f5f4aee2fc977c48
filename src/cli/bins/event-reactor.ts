import { configureArchiveCommand } from '../archive-command.js';
import { configureCheckConfigCommand } from '../check-config-command.js';
import { newProgram, runProgram, VERSION } from '../commander-program.js';
import { configureDaemonCommand } from '../daemon-command.js';
import { configureDlqCommand } from '../dlq-command.js';
import { configureEventsCommand, configureResultsCommand } from '../events-command.js';
import { configureFireCommand } from '../fire-command.js';
import { configureReplayCommand } from '../replay-command.js';
import { configureInstallCommand } from '../install-command.js';
import { configureKeysCommand } from '../keys-command.js';
import { runMain } from '../run-main.js';
import { configureStatusCommand } from '../status-command.js';
import { configureTestEventCommand } from '../test-event-command.js';
import { configureUpCommand } from '../up-command.js';
import { configureWebCommand } from '../web-command.js';

/**
 * `event-reactor <command>`. Each command loads what it works with only when it runs,
 * so `event-reactor router` costs what `event-router` does.
 */
export function main(): void {
  runMain((argv) => {
    const result = { code: 0 };
    const program = newProgram('event-reactor', 'event-reactor: ZeroMQ event router, subscriber and handler workers').version(VERSION);
    for (const part of ['router', 'sub', 'worker', 'inputs'] as const) configureDaemonCommand(program.command(part).exitOverride(), part, result);
    configureFireCommand(program.command('fire').exitOverride(), result);
    configureCheckConfigCommand(program.command('check-config').exitOverride(), result);
    configureDlqCommand(program.command('dlq').exitOverride(), result);
    configureUpCommand(program.command('up').exitOverride(), result);
    configureStatusCommand(program.command('status').exitOverride(), result);
    configureKeysCommand(program.command('keys').exitOverride(), result);
    configureEventsCommand(program.command('events').exitOverride(), result);
    configureResultsCommand(program.command('results').exitOverride(), result);
    configureReplayCommand(program.command('replay').exitOverride(), result);
    configureArchiveCommand(program.command('archive').exitOverride(), result);
    configureInstallCommand(program.command('install').exitOverride(), result);
    configureTestEventCommand(program.command('test-event').exitOverride(), result);
    configureWebCommand(program.command('web').exitOverride(), result);
    return runProgram(program, argv, result);
  });
}
