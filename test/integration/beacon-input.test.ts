import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { inputsStack, type InputsStack } from '../helpers/inputs.js';
import { uniqueName, useServices } from '../helpers/services.js';

const stacks: InputsStack[] = [];
after(async () => {
  for (const s of stacks) await s.close();
});
const services = useServices();

test('beacon input - load, disk per path and memory readings with the host name', async () => {
  const s = await inputsStack({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    feeders: [
      {
        handler: 'BeaconInput',
        name: uniqueName('beacon'),
        namespace: 'host',
        config: { load: { every: 1 }, disk: { every: 1, paths: ['/', tmpdir()] }, memory: { every: 1 } },
      },
    ],
  });
  stacks.push(s);
  const [load] = await s.waitFor((e) => e.event_type === 'beacon.load');
  const p = load!.payload as Record<string, number | string>;
  assert.equal(load!.namespace, 'host');
  assert.equal(p['host'], hostname());
  for (const k of ['1m', '5m', '15m']) assert.equal(typeof p[k], 'number');
  const disks = await s.waitFor((e) => e.event_type === 'beacon.disk', 2);
  const root = disks.map((e) => e.payload as Record<string, number | string>).find((d) => d['path'] === '/')!;
  assert.ok((root['used_percent'] as number) >= 0 && (root['used_percent'] as number) <= 100);
  assert.ok((root['free_bytes'] as number) > 0 && (root['free_bytes'] as number) <= (root['total_bytes'] as number));
  const [mem] = await s.waitFor((e) => e.event_type === 'beacon.memory');
  const m = mem!.payload as Record<string, number>;
  assert.ok(m['available_bytes']! > 0 && m['available_bytes']! <= m['total_bytes']!);
  // Readings go on.
  await s.waitFor((e) => e.event_type === 'beacon.load', 2, 5000);
});

test('beacon input - service: only state changes, with the previous state', async () => {
  // A stand-in for systemctl: the states of the units are read from a file.
  const bin = mkdtempSync(join(tmpdir(), 'er-systemctl-'));
  const states = join(bin, 'states');
  writeFileSync(states, 'active\nactive\n');
  writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\ncat ${states}\ngrep -qv '^active$' ${states} && exit 3\nexit 0\n`);
  chmodSync(join(bin, 'systemctl'), 0o755);
  const path = process.env['PATH'];
  process.env['PATH'] = `${bin}:${path}`;
  try {
    const s = await inputsStack({
      redisUrl: await services.redisUrl(),
      mongoUrl: await services.mongoUrl(),
      feeders: [{ handler: 'BeaconInput', name: uniqueName('svc'), config: { service: { every: 0.2, units: ['nginx', 'cron'] } } }],
    });
    stacks.push(s);
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(s.published.filter((e) => e.event_type === 'beacon.service').length, 0, 'nothing changed yet');
    writeFileSync(states, 'failed\nactive\n');
    const [change] = await s.waitFor((e) => e.event_type === 'beacon.service');
    assert.deepEqual({ ...(change!.payload as object), host: 'h' }, { host: 'h', unit: 'nginx', state: 'failed', previous: 'active' });
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(s.published.filter((e) => e.event_type === 'beacon.service').length, 1, 'one event per change');
  } finally {
    process.env['PATH'] = path;
  }
});
