/**
 * Property tests for config.json / event-handlers.json validation and shell argv splitting.
 * Pure, no files written. Set FUZZ_SEED to replay a run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { buildSettings, keyPath, type LoadedConfig } from '../../src/config/load.js';
import { isGlobKey, keyPatternProblem } from '../../src/rules/glob.js';
import { buildHandlers, type LoadedHandlers } from '../../src/config/handlers-file.js';
import { splitArgv } from '../../src/handlers/argv.js';
import { ConfigError, HandlerRefusedError } from '../../src/errors.js';

const SEED = process.env['FUZZ_SEED'] !== undefined ? Number(process.env['FUZZ_SEED']) : undefined;

function params<T>(numRuns: number): fc.Parameters<T> {
  return SEED === undefined ? { numRuns } : { numRuns, seed: SEED };
}

const CONFIG_FILE = '/etc/event-reactor/config.json';
const HANDLERS_FILE = '/etc/event-reactor/event-handlers.json';
const readJson = (rel: string): unknown => JSON.parse(readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8'));

const CONFIGS: readonly unknown[] = [
  readJson('../../etc/config.json'),
  readJson('../fixtures/eventreactor/config.json'),
  readJson('../fixtures/eventreactor/config-inputs.json'),
];
const HANDLER_FILES: readonly unknown[] = [readJson('../../etc/event-handlers.json'), readJson('../fixtures/eventreactor/event-handlers.json')];

const PINO_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const isPlainObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);

// ---------------------------------------------------------------------------------------
// Mutating a valid file

type Path = (string | number)[];

/** Every path to a value inside `v` (not the root). */
function pathsOf(v: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [];
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([...prefix, i], ...pathsOf(x, [...prefix, i]));
    });
  } else if (isPlainObject(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out.push([...prefix, k], ...pathsOf(x, [...prefix, k]));
  }
  return out;
}

function parentOf(root: unknown, path: Path): Record<string | number, unknown> | undefined {
  let cur: unknown = root;
  for (const part of path.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[part];
  }
  return cur !== null && typeof cur === 'object' ? (cur as Record<string | number, unknown>) : undefined;
}

/** Values of every JSON type, plus strings that are names on Object.prototype. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    65536,
    1e308,
    -0,
    '',
    ' ',
    'constructor',
    '__proto__',
    'toString',
    'hasOwnProperty',
    'valueOf',
    [],
    {},
    [null],
    { __x: 1 },
    'tcp://*:1',
    'ZMQInput',
    'zeromq',
  ),
  fc.jsonValue({ maxDepth: 2 }),
);

interface Mutation {
  op: 'set' | 'delete' | 'add';
  /** Index into the list of paths (modulo its length). */
  at: number;
  key: string;
  value: unknown;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('set', 'set', 'delete', 'add'),
  at: fc.nat(),
  key: fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'uri', 'port', 'config', 'handler')),
  value: wrongValue,
});

/** Apply mutations to a copy; returns the copy and the key paths touched. */
function mutate(original: unknown, muts: readonly Mutation[]): { value: unknown; touched: string[] } {
  const value = structuredClone(original);
  const touched: string[] = [];
  for (const m of muts) {
    const paths = pathsOf(value);
    if (paths.length === 0) break;
    const path = paths[m.at % paths.length]!;
    const parent = parentOf(value, path);
    const last = path.at(-1)!;
    if (!parent) continue;
    if (m.op === 'set') {
      Object.defineProperty(parent, last, { value: structuredClone(m.value), enumerable: true, writable: true, configurable: true });
      touched.push(keyPath(path));
    } else if (m.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
      touched.push(keyPath(path.slice(0, -1)));
    } else {
      const target = parent[last];
      if (!isPlainObject(target)) continue;
      Object.defineProperty(target, m.key, { value: structuredClone(m.value), enumerable: true, writable: true, configurable: true });
      touched.push(keyPath([...path, m.key]));
    }
  }
  return { value, touched };
}

/**
 * True when a problem at `problem` can be explained by a change at `changed`: the same key,
 * one above or below the other, or a sibling (changing `handler` makes `config.uri` required).
 */
function related(problem: string, changed: string): boolean {
  const under = (x: string, y: string): boolean => y === '' || x === y || x.startsWith(`${y}.`) || x.startsWith(`${y}[`);
  const parent = changed.replace(/(\.[^.[\]]*|\[\d+\])$/, '');
  return under(problem, changed) || under(changed, problem) || under(problem, parent);
}

// ---------------------------------------------------------------------------------------
// Calling the validators

