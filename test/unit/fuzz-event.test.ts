/**
 * Property tests for the router's intake: parseIncoming, EventStamper and parsePublished.
 * Pure, no sockets. Set FUZZ_SEED to replay a run; fast-check prints the seed and path of
 * any counterexample.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { DEFAULT_MAX_EVENT_BYTES, MAX_DEPTH, MAX_ID_LENGTH, MAX_NAME_LENGTH, MAX_TIMESTAMP, type ReactorEvent } from '../../src/event/event.js';
import { EventStamper } from '../../src/router/stamper.js';
import { parseIncoming, parsePublished, type IncomingEvent } from '../../src/event/validate.js';
import { EventValidationError, type EventRefusal } from '../../src/errors.js';

// ---------------------------------------------------------------------------------------
// fast-check parameters

const SEED = process.env['FUZZ_SEED'] !== undefined ? Number(process.env['FUZZ_SEED']) : undefined;

function params<T>(numRuns: number): fc.Parameters<T> {
  return SEED === undefined ? { numRuns } : { numRuns, seed: SEED };
}

// ---------------------------------------------------------------------------------------
// Oracles

const REASONS = [
  'too_large',
  'bad_encoding',
  'invalid_json',
  'not_object',
  'too_deep',
  'missing_event_type',
  'bad_event_type',
  'bad_namespace',
  'bad_id',
  'bad_trace_id',
  'bad_parent_event',
  'bad_timestamp',
  'bad_key',
  'bad_hops',
  'too_many_hops',
  'forbidden_namespace',
  'bad_frames',
] as const satisfies readonly EventRefusal[];
// Fails to compile when EventRefusal gains a member this list lacks.
const exhaustive: Exclude<EventRefusal, (typeof REASONS)[number]> extends never ? true : never = true;
void exhaustive;
const REASON_SET: ReadonlySet<string> = new Set(REASONS);

const LIMITS = { maxBytes: DEFAULT_MAX_EVENT_BYTES };
const BIG_LIMITS = { maxBytes: 64 * 1024 * 1024 };
const enc = (s: string): Uint8Array => Buffer.from(s, 'utf8');

/** parseIncoming, asserting it throws nothing but a well-formed EventValidationError. */
function intake(raw: Uint8Array, limits = LIMITS): IncomingEvent | EventValidationError {
  try {
    return parseIncoming(raw, 'local', limits);
  } catch (err) {
    assertRefusal(err);
    return err;
  }
}

function assertRefusal(err: unknown): asserts err is EventValidationError {
  if (!(err instanceof EventValidationError)) {
    assert.fail(`expected EventValidationError, got ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)}`);
  }
  assert.ok(err.message.length > 0, 'refusal has a message');
  assert.ok(REASON_SET.has(err.reason), `reason "${err.reason}" is an EventRefusal`);
  assert.equal(err.code, 'ERR_EVENT_INVALID');
}

function reasonOf(raw: Uint8Array, limits = LIMITS): EventRefusal | 'accepted' {
  const r = intake(raw, limits);
  return r instanceof EventValidationError ? r.reason : 'accepted';
}

const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

function assertNoPollution(): void {
  const probe: Record<string, unknown> = {};
  assert.equal(probe['polluted'], undefined, 'Object.prototype.polluted is not set');
  assert.equal(probe['event_type'], undefined, 'Object.prototype.event_type is not set');
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), PROTO_KEYS, 'Object.prototype gained no properties');
}

/** JSON has one zero; compare what a JSON reader would see. */
function asJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}

// ---------------------------------------------------------------------------------------
// A tiny JSON writer with control over key order, duplicates, whitespace and escapes

/** Literal JSON text inserted as it is (number spellings, escapes). */
class Raw {
  constructor(readonly text: string) {}
}

/** An object written from an entry list, so keys may repeat and `__proto__` is a plain key. */
class Obj {
  constructor(readonly entries: readonly (readonly [string, unknown])[]) {}
}

interface Style {
  /** Whitespace between tokens. */
  ws: string;
  /** Write every key as \uXXXX escapes. */
  escapeKeys: boolean;
  /** Write every character of every string value as \uXXXX escapes. */
  escapeStrings: boolean;
  /** Whitespace before and after the top-level value. */
  lead: string;
  trail: string;
  /** Number of U+FEFF in front (the decoder strips one). */
  boms: number;
}

