import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
    // Everything taken is archived and enqueued: no lag left.
    await eventually(async () => metric((await get(`${sub.http.url}/metrics`)).body, 'sub_lag_events') === 0, 'no subscriber lag');
    assert.equal(metric((await get(`${sub.http.url}/metrics`)).body, 'sub_lag_seconds'), 0);

    // What the alert rules and the dashboard in etc/ query is served; what is served is in the README.
    const served = new Map<string, string>();
    for (const d of [router, sub, worker]) {
      for (const m of (await get(`${d.http.url}/metrics`)).body.matchAll(/^# HELP (\S+) (.*)$/gm)) served.set(m[1]!, m[2]!);
    }
    const root = new URL('../../', import.meta.url);
    const queried = new Set<string>();
    for (const file of ['etc/prometheus/event-reactor-alerts.yml', 'etc/grafana/event-reactor-dashboard.json']) {
      for (const m of readFileSync(new URL(file, root), 'utf8').matchAll(/\b((?:router|sub|worker|inputs|handlers|daemon|queue)_[a-z_]+)/g))
        queried.add(m[1]!.replace(/_(bucket|sum|count)$/, ''));
    }
    assert.ok(queried.size >= 10, `etc/ queries metrics: ${[...queried].join(', ')}`);
    // Served only in some setups, and said so in the README: with security.curve, with the memory journal.
    const conditional = ['router_auth_failures_total', 'router_replay_buffer_fill_ratio'];
    assert.deepEqual(
      [...queried].filter((n) => !served.has(n) && !conditional.includes(n)),
      [],
      'metrics queried in etc/ that no daemon serves',
    );
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Metrics'), readme.indexOf('\n## Performance'));
    const undocumented = [...served.keys()].filter((n) => !section.includes(`\`${n}`));
    assert.deepEqual(undocumented, [], 'metrics served but not in the README Metrics section');
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