function settingsOrError(raw: unknown): LoadedConfig | ConfigError {
  try {
    return buildSettings(CONFIG_FILE, raw, {}, {});
  } catch (err) {
    assertConfigError(err, CONFIG_FILE, raw);
    return err;
  }
}

function handlersOrError(raw: unknown): LoadedHandlers | ConfigError {
  try {
    return buildHandlers(HANDLERS_FILE, raw);
  } catch (err) {
    assertConfigError(err, HANDLERS_FILE, raw);
    return err;
  }
}

function assertConfigError(err: unknown, file: string, raw: unknown): asserts err is ConfigError {
  if (!(err instanceof ConfigError)) {
    assert.fail(`expected ConfigError, got ${err instanceof Error ? `${err.constructor.name}: ${err.message}\n${err.stack}` : String(err)}`);
  }
  assert.ok(err.problems.length > 0, 'a ConfigError names at least one problem');
  assert.ok(err.message.length > 0);
  for (const p of err.problems) {
    assert.equal(p.file, file, 'problem names the file');
    assert.equal(typeof p.message, 'string');
    assert.ok(p.message.length > 0, 'problem has a message');
    // Only a problem with the whole file (not an object) may go without a key path.
    if (p.path === '') assert.ok(!isPlainObject(raw), `problem without a key path in an object file: ${p.message}`);
  }
}

/** What a daemon relies on in returned settings (logLevel is checked separately below). */
function assertUsableSettings(loaded: LoadedConfig): void {
  const { settings: s, warnings } = loaded;
  const r = s.router;
  for (const uri of [r.pullBind, r.pubBind, r.replayBind, s.sub.publisherUri, s.sub.replayUri, s.redisUrl, s.mongo.url]) {
    assert.equal(typeof uri, 'string');
    assert.ok(uri.length > 0);
  }
  for (const rep of r.rep) {
    assert.ok(typeof rep.bind === 'string' && rep.bind.length > 0, 'REP bind');
    assert.ok(typeof rep.namespace === 'string' && rep.namespace.length > 0, 'REP namespace');
  }
  assert.ok(r.framing === 'multipart' || r.framing === 'legacy');
  for (const n of [
    r.pubHighWaterMark,
    r.maxEventBytes,
    r.refusalLogIntervalMs,
    r.replayMaxEvents,
    r.replayMaxBytes,
    s.sub.batchSize,
    s.sub.batchMs,
    s.worker.concurrency,
    s.worker.outputLimitBytes,
  ]) {
    assert.ok(Number.isSafeInteger(n) && n > 0, `positive integer, got ${n}`);
  }
  for (const n of [s.worker.timeoutMs, s.worker.backoffMs, s.worker.shutdownGraceMs, s.worker.retries]) assert.ok(Number.isFinite(n) && n >= 0);
  assert.ok(s.handlersDir.startsWith('/') && s.handlersFile.startsWith('/'));
  for (const w of warnings) {
    assert.ok(w.message.length > 0 && w.file === CONFIG_FILE, 'warning names the file');
    assert.ok(w.path.length > 0, `warning names the key: ${w.message}`);
  }
}

// ---------------------------------------------------------------------------------------
// config.json

test('fuzz config - buildSettings on arbitrary JSON returns or throws ConfigError', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.dictionary(
          fc.constantFrom('aggregator', 'feeds', 'inputs', 'outputs', 'logging', 'router', 'worker', 'subscriber', 'queue', 'mongodb', 'redis', '__proto__'),
          fc.jsonValue({ maxDepth: 3 }),
        ),
      ),
      (raw) => {
        const r = settingsOrError(raw);
        if (!(r instanceof ConfigError)) assertUsableSettings(r);
      },
    ),
    params(1000),
  );
});

test('fuzz config - mutated sample configs: every problem names a key at, above or below the change', () => {
  let errors = 0;
  fc.assert(
    fc.property(fc.constantFrom(...CONFIGS.keys()), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (which, muts) => {
      const { value, touched } = mutate(CONFIGS[which], muts);
      const r = settingsOrError(value);
      if (!(r instanceof ConfigError)) {
        assertUsableSettings(r);
        return;
      }
      errors++;
      for (const p of r.problems) {
        assert.ok(
          p.path === '' || touched.some((t) => related(p.path, t)),
          `problem at "${p.path}" (${p.message}) is unrelated to the keys changed: ${touched.join(', ')}`,
        );
      }
    }),
    params(800),
  );
  assert.ok(errors > 50, `mutations produced ${errors} ConfigErrors`);
});