const PLAIN: Style = { ws: '', escapeKeys: false, escapeStrings: false, lead: '', trail: '', boms: 0 };

function escapeAll(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) out += `\\u${s.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return `${out}"`;
}

function write(v: unknown, s: Style): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Obj) {
    const parts = v.entries.map(([k, x]) => `${s.escapeKeys ? escapeAll(k) : JSON.stringify(k)}${s.ws}:${s.ws}${write(x, s)}`);
    return `{${s.ws}${parts.join(`${s.ws},${s.ws}`)}${s.ws}}`;
  }
  if (typeof v === 'string') return s.escapeStrings ? escapeAll(v) : JSON.stringify(v);
  if (Array.isArray(v)) return `[${s.ws}${v.map((x) => write(x, s)).join(`${s.ws},${s.ws}`)}${s.ws}]`;
  if (v !== null && typeof v === 'object') return write(new Obj(Object.entries(v)), s);
  return JSON.stringify(v) ?? 'null';
}

function render(event: Obj, s: Style): string {
  return `${'\uFEFF'.repeat(s.boms)}${s.lead}${write(event, s)}${s.trail}`;
}

// ---------------------------------------------------------------------------------------
// Arbitraries

const wsArb = fc.stringMatching(/^[ \t\n\r]{0,3}$/);
const styleArb: fc.Arbitrary<Style> = fc.record({
  ws: wsArb,
  escapeKeys: fc.boolean(),
  escapeStrings: fc.boolean(),
  lead: wsArb,
  trail: wsArb,
  boms: fc.constantFrom(0, 0, 0, 1, 2),
});

const goodName = fc.stringMatching(/^[a-z][a-z0-9._-]{0,24}$/);
const goodId = fc.string({ minLength: 1, maxLength: 40, unit: 'binary' });
const json = fc.jsonValue({ maxDepth: 3 });
const notString = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(json, { maxLength: 3 }),
  fc.dictionary(fc.string(), json, { maxKeys: 3 }),
);
const rawNumber = fc.constantFrom(
  '1e2',
  '1E+2',
  '0.10e1',
  '-0',
  '1.0',
  '123456789012345678901234567890',
  '5e-324',
  '1.7976931348623157e308',
  '1e400',
  '-1e-400',
  '0.0000000000000000000001',
);
const rawString = fc.constantFrom('"\\ud800"', '"\\udc00x"', '"\\u0000"', '"\\/"', '"\\uD83D\\uDE00"', '"\\u2028\\u2029"', '"\\"\\\\"', '"\\u0061"');
const pollution = fc.constantFrom(
  new Obj([['polluted', 'yes']]),
  new Obj([['__proto__', new Obj([['polluted', 'yes']])]]),
  new Obj([['prototype', new Obj([['polluted', 'yes']])]]),
  new Obj([['constructor', new Obj([['prototype', new Obj([['polluted', 'yes']])]])]]),
  new Obj([['event_type', 'from-proto']]),
);
const hostileValue = fc.oneof(
  json,
  pollution,
  rawNumber.map((t) => new Raw(t)),
  rawString.map((t) => new Raw(t)),
);

type Entry = readonly [string, unknown];
const ROUTER_KEYS = ['__proto__', 'constructor', 'prototype', 'seq', 'epoch', 'toString', 'hasOwnProperty', 'valueOf'];

/** One top-level entry: each known field with good or hostile values, dangerous keys, random keys. */
const entryArb: fc.Arbitrary<Entry> = fc.oneof(
  fc.tuple(fc.constant('event_type'), fc.oneof(goodName, hostileValue, fc.string({ maxLength: 4 }))),
  fc.tuple(fc.constant('namespace'), fc.oneof(goodName, hostileValue, fc.string({ maxLength: 4 }))),
  fc.tuple(fc.constantFrom('id', 'trace_id', 'parent_event'), fc.oneof(goodId, hostileValue)),
  fc.tuple(fc.constant('timestamp'), fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.nat(), hostileValue)),
  fc.tuple(fc.constant('payload'), hostileValue),
  fc.tuple(fc.constantFrom(...ROUTER_KEYS), hostileValue),
  fc.tuple(fc.string({ maxLength: 8 }), hostileValue),
);

