/**
 * A synthetic archive for bench/archive-queries.ts: events as the router stamps them and
 * the subscriber archives them (with their `decisions`), and the results the workers would
 * have written for them, built by the worker's own {@link describeRun}. Deterministic for
 * a seed, so every run fills the same archive.
 *
 * - time: `count` events spread evenly (with jitter) over the `days` before `end`, in order,
 *   each with a ULID of its time (as the router gives) and consecutive `seq`;
 * - keys: 200 `namespace:family.action` keys (every combination), rank r drawn with weight 1/(r+1)
 *   (Zipf-like: the top key is about 17% of events, the last about 0.1%);
 * - traces of 1-5 events (70% 1, 12% 2, 8% 3, 6% 4, 4% 5): a follow-up's `parent_event` is
 *   the trace's previous event (70%) or its first (30%), its `trace_id` the first's id;
 * - one handler per key, except one key in ten (no handler ran: outcome `none`); an event
 *   with a handler gets one ok run (95%), a failed run then an ok one (2.5%), three failed
 *   runs, the last dead (1%), or one failed run, its retry pending (1.5%). A failure is an
 *   `error` (80%) or a `timeout` (20%), as the shell driver describes them.
 */
import type { ReactorEvent } from '../../src/event/event.js';
import type { RunOutcome } from '../../src/handlers/driver.js';
import type { HandlerResult } from '../../src/handlers/result.js';
import { describeRun } from '../../src/handlers/run-job.js';
import { handlerId, type HandlerSpec } from '../../src/handlers/spec.js';
import { jobIdFor } from '../../src/queue/job.js';
import { MonotonicUlid } from '../../src/router/monotonic-ulid.js';
import type { DecisionRecord } from '../../src/sub/rule-decider.js';
import { mulberry32 } from './random.js';

const NAMESPACES = ['local', 'web', 'db', 'net', 'app'] as const;
const FAMILIES = ['disk', 'cpu', 'http', 'backup', 'deploy', 'auth', 'cert', 'queue'] as const;
const ACTIONS = ['full', 'high', 'error', 'done', 'changed'] as const;
const HANDLER_COUNT = 40;
/** Cumulative chances of a trace of 1, 2, 3, 4 and 5 events. */
const TRACE_LENGTHS = [0.7, 0.82, 0.9, 0.96, 1] as const;
const DAY_MS = 86_400_000;
const TIMEOUT_MS = 30_000;

/** One insert's worth: the events, their `decisions` (as the subscriber adds them) and their results. */
export interface ArchiveBatch {
  events: ReactorEvent[];
  extras: { decisions: DecisionRecord[] }[];
  results: HandlerResult[];
}

/** A trace of five events, to ask about: `events ls --trace`, `events show`. */
export interface TraceSample {
  traceId: string;
  ids: string[];
  /** The deepest of its events that has follow-ups. */
  showId: string;
  /** `events show showId`: its chain from the trace's first event, and its follow-ups. */
  chain: number;
  followUps: number;
}

export interface SyntheticArchiveOptions {
  count: number;
  days: number;
  /** Time of the newest event, Unix ms. */
  end: number;
  seed: number;
}

interface TraceMember {
  id: string;
  parent: number | undefined;
  depth: number;
  children: number;
}

export class SyntheticArchive {
  /** Keys by rank, most frequent first. */
  readonly keys: readonly string[];
  /** Time of the oldest and the newest event, Unix ms. */
  readonly start: number;
  readonly end: number;
  readonly count: number;
  /** The most recent complete trace of five events, once there is one. */
  latestTrace: TraceSample | undefined;
  readonly #rand: () => number;
  readonly #ulid: MonotonicUlid;
  readonly #cumulative: number[];
  readonly #handlers = new Map<string, HandlerSpec>();
  readonly #epoch: number;
  #next = 0;
  #trace: { members: TraceMember[]; length: number } | undefined;

