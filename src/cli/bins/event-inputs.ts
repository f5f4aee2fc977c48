import { configureDaemonCommand } from '../daemon-command.js';
import { daemonProgram } from './daemon-program.js';

/** `event-inputs`. */
export const main = daemonProgram('inputs', configureDaemonCommand);