/** Events that are usually valid: a good event_type first, then hostile extras and duplicates. */
const mostlyValidArb: fc.Arbitrary<Obj> = fc
  .tuple(
    goodName,
    fc.array(entryArb, { maxLength: 6 }),
    fc.array(fc.tuple(fc.constantFrom('event_type', 'namespace', 'id', 'payload'), fc.oneof(goodName, json)), { maxLength: 2 }),
  )
  .map(([type, extras, dups]) => new Obj([['event_type', type], ...extras.filter(([k]) => k !== 'event_type'), ...dups]));

/** Events with any mix of entries, in any order, keys possibly repeated. */
const anyEventArb: fc.Arbitrary<Obj> = fc.array(entryArb, { maxLength: 8 }).map((e) => new Obj(e));

// ---------------------------------------------------------------------------------------
// The published-event property, shared by several tests

const stamper = new EventStamper(1_700_000_000_000);
let expectedSeq = 0;
const generatedIds = new Set<string>();

/** Stamp an accepted event and check that what is published is what was validated. */
function checkPublished(incoming: IncomingEvent): { event: ReactorEvent; json: string } {
  const out = stamper.stamp(incoming);
  const { event, json } = out;
  expectedSeq++;
  assert.equal(event.seq, expectedSeq, 'seq counts up by one per accepted event');
  assert.equal(stamper.lastSeq, expectedSeq);
  assert.equal(event.epoch, stamper.epoch);

  // The key property: the published text means exactly the stamped event.
  const published: unknown = JSON.parse(json);
  // (Both sides through JSON once more: -0 is written "0" when the event is re-serialised.)
  assert.deepStrictEqual(asJson(published), asJson(event), 'published JSON parses to the stamped event');
  assert.equal(Object.getPrototypeOf(published), Object.prototype);

  // The stamped event is the client's fields plus the router's.
  const f = incoming.fields;
  for (const [k, v] of Object.entries(f)) {
    if (k !== 'seq' && k !== 'epoch') assert.deepStrictEqual(Object.getOwnPropertyDescriptor(event, k)?.value, v, `field ${JSON.stringify(k)} kept`);
  }
  assert.equal(event.event_type, incoming.event_type);
  assert.equal(event.namespace, incoming.namespace);
  assert.equal(typeof event.id, 'string');
  assert.equal(event.trace_id, Object.hasOwn(f, 'trace_id') ? f['trace_id'] : event.id);
  assert.equal(typeof event.timestamp, 'number');
  if (!Object.hasOwn(f, 'id')) {
    assert.ok(!generatedIds.has(event.id), `generated id ${event.id} is unique`);
    generatedIds.add(event.id);
  }

  // What subscribers read agrees with what the router validated.
  const again = parseIncoming(enc(json), 'other-namespace', BIG_LIMITS);
  assert.equal(again.event_type, incoming.event_type, 'published event_type is the validated one');
  assert.equal(again.namespace, incoming.namespace, 'published namespace is the validated one');
  assert.deepStrictEqual(asJson(parsePublished(json)), asJson(event), 'parsePublished reads back the stamped event');
  return out;
}

// ---------------------------------------------------------------------------------------
// Tests

test('fuzz event - random bytes are refused with a reason, never a crash', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      const r = intake(bytes);
      if (!isUtf8(bytes)) assert.ok(r instanceof EventValidationError && r.reason === 'bad_encoding', 'invalid UTF-8 is bad_encoding');
      if (!(r instanceof EventValidationError)) checkPublished(r);
    }),
    params(1000),
  );
  assertNoPollution();
});

test('fuzz event - hostile event objects: refusal or an event published exactly as validated', () => {
  const seen = { accepted: 0, refused: 0 };
  fc.assert(
    fc.property(fc.oneof(mostlyValidArb, anyEventArb), styleArb, (event, style) => {
      const text = render(event, style);
      const r = intake(enc(text));
      if (style.boms > 1) assert.ok(r instanceof EventValidationError && r.reason === 'invalid_json', 'a second BOM is not JSON whitespace');
      if (r instanceof EventValidationError) seen.refused++;
      else {
        seen.accepted++;
        checkPublished(r);
      }
      assertNoPollution();
    }),
    params(600),
  );
  // Guard against a vacuous run: both branches must be well exercised.
  assert.ok(seen.accepted > 60 && seen.refused > 60, `accepted ${seen.accepted}, refused ${seen.refused}`);
});

