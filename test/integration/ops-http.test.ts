import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemons } from '../../src/daemons/start-daemons.js';
import type { RouterDaemon } from '../../src/daemons/router-daemon.js';
import type { SubDaemon } from '../../src/daemons/sub-daemon.js';
import type { WorkerDaemon } from '../../src/daemons/worker-daemon.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { silentLogger } from '../../src/logger.js';
import { eventually, writeTestConfig } from '../helpers/config.js';
import { useServices } from '../helpers/services.js';

const services = useServices();

async function get(url: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

/** The value of one sample line of Prometheus text, summed over its label sets. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

test('ops http - each daemon serves /metrics, /healthz and /readyz; counters move as events flow', async () => {
  const cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: { 'local:ops.test': [{ driver: 'shell', handler: 'ok.sh' }] },
    files: { 'ok.sh': '#!/bin/sh\necho ok\n' },
  });
  const running = await startDaemons(['router', 'sub', 'worker'], cfg.settings, silentLogger());
  try {
    const [router, sub, worker] = running.daemons as [RouterDaemon, SubDaemon, WorkerDaemon];
    for (const d of [router, sub, worker]) {
      const health = await get(`${d.http.url}/healthz`);
      assert.equal(health.status, 200);
      assert.equal((JSON.parse(health.body) as { daemon: string }).daemon, d.name);
      const ready = await get(`${d.http.url}/readyz`);
      assert.equal(ready.status, 200, ready.body);
      assert.equal((await get(`${d.http.url}/nope`)).status, 404);
    }
    const readySub = JSON.parse((await get(`${sub.http.url}/readyz`)).body) as { checks: Record<string, { ok: boolean }> };
    assert.deepEqual(Object.keys(readySub.checks).sort(), ['mongodb', 'redis', 'router']);

    const before = (await get(`${router.http.url}/metrics`)).body;
    assert.match((await get(`${router.http.url}/metrics`)).type ?? '', /text\/plain/);
    const client = new RouterClient({ uri: router.endpoints.rep[0]!, timeoutMs: 5000 });
    for (let i = 0; i < 5; i++) await client.send({ event_type: 'ops.test', payload: { i } });
    await assert.rejects(client.send('not json'), { name: 'RouterRefusedError' });
    client.close();
    const after = (await get(`${router.http.url}/metrics`)).body;
    assert.equal(metric(after, 'router_events_published_total') - metric(before, 'router_events_published_total'), 5);
    assert.equal(metric(after, 'router_events_refused_total', { reason: 'invalid_json' }), 1);
    await eventually(
      async () => metric((await get(`${sub.http.url}/metrics`)).body, 'sub_events_archived_total') >= 5,
      'the subscriber counts 5 archived events',
    );
    await eventually(
      async () => metric((await get(`${worker.http.url}/metrics`)).body, 'worker_handler_runs_total', { status: 'ok' }) >= 5,
      'the worker counts 5 ok runs',
    );
  } finally {
    await running.close();
  }
});

test('ops http - /readyz answers 503 naming what is missing when a store is out of reach', async () => {
  const cfg = await writeTestConfig({ redisUrl: await services.redisUrl(), mongoUrl: await services.mongoUrl(), handlers: {} });
  const running = await startDaemons(['router', 'sub'], cfg.settings, silentLogger());
  const [router, sub] = running.daemons as [RouterDaemon, SubDaemon];
  try {
    // The subscriber stays up; the router it needs goes away.
    await router.close();
    const r = await get(`${sub.http.url}/readyz`);
    assert.equal(r.status, 503);
    const body = JSON.parse(r.body) as { ready: boolean; missing: { name: string; error: string }[] };
    assert.equal(body.ready, false);
    assert.deepEqual(
      body.missing.map((m) => m.name),
      ['router'],
    );
    assert.match(body.missing[0]!.error, /no reply|within/);
    assert.equal((await get(`${sub.http.url}/healthz`)).status, 200, 'the process itself is alive');
  } finally {
    await running.close();
  }
});
