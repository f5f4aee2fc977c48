import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * Child processes a bench starts. Every one is killed when the bench exits, however it
 * exits, so a failed or interrupted run leaves nothing behind.
 */
export class ProcessSet {
  readonly #children = new Set<ChildProcess>();

  constructor() {
    process.once('exit', () => {
      for (const c of this.#children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }

  /** Spawn and track a process; spawn errors reject `exited` instead of being thrown. */
  spawn(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
    const child = spawn(command, args, options);
    this.#children.add(child);
    child.on('error', () => undefined);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Stop every process still running (SIGTERM, then SIGKILL after `graceMs`). */
  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all([...this.#children].map((c) => stopProcess(c, graceMs)));
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when `child` has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', reject);
  });
}

/** SIGTERM, then SIGKILL when it has not exited after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<Exit & { killed: boolean }> {
  const done = exited(child);
  if (child.exitCode !== null || child.signalCode !== null) return { ...(await done), killed: false };
  child.kill('SIGTERM');
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, graceMs);
  try {
    return { ...(await done), killed };
  } finally {
    clearTimeout(timer);
  }
}

/** Reject after `ms` with a message naming what was awaited. */
export function withTimeout<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The first IPC message from `child` that `match` accepts. Rejects when the child exits
 * first or after `timeoutMs`.
 */
export function nextMessage<T>(child: ChildProcess, match: (m: unknown) => m is T, what: string, timeoutMs: number): Promise<T> {
  return withTimeout(
    what,
    timeoutMs,
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: unknown): void => {
        if (!match(m)) return;
        cleanup();
        resolve(m);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        cleanup();
        reject(new Error(`child ${child.pid} exited (code ${code}, signal ${signal}) before ${what}`));
      };
      const cleanup = (): void => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    }),
  );
}

/** An IPC message of the form `{ type }` with the given type. */
export function ofType<T extends { type: string }>(type: T['type']): (m: unknown) => m is T {
  return (m: unknown): m is T => typeof m === 'object' && m !== null && (m as { type?: unknown }).type === type;
}

/**
 * Read `child`'s stdout as JSON lines (other lines are ignored) for as long as it runs,
 * so it never blocks on a full pipe; `waitFor` finds the first line matching a test.
 */
export class JsonLines {
  readonly #seen: Record<string, unknown>[] = [];
  readonly #waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];

  constructor(child: ChildProcess) {
    if (!child.stdout) throw new Error('JsonLines: child has no stdout pipe');
    createInterface({ input: child.stdout }).on('line', (text) => {
      let line: Record<string, unknown>;
      try {
        const v: unknown = JSON.parse(text);
        if (typeof v !== 'object' || v === null) return;
        line = v as Record<string, unknown>;
      } catch {
        return;
      }
      this.#seen.push(line);
      for (const w of [...this.#waiters]) {
        if (w.match(line)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
  }

  /** Lines seen so far. */
  get seen(): readonly Record<string, unknown>[] {
    return this.#seen;
  }

  waitFor(match: (l: Record<string, unknown>) => boolean, what: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const found = this.#seen.find(match);
    if (found) return Promise.resolve(found);
    return withTimeout(what, timeoutMs, new Promise((resolve) => this.#waiters.push({ match, resolve })));
  }
}

/** Resident set size of `pid` in KiB (VmRSS from /proc), or undefined once it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS_PER_S = 100;

/** CPU time (user + system, all threads) used so far by `pid`, in seconds; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}

/** How long the watchdog gives a bench's cleanup before it exits anyway. */
const WATCHDOG_CLEANUP_MS = 30_000;

/**
 * End the bench with exit code 2 if it has not finished after `ms`, killing its children
 * (through the ProcessSet exit hook). With `cleanup` (servers to stop, a database to drop:
 * what an exit hook cannot do, being synchronous), that runs first, for at most 30 s.
 * Unref'd: it never keeps the bench alive.
 */
export function watchdog(bench: string, ms: number, cleanup?: () => Promise<void>): void {
  setTimeout(() => {
    process.stderr.write(`[${bench}] watchdog: not finished after ${ms / 1000} s; exiting\n`);
    if (!cleanup) process.exit(2);
    setTimeout(() => process.exit(2), WATCHDOG_CLEANUP_MS);
    void cleanup().finally(() => process.exit(2));
  }, ms).unref();
}

/** First SIGINT/SIGTERM: run `cleanup`, then exit 130/143. */
export function onSignals(cleanup: () => Promise<void>): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    });
  }
}
