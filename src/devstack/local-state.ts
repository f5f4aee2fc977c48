import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where `event-reactor up --local-services` writes the URLs of the servers it started,
 * so `status`, `dlq` and `events` run against the same config find them without flags.
 * One file per config file, in `$XDG_STATE_HOME/event-reactor` (default
 * `~/.local/state/event-reactor`), directory mode 0700 and file mode 0600: the Redis
 * URL holds its password.
 */
export interface LocalState {
  config: string;
  pid: number;
  redisUrl: string;
  mongoUrl: string;
  startedAt: string;
}

/** The state file of `configFile` (an absolute path). */
export function localStateFile(configFile: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_STATE_HOME'] || join(homedir(), '.local', 'state');
  const id = createHash('sha256').update(configFile).digest('hex').slice(0, 16);
  return join(base, 'event-reactor', `up-${id}.json`);
}

/** Record the servers `up` started; returns the file written. */
export function writeLocalState(state: LocalState, env: NodeJS.ProcessEnv = process.env): string {
  const file = localStateFile(state.config, env);
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** Forget them (at `up`'s exit). */
export function removeLocalState(configFile: string, env: NodeJS.ProcessEnv = process.env): void {
  rmSync(localStateFile(configFile, env), { force: true });
}

/**
 * The servers of a running `up` for `configFile`, or undefined when there is none: no
 * file, a file others could have written, or one whose `up` process has gone.
 */
export function readLocalState(configFile: string, env: NodeJS.ProcessEnv = process.env): LocalState | undefined {
  const file = localStateFile(configFile, env);
  try {
    const st = statSync(file);
    if ((st.mode & 0o022) !== 0 || (process.getuid && st.uid !== process.getuid())) return undefined;
    const state = JSON.parse(readFileSync(file, 'utf8')) as LocalState;
    if (state.config !== configFile || !alive(state.pid)) return undefined;
    return state;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
