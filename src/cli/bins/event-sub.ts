import { configureDaemonCommand } from '../daemon-command.js';
import { daemonProgram } from './daemon-program.js';

/** `event-sub`. */
export const main = daemonProgram('sub', configureDaemonCommand);
