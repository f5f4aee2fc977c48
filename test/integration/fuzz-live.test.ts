/**
 * Hostile events against a live router, subscriber and archive: random keys and values of
 * every odd character class (NUL, "$", ".", control characters, lone surrogates, emoji,
 * huge numbers), depths and sizes. Whatever the router accepts is archived (as fields,
 * as JSON text with an archive_note, or recorded in `rejected`), and an ordinary event
 * sent after each hostile one is archived within seconds: one bad event never blocks
 * the rest. Set FUZZ_SEED to replay a run.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MongoClient } from 'mongodb';
import { startDaemons, type RunningDaemons } from '../../src/daemons/start-daemons.js';
import { RouterRefusedError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { eventually, writeTestConfig } from '../helpers/config.js';
import { dropDatabase, useServices } from '../helpers/services.js';

const SEED = process.env['FUZZ_SEED'] !== undefined ? Number(process.env['FUZZ_SEED']) : Date.now() % 2 ** 31;
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 40);

let running: RunningDaemons | undefined;
let mongo: MongoClient | undefined;
let database: string | undefined;
after(async () => {
  await running?.close();
  await mongo?.close();
  if (database) await dropDatabase(await services.mongoUrl(), database);
});
const services = useServices();

const oddChar = fc.oneof(
  fc.constantFrom('\u0000', '$', '.', '\u0001', '\u007f', '\u2028', '\ufeff', '\ud83d\ude00', '"', '\\', '/', ' ', '\n', '\ud800', '\udfff', 'é', '漢'),
  fc.string({ unit: 'grapheme', maxLength: 3 }),
);
const oddString = fc.array(oddChar, { maxLength: 12 }).map((a) => a.join(''));
const oddKey = fc.oneof(oddString, fc.constantFrom('__proto__', 'constructor', '$where', 'a.b', '', '_id'));
const oddNumber = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -0, 5e-324));
const leaf = fc.oneof(oddString, oddNumber, fc.boolean(), fc.constant(null));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(oddKey, tie('node'), { maxKeys: 4 }),
  ),
})).node;
/** Nesting close to the router's limit of 64 levels. */
const deep = fc.integer({ min: 50, max: 70 }).map((n) => {
  let v: unknown = 'bottom';
  for (let i = 0; i < n; i++) v = { [`l${i}\u0000`.slice(0, i % 2 === 0 ? 3 : 2)]: v };
  return v;
});
const payload = fc.oneof(value, deep, fc.string({ minLength: 10_000, maxLength: 60_000 }));

test('fuzz live - hostile events are archived or recorded, and never hold up the next ordinary event', { timeout: 600_000 }, async (t) => {
  t.diagnostic(`FUZZ_SEED=${SEED}`);
  const cfg = await writeTestConfig({ redisUrl: await services.redisUrl(), mongoUrl: await services.mongoUrl(), handlers: {} });
  database = cfg.database;
  running = await startDaemons(['router', 'sub'], cfg.settings, silentLogger());
  mongo = new MongoClient(await services.mongoUrl());
  const db = mongo.db(cfg.database);
  const client = new RouterClient({ uri: `tcp://127.0.0.1:${cfg.ports.rep}`, timeoutMs: 5000 });
  t.after(() => client.close());
  const stored = async (id: string): Promise<boolean> =>
    Boolean((await db.collection('events').findOne({ _id: id as never })) ?? (await db.collection('rejected').findOne({ event_id: id })));
  let n = 0;
  await fc.assert(
    fc.asyncProperty(payload, oddKey, async (p, extraKey) => {
      n++;
      const hostile: Record<string, unknown> = { event_type: 'fuzz.hostile', payload: p };
      Object.defineProperty(hostile, extraKey === 'event_type' || extraKey === 'payload' ? 'x' : extraKey, {
        value: p,
        enumerable: true,
        configurable: true,
        writable: true,
      });
      let acceptedId: string | undefined;
      try {
        acceptedId = (await client.send(JSON.stringify(hostile))).id;
      } catch (err) {
        if (!(err instanceof RouterRefusedError)) throw err;
        assert.match(err.reason, /^[a-z_]+$/, 'a refusal names its reason');
      }
      const ordinary = await client.send({ event_type: 'fuzz.ordinary', payload: { n } });
      await eventually(() => stored(ordinary.id), `ordinary event ${ordinary.id} after hostile #${n} to be archived`, 10_000);
      if (acceptedId !== undefined) await eventually(() => stored(acceptedId), `accepted hostile event ${acceptedId} to be archived or recorded`, 10_000);
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
});
