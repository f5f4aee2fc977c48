import { copyFileSync, constants, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import {
  PUBLIC_SUFFIX,
  SECRET_SUFFIX,
  readCertificate,
  readKeyPair,
  writeCertificates,
  type Certificate,
  type KeyPair,
  type WrittenCertificates,
} from './certs.js';

/**
 * Where the certificates live in `security.keys_dir`:
 * - `server.key` / `server.key_secret`: the router's pair (clients need `server.key`);
 * - `local.key` / `local.key_secret`: the pair the daemons and CLIs on this host use;
 * - `clients/NAME.key`: the public certificate of each authorized client.
 */
export const SERVER = 'server';
export const LOCAL = 'local';
export const CLIENTS_DIR = 'clients';

/** The router's own key pair. @throws {ConfigError} naming the file */
export function serverKeyPair(keysDir: string): KeyPair {
  return readKeyPair(join(keysDir, `${SERVER}${SECRET_SUFFIX}`));
}

/** What a client on this host needs: the server's public key and the local pair. @throws {ConfigError} naming the file */
export function localClientKeys(keysDir: string): ClientKeys {
  return { serverKey: readCertificate(join(keysDir, `${SERVER}${PUBLIC_SUFFIX}`)).publicKey, ...readKeyPair(join(keysDir, `${LOCAL}${SECRET_SUFFIX}`)) };
}

/**
 * The keys this host's daemons and CLIs connect to the router with: the local pair under
 * `security.curve`, none (plain ZMTP) otherwise.
 *
 * @throws {ConfigError} naming the file when CURVE is on and a certificate is missing or unsafe
 */
export function clientKeysFor(security: { curve: boolean; keysDir: string }): ClientKeys | undefined {
  return security.curve ? localClientKeys(security.keysDir) : undefined;
}

/** A CURVE client's keys: the server's public key and its own pair (Z85). */
export interface ClientKeys extends KeyPair {
  serverKey: string;
}

/** What `keys init` did, file by file. */
export interface InitReport {
  server: WrittenCertificates;
  local: WrittenCertificates;
  /** `clients/local.key`, written when missing. */
  localAuthorized: { file: string; created: boolean };
}

/**
 * Create `keysDir` (mode 0700) with the server and local pairs and authorize the local
 * one. Existing certificates are kept, never overwritten.
 *
 * @throws {ConfigError} when a directory cannot be made or a half pair is found
 */
export function initKeys(keysDir: string): InitReport {
  makeDir(keysDir, 0o700);
  makeDir(join(keysDir, CLIENTS_DIR), 0o755);
  const server = writeCertificates(keysDir, SERVER);
  const local = writeCertificates(keysDir, LOCAL);
  const localAuthorized = authorize(keysDir, LOCAL, local.public);
  return { server, local, localAuthorized };
}

/**
 * Make a pair for client `name` in `outDir` and authorize it (its public certificate into
 * `keysDir/clients`).
 *
 * @throws {ConfigError} when the client is already authorized or its files exist
 */
export function addClient(keysDir: string, name: string, outDir: string): { written: WrittenCertificates; authorized: string } {
  if (!/^[\w.-]{1,64}$/.test(name) || name === '.' || name === '..') {
    throw new ConfigError([{ file: keysDir, path: '', message: `"${name}" is not a client name: letters, digits, "_", "." or "-", 1-64 characters` }]);
  }
  const target = join(keysDir, CLIENTS_DIR, `${name}${PUBLIC_SUFFIX}`);
  if (authorizedNames(keysDir).includes(name))
    throw new ConfigError([{ file: target, path: '', message: `client "${name}" is already authorized; remove its certificate first to replace it` }]);
  makeDir(outDir, 0o700);
  const written = writeCertificates(outDir, name);
  if (!written.created)
    throw new ConfigError([
      { file: written.secret, path: '', message: 'a certificate pair with this name exists already; existing keys are never overwritten' },
    ]);
  return { written, authorized: authorize(keysDir, name, written.public).file };
}

/** Names of the authorized clients (`clients/*.key`), sorted. */
export function authorizedNames(keysDir: string): string[] {
  try {
    return readdirSync(join(keysDir, CLIENTS_DIR))
      .filter((f) => f.endsWith(PUBLIC_SUFFIX))
      .map((f) => f.slice(0, -PUBLIC_SUFFIX.length))
      .sort();
  } catch {
    return [];
  }
}

/** The public certificate of an authorized client. @throws {ConfigError} naming the file */
export function clientCertificate(keysDir: string, name: string): Certificate {
  return readCertificate(join(keysDir, CLIENTS_DIR, `${name}${PUBLIC_SUFFIX}`));
}

function authorize(keysDir: string, name: string, publicFile: string): { file: string; created: boolean } {
  const file = join(keysDir, CLIENTS_DIR, `${name}${PUBLIC_SUFFIX}`);
  try {
    copyFileSync(publicFile, file, constants.COPYFILE_EXCL);
    return { file, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { file, created: false };
    throw new ConfigError([{ file, path: '', message: `cannot authorize client: ${(err as Error).message}` }], { cause: err });
  }
}

function makeDir(dir: string, mode: number): void {
  try {
    mkdirSync(dir, { recursive: true, mode });
  } catch (err) {
    throw new ConfigError([{ file: dir, path: '', message: `cannot create directory: ${(err as Error).message}` }], { cause: err });
  }
}