test('fuzz event - whitespace, BOM, escapes and duplicate keys do not change what is published', () => {
  fc.assert(
    fc.property(mostlyValidArb, styleArb, (event, style) => {
      const s = { ...style, boms: Math.min(style.boms, 1) };
      const a = intake(enc(render(event, PLAIN)));
      const b = intake(enc(render(event, s)));
      if (a instanceof EventValidationError || b instanceof EventValidationError) {
        assert.ok(a instanceof EventValidationError && b instanceof EventValidationError, 'same verdict whatever the spelling');
        assert.equal(a.reason, b.reason);
        return;
      }
      assert.deepStrictEqual(asJson(b.fields), asJson(a.fields));
      const pa = checkPublished(a);
      const pb = checkPublished(b);
      const strip = (e: ReactorEvent): unknown => asJson({ ...e, id: 0, trace_id: 0, timestamp: 0, seq: 0 });
      assert.deepStrictEqual(strip(pb.event), strip(pa.event));
    }),
    params(300),
  );
});

test('fuzz event - duplicate keys: the last one wins both in validation and in what is published', () => {
  const cases: [string, string][] = [
    ['{"event_type":"a","event_type":"b"}', 'b'],
    ['{"event_type":"a b","event_type":"ok"}', 'ok'],
    ['{"event_type":"ok","event_type":"a b"}', 'refused'],
    ['{"event_type":"a","\\u0065vent_type":"b"}', 'b'],
    ['\uFEFF {"event_type":"a","namespace":"x","namespace":"y"}', 'a'],
  ];
  for (const [text, want] of cases) {
    const r = intake(enc(text));
    if (want === 'refused') {
      assert.ok(r instanceof EventValidationError, text);
      continue;
    }
    assert.ok(!(r instanceof EventValidationError), text);
    const { event, json } = checkPublished(r);
    if (want !== 'a') assert.equal(event.event_type, want, text);
    assert.equal((JSON.parse(json) as ReactorEvent).event_type, event.event_type, text);
  }
});

test('fuzz event - every truncation of a valid event is refused, never a crash', () => {
  fc.assert(
    fc.property(mostlyValidArb, styleArb, (event, style) => {
      const text = render(event, { ...style, boms: Math.min(style.boms, 1) });
      const bytes = enc(text);
      if (bytes.length > 400 || intake(bytes) instanceof EventValidationError) return;
      const end = bytes.length - Buffer.byteLength(style.trail);
      for (let i = 0; i < end; i++) {
        const r = intake(bytes.subarray(0, i));
        assert.ok(r instanceof EventValidationError, `prefix of ${i} bytes refused: ${JSON.stringify(text.slice(0, 80))}`);
      }
    }),
    params(150),
  );
});

test('fuzz event - byte mutations of valid events: refusal or exact publication', () => {
  const mutation = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete'));
  fc.assert(
    fc.property(mostlyValidArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), (event, muts) => {
      const bytes = Array.from(enc(render(event, PLAIN)));
      for (const [pos, byte, op] of muts) {
        const i = pos % (bytes.length + 1);
        if (op === 'insert') bytes.splice(i, 0, byte);
        else if (op === 'delete') bytes.splice(i, 1);
        else if (i < bytes.length) bytes[i] = byte;
      }
      const raw = Uint8Array.from(bytes);
      const r = intake(raw);
      if (!isUtf8(raw)) assert.ok(r instanceof EventValidationError && r.reason === 'bad_encoding');
      if (!(r instanceof EventValidationError)) checkPublished(r);
    }),
    params(1000),
  );
});

test('fuzz event - invalid UTF-8 sequences anywhere are bad_encoding', () => {
  const bad = fc.constantFrom(
    [0x80],
    [0xbf],
    [0xc0, 0x80],
    [0xc1, 0xbf],
    [0xe0, 0x80, 0x80],
    [0xed, 0xa0, 0x80],
    [0xed, 0xbf, 0xbf],
    [0xf4, 0x90, 0x80, 0x80],
    [0xf5, 0x80, 0x80, 0x80],
    [0xf8],
    [0xfe],
    [0xff],
    [0xc3],
    [0xe2, 0x82],
    [0xf0, 0x9f, 0x98],
  );
  fc.assert(
    fc.property(mostlyValidArb, bad, fc.nat(), (event, seq, pos) => {
      const bytes = Array.from(enc(render(event, PLAIN)));
      bytes.splice(pos % (bytes.length + 1), 0, ...seq);
      const raw = Uint8Array.from(bytes);
      assert.ok(!isUtf8(raw));
      assert.equal(reasonOf(raw), 'bad_encoding');
    }),
    params(500),
  );
});

