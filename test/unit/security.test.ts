import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { curveKeyPair } from 'zeromq';
import { ConfigError } from '../../src/errors.js';
import { z85Decode, z85Encode, isCurveKey } from '../../src/security/z85.js';
import { readCertificate, readKeyPair, writeCertificates } from '../../src/security/certs.js';
import { addClient, authorizedNames, initKeys, localClientKeys, serverKeyPair } from '../../src/security/key-files.js';
import { exposure, exposedEndpoints, protectedModeMessage } from '../../src/security/exposure.js';
import { authorize } from '../../src/security/zap-handler.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'er-sec-'));

test('z85 - the spec test vector, and round trips', () => {
  assert.equal(z85Encode(Uint8Array.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b])), 'HelloWorld');
  assert.deepEqual([...z85Decode('HelloWorld')], [0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 64 }).filter((b) => b.length % 4 === 0),
      (b) => assert.deepEqual(z85Decode(z85Encode(b)), b),
    ),
  );
  assert.throws(() => z85Decode('Hello'.slice(0, 4)), RangeError);
  assert.throws(() => z85Decode('Hell~'), RangeError);
});

test('z85 - libzmq keys decode to 32 bytes and encode back the same', () => {
  const { publicKey, secretKey } = curveKeyPair();
  for (const k of [publicKey, secretKey]) {
    assert.ok(isCurveKey(k));
    assert.equal(z85Encode(z85Decode(k)), k);
  }
  assert.equal(isCurveKey('too short'), false);
});

test('certs - written as czmq/pyzmq certificates, read back, never overwritten', () => {
  const dir = tmp();
  const pair = curveKeyPair();
  const w = writeCertificates(dir, 'web', pair);
  assert.equal(w.created, true);
  assert.match(readFileSync(w.public, 'utf8'), /^curve\n {4}public-key = "/m);
  assert.doesNotMatch(readFileSync(w.public, 'utf8'), /secret-key/);
  assert.deepEqual(readCertificate(w.public), { publicKey: pair.publicKey });
  assert.deepEqual(readKeyPair(w.secret), pair);
  const again = writeCertificates(dir, 'web');
  assert.equal(again.created, false);
  assert.deepEqual(readKeyPair(w.secret), pair, 'the existing pair is kept');
});

test('certs - a secret certificate others can read is refused; a public one has no secret', () => {
  const dir = tmp();
  const w = writeCertificates(dir, 'x');
  chmodSync(w.secret, 0o644);
  assert.throws(
    () => readKeyPair(w.secret),
    (e: unknown) => e instanceof ConfigError && /chmod 600/.test(e.message),
  );
  assert.throws(() => readKeyPair(w.public), /holds no secret-key/);
  const bad = join(dir, 'bad.key');
  writeFileSync(bad, 'curve\n    public-key = "short"\n');
  assert.throws(() => readCertificate(bad), /not a 40-character Z85/);
});

test('keys - init writes server and local pairs and authorizes local; client NAME authorizes a new pair', () => {
  const keys = join(tmp(), 'keys');
  const r = initKeys(keys);
  assert.equal(r.server.created && r.local.created && r.localAuthorized.created, true);
  assert.equal(initKeys(keys).server.created, false, 'a second init keeps the keys');
  assert.ok(serverKeyPair(keys).secretKey);
  const local = localClientKeys(keys);
  assert.equal(local.serverKey, serverKeyPair(keys).publicKey);
  const out = tmp();
  addClient(keys, 'web-01', out);
  assert.deepEqual(authorizedNames(keys), ['local', 'web-01']);
  assert.throws(() => addClient(keys, 'web-01', tmp()), /already authorized/);
  assert.throws(() => addClient(keys, '../evil', out), /not a client name/);
});

test('protected mode - only loopback, inproc and private ipc count as local', () => {
  for (const e of ['tcp://127.0.0.1:1', 'tcp://localhost:1', 'tcp://[::1]:1', 'inproc://x', 'tcp://127.1.2.3:9'])
    assert.equal(
      exposure(e, () => undefined),
      undefined,
      e,
    );
  for (const e of ['tcp://*:1', 'tcp://0.0.0.0:1', 'tcp://[::]:1', 'tcp://10.0.0.5:1', 'tcp://eth0:1', 'tcp://eth0;10.0.0.5:1'])
    assert.ok(
      exposure(e, () => undefined),
      e,
    );
  assert.match(
    exposure('ipc:///run/x.sock', (p) => (p === '/run/x.sock' ? 0o140777 : undefined))!,
    /writable by others/,
  );
  assert.equal(
    exposure('ipc:///run/x.sock', (p) => (p === '/run/x.sock' ? 0o140755 : undefined)),
    undefined,
  );
  assert.match(
    exposure('ipc:///tmp/dir/x.sock', (p) => (p === '/tmp/dir' ? 0o40777 : undefined))!,
    /directory/,
  );
  const exposed = exposedEndpoints([
    { socket: 'PULL', endpoint: 'tcp://*:45454' },
    { socket: 'replay', endpoint: 'tcp://127.0.0.1:55001' },
  ]);
  assert.deepEqual(
    exposed.map((x) => x.socket),
    ['PULL'],
  );
  const msg = protectedModeMessage(exposed);
  assert.match(msg, /PULL socket on tcp:\/\/\*:45454/);
  assert.match(msg, /security\.curve/);
  assert.match(msg, /security\.allow_insecure/);
});

test('zap - only authorized keys are admitted, restricted clients only to sockets within their namespaces', () => {
  const clients = { nameOf: (k: string) => ({ KEYW: 'web', KEYA: 'admin' })[k] };
  const policies = new Map([['web', { namespaces: ['web', 'shared'] }]]);
  const scopes = new Map<string, readonly string[] | undefined>([
    ['rep', undefined],
    ['rep-web', ['web']],
    ['rep-db', ['db']],
  ]);
  const o = { clients, policies, scopes };
  assert.deepEqual(authorize({ domain: 'rep', mechanism: 'CURVE', publicKey: 'KEYA' }, o), { ok: true, client: 'admin' });
  assert.equal(authorize({ domain: 'rep', mechanism: 'CURVE', publicKey: 'NOPE' }, o).ok, false);
  assert.equal(authorize({ domain: 'rep', mechanism: 'NULL', publicKey: undefined }, o).ok, false);
  assert.equal(authorize({ domain: 'other', mechanism: 'CURVE', publicKey: 'KEYA' }, o).ok, false);
  assert.deepEqual(authorize({ domain: 'rep-web', mechanism: 'CURVE', publicKey: 'KEYW' }, o), { ok: true, client: 'web' });
  const r = authorize({ domain: 'rep', mechanism: 'CURVE', publicKey: 'KEYW' }, o);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'namespace_scope');
  assert.equal(authorize({ domain: 'rep-db', mechanism: 'CURVE', publicKey: 'KEYW' }, o).ok, false);
});
