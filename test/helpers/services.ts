import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { startMongo } from '../../src/devstack/mongo-server.js';
import type { LocalService } from '../../src/devstack/local-service.js';
import { startRedis } from '../../src/devstack/redis-server.js';
import { createLogger, toPinoLevel, type Logger } from '../../src/logger.js';

/** Lazily started Redis and MongoDB for one test file. */
export interface TestServices {
  /** `REDIS_URL` when set, else a Redis started on first call (once per process). */
  redisUrl(): Promise<string>;
  /** `MONGO_URL` when set, else a MongoDB/FerretDB started on first call (once per process). */
  mongoUrl(): Promise<string>;
}

let redis: Promise<LocalService> | undefined;
let mongo: Promise<LocalService> | undefined;
let logger: Logger | undefined;

/**
 * Call once at the top level of a test file that needs Redis or MongoDB. Uses `REDIS_URL`
 * and `MONGO_URL` when set (test/run.ts sets them); otherwise starts what is asked for on
 * first use, and stops it in an `after` hook of the file.
 */
export function useServices(): TestServices {
  after(stopStarted);
  return {
    redisUrl: async () => process.env.REDIS_URL || (await (redis ??= startRedis({ log: log() }))).url,
    mongoUrl: async () => process.env.MONGO_URL || (await (mongo ??= startMongo({ log: log() }))).url,
  };
}

/**
 * A name no other test uses, for queues and databases: `<prefix>-<time>-<random>`.
 * Only letters, digits, `_` and `-`, so it is valid as a BullMQ queue name and as a
 * MongoDB/FerretDB database name.
 *
 * @throws {RangeError} when `prefix` is empty, longer than 40 characters or has other characters
 */
export function uniqueName(prefix: string): string {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(prefix)) {
    throw new RangeError(`uniqueName: prefix must be 1-40 of [A-Za-z0-9_-], got ${JSON.stringify(prefix)}`);
  }
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** Drop database `name` on the server at `mongoUrl` (a throwaway test database). */
export async function dropDatabase(mongoUrl: string, name: string): Promise<void> {
  const client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.db(name).dropDatabase();
  } finally {
    await client.close();
  }
}

async function stopStarted(): Promise<void> {
  const starting = [redis, mongo];
  redis = undefined;
  mongo = undefined;
  const services = await Promise.allSettled(starting.flatMap((p) => (p ? [p] : [])));
  await Promise.all(services.flatMap((s) => (s.status === 'fulfilled' ? [s.value.stop()] : [])));
}

function log(): Logger {
  return (logger ??= createLogger({
    level: toPinoLevel(process.env.TEST_LOG_LEVEL ?? 'warn') ?? 'warn',
    name: 'test/services',
    destination: pino.destination({ dest: 2, sync: true }),
  }));
}
