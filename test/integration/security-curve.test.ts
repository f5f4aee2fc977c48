/**
 * The bus under attack, with security.curve on: plain and unauthorized clients get
 * nothing from any socket, an authorized client gets replies, a client restricted to some
 * namespaces is refused elsewhere and outside them, refusals are counted, and the
 * pipeline (subscriber and worker with the local pair) archives and runs as before.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { startDaemons, type RunningDaemons } from '../../src/daemons/start-daemons.js';
import type { RouterDaemon } from '../../src/daemons/router-daemon.js';
import { AuthError, RouterRefusedError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { metricValue } from '../../src/metrics.js';
import { addClient, initKeys, localClientKeys } from '../../src/security/key-files.js';
import { readCertificate, readKeyPair } from '../../src/security/certs.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { ReplayClient } from '../../src/wire/replay-client.js';
import type { CurveClientKeys } from '../../src/wire/curve.js';
import { freePort } from '../../src/devstack/free-port.js';
import { ensureDebianPackage, pythonHas } from '../helpers/apt.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';
import { dropDatabase, useServices } from '../helpers/services.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

let cfg: TestConfig;
let running: RunningDaemons | undefined;
let router: RouterDaemon;
let local: CurveClientKeys;
let web: CurveClientKeys;
let rogue: CurveClientKeys;
let scopedRep: number;
const open: { close(): unknown }[] = [];

after(async () => {
  for (const c of open) c.close();
  await running?.close();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();

before(async () => {
  scopedRep = await freePort();
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: { 'local:sec.test': [{ driver: 'shell', handler: 'ok.sh' }] },
    files: { 'ok.sh': '#!/bin/sh\necho ok\n' },
    extra: { security: { curve: true, clients: { web: { namespaces: ['web'] } } } },
    feeders: [{ handler: 'ZMQInput', config: { uri: `tcp://127.0.0.1:${scopedRep}`, namespace: 'web', namespaces: ['web'] } }],
  });
  const keys = join(cfg.dir, 'keys');
  initKeys(keys);
  const out = mkdtempSync(join(tmpdir(), 'er-client-'));
  addClient(keys, 'web', out);
  local = localClientKeys(keys);
  web = { serverKey: local.serverKey, ...readKeyPair(join(out, 'web.key_secret')) };
  rogue = { serverKey: local.serverKey, ...zmq.curveKeyPair() };
  running = await startDaemons(['router', 'sub', 'worker'], cfg.settings, silentLogger());
  router = running.daemons[0] as RouterDaemon;
});

function client(uri: string, curve: CurveClientKeys | undefined): RouterClient {
  const c = new RouterClient({ uri, timeoutMs: 1500, curve });
  open.push(c);
  return c;
}

test('curve - an authorized client gets replies, and the pipeline archives and runs its event', async () => {
  const published = await client(router.endpoints.rep[0]!, local).send({ event_type: 'sec.test', payload: { ok: 1 } });
  assert.equal(published.namespace, 'local');
  await eventually(async () => {
    const r = await fetch(`${(running!.daemons[2] as unknown as { http: { url: string } }).http.url}/metrics`);
    return /worker_handler_runs_total\{[^}]*status="ok"[^}]*\} [1-9]/.test(await r.text());
  }, 'the worker (with the local pair) to run the handler of an event the subscriber (with the local pair) received');
});

test('curve - a plain client and an unauthorized key get nothing from REP, PULL, PUB or replay, and are counted', async () => {
  await assert.rejects(
    client(router.endpoints.rep[0]!, undefined).send({ event_type: 'x' }),
    (e: unknown) => e instanceof AuthError && /requires CURVE/.test(e.message),
  );
  await assert.rejects(
    client(router.endpoints.rep[0]!, rogue).send({ event_type: 'x' }),
    (e: unknown) => e instanceof AuthError && /not authorized/.test(e.message),
  );
  const replay = new ReplayClient(router.endpoints.replay, 1500, rogue);
  open.push(replay);
  await assert.rejects(replay.status(), AuthError);
  // PUB: an unauthorized subscriber receives nothing while events flow.
  const sub = new zmq.Subscriber({ receiveTimeout: 1500, curveServerKey: rogue.serverKey, curvePublicKey: rogue.publicKey, curveSecretKey: rogue.secretKey });
  open.push(sub);
  sub.connect(router.endpoints.pub);
  sub.subscribe();
  for (let i = 0; i < 5; i++) await client(router.endpoints.rep[0]!, local).send({ event_type: 'sec.flow' });
  await assert.rejects(sub.receive(), /timed out|EAGAIN/i);
  // PULL: a push from a rogue key never becomes an event.
  const before = await metricValue(router.registry, 'router_events_received_total', { source: 'pull' });
  const push = new zmq.Push({
    sendTimeout: 500,
    linger: 0,
    immediate: true,
    curveServerKey: rogue.serverKey,
    curvePublicKey: rogue.publicKey,
    curveSecretKey: rogue.secretKey,
  });
  open.push(push);
  push.connect(router.endpoints.pull);
  await assert.rejects(push.send('{"event_type":"rogue"}'));
  assert.equal(await metricValue(router.registry, 'router_events_received_total', { source: 'pull' }), before);
  for (const socket of ['REP[0]', 'replay', 'PUB', 'PULL']) {
    assert.ok((await metricValue(router.registry, 'router_auth_failures_total', { socket })) >= 1, `refusals counted on ${socket}`);
  }
});

test('curve - a client restricted to namespaces is refused on open sockets, and outside its namespaces', async () => {
  await assert.rejects(client(router.endpoints.rep[0]!, web).send({ event_type: 'x', namespace: 'web' }), AuthError);
  const scoped = client(router.endpoints.rep[1]!, web);
  assert.equal((await scoped.send({ event_type: 'deploy', namespace: 'web' })).namespace, 'web');
  assert.equal((await scoped.send({ event_type: 'deploy' })).namespace, 'web', 'the socket namespace is the default');
  await assert.rejects(
    scoped.send({ event_type: 'deploy', namespace: 'db' }),
    (e: unknown) => e instanceof RouterRefusedError && e.reason === 'forbidden_namespace',
  );
  assert.equal(await metricValue(router.registry, 'router_events_refused_total', { reason: 'forbidden_namespace' }), 1);
});

test('curve - a new client certificate in keys/clients is admitted without a restart', async () => {
  const out = mkdtempSync(join(tmpdir(), 'er-client-'));
  addClient(join(cfg.dir, 'keys'), 'late', out);
  const late = { serverKey: local.serverKey, ...readKeyPair(join(out, 'late.key_secret')) };
  await eventually(async () => {
    try {
      return Boolean(await new RouterClient({ uri: router.endpoints.rep[0]!, timeoutMs: 700, curve: late }).send({ event_type: 'late.client' }));
    } catch {
      return false;
    }
  }, 'the late client to be admitted');
});

test(
  'curve - pyzmq reads our certificates (zmq.auth) and talks to the router with them',
  { skip: ensureDebianPackage('python3-zmq', () => pythonHas('zmq')) },
  async () => {
    const keys = join(cfg.dir, 'keys');
    assert.equal(readCertificate(join(keys, 'server.key')).publicKey, local.serverKey);
    const script = `
import json, sys, zmq, zmq.auth
server_public, _ = zmq.auth.load_certificate(sys.argv[1])
public, secret = zmq.auth.load_certificate(sys.argv[2])
s = zmq.Context.instance().socket(zmq.REQ)
s.curve_serverkey, s.curve_publickey, s.curve_secretkey = server_public, public, secret
s.setsockopt(zmq.RCVTIMEO, 5000)
s.connect(sys.argv[3])
s.send_string(json.dumps({"event_type": "from.python"}))
print(s.recv_string())
`;
    // Not execFileSync: the router runs in this process and must keep serving.
    const { stdout: out } = await promisify(execFile)(
      '/usr/bin/python3',
      ['-c', script, join(keys, 'server.key'), join(keys, 'local.key_secret'), router.endpoints.rep[0]!],
      { encoding: 'utf8' },
    );
    assert.equal((JSON.parse(out) as { event_type: string }).event_type, 'from.python');
  },
);
