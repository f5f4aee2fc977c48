import { execFile } from 'node:child_process';
import { readFile, statfs } from 'node:fs/promises';
import { freemem, hostname, loadavg, totalmem } from 'node:os';
import { TransportError, coerceError } from '../errors.js';
import type { BeaconInputConfig } from '../config/inputs.js';
import { RouterUnavailableError } from './forwarder.js';
import { pause, type Input, type InputContext } from './input.js';

/** Event fields of one beacon reading. */
type Reading = { event_type: string; payload: Record<string, unknown> };

/**
 * BeaconInput, Salt's beacons (and eventdriventalk's load beacon): every `every` seconds
 * each configured beacon reads the host and sends what it read, `host` in every payload:
 * - `beacon.load`: `{"1m", "5m", "15m"}` load averages;
 * - `beacon.disk`: one event per path, `{path, used_percent, free_bytes, total_bytes}`
 *   (used as `df` counts it: of what unprivileged users can have);
 * - `beacon.memory`: `{total_bytes, available_bytes, used_percent}` (MemAvailable);
 * - `beacon.service`: `{unit, state, previous}` for each unit whose `systemctl is-active`
 *   state changed since the last reading (the first reading only records them).
 * A reading waits for the router's reply before the next is taken: readings due while the
 * router does not answer are skipped, not queued.
 */
export class BeaconInput implements Input {
  readonly name: string;
  readonly #ctx: InputContext;
  readonly #config: BeaconInputConfig;
  readonly #closing = new AbortController();
  readonly #host = hostname();
  readonly #services = new Map<string, string>();
  readonly #problems = new Map<string, string>();
  #loops: Promise<void>[] = [];
  #closed: Promise<void> | undefined;

  constructor(ctx: InputContext, config: BeaconInputConfig) {
    this.name = ctx.name;
    this.#ctx = ctx;
    this.#config = config;
  }

  start(): Promise<void> {
    const c = this.#config;
    const beacons: [string, number | undefined, () => Promise<Reading[]>][] = [
      ['load', c.load?.every, async () => this.#load()],
      ['disk', c.disk?.every, () => this.#disk(c.disk?.paths ?? [])],
      ['memory', c.memory?.every, () => this.#memory()],
      ['service', c.service?.every, () => this.#service(c.service?.units ?? [])],
    ];
    this.#loops = beacons.filter(([, every]) => every !== undefined).map(([name, every, read]) => this.#run(name, every! * 1000, read));
    return Promise.resolve();
  }

  ready(): void {
    const problems = [...this.#problems].map(([b, why]) => `${b}: ${why}`);
    if (problems.length > 0) throw new TransportError(problems.join('; '));
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      await Promise.allSettled(this.#loops);
    })();
    return this.#closed;
  }

  async #run(beacon: string, everyMs: number, read: () => Promise<Reading[]>): Promise<void> {
    const signal = this.#closing.signal;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        for (const r of await read()) {
          this.#ctx.pipe.received();
          await this.#ctx.pipe.forward({ event_type: r.event_type, payload: { host: this.#host, ...r.payload } }, { signal });
        }
        this.#problems.delete(beacon);
      } catch (err) {
        if (err instanceof RouterUnavailableError) return;
        this.#problems.set(beacon, coerceError(err).message);
        this.#ctx.log.warn({ beacon, err: coerceError(err).message }, 'beacon reading failed');
      }
      // The next reading is due a period after this one started; one that ran over waits a whole period.
      const elapsed = Date.now() - started;
      await pause(elapsed < everyMs ? everyMs - elapsed : everyMs, signal);
    }
  }

  #load(): Reading[] {
    const [m1, m5, m15] = loadavg();
    return [{ event_type: 'beacon.load', payload: { '1m': m1, '5m': m5, '15m': m15 } }];
  }

  async #disk(paths: readonly string[]): Promise<Reading[]> {
    const out: Reading[] = [];
    for (const path of paths) {
      const s = await statfs(path);
      const used = (s.blocks - s.bfree) * s.bsize;
      const avail = s.bavail * s.bsize;
      const usable = used + avail;
      out.push({
        event_type: 'beacon.disk',
        payload: { path, used_percent: usable > 0 ? round((used / usable) * 100) : 0, free_bytes: avail, total_bytes: s.blocks * s.bsize },
      });
    }
    return out;
  }

  async #memory(): Promise<Reading[]> {
    const total = totalmem();
    let available = freemem();
    try {
      const m = /^MemAvailable:\s+(\d+) kB$/m.exec(await readFile('/proc/meminfo', 'utf8'));
      if (m) available = Number(m[1]) * 1024;
    } catch {
      // not Linux: free memory it is
    }
    return [
      { event_type: 'beacon.memory', payload: { total_bytes: total, available_bytes: available, used_percent: round(((total - available) / total) * 100) } },
    ];
  }

  async #service(units: readonly string[]): Promise<Reading[]> {
    const states = await unitStates(units);
    const out: Reading[] = [];
    units.forEach((unit, i) => {
      const state = states[i] ?? 'unknown';
      const previous = this.#services.get(unit);
      this.#services.set(unit, state);
      if (previous !== undefined && previous !== state) out.push({ event_type: 'beacon.service', payload: { unit, state, previous } });
    });
    return out;
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** `systemctl is-active` of each unit (one line each; it exits non-zero when one is not active). */
function unitStates(units: readonly string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('systemctl', ['is-active', '--', ...units], { timeout: 10_000 }, (err, stdout) => {
      const lines = stdout.split('\n').filter((l) => l.trim() !== '');
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new TransportError('systemctl not found: the service beacon needs systemd'));
      if (lines.length !== units.length)
        return reject(new TransportError(`systemctl is-active answered ${lines.length} lines for ${units.length} units: ${err?.message ?? ''}`));
      resolve(lines.map((l) => l.trim()));
    });
  });
}
