import { configureDaemonCommand } from '../daemon-command.js';
import { daemonProgram } from './daemon-program.js';

/** `event-router`. */
export const main = daemonProgram('router', configureDaemonCommand);
