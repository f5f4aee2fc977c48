import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { MongoClient } from 'mongodb';
import { startLocalServices, type LocalServices } from '../../src/devstack/services.js';
import { silentLogger } from '../../src/logger.js';
import { readFileSync } from 'node:fs';
import { JobQueue } from '../../src/queue/job-queue.js';
import { readQueueCounts } from '../../src/queue/queue-counts.js';
import { dropDatabase, uniqueName } from '../helpers/services.js';

let services: LocalServices;

before(async () => {
  // Deliberately ignores REDIS_URL / MONGO_URL: this tests starting servers.
  services = await startLocalServices({ log: silentLogger() });
});

after(async () => {
  await services?.stop();
});

/** Send raw RESP commands and collect the reply until it has `lines` CRLF-terminated lines. */
function redisCommand(url: string, payload: string, lines: number): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let reply = '';
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error(`no full reply from ${url}: ${JSON.stringify(reply)}`));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(payload));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.split('\r\n').length > lines) {
        socket.destroy();
        resolve(reply);
      }
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

test('devstack - starts redis and mongo on local ports', () => {
  assert.match(services.redisUrl, /^redis:\/\/:[\w-]{32}@127\.0\.0\.1:\d+$/);
  assert.match(services.mongoUrl, /^mongodb:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(services.started.length, 2);
  for (const s of services.started) assert.ok(isAlive(s.pid), `${s.name} (pid ${s.pid}) is not running`);
});

test('devstack - redis answers PING and keeps a value, after AUTH with the password in its URL', async () => {
  const key = uniqueName('devstack');
  const password = new URL(services.redisUrl).password;
  const reply = await redisCommand(services.redisUrl, `AUTH ${password}\r\nPING\r\nSET ${key} hello\r\nGET ${key}\r\n`, 5);
  assert.equal(reply, '+OK\r\n+PONG\r\n+OK\r\n$5\r\nhello\r\n');
});

test('devstack - redis refuses a client without the password, and its command line does not show it', async () => {
  const reply = await redisCommand(services.redisUrl, 'GET x\r\n', 1);
  assert.match(reply, /^-NOAUTH/);
  const redis = services.started.find((s) => s.name === 'redis')!;
  const cmdline = readFileSync(`/proc/${redis.pid}/cmdline`, 'utf8');
  assert.ok(!cmdline.includes(new URL(services.redisUrl).password), 'the password is on the command line');
});

test('devstack - BullMQ works through a password URL; a wrong password fails with a message that hides it', async () => {
  const queue = new JobQueue({
    redisUrl: services.redisUrl,
    queue: { name: uniqueName('auth'), prefix: 'bull' },
    log: silentLogger(),
    defaults: { retries: 0, backoffMs: 0 },
  });
  await queue.start();
  await queue.close();
  const wrong = new URL(services.redisUrl);
  wrong.password = 'not-the-password';
  await assert.rejects(
    readQueueCounts(wrong.href, { name: 'x', prefix: 'bull' }, 3000),
    (err: Error) => /WRONGPASS|NOAUTH|invalid username-password/i.test(err.message) && !err.message.includes('not-the-password'),
  );
});

test('devstack - mongo stores and finds a document', async () => {
  const dbName = uniqueName('devstack');
  const client = new MongoClient(services.mongoUrl, { serverSelectionTimeoutMS: 5000 });
  try {
    const events = client.db(dbName).collection<{ _id: string; type: string; n: number }>('events');
    await events.insertOne({ _id: 'e1', type: 'disk.full', n: 42 });
    assert.deepEqual(await events.findOne({ type: 'disk.full' }), { _id: 'e1', type: 'disk.full', n: 42 });
  } finally {
    await client.close();
    await dropDatabase(services.mongoUrl, dbName);
  }
});

test('devstack - stop kills the servers and is idempotent', async () => {
  // A second set, so the other tests keep theirs.
  const own = await startLocalServices({ log: silentLogger() });
  const pids = own.started.map((s) => s.pid);
  assert.equal(pids.length, 2);

  const first = own.stop();
  assert.equal(own.stop(), first, 'stop() returned a different promise');
  for (const s of own.started) assert.equal(s.stop(), s.stop(), `${s.name}.stop() returned a different promise`);
  await first;

  for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} is still running`);
  await own.stop();
});

test('devstack - given URLs are used as they are and nothing is started', async () => {
  const given = await startLocalServices({
    redisUrl: services.redisUrl,
    mongoUrl: services.mongoUrl,
    log: silentLogger(),
  });
  assert.equal(given.redisUrl, services.redisUrl);
  assert.equal(given.mongoUrl, services.mongoUrl);
  assert.deepEqual(given.started, []);
  await given.stop();
  for (const s of services.started) assert.ok(isAlive(s.pid), `stopping the given-URL set stopped ${s.name}`);
});
