/**
 * The rules matcher (src/rules/) against a naive linear scan of the same rules.
 *
 *   node --import tsx bench/matcher.ts [--events 1000000] [--rounds 5] [--handlers 1000]
 *
 * One process, one core, no I/O. The rules: `handlers` entries (default 1,000) under a mix
 * of exact keys (about 70%), fnmatch globs made from event keys as operators write them
 * (`local:disk.*`, `*:cpu.high`, `web:http.5?3`, `db:[a-c]*.full`, `lo*:disk.*`,
 * `net:*`: about 15%) and keys no event has; about half carry an EventBridge
 * content pattern (plain values, numeric ranges, prefix, anything-but, exists, cidr,
 * wildcard, `$or`, arrays of objects; a few `regex`). The stream: pre-parsed ~1 KB events
 * over 200 distinct keys drawn with a Zipf distribution (s = 1.1), the way a few event
 * types dominate real traffic, walked in order from a pool of events (see POOLS).
 *
 * - matcher: `KeyIndex.matchEvent(namespace, event_type)` (exact Map, glob pre-filter,
 *   per-key cache) then
 *   `CompiledPattern.matches(event)` for each entry selected;
 * - naive: for each event, every key of the table tested with a glob matcher that works
 *   from the pattern text (no compile step), and every selected entry's pattern
 *   interpreted from its JSON by a direct recursive walk (regex objects are cached, else
 *   compiling them would be all the naive scan measures).
 *
 * Both count the (event, entry) pairs that match, and the counts must agree. Figures are
 * the median over `rounds` timed runs of each, alternated after a warm-up, in events per
 * second of wall-clock time and per second of this process's CPU time: on a shared
 * machine the wall clock measures the other tenants too, so the target (>= 500,000
 * events/s on one core, for the matcher on events in cache) is judged on CPU time, and
 * the load average is printed beside it.
 *
 * Env: BENCH_EVENTS, BENCH_ROUNDS, BENCH_HANDLERS.
 */
import { availableParallelism, loadavg } from 'node:os';
import { RE2JS } from 're2js';
import { KeyIndex } from '../src/rules/key-index.js';
import { compilePattern, type CompiledPattern } from '../src/rules/pattern.js';
import { intOption } from './lib/options.js';
import { printJson, printTable, progress } from './lib/report.js';
import { fmtInt, median, round } from './lib/stats.js';
import { mulberry32 } from './lib/random.js';

const NAME = 'matcher';
const TARGET_EVENTS_PER_S = 500_000;
const DISTINCT_KEYS = 200;
/**
 * Distinct event objects the stream cycles through, in order. A subscriber matches each
 * event right after JSON.parse made it, while it is in the CPU's cache; pre-parsed events
 * are not, unless few: the main figure uses a pool that fits in cache (`warm`), and the
 * matcher is also timed on a pool of 4 MB of events (`cold`), where memory latency counts.
 */
const POOLS = { warm: 256, cold: 4096 } as const;
/** The naive scan is slow: it gets this share of the events per round. */
const NAIVE_SHARE = 0.05;

interface Entry {
  id: string;
  when?: Record<string, unknown>;
  compiled?: CompiledPattern;
}

const random = mulberry32(20261130);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

const NAMESPACES = ['local', 'web', 'db', 'net', 'app', 'batch', 'auth', 'queue'];
const TYPES = [
  'disk.full',
  'disk.warn',
  'cpu.high',
  'cpu.ok',
  'mem.low',
  'http.500',
  'http.503',
  'http.404',
  'login.fail',
  'login.ok',
  'backup.done',
  'backup.fail',
  'cert.expiring',
  'svc.down',
  'svc.up',
  'queue.stuck',
  'job.done',
  'job.fail',
  'net.flap',
  'deploy.done',
  'alpha.x',
  'beta.y',
  'kilo.z',
  'zulu.w',
  'mike.v',
];