test('fuzz config - every sample config loads unchanged', () => {
  for (const raw of CONFIGS) {
    const r = settingsOrError(raw);
    assert.ok(!(r instanceof ConfigError), r instanceof ConfigError ? r.message : '');
    assertUsableSettings(r);
  }
});

test('fuzz config - logging.loglevel that names an Object.prototype member is refused', () => {
  for (const loglevel of ['constructor', '__proto__', 'CONSTRUCTOR', '__Proto__', 'toString', 'valueOf']) {
    const r = settingsOrError({ logging: { loglevel } });
    if (r instanceof ConfigError) {
      assert.ok(
        r.problems.some((p) => p.path === 'logging.loglevel'),
        loglevel,
      );
      continue;
    }
    assert.ok(PINO_LEVELS.has(r.settings.logLevel), `loglevel "${loglevel}" gave logLevel ${String(r.settings.logLevel)}`);
  }
});

test('fuzz config - logLevel, when accepted, is always a pino level (known names and random strings)', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('INFO', 'info', 'Warning', 'CRITICAL', 'debug', 'trace', 'silent', 'fatal', 'warn')),
      (loglevel) => {
        const r = settingsOrError({ logging: { loglevel } });
        if (r instanceof ConfigError) return;
        assert.ok(PINO_LEVELS.has(r.settings.logLevel), `loglevel "${loglevel}" gave ${String(r.settings.logLevel)}`);
      },
    ),
    params(500),
  );
});

test('fuzz config - an empty key is named in config warnings and handler-file problems', () => {
  const loaded = settingsOrError({ '': 1 });
  assert.ok(!(loaded instanceof ConfigError));
  for (const w of loaded.warnings) assert.notEqual(w.path, '', `config warning without a key: ${w.message}`);
  const r = handlersOrError({ '': 'not an array' });
  assert.ok(r instanceof ConfigError);
  for (const p of r.problems) assert.notEqual(p.path, '', `handlers problem without a key: ${p.message}`);
});

// ---------------------------------------------------------------------------------------
// event-handlers.json

const KEY = /^[^\s:]+:\S+$/;

function assertUsableHandlers(loaded: LoadedHandlers, raw: unknown): void {
  for (const [key, specs] of loaded.table) {
    assert.equal(keyPatternProblem(key), undefined, key);
    if (!isGlobKey(key)) assert.match(key, KEY);
    for (const spec of specs) {
      assert.equal(spec.key, key);
      assert.ok(['shell', 'tsfunc', 'pyfunc', 'webhook', 'amqp'].includes(spec.driver));
      assert.ok(typeof spec.command === 'string' && spec.command.trim().length > 0);
      assert.match(spec.id, /^[0-9a-f]{16}$/);
      assert.equal(typeof spec.exclusive, 'boolean');
      if (spec.timeoutMs !== undefined) assert.ok(spec.timeoutMs > 0 && Number.isFinite(spec.timeoutMs));
      if (spec.retries !== undefined) assert.ok(Number.isInteger(spec.retries) && spec.retries >= 0);
      if (spec.backoffMs !== undefined) assert.ok(spec.backoffMs >= 0 && Number.isFinite(spec.backoffMs));
    }
  }
  for (const w of loaded.warnings) assert.ok(w.path.length > 0 && w.message.length > 0 && w.file === HANDLERS_FILE);
  // Every key of the file was either loaded or reported.
  if (isPlainObject(raw)) {
    for (const key of Object.keys(raw as object))
      if (key !== '__proto__' && key !== 'registers' && key !== 'correlations') assert.ok(loaded.table.has(key), `key ${JSON.stringify(key)} loaded`);
  }
}

const specArb = fc.record(
  {
    driver: fc.oneof(fc.constantFrom('shell', 'tsfunc', 'pyfunc', ''), wrongValue),
    handler: fc.oneof(fc.constantFrom('echo', 'a.b', 'mod.fn', '  ', 'log-event.sh --tag x', "''"), fc.string({ maxLength: 12 }), wrongValue),
    exclusive: fc.oneof(fc.boolean(), wrongValue),
    timeout: fc.oneof(fc.double({ min: -1, max: 100_000, noNaN: true }), wrongValue),
    retries: fc.oneof(fc.integer({ min: -1, max: 101 }), wrongValue),
    backoff: fc.oneof(fc.double({ min: -1, max: 100_000, noNaN: true }), wrongValue),
  },
  { requiredKeys: [] },
);
const handlerKeyArb = fc.oneof(
  fc.stringMatching(/^[a-z]{1,5}:[a-z.]{1,8}$/),
  fc.string({ maxLength: 8 }),
  fc.constantFrom('constructor', 'toString', 'a: b', ':x', 'x:', 'a:b:c'),
);

