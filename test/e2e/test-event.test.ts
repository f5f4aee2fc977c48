import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NOT_BUILT, runBin } from '../helpers/bins.js';
import { writeTestConfig } from '../helpers/config.js';
import { useServices } from '../helpers/services.js';

const services = useServices();

const HANDLERS = {
  'local:disk.*': [
    { driver: 'shell', handler: 'cleanup.sh --mount {{payload.mount}}', when: { payload: { used: [{ numeric: ['>=', 90] }], mount: [{ prefix: '/var' }] } } },
  ],
  '*:load.*': [{ driver: 'shell', handler: 'scale.sh', if: { register: 'load', agg: 'avg', op: '>', value: 4, min_samples: 3 }, throttle: { once_per: 300 } }],
  registers: { load: { key: '*:load.*', value: 'payload.load1', window: 60 } },
};

test('test-event - says which entries would run and why the others would not; exit 0, 1 or 78', { skip: NOT_BUILT }, async () => {
  const cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: HANDLERS,
    files: { 'cleanup.sh': '#!/bin/sh\n', 'scale.sh': '#!/bin/sh\n' },
  });
  const run = (args: string[]) => runBin('event-reactor', ['test-event', '-c', cfg.configFile, ...args]);
  const yes = await run(['-e', 'disk.full', '-d', '{"used":95,"mount":"/var/log"}']);
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(
    yes.stdout,
    /^RUN {3}local:disk\.\* {2}shell:cleanup\.sh --mount \{\{payload\.mount\}\}\n {6}template: pass: argv \["cleanup\.sh","--mount","\/var\/log"\]/m,
  );
  const no = await run(['-e', 'disk.full', '-d', '{"used":50,"mount":"/var/log"}', '--json']);
  assert.equal(no.code, 1);
  const out = JSON.parse(no.stdout) as {
    handlers: { key: string; runs: boolean; decisions: { stage: string; pass: boolean; mismatch?: { path: string; actual: unknown } }[] }[];
  };
  const disk = out.handlers.find((h) => h.key === 'local:disk.*')!;
  const when = disk.decisions.find((d) => d.stage === 'when')!;
  assert.deepEqual([when.pass, when.mismatch?.path, when.mismatch?.actual], [false, 'payload.used', 50]);
  const load = await run(['-n', 'web', '-e', 'load.avg', '-d', '{"load1":9}']);
  assert.equal(load.code, 1, 'no samples in the register yet');
  assert.match(load.stdout, /if: FAIL: all of: load: 0 of 3 samples needed/);
  writeFileSync(join(cfg.dir, 'event-handlers.json'), '{"local:x": [{"driver": "shell", "handler": "a {{payload.}}"}]}');
  const broken = await run(['-e', 'x']);
  assert.equal(broken.code, 78);
  assert.match(broken.stderr, /local:x\[0\]\.handler/);
});
