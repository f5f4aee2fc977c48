export { main } from './main.js';
export { runDaemonProgram, runFireProgram, runReactorProgram } from './programs.js';
