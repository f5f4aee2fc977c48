import { dirname, isAbsolute, resolve } from 'node:path';

/** Where config.json is looked for when neither `-c` nor `EVENT_REACTOR_CONFIG` is given. */
export const DEFAULT_CONFIG_PATH = '/etc/event-reactor/config.json';

/** Resolve a path from a config file against the directory of that file. */
export function resolveFrom(configFile: string, p: string): string {
  return isAbsolute(p) ? p : resolve(dirname(configFile), p);
}

/** Turn a bind address (`tcp://*:55000`) into one a local client can connect to. */
export function connectUri(bindUri: string): string {
  return bindUri.replace('://*:', '://127.0.0.1:').replace('://0.0.0.0:', '://127.0.0.1:');
}