test("fuzz event - a field of the wrong type is refused with that field's reason", () => {
  const REASON: Record<string, EventRefusal> = {
    event_type: 'bad_event_type',
    namespace: 'bad_namespace',
    id: 'bad_id',
    trace_id: 'bad_trace_id',
    parent_event: 'bad_parent_event',
  };
  fc.assert(
    fc.property(fc.constantFrom(...Object.keys(REASON)), notString, (field, value) => {
      const event = new Obj(
        field === 'event_type'
          ? [['event_type', value]]
          : [
              ['event_type', 'ok'],
              [field, value],
            ],
      );
      assert.equal(reasonOf(enc(render(event, PLAIN))), REASON[field]);
    }),
    params(500),
  );
  // Wrong strings: empty, too long, control characters or whitespace in names.
  const long = (n: number): string => 'x'.repeat(n);
  const cases: [Entry[], EventRefusal | 'accepted'][] = [
    [[['event_type', '']], 'bad_event_type'],
    [[['event_type', long(MAX_NAME_LENGTH)]], 'accepted'],
    [[['event_type', long(MAX_NAME_LENGTH + 1)]], 'bad_event_type'],
    [[['event_type', 'a\u0000b']], 'bad_event_type'],
    [[['event_type', 'a\u007f']], 'bad_event_type'],
    [[['event_type', 'a:b']], 'accepted'],
    [
      [
        ['event_type', 'a'],
        ['namespace', 'a:b'],
      ],
      'bad_namespace',
    ],
    [
      [
        ['event_type', 'a'],
        ['namespace', '\t'],
      ],
      'bad_namespace',
    ],
    [
      [
        ['event_type', 'a'],
        ['id', long(MAX_ID_LENGTH)],
      ],
      'accepted',
    ],
    [
      [
        ['event_type', 'a'],
        ['id', long(MAX_ID_LENGTH + 1)],
      ],
      'bad_id',
    ],
    [
      [
        ['event_type', 'a'],
        ['trace_id', ''],
      ],
      'bad_trace_id',
    ],
    [
      [
        ['event_type', 'a'],
        ['parent_event', null],
      ],
      'bad_parent_event',
    ],
    [
      [
        ['event_type', 'a'],
        ['id', null],
      ],
      'bad_id',
    ],
    [[['namespace', 'a']], 'missing_event_type'],
  ];
  for (const [entries, want] of cases) assert.equal(reasonOf(enc(render(new Obj(entries), PLAIN))), want, JSON.stringify(entries));
});

test('fuzz event - timestamps: only numbers from 0 to MAX_TIMESTAMP are accepted', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        notString.filter((v) => typeof v !== 'number'),
        fc.string(),
      ),
      (ts) => {
        assert.equal(reasonOf(enc(JSON.stringify({ event_type: 'a', timestamp: ts }))), 'bad_timestamp');
      },
    ),
    params(300),
  );
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (ts) => {
      assert.equal(reasonOf(enc(JSON.stringify({ event_type: 'a', timestamp: ts }))), ts < 0 || ts > MAX_TIMESTAMP ? 'bad_timestamp' : 'accepted');
    }),
    params(300),
  );
  for (const [raw, want] of [
    ['1e400', 'bad_timestamp'],
    ['1e300', 'bad_timestamp'],
    ['8640000000001', 'bad_timestamp'],
    ['8640000000000', 'accepted'],
    ['-1e400', 'bad_timestamp'],
    ['-0', 'accepted'],
    ['-1e-400', 'accepted'],
    ['"1"', 'bad_timestamp'],
    ['null', 'bad_timestamp'],
    ['true', 'bad_timestamp'],
    ['[1]', 'bad_timestamp'],
    ['{"$date":1}', 'bad_timestamp'],
  ] as const) {
    assert.equal(reasonOf(enc(`{"event_type":"a","timestamp":${raw}}`)), want, raw);
  }
});

