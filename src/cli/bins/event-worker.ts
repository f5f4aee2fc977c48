import { configureDaemonCommand } from '../daemon-command.js';
import { daemonProgram } from './daemon-program.js';

/** `event-worker`. */
export const main = daemonProgram('worker', configureDaemonCommand);
