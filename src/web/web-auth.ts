import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { isLoopback, type ListenAddress } from '../http/listen-address.js';

/**
 * Who may use the web console.
 *
 * - On a loopback address it may run without a token: only this host reaches it (the
 *   same trust as the daemons' own `/metrics`). With a token set, it is required there too.
 * - On any other address it refuses to start without a token (as the router's protected
 *   mode refuses to bind without CURVE): it shows every event's payload and can retry and
 *   purge dead letters, so anyone on the network could otherwise do both.
 * - The token comes from env `EVENT_REACTOR_WEB_TOKEN`, or from `web.token_file`, a file
 *   only its owner may read or write (refused otherwise, as handler secrets are), and
 *   must be at least {@link MIN_TOKEN_CHARS} characters: it is the only thing between the
 *   network and the archive.
 * - Requests carry it as `Authorization: Bearer <token>`, or, for a browser, as a session
 *   cookie that `POST /login` sets after checking it (an HMAC of the login time keyed by
 *   the token: changing the token ends every session). `EventSource` cannot set headers,
 *   so `/api/stream` also takes `?token=`. Every comparison is in constant time.
 */

/** Shortest token accepted. */
export const MIN_TOKEN_CHARS = 16;
/** The environment variable that holds the token (it wins over `web.token_file`). */
export const TOKEN_ENV = 'EVENT_REACTOR_WEB_TOKEN';
/** How long a browser session lasts, in ms (12 hours). */
export const SESSION_MS = 12 * 3_600_000;

/** The console's token and where it came from (for the start-up log; never the token). */
export interface WebToken {
  token: string;
  source: string;
}

/**
 * The token from the environment, else from `tokenFile`; undefined when neither is set.
 *
 * @throws {ConfigError} naming the file (key `web.token_file`) or the variable when the
 *   token file is missing, unreadable, or readable or writable by others, or the token is
 *   too short
 */
export function readWebToken(tokenFile: string | undefined, configFile: string, env: NodeJS.ProcessEnv = process.env): WebToken | undefined {
  const fromEnv = env[TOKEN_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    checkStrength(fromEnv.trim(), { file: 'environment', path: TOKEN_ENV, message: '' });
    return { token: fromEnv.trim(), source: `env ${TOKEN_ENV}` };
  }
  if (tokenFile === undefined) return undefined;
  const where = { file: configFile, path: 'web.token_file' };
  let mode: number;
  try {
    mode = statSync(tokenFile).mode;
  } catch (err) {
    throw new ConfigError([{ ...where, message: `token file ${tokenFile} not found` }], { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    const shown = (mode & 0o777).toString(8).padStart(4, '0');
    throw new ConfigError([
      { ...where, message: `token file ${tokenFile} is readable or writable by others (mode ${shown}); fix with chmod 600 ${tokenFile}` },
    ]);
  }
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (err) {
    throw new ConfigError([{ ...where, message: `cannot read token file ${tokenFile}: ${(err as Error).message}` }], { cause: err });
  }
  checkStrength(token, { ...where, message: '' });
  return { token, source: tokenFile };
}

function checkStrength(token: string, where: ConfigProblem): void {
  if (token.length < MIN_TOKEN_CHARS || /\s/.test(token)) {
    throw new ConfigError([
      {
        ...where,
        message: `the web console's token must be at least ${MIN_TOKEN_CHARS} characters without spaces (make one with: head -c 32 /dev/urandom | base64)`,
      },
    ]);
  }
}

/**
 * Refuse a non-loopback address without a token: the message names the address and the
 * two ways out.
 *
 * @param where - where the address was set: `{file: config.json, path: 'http.web'}` or the `--http` flag
 * @throws {ConfigError} when `address` is not loopback and there is no token
 */
export function refuseExposedWithoutToken(address: ListenAddress, token: WebToken | undefined, where: { file: string; path: string }): void {
  if (token || isLoopback(address.host)) return;
  const shown = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  throw new ConfigError([
    {
      ...where,
      message:
        `protected mode: the web console refuses to listen on ${shown}, which other hosts can reach, without a token: ` +
        'anyone who reaches it could read every event and retry or purge dead letters. Either set a token ' +
        `("web.token_file": a file only its owner can read, or env ${TOKEN_ENV}), or listen on a loopback address ` +
        '("http.web": "127.0.0.1:9480", or --http 127.0.0.1:9480)',
    },
  ]);
}

/** True when `given` is `token`, compared in constant time (both hashed first, so lengths do not leak). */
export function sameSecret(given: string, token: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

function mac(token: string, issuedAt: number): string {
  return createHmac('sha256', token).update(`event-reactor web session ${issuedAt}`).digest('base64url');
}

/** The value of a session cookie issued at `now` (Unix ms). */
export function sessionValue(token: string, now: number): string {
  const issuedAt = Math.floor(now / 1000);
  return `${issuedAt}.${mac(token, issuedAt)}`;
}

/** True when `value` is a session cookie issued with `token` less than {@link SESSION_MS} before `now`. */
export function validSession(value: string, token: string, now: number): boolean {
  const m = /^(\d{1,12})\.([\w-]{43})$/.exec(value);
  if (!m) return false;
  const issuedAt = Number(m[1]);
  const age = now - issuedAt * 1000;
  if (age < -60_000 || age > SESSION_MS) return false;
  return timingSafeEqual(Buffer.from(m[2]!), Buffer.from(mac(token, issuedAt)));
}