test('fuzz event - size limit: accepted iff the UTF-8 byte length is within maxBytes', () => {
  const limit = DEFAULT_MAX_EVENT_BYTES;
  fc.assert(
    fc.property(fc.constantFrom('a', 'é', '€', '😀', '\\u0000'), fc.integer({ min: -8, max: 8 }), (unit, delta) => {
      const head = '{"event_type":"big","payload":"';
      const tail = '"}';
      const unitBytes = Buffer.byteLength(unit);
      const room = limit + delta - Buffer.byteLength(head) - Buffer.byteLength(tail);
      const fill = unit.repeat(Math.floor(room / unitBytes)) + ' '.repeat(room % unitBytes);
      const raw = enc(head + fill + tail);
      assert.equal(raw.byteLength, limit + delta);
      const r = intake(raw);
      if (raw.byteLength > limit) assert.ok(r instanceof EventValidationError && r.reason === 'too_large');
      else assert.ok(!(r instanceof EventValidationError), `${raw.byteLength} bytes accepted`);
    }),
    params(20),
  );
  // Far over the limit, and over the limit while also invalid UTF-8: size is checked first.
  assert.equal(reasonOf(new Uint8Array(4 * limit).fill(0xff)), 'too_large');
  assert.equal(reasonOf(enc(JSON.stringify({ event_type: 'x', payload: 'y'.repeat(2 * limit) }))), 'too_large');
});

const deepArray = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
const deepObject = (n: number, key = 'a'): string => `${`{"${key}":`.repeat(n)}1${'}'.repeat(n)}`;

test('fuzz event - deep nesting is refused as too_deep, never a stack overflow', () => {
  for (const depth of [1_000, 10_000, 100_000]) {
    for (const [what, payload] of [
      ['array', deepArray(depth)],
      ['object', deepObject(depth)],
      ['__proto__ object', deepObject(depth, '__proto__')],
    ] as const) {
      for (const extra of ['', '"seq":1,', '"epoch":2,']) {
        const before = stamper.lastSeq;
        assert.equal(reasonOf(enc(`{"event_type":"deep",${extra}"payload":${payload}}`), BIG_LIMITS), 'too_deep', `${what} ${depth} ${extra}`);
        assert.equal(stamper.lastSeq, before);
      }
    }
  }
  // Deep nesting at the top level: an array, an object without event_type, or cut short.
  assert.equal(reasonOf(enc(deepArray(100_000)), BIG_LIMITS), 'not_object');
  assert.equal(reasonOf(enc(deepObject(100_000)), BIG_LIMITS), 'missing_event_type');
  assert.equal(reasonOf(enc(deepArray(100_000).slice(0, -1)), BIG_LIMITS), 'invalid_json');
  assert.equal(reasonOf(enc(`{"event_type":"a","id":5,"payload":${deepArray(1000)}}`), BIG_LIMITS), 'bad_id', 'field checks come first');
  assertNoPollution();
});

/** A value nested exactly `depth` levels (1 = a flat array or object), with random siblings. */
const nestedArb = (depth: number): fc.Arbitrary<unknown> => {
  let arb: fc.Arbitrary<unknown> = fc.oneof(
    fc.constant([]),
    fc.constant({}),
    fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null)), { maxLength: 2 }),
  );
  for (let i = 1; i < depth; i++) {
    const inner = arb;
    arb = fc.oneof(
      fc.tuple(inner, fc.array(fc.jsonValue({ maxDepth: 0 }), { maxLength: 2 }), fc.nat(2)).map(([x, sib, at]) => {
        const a: unknown[] = [...sib];
        a.splice(Math.min(at, a.length), 0, x);
        return a;
      }),
      fc
        .tuple(
          inner,
          fc.constantFrom('a', '__proto__', 'payload', ''),
          fc.dictionary(fc.string({ maxLength: 2 }), fc.jsonValue({ maxDepth: 0 }), { maxKeys: 2 }),
        )
        .map(([x, k, sib]) => new Obj([...Object.entries(sib), [k, x]])),
    );
  }
  return arb;
};

test('fuzz event - the nesting limit: accepted iff the event nests at most MAX_DEPTH levels', () => {
  const depthArb = fc.integer({ min: MAX_DEPTH - 3, max: MAX_DEPTH + 3 });
  fc.assert(
    fc.property(
      depthArb.chain((d) => fc.tuple(fc.constant(d), nestedArb(d))),
      fc.constantFrom('payload', 'extra', '__proto__', 'seq'),
      ([payloadDepth, payload], field) => {
        const text = write(
          new Obj([
            ['event_type', 'nest'],
            [field, payload],
          ]),
          PLAIN,
        );
        const before = stamper.lastSeq;
        const r = intake(enc(text));
        // The event object itself is one level.
        if (payloadDepth + 1 > MAX_DEPTH) {
          assert.ok(r instanceof EventValidationError && r.reason === 'too_deep', `payload depth ${payloadDepth} refused`);
          assert.equal(stamper.lastSeq, before);
        } else {
          assert.ok(!(r instanceof EventValidationError), `payload depth ${payloadDepth} accepted, got ${r instanceof EventValidationError ? r.reason : ''}`);
          checkPublished(r);
        }
      },
    ),
    params(300),
  );
});