  constructor(options: SyntheticArchiveOptions) {
    this.count = options.count;
    this.end = options.end;
    this.start = options.end - options.days * DAY_MS;
    this.#epoch = this.start;
    this.#rand = mulberry32(options.seed);
    this.#ulid = new MonotonicUlid(mulberry32(options.seed ^ 0x5bd1e995));
    const all = NAMESPACES.flatMap((ns) => FAMILIES.flatMap((f) => ACTIONS.map((a) => `${ns}:${f}.${a}`)));
    // Shuffled, so that ranks (frequencies) are not grouped by namespace or family.
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(this.#rand() * (i + 1));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    this.keys = all;
    let sum = 0;
    this.#cumulative = all.map((_, r) => (sum += 1 / (r + 1)));
    for (const [r, key] of all.entries()) {
      if (r % 10 === 9) continue;
      const command = `handlers/notify-${r % HANDLER_COUNT}.sh {{namespace}} {{payload.host}}`;
      this.#handlers.set(key, { id: handlerId('shell', command), key, driver: 'shell', command, exclusive: false });
    }
  }

  /** The handler entry of `key`; undefined for the keys no handler runs for. */
  handlerOf(key: string): HandlerSpec | undefined {
    return this.#handlers.get(key);
  }

  /** Share of events whose key `re` matches, from the keys' weights. */
  keyShare(re: RegExp): number {
    const c = this.#cumulative;
    return this.keys.reduce((sum, k, r) => (re.test(k) ? sum + 1 / (r + 1) : sum), 0) / c[c.length - 1]!;
  }

  /** Events made so far. */
  get made(): number {
    return this.#next;
  }

  /** The next `n` events (fewer at the end) with their decisions and results. */
  next(n: number): ArchiveBatch {
    const batch: ArchiveBatch = { events: [], extras: [], results: [] };
    const step = (this.end - this.start) / this.count;
    for (const stop = Math.min(this.count, this.#next + n); this.#next < stop; this.#next++) {
      const i = this.#next;
      const ms = Math.floor(this.start + (i + 0.5 * this.#rand()) * step);
      const id = this.#ulid.next(ms);
      const key = this.keys[this.#rank()]!;
      const [namespace, eventType] = key.split(':') as [string, string];
      const member = this.#join(id);
      const trace = this.#trace!.members;
      const traceId = trace[0]!.id;
      const host = `${namespace}-${Math.floor(this.#rand() * 48)}`;
      const event: ReactorEvent = {
        id,
        namespace,
        timestamp: ms / 1000,
        trace_id: traceId,
        hops: member.depth,
        seq: i + 1,
        epoch: this.#epoch,
        event_type: eventType,
        payload: {
          host,
          value: Math.round(this.#rand() * 1000) / 10,
          message: `${eventType.replace('.', ' ')} on ${host}`,
          labels: { env: 'prod', region: 'eu-west-1', team: `team-${eventType.length % 4}` },
        },
      };
      if (member.parent !== undefined) event.parent_event = trace[member.parent]!.id;
      const spec = this.#handlers.get(key);
      batch.events.push(event);
      batch.extras.push({ decisions: spec ? [{ key, handler: spec.command, id: spec.id, run: true }] : [] });
      if (spec) batch.results.push(...this.#runs(spec, event, ms, host));
      this.#endTrace();
    }
    return batch;
  }

  /** A key rank, r with weight 1/(r+1). */
  #rank(): number {
    const c = this.#cumulative;
    const x = this.#rand() * c[c.length - 1]!;
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (c[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Add event `id` to the current trace, starting a new one when there is none. */
  #join(id: string): TraceMember {
    if (!this.#trace) {
      const u = this.#rand();
      this.#trace = { members: [], length: TRACE_LENGTHS.findIndex((c) => u < c) + 1 };
    }
    const members = this.#trace.members;
    let member: TraceMember;
    if (members.length === 0) member = { id, parent: undefined, depth: 0, children: 0 };
    else {
      const parent = this.#rand() < 0.7 ? members.length - 1 : 0;
      members[parent]!.children++;
      member = { id, parent, depth: members[parent]!.depth + 1, children: 0 };
    }
    members.push(member);
    return member;
  }

  #endTrace(): void {
    const t = this.#trace!;
    if (t.members.length < t.length) return;
    this.#trace = undefined;
    if (t.length < 5) return;
    let show = t.members[0]!;
    for (const m of t.members) if (m.children > 0 && m.depth > show.depth) show = m;
    this.latestTrace = { traceId: t.members[0]!.id, ids: t.members.map((m) => m.id), showId: show.id, chain: show.depth + 1, followUps: show.children };
  }

  /** The results of `event`'s handler runs (see the header for how they end). */
  #runs(spec: HandlerSpec, event: ReactorEvent, ms: number, host: string): HandlerResult[] {
    const u = this.#rand();
    const plan: boolean[] = u < 0.95 ? [true] : u < 0.975 ? [false, true] : u < 0.985 ? [false, false, false] : [false];
    const dead = plan.length === 3;
    const job = jobIdFor(event.id, spec.id);
    const out: HandlerResult[] = [];
    let at = ms + 20 + Math.floor(this.#rand() * 400);
    for (const [i, ok] of plan.entries()) {
      const outcome = ok ? this.#ok(host) : this.#failure();
      const took = outcome.status === 'timeout' ? TIMEOUT_MS : Math.floor(15 + this.#rand() * (ok ? 1500 : 3000));
      const r = describeRun(spec, event, { id: job, run: i + 1 }, i + 1, outcome, new Date(at), new Date(at + took));
      if (dead && i === plan.length - 1) r.dead = true;
      out.push(r);
      at += took + 1000 * 2 ** i;
    }
    return out;
  }

  #ok(host: string): RunOutcome {
    return { status: 'ok', code: 0, data: `notified on-call for ${host}\n` };
  }

  #failure(): RunOutcome {
    if (this.#rand() < 0.2) {
      return {
        status: 'timeout',
        error: `handler timed out after ${TIMEOUT_MS} ms; process group killed`,
        errorCode: 'ERR_HANDLER_TIMEOUT',
        signal: 'SIGTERM',
        data: '',
      };
    }
    return {
      status: 'error',
      code: 7,
      error: 'handler exited with code 7',
      errorCode: 'ERR_HANDLER',
      data: '',
      stderr: `curl: (7) Failed to connect to hooks.example.com port 443 after ${Math.floor(this.#rand() * 3000)} ms: Couldn't connect to server\n`,
    };
  }
}