test('fuzz handlers - buildHandlers on arbitrary JSON returns or throws ConfigError', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.dictionary(handlerKeyArb, fc.oneof(fc.array(specArb, { maxLength: 3 }), wrongValue), { maxKeys: 4 })),
      (raw) => {
        const r = handlersOrError(raw);
        if (!(r instanceof ConfigError)) assertUsableHandlers(r, raw);
      },
    ),
    params(1000),
  );
});

test('fuzz handlers - mutated sample handler files return or throw ConfigError with key paths', () => {
  let errors = 0;
  fc.assert(
    fc.property(fc.constantFrom(...HANDLER_FILES.keys()), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (which, muts) => {
      const { value } = mutate(HANDLER_FILES[which], muts);
      const r = handlersOrError(value);
      if (r instanceof ConfigError) errors++;
      else assertUsableHandlers(r, value);
    }),
    params(800),
  );
  assert.ok(errors > 50, `mutations produced ${errors} ConfigErrors`);
});

test('fuzz handlers - a "__proto__" key is reported, not silently dropped', () => {
  const raw: unknown = JSON.parse('{"__proto__":[{"driver":"bogus"}]}');
  const r = handlersOrError(raw);
  assert.ok(r instanceof ConfigError, 'a key that is not "namespace:event_type" with an invalid entry is a problem');
});

test('fuzz handlers - a shell handler whose program word is empty is refused when the file is loaded', () => {
  for (const handler of ["''", '""', "'' --flag", '"" x']) {
    const r = handlersOrError({ 'local:x': [{ driver: 'shell', handler }] });
    assert.ok(r instanceof ConfigError, `${handler} refused`);
    assert.ok(
      r.problems.some((p) => p.path === 'local:x[0].handler'),
      handler,
    );
  }
});

// ---------------------------------------------------------------------------------------
// splitArgv

const shellChar = fc.constantFrom(...'ab1 \t\n\'"\\|&;<>$()`*?~#=-/.'.split(''), '2>', '&&', '||', '2>&1', '$(');

test('fuzz argv - any string gives non-empty argv or HandlerRefusedError', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.array(shellChar, { maxLength: 30 }).map((a) => a.join('')),
      ),
      (command) => {
        let argv: string[];
        try {
          argv = splitArgv(command);
        } catch (err) {
          assert.ok(err instanceof HandlerRefusedError, `expected HandlerRefusedError, got ${String(err)}`);
          assert.ok(err.message.length > 0);
          return;
        }
        assert.ok(Array.isArray(argv) && argv.length > 0);
        for (const w of argv) assert.equal(typeof w, 'string');
      },
    ),
    params(1000),
  );
});

const safeWord = fc.stringMatching(/^[A-Za-z0-9_./=:,@%+-]{1,12}$/);
const blanks = fc.stringMatching(/^[ \t\n\r]{1,3}$/);

test('fuzz argv - safe words joined by whitespace round-trip', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(safeWord, blanks), { minLength: 1, maxLength: 8 }), blanks, (parts, lead) => {
      const words = parts.map(([w]) => w);
      const command = lead + parts.map(([w, b]) => w + b).join('');
      assert.deepEqual(splitArgv(command), words);
    }),
    params(1000),
  );
});

const singleQuote = (w: string): string => `'${w.replaceAll("'", `'"'"'`)}'`;

test("fuzz argv - a single-quoted word (with '\"'\"' for quotes) is exactly that word", () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (word) => {
      // An empty first word names no program and is refused (see the test below).
      if (word !== '') assert.deepEqual(splitArgv(singleQuote(word)), [word]);
      assert.deepEqual(splitArgv(`cmd ${singleQuote(word)} tail`), ['cmd', word, 'tail']);
    }),
    params(1000),
  );
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 10 }), fc.constantFrom('|', '&&', ';', '>', '2>&1', '$(', '`', "'", '"', '\\', ' ')), {
        minLength: 1,
        maxLength: 6,
      }),
      (words) => {
        if (words[0] === '') assert.throws(() => splitArgv(words.map(singleQuote).join(' ')), HandlerRefusedError);
        else assert.deepEqual(splitArgv(words.map(singleQuote).join(' ')), words);
      },
    ),
    params(500),
  );
});