test('fuzz event - a stamp that fails to serialise costs no seq', () => {
  const local = new EventStamper(1);
  // Not reachable from the wire any more (too_deep); a BigInt makes JSON.stringify throw.
  const broken: IncomingEvent = { fields: { event_type: 'a', seq: 1, payload: 1n }, text: '', namespace: 'local', event_type: 'a' };
  assert.throws(() => local.stamp(broken), TypeError);
  assert.equal(local.lastSeq, 0);
  assert.equal(local.stamp(parseIncoming(enc('{"event_type":"a","seq":99}'), 'local', LIMITS)).event.seq, 1);
});

test('fuzz event - __proto__, constructor and prototype keys never pollute Object.prototype', () => {
  const texts = [
    '{"event_type":"a","__proto__":{"polluted":"yes"}}',
    '{"__proto__":{"event_type":"x","polluted":"yes"}}',
    '{"event_type":"a","payload":{"__proto__":{"polluted":"yes"}}}',
    '{"event_type":"a","constructor":{"prototype":{"polluted":"yes"}}}',
    '{"event_type":"a","prototype":{"polluted":"yes"},"seq":5}',
    '{"event_type":"a","__proto__":{"polluted":"yes"},"epoch":5}',
    '{"event_type":"a","\\u005f_proto__":{"polluted":"yes"}}',
    '{"event_type":"a","__proto__":null}',
    '{"event_type":"a","__proto__":[1]}',
  ];
  for (const text of texts) {
    const r = intake(enc(text));
    if (!(r instanceof EventValidationError)) {
      const { event, json } = checkPublished(r);
      assert.equal(Object.getPrototypeOf(event), Object.prototype, text);
      assert.equal((event as Record<string, unknown>)['polluted'], undefined, text);
      const back = parsePublished(json);
      assert.equal(Object.getPrototypeOf(back), Object.prototype, text);
      assert.equal((back as Record<string, unknown>)['polluted'], undefined, text);
    }
    try {
      parsePublished(text);
    } catch (err) {
      assertRefusal(err);
    }
    assertNoPollution();
  }
  assert.equal(reasonOf(enc('{"__proto__":{"event_type":"x"}}')), 'missing_event_type', 'an inherited event_type is not an event_type');
});

test('fuzz event - accepted events get strictly increasing seq and unique ids', () => {
  const local = new EventStamper(7);
  const ids = new Set<string>();
  let last = 0;
  const now = 1_700_000_000_000;
  for (let i = 0; i < 5000; i++) {
    // Same millisecond for all: the monotonic ULID factory must still give distinct ids.
    const { event } = local.stamp(parseIncoming(enc('{"event_type":"a"}'), 'local', LIMITS), now);
    assert.ok(event.seq > last);
    assert.equal(event.seq, last + 1);
    last = event.seq;
    assert.ok(!ids.has(event.id), `id ${event.id} repeated`);
    ids.add(event.id);
    assert.equal(event.trace_id, event.id);
  }
  assert.ok(generatedIds.size > 0, 'the shared properties generated ids too');
});

test('fuzz event - parsePublished on any string returns an event or throws EventValidationError', () => {
  const published = fc.tuple(mostlyValidArb, styleArb).map(([e, s]) => render(e, s));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.json({ maxDepth: 3 }),
        published,
        anyEventArb.map((e) => render(e, PLAIN)),
      ),
      (text) => {
        let event: ReactorEvent;
        try {
          event = parsePublished(text);
        } catch (err) {
          assertRefusal(err);
          return;
        }
        assert.equal(typeof event.id, 'string');
        assert.equal(typeof event.event_type, 'string');
        assert.equal(typeof event.namespace, 'string');
        assert.equal(typeof event.timestamp, 'number');
        assert.equal(typeof event.trace_id, 'string');
        assert.equal(typeof event.seq, 'number');
        assert.equal(typeof event.epoch, 'number');
        assert.notEqual(event.payload, undefined);
      },
    ),
    params(1000),
  );
  assertNoPollution();
});
