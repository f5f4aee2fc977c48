import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { waitFor } from '../../../src/devstack/wait-for.js';

/** How a {@link Proc} is (re)started. */
export interface ProcOptions {
  /** Short name for messages, e.g. `redis` or `event-sub`. */
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr are appended here (one file across restarts). */
  logFile: string;
}

/**
 * A child process the fault scenarios start, kill, pause and start again with the same
 * command line. Output goes to a log file, never to a pipe: the daemons write their logs
 * synchronously, and a pipe the test process is slow to read would stall them.
 */
export class Proc {
  readonly #o: ProcOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<number | string> | undefined;
  /** Byte offset of the log file when the current run started: waitForLine looks after it. */
  #logStart = 0;

  constructor(options: ProcOptions) {
    this.#o = options;
  }

  get name(): string {
    return this.#o.name;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Resolves with the exit code (or signal name) of the current run. */
  get exited(): Promise<number | string> {
    return this.#exited ?? Promise.resolve('not started');
  }

  start(): void {
    if (this.running) throw new Error(`${this.#o.name} is already running (pid ${this.pid})`);
    const fd = openSync(this.#o.logFile, 'a');
    try {
      this.#logStart = statSync(this.#o.logFile).size;
      const child = spawn(this.#o.command, this.#o.args, { cwd: this.#o.cwd, env: { ...process.env, ...this.#o.env }, stdio: ['ignore', fd, fd] });
      child.on('error', () => undefined);
      this.#child = child;
      this.#exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    } finally {
      closeSync(fd);
    }
  }

  /** Send `signal` and, unless it only pauses or resumes, wait for the process to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    child.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
    await this.#exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it exited. */
  async stop(graceMs = 10_000): Promise<number | string> {
    const child = this.#child;
    if (!child || !this.running) return this.exited;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resident set size in bytes, from /proc; undefined when not running. */
  rss(): number | undefined {
    if (!this.running || this.pid === undefined) return undefined;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  /** Wait for a log line of the current run matching `re`. */
  async waitForLine(re: RegExp, timeoutMs = 30_000): Promise<string> {
    let found: string | undefined;
    const exited = new AbortController();
    void this.exited.then((code) => exited.abort(new Error(`${this.#o.name} exited (${code})`)));
    await waitFor(
      async () => {
        found = readFrom(this.#o.logFile, this.#logStart)
          .split('\n')
          .find((l) => re.test(l));
        return found !== undefined;
      },
      { timeoutMs, intervalMs: 100, what: `${this.#o.name} to log ${re}`, signal: exited.signal },
    ).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- ${this.#o.name} log (tail) ---\n${await this.logTail()}`, { cause: err });
    });
    return found!;
  }

  /** Every JSON log line (of every run so far) whose `msg` is one of `messages`. */
  logLines(messages: readonly string[]): Record<string, unknown>[] {
    const wanted = messages.map((m) => `"msg":${JSON.stringify(m)}`);
    const out: Record<string, unknown>[] = [];
    for (const line of readFrom(this.#o.logFile, 0).split('\n')) {
      if (!wanted.some((w) => line.includes(w))) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
    return out;
  }

  /** The last `bytes` of the log file. */
  async logTail(bytes = 4000): Promise<string> {
    const handle = await open(this.#o.logFile, 'r').catch(() => undefined);
    if (!handle) return '';
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, bytes);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      return buf.toString('utf8');
    } finally {
      await handle.close();
    }
  }
}

function readFrom(file: string, offset: number): string {
  const fd = openSync(file, 'r');
  try {
    const size = statSync(file).size;
    if (size <= offset) return '';
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
