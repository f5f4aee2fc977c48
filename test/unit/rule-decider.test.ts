import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRegistry, metricValue } from '../../src/metrics.js';
import { rulesFrom } from '../helpers/rules.js';
import { sampleEvent } from '../helpers/events.js';

test('rules - one handler under two overlapping keys is enqueued once per event; the other entry is recorded as not run, naming the first', async () => {
  const registry = createRegistry('sub');
  const rules = rulesFrom(
    {
      'local:*': [{ driver: 'shell', handler: 'alert.sh' }],
      'local:disk.*': [
        { driver: 'shell', handler: 'alert.sh' },
        { driver: 'shell', handler: 'other.sh' },
      ],
    },
    registry,
  );
  const d = await rules.decide(sampleEvent({ namespace: 'local', event_type: 'disk.full' }));
  assert.deepEqual(d.jobs.map((j) => j.handler.command).sort(), ['alert.sh', 'other.sh']);
  const alert = d.decisions.filter((x) => 'handler' in x && x.handler === 'alert.sh');
  assert.equal(alert.length, 2, 'both entries are recorded');
  const skipped = alert.find((x) => 'run' in x && !x.run);
  assert.ok(skipped && 'stage' in skipped, 'one is not run');
  assert.equal(skipped.stage, 'duplicate');
  assert.match(skipped.reason ?? '', /^the same handler runs for this event under local:/);
  assert.equal(await metricValue(registry, 'sub_handlers_skipped_total', { stage: 'duplicate' }), 1);
  // Each job says which table decided it: a worker whose reload lags waits for it.
  assert.ok(d.jobs.every((j) => j.table === rules.table.hash));
});