function eventKeys(): string[] {
  const keys: string[] = [];
  for (const t of TYPES) for (const ns of NAMESPACES) keys.push(`${ns}:${t}`);
  return keys.slice(0, DISTINCT_KEYS);
}

/** Zipf(s) sampler over ranks 0..n-1. */
function zipf(n: number, s: number): () => number {
  const cdf: number[] = [];
  let sum = 0;
  for (let k = 1; k <= n; k++) cdf.push((sum += 1 / k ** s));
  return () => {
    const x = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function makeEvent(key: string, i: number): Record<string, unknown> {
  const [namespace, event_type] = key.split(':') as [string, string];
  const used = Math.round(random() * 1000) / 10;
  const payload: Record<string, unknown> = {
    host: `${pick(['db', 'web', 'app', 'cache'])}${Math.floor(random() * 20)}`,
    mount: pick(['/', '/var', '/var/lib', '/home', '/boot']),
    used,
    status: pick(['ok', 'warn', 'crit', 'unknown']),
    code: pick([200, 404, 500, 503]),
    ip: `10.0.${Math.floor(random() * 4)}.${Math.floor(random() * 255)}`,
    tags: [pick(['prod', 'staging', 'dev']), pick(['eu', 'us', 'ap']), pick(['db', 'web', 'batch'])],
    disks: [
      { dev: 'sda', mount: '/', used: Math.round(random() * 100) },
      { dev: 'sdb', mount: '/var', used: Math.round(random() * 100) },
    ],
    region: pick(['eu-west-1', 'us-east-1', 'ap-south-1']),
    attempts: Math.floor(random() * 5),
  };
  const event: Record<string, unknown> = {
    id: `01JDEADBEEF${String(i).padStart(15, '0')}`,
    namespace,
    event_type,
    payload,
    timestamp: 1_764_460_800 + i / 1000,
    trace_id: `01JDEADBEEF${String(i).padStart(15, '0')}`,
    seq: i + 1,
    epoch: 1_764_460_800_000,
  };
  payload['pad'] = 'x'.repeat(Math.max(0, 1024 - JSON.stringify(event).length - 10));
  return event;
}

const PATTERNS: (() => Record<string, unknown>)[] = [
  () => ({ payload: { used: [{ numeric: ['>', Math.round(random() * 90)] }] } }),
  () => ({ payload: { status: [pick(['warn', 'crit']), 'unknown'] } }),
  () => ({ payload: { host: [{ prefix: pick(['db', 'web', 'app']) }], used: [{ numeric: ['>=', 50, '<', 95] }] } }),
  () => ({ payload: { status: [{ 'anything-but': ['ok', 'unknown'] }] } }),
  () => ({ payload: { tags: [pick(['prod', 'staging'])], region: [{ prefix: 'eu-' }] } }),
  () => ({ payload: { disks: { mount: ['/var'], used: [{ numeric: ['>', 80] }] } } }),
  () => ({ payload: { ip: [{ cidr: '10.0.1.0/24' }] } }),
  () => ({ payload: { code: [500, 503], attempts: [{ numeric: ['<', 3] }] } }),
  () => ({ payload: { ticket: [{ exists: false }], status: ['crit'] } }),
  () => ({ $or: [{ payload: { status: ['crit'] } }, { payload: { used: [{ numeric: ['>', 95] }] } }] }),
  () => ({ payload: { mount: [{ wildcard: '/var*' }] } }),
  () => ({ namespace: [pick(NAMESPACES)], payload: { host: [{ 'equals-ignore-case': 'DB1' }, { suffix: '7' }] } }),
  () => ({ payload: { host: [{ regex: '^db1[0-9]$' }] } }),
];

/** A glob made from an event key, the way operators write them: a family of types, a type in every namespace. */
function globFor(key: string): string {
  const [ns, type] = key.split(':') as [string, string];
  const [family] = type.split('.') as [string];
  switch (Math.floor(random() * 6)) {
    case 0:
      return `${ns}:${family}.*`;
    case 1:
      return `*:${type}`;
    case 2:
      return `${ns}:${family}.?${type.slice(family.length + 2)}`;
    case 3:
      return `${ns}:[${family[0]}-${String.fromCharCode(family.charCodeAt(0) + 2)}]*.${type.slice(family.length + 1)}`;
    case 4:
      return `${ns.slice(0, 2)}*:${family}.*`;
    default:
      return `${ns}:*`;
  }
}

function makeTable(handlers: number, keys: readonly string[]): Map<string, Entry[]> {
  const table = new Map<string, Entry[]>();
  for (let i = 0; i < handlers; i++) {
    const r = random();
    const key = r < 0.7 ? pick(keys) : r < 0.85 ? globFor(pick(keys)) : `${pick(NAMESPACES)}:never.${i}`;
    const entry: Entry = { id: `h${i}` };
    if (random() < 0.5) {
      entry.when = pick(PATTERNS)();
      entry.compiled = compilePattern(entry.when, { path: `${key}[${i}].when` });
    }
    const list = table.get(key);
    if (list) list.push(entry);
    else table.set(key, [entry]);
  }
  return table;
}

// ---- the naive scan ----

/** fnmatch from the pattern text, no compile step (recursive, like a first attempt would be). */
function naiveGlob(p: string, s: string, pi = 0, si = 0): boolean {
  while (pi < p.length) {
    const c = p[pi]!;
    if (c === '*') {
      for (let k = si; k <= s.length; k++) if (naiveGlob(p, s, pi + 1, k)) return true;
      return false;
    }
    if (si >= s.length) return false;
    if (c === '?') {
      pi++;
      si++;
      continue;
    }
    if (c === '[') {
      const end = p.indexOf(']', pi + 2);
      if (end > 0) {
        const negate = p[pi + 1] === '!';
        const body = p.slice(pi + (negate ? 2 : 1), end);
        let hit = false;
        for (let k = 0; k < body.length; k++) {
          if (body[k + 1] === '-' && k + 2 < body.length) {
            if (s[si]! >= body[k]! && s[si]! <= body[k + 2]!) hit = true;
            k += 2;
          } else if (body[k] === s[si]) hit = true;
        }
        if (hit === negate) return false;
        pi = end + 1;
        si++;
        continue;
      }
    }
    if (c !== s[si]) return false;
    pi++;
    si++;
  }
  return si === s.length;
}

const regexCache = new Map<string, RE2JS>();

function naiveCondition(c: unknown, v: unknown): boolean {
  if (typeof c !== 'object' || c === null) return v === c;
  const [op, arg] = Object.entries(c)[0]!;
  switch (op) {
    case 'numeric': {
      if (typeof v !== 'number') return false;
      const a = arg as (string | number)[];
      for (let i = 0; i < a.length; i += 2) {
        const n = a[i + 1] as number;
        const ok = a[i] === '<' ? v < n : a[i] === '<=' ? v <= n : a[i] === '=' ? v === n : a[i] === '>=' ? v >= n : v > n;
        if (!ok) return false;
      }
      return true;
    }
    case 'prefix':
      return typeof v === 'string' && v.startsWith(arg as string);
    case 'suffix':
      return typeof v === 'string' && v.endsWith(arg as string);
    case 'equals-ignore-case':
      return typeof v === 'string' && v.toLowerCase() === (arg as string).toLowerCase();
    case 'anything-but':
      return Array.isArray(arg) ? !arg.includes(v) : v !== arg;
    case 'exists':
      return arg === true;
    case 'wildcard':
      return typeof v === 'string' && naiveGlob((arg as string).replaceAll('[', '[[]').replaceAll('?', '[?]'), v);
    case 'cidr': {
      if (typeof v !== 'string') return false;
      const [net, bits] = (arg as string).split('/') as [string, string];
      const octets = v.split('.');
      if (octets.length !== 4 || octets.some((o) => !/^\d{1,3}$/.test(o) || Number(o) > 255)) return false;
      const shift = 32 - Number(bits);
      if (shift === 32) return true;
      const toInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
      return toInt(v) >>> shift === toInt(net) >>> shift;
    }
    case 'regex': {
      let re = regexCache.get(arg as string);
      if (!re) regexCache.set(arg as string, (re = RE2JS.compile(arg as string)));
      return typeof v === 'string' && re.test(v);
    }
    default:
      throw new Error(`naive: ${op}`);
  }
}

function hasPositive(p: Record<string, unknown>): boolean {
  return Object.entries(p).some(([k, v]) => {
    if (k === '$or') return (v as Record<string, unknown>[]).some(hasPositive);
    if (Array.isArray(v)) return v.some((c) => !(typeof c === 'object' && c !== null && (c as Record<string, unknown>)['exists'] === false));
    return hasPositive(v as Record<string, unknown>);
  });
}

/** A direct recursive walk of the pattern JSON over the event. */
function naiveMatch(p: Record<string, unknown>, v: unknown): boolean {
  if (Array.isArray(v)) return hasPositive(p) ? v.some((e) => naiveMatch(p, e)) : v.every((e) => naiveMatch(p, e));
  if (typeof v !== 'object' || v === null) return !hasPositive(p);
  const o = v as Record<string, unknown>;
  for (const [k, want] of Object.entries(p)) {
    if (k === '$or') {
      if (!(want as Record<string, unknown>[]).some((alt) => naiveMatch(alt, o))) return false;
      continue;
    }
    const got = Object.hasOwn(o, k) ? o[k] : undefined;
    if (Array.isArray(want)) {
      const absentOk = want.some((c) => typeof c === 'object' && c !== null && (c as Record<string, unknown>)['exists'] === false);
      const values = got === undefined ? [] : Array.isArray(got) ? got.flat(Infinity) : [got];
      const leaves = values.filter((x) => typeof x !== 'object' || x === null);
      if (leaves.length === 0 ? !absentOk : !leaves.some((x) => want.some((c) => naiveCondition(c, x)))) return false;
    } else if (!naiveMatch(want as Record<string, unknown>, got)) return false;
  }
  return true;
}

function naiveScan(table: Map<string, Entry[]>, events: readonly Record<string, unknown>[], stream: Uint32Array, count: number): number {
  let matched = 0;
  for (let i = 0; i < count; i++) {
    const ev = events[stream[i % stream.length]!]!;
    const key = `${ev['namespace'] as string}:${ev['event_type'] as string}`;
    const seen = new Set<Entry>();
    for (const [k, entries] of table) {
      if (!naiveGlob(k, key)) continue;
      for (const e of entries) {
        if (seen.has(e)) continue;
        seen.add(e);
        if (e.when === undefined || naiveMatch(e.when, ev)) matched++;
      }
    }
  }
  return matched;
}

function indexOnlyRun(index: KeyIndex<Entry>, events: readonly Record<string, unknown>[], stream: Uint32Array, count: number): number {
  let selected = 0;
  for (let i = 0; i < count; i++) {
    const ev = events[stream[i % stream.length]!]!;
    selected += index.matchEvent(ev['namespace'] as string, ev['event_type'] as string).length;
  }
  return selected;
}

function matcherRun(index: KeyIndex<Entry>, events: readonly Record<string, unknown>[], stream: Uint32Array, count: number): number {
  let matched = 0;
  for (let i = 0; i < count; i++) {
    const ev = events[stream[i % stream.length]!]!;
    const entries = index.matchEvent(ev['namespace'] as string, ev['event_type'] as string);
    for (let j = 0; j < entries.length; j++) {
      const c = entries[j]!.compiled;
      if (c === undefined || c.matches(ev)) matched++;
    }
  }
  return matched;
}

interface Timing {
  /** Events per second of wall-clock time. */
  eventsPerS: number;
  /** Events per second of this process's CPU time (user + system): the rate on one core, whatever else the machine runs. */
  eventsPerCpuS: number;
  matched: number;
}

function timed(run: () => number, count: number): Timing {
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const matched = run();
  const s = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { eventsPerS: count / s, eventsPerCpuS: count / ((cpu.user + cpu.system) / 1e6), matched };
}

function main(): void {
  const events = intOption('events', 'BENCH_EVENTS', 1_000_000);
  const rounds = intOption('rounds', 'BENCH_ROUNDS', 5);
  const handlers = intOption('handlers', 'BENCH_HANDLERS', 1000);
  const keys = eventKeys();
  const table = makeTable(handlers, keys);
  const index = new KeyIndex<Entry>(table);
  const rank = zipf(keys.length, 1.1);
  const makePool = (size: number): Record<string, unknown>[] => Array.from({ length: size }, (_, i) => makeEvent(keys[rank()]!, i));
  const pool = makePool(POOLS.warm);
  const coldPool = makePool(POOLS.cold);
  const stream = Uint32Array.from(pool.keys());
  const coldStream = Uint32Array.from(coldPool.keys());
  const avgBytes = Math.round(pool.slice(0, 100).reduce((n, e) => n + JSON.stringify(e).length, 0) / 100);
  const naiveCount = Math.max(1000, Math.floor(events * NAIVE_SHARE));
  let selected = 0;
  let evaluated = 0;
  for (const ev of coldPool) {
    const entries = index.match(`${ev['namespace'] as string}:${ev['event_type'] as string}`);
    selected += entries.length;
    evaluated += entries.filter((e) => e.compiled).length;
  }
  const selectedPerEvent = selected / coldPool.length;
  const evaluatedPerEvent = evaluated / coldPool.length;
  const withPattern = [...table.values()].flat().filter((e) => e.when).length;
  progress(
    NAME,
    `${handlers} entries under ${table.size} keys (${withPattern} with a pattern), ${fmtInt(events)} events over ${keys.length} keys, ~${avgBytes} B each`,
  );

  // Warm-up, and the two must agree on what matches.
  for (const [p, st] of [
    [pool, stream],
    [coldPool, coldStream],
  ] as const) {
    const a = matcherRun(index, p, st, p.length * 4);
    const b = naiveScan(table, p, st, p.length * 4);
    if (a !== b) throw new Error(`matcher and naive scan disagree: ${a} vs ${b} matches in ${p.length * 4} events`);
    progress(NAME, `check: both find ${fmtInt(a)} matches in ${fmtInt(p.length * 4)} events`);
  }
  progress(NAME, `per event: ${selectedPerEvent.toFixed(2)} entries selected by key, ${evaluatedPerEvent.toFixed(2)} content patterns evaluated`);

  const lookups = timed(() => indexOnlyRun(index, pool, stream, events), events);
  progress(NAME, `key index alone: ${fmtInt(lookups.eventsPerCpuS)} lookups per CPU-s`);
  const load0 = loadavg()[0]!;
  const real: Timing[] = [];
  const cold: Timing[] = [];
  const naive: Timing[] = [];
  let matchesPerEvent = 0;
  for (let r = 1; r <= rounds; r++) {
    const m = timed(() => matcherRun(index, pool, stream, events), events);
    matchesPerEvent = m.matched / events;
    const c = timed(() => matcherRun(index, coldPool, coldStream, events), events);
    const n = timed(() => naiveScan(table, pool, stream, naiveCount), naiveCount);
    real.push(m);
    cold.push(c);
    naive.push(n);
    progress(
      NAME,
      `round ${r}/${rounds}: matcher ${fmtInt(m.eventsPerS)} events/s (${fmtInt(m.eventsPerCpuS)} per CPU-s), cold pool ${fmtInt(c.eventsPerS)} (${fmtInt(c.eventsPerCpuS)}), naive ${fmtInt(n.eventsPerS)} (${fmtInt(n.eventsPerCpuS)})`,
    );
  }
  const load1 = loadavg()[0]!;
  const med = (xs: Timing[], f: (t: Timing) => number): number => median(xs.map(f));
  const wall = { matcher: med(real, (t) => t.eventsPerS), cold: med(cold, (t) => t.eventsPerS), naive: med(naive, (t) => t.eventsPerS) };
  const cpu = { matcher: med(real, (t) => t.eventsPerCpuS), cold: med(cold, (t) => t.eventsPerCpuS), naive: med(naive, (t) => t.eventsPerCpuS) };
  const ratio = cpu.matcher / cpu.naive;
  printTable(
    `Rules matcher: ${handlers} handler entries (${withPattern} with a content pattern) under ${table.size} keys, ${keys.length} event keys (Zipf 1.1), ~${avgBytes} B events, one thread, ${rounds} rounds (median)`,
    ['matcher', 'events/CPU-s', 'events/s (wall)', 'runs (events/CPU-s)', 'events per run'],
    [
      [
        `KeyIndex + compiled patterns (${POOLS.warm} events in cache)`,
        fmtInt(cpu.matcher),
        fmtInt(wall.matcher),
        real.map((t) => fmtInt(t.eventsPerCpuS)).join(' / '),
        fmtInt(events),
      ],
      [`same, ${POOLS.cold} events (cold, ~4 MB)`, fmtInt(cpu.cold), fmtInt(wall.cold), cold.map((t) => fmtInt(t.eventsPerCpuS)).join(' / '), fmtInt(events)],
      ['naive linear scan', fmtInt(cpu.naive), fmtInt(wall.naive), naive.map((t) => fmtInt(t.eventsPerCpuS)).join(' / '), fmtInt(naiveCount)],
    ],
  );
  const met = cpu.matcher >= TARGET_EVENTS_PER_S;
  process.stdout.write(
    `per event: ${selectedPerEvent.toFixed(2)} entries selected by key, ${evaluatedPerEvent.toFixed(2)} patterns evaluated, ${matchesPerEvent.toFixed(2)} matches; load average ${load0.toFixed(1)} -> ${load1.toFixed(1)} on ${availableParallelism()} cores\n` +
      `matcher / naive = ${ratio.toFixed(1)} (CPU time); matcher ${fmtInt(cpu.matcher)} events per CPU-second (target >= ${fmtInt(TARGET_EVENTS_PER_S)}: ${met ? 'met' : 'NOT met'}), ${fmtInt(wall.matcher)} events/s wall-clock\n`,
  );
  printJson({
    bench: NAME,
    handlers,
    keys_in_table: table.size,
    entries_with_pattern: withPattern,
    distinct_event_keys: keys.length,
    event_bytes: avgBytes,
    event_pools: POOLS,
    events,
    naive_events: naiveCount,
    rounds,
    entries_selected_per_event: round(selectedPerEvent, 2),
    patterns_evaluated_per_event: round(evaluatedPerEvent, 2),
    key_index_lookups_per_cpu_s: round(lookups.eventsPerCpuS),
    matches_per_event: round(matchesPerEvent, 3),
    matcher_events_per_cpu_s: round(cpu.matcher),
    matcher_cold_events_per_cpu_s: round(cpu.cold),
    matcher_cold_events_per_s: round(wall.cold),
    naive_events_per_cpu_s: round(cpu.naive),
    matcher_events_per_s: round(wall.matcher),
    naive_events_per_s: round(wall.naive),
    ratio: round(ratio, 1),
    target_events_per_s: TARGET_EVENTS_PER_S,
    target_met: met,
    load_average: [round(load0, 2), round(load1, 2)],
    runs: {
      matcher: real.map((t) => ({ per_cpu_s: round(t.eventsPerCpuS), per_s: round(t.eventsPerS) })),
      cold: cold.map((t) => ({ per_cpu_s: round(t.eventsPerCpuS), per_s: round(t.eventsPerS) })),
      naive: naive.map((t) => ({ per_cpu_s: round(t.eventsPerCpuS), per_s: round(t.eventsPerS) })),
    },
  });
}

main();
