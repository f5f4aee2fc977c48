import { closeSync, constants, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { curveKeyPair } from 'zeromq';
import { ConfigError } from '../errors.js';
import { isCurveKey } from './z85.js';

/**
 * ZeroMQ certificate files, as czmq (zcert) and pyzmq (`zmq.auth.create_certificates`,
 * `load_certificate`) write and read them: ZPL text with a `curve` section holding
 * `public-key = "<Z85>"` and, in the secret certificate, `secret-key = "<Z85>"`.
 * `NAME.key` is the public certificate; `NAME.key_secret` holds both keys, mode 0600.
 */

/** A CURVE key pair as Z85 text; `secretKey` is absent in a public certificate. */
export interface Certificate {
  publicKey: string;
  secretKey?: string;
}

/** A certificate with both keys. */
export interface KeyPair {
  publicKey: string;
  secretKey: string;
}

export const PUBLIC_SUFFIX = '.key';
export const SECRET_SUFFIX = '.key_secret';

/**
 * Read a certificate file. A secret certificate must not be readable or writable by
 * group or others (as ssh demands of private keys).
 *
 * @throws {ConfigError} naming the file: missing, unreadable, no valid public key, a bad
 *   secret key, or too open a mode
 */
export function readCertificate(file: string): Certificate {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      [{ file, path: '', message: code === 'ENOENT' ? 'certificate file not found' : `cannot read certificate: ${(err as Error).message}` }],
      { cause: err },
    );
  }
  let publicKey: string | undefined;
  let secretKey: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    const m = /^(public-key|secret-key)\s*=\s*["']?([^"'\s]*)["']?\s*$/.exec(line);
    if (!m) continue;
    if (m[1] === 'public-key') publicKey ??= m[2];
    else secretKey ??= m[2];
  }
  const problem = (message: string): ConfigError => new ConfigError([{ file, path: '', message }]);
  if (publicKey === undefined) throw problem('no public-key in certificate (expected a ZeroMQ certificate: `public-key = "<40 Z85 characters>"`)');
  if (!isCurveKey(publicKey)) throw problem('public-key is not a 40-character Z85 CURVE key');
  if (secretKey === undefined) return { publicKey };
  if (!isCurveKey(secretKey)) throw problem('secret-key is not a 40-character Z85 CURVE key');
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw problem(`secret certificate is readable or writable by others (mode ${mode.toString(8).padStart(4, '0')}); fix with chmod 600 ${file}`);
  }
  return { publicKey, secretKey };
}

/**
 * Read a secret certificate (both keys).
 *
 * @throws {ConfigError} when the file holds only a public key, or as {@link readCertificate}
 */
export function readKeyPair(file: string): KeyPair {
  const cert = readCertificate(file);
  if (cert.secretKey === undefined) {
    throw new ConfigError([{ file, path: '', message: `holds no secret-key: give the secret certificate (${SECRET_SUFFIX}), not the public one` }]);
  }
  return { publicKey: cert.publicKey, secretKey: cert.secretKey };
}

/** A new CURVE key pair (libzmq's, via zeromq.js). */
export function newKeyPair(): KeyPair {
  return curveKeyPair();
}

/** What {@link writeCertificates} did with each file. */
export interface WrittenCertificates {
  public: string;
  secret: string;
  /** False when both files existed already and were left as they were. */
  created: boolean;
}

/**
 * Write `NAME.key` (mode 0644) and `NAME.key_secret` (mode 0600) into `dir`. Existing
 * certificates are never overwritten: when both exist, nothing is written; when only one
 * does, that is an error (a half pair cannot be used and must be looked at).
 *
 * @throws {ConfigError} when one of the two files exists without the other, or on a write failure
 */
export function writeCertificates(dir: string, name: string, pair: KeyPair = newKeyPair(), now: Date = new Date()): WrittenCertificates {
  const pub = join(dir, `${name}${PUBLIC_SUFFIX}`);
  const sec = join(dir, `${name}${SECRET_SUFFIX}`);
  const exists = [pub, sec].map((f) => fileExists(f));
  if (exists[0] && exists[1]) return { public: pub, secret: sec, created: false };
  if (exists[0] || exists[1]) {
    const [have, missing] = exists[0] ? [pub, sec] : [sec, pub];
    throw new ConfigError([
      { file: have, path: '', message: `exists without ${basename(missing)}; move it away or restore the pair (existing keys are never overwritten)` },
    ]);
  }
  const stamp = now.toISOString();
  writeNew(sec, 0o600, `${SECRET_BANNER.replace('{0}', stamp)}metadata\ncurve\n    public-key = "${pair.publicKey}"\n    secret-key = "${pair.secretKey}"\n`);
  writeNew(pub, 0o644, `${PUBLIC_BANNER.replace('{0}', stamp)}metadata\ncurve\n    public-key = "${pair.publicKey}"\n`);
  return { public: pub, secret: sec, created: true };
}

const SECRET_BANNER = `#   ****  Generated on {0} by event-reactor  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

`;
const PUBLIC_BANNER = `#   ****  Generated on {0} by event-reactor  ****
#   ZeroMQ CURVE Public Certificate
#   Exchange securely, or use a secure mechanism to verify the contents
#   of this file after exchange. Store public certificates in your home
#   directory, in the .curve subdirectory.

`;

/** Create `file` with `mode` (never replacing one: O_EXCL) and write `text`. */
function writeNew(file: string, mode: number, text: string): void {
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (err) {
    throw new ConfigError([{ file, path: '', message: `cannot create certificate: ${(err as Error).message}` }], { cause: err });
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

function fileExists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}
