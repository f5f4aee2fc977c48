import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/**
 * Read a secret an input is configured with (a token, an HMAC key, a password), refusing
 * a file others can read or write, as handler secrets are refused (handlers/handler-env.ts):
 * the daemon would otherwise lend its authority to whoever else can read it. One trailing
 * newline is dropped.
 *
 * @param at - the config key path naming the file, for the error
 * @throws {ConfigError} naming the file and key when it is missing, unsafe, unreadable or empty
 */
export function readSecretFile(file: string, at: string): Buffer {
  const problem = (message: string): ConfigError => new ConfigError([{ file, path: at, message }]);
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    throw problem('secret file not found');
  }
  if ((mode & 0o077) !== 0) {
    throw problem(`secret file is readable or writable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); fix with chmod 600 ${file}`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw problem(`cannot read secret file: ${(err as Error).message}`);
  }
  if (text === '') throw problem('secret file is empty');
  return Buffer.from(text);
}
