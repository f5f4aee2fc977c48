import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashTagged, isClusterAddress, parseRedisAddress } from '../../src/redis/redis-address.js';
import { redact } from '../../src/redact.js';

test('redis address - redis:// and rediss:// are one server, passed to ioredis as written', () => {
  assert.deepEqual(parseRedisAddress('redis://:pw@127.0.0.1:6379/2'), { kind: 'standalone', url: 'redis://:pw@127.0.0.1:6379/2' });
  assert.deepEqual(parseRedisAddress('rediss://h:6380'), { kind: 'standalone', url: 'rediss://h:6380' });
});

test('redis address - redis+sentinel:// names the sentinels, the master, the db and both passwords', () => {
  assert.deepEqual(parseRedisAddress('redis+sentinel://app:p%40ss@s1:26379,s2:26380,[::1]:26381/mymaster/3?sentinel_password=sp'), {
    kind: 'sentinel',
    sentinels: [
      { host: 's1', port: 26379 },
      { host: 's2', port: 26380 },
      { host: '::1', port: 26381 },
    ],
    master: 'mymaster',
    db: 3,
    username: 'app',
    password: 'p@ss',
    sentinelPassword: 'sp',
  });
  assert.deepEqual(parseRedisAddress('redis+sentinel://:pw@s1:26379/m'), {
    kind: 'sentinel',
    sentinels: [{ host: 's1', port: 26379 }],
    master: 'm',
    db: 0,
    password: 'pw',
  });
});

test('redis address - redis+cluster:// names the seed nodes; a database or an unknown option is refused', () => {
  assert.deepEqual(parseRedisAddress('redis+cluster://:pw@n1:7000,n2:7001'), {
    kind: 'cluster',
    nodes: [
      { host: 'n1', port: 7000 },
      { host: 'n2', port: 7001 },
    ],
    password: 'pw',
  });
  assert.ok(isClusterAddress('redis+cluster://n1:7000'));
  assert.ok(!isClusterAddress('redis://n1:7000'));
  assert.throws(() => parseRedisAddress('redis+cluster://n1:7000/1'), /database 0 only/);
  assert.throws(() => parseRedisAddress('redis+cluster://n1:7000?x=1'), /unknown option "x"/);
});

test('redis address - malformed addresses are refused saying why', () => {
  assert.throws(() => parseRedisAddress('redis+sentinel://s1:26379'), /master name/);
  assert.throws(() => parseRedisAddress('redis+sentinel://s1/m'), /"s1" is not host:port/);
  assert.throws(() => parseRedisAddress('redis+sentinel://s1:26379/m/x'), /\/<master>\[\/db\]/);
  assert.throws(() => parseRedisAddress('redis+sentinel://s1:26379/m?password=x'), /unknown option "password"/);
  assert.throws(() => parseRedisAddress('rediss+cluster://n1:7000'), /not supported yet/);
  assert.throws(() => parseRedisAddress('http://x'), /must be redis:\/\//);
});

test('redis address - hashTagged keeps a prefix that has a tag and wraps one that has none', () => {
  assert.equal(hashTagged('bull'), '{bull}');
  assert.equal(hashTagged('{er}'), '{er}');
  assert.equal(hashTagged('app:{q}:x'), 'app:{q}:x');
  assert.equal(hashTagged('a{}b'), '{a{}b}');
});

test('redis address - redact hides the password and the sentinel password', () => {
  assert.equal(redact('redis+sentinel://:pw@s1:1,s2:2/m?sentinel_password=sp'), 'redis+sentinel://:***@s1:1,s2:2/m?sentinel_password=***');
});
