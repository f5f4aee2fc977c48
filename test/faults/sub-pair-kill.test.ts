import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { FAULT_EVENTS, Scenario } from './helpers/scenario.js';
import { Topology } from './helpers/topology.js';

let s: Scenario | undefined;
const topology = new Topology({ routers: 2, subscribers: 2 });
after(async () => {
  await topology.stop().catch(() => undefined);
  await s?.close();
});

test('faults - kill -9 of one of two subscribers following the same two routers: every event archived and run exactly once', async () => {
  s = await Scenario.start('sub-pair-kill', { prepare: topology.prepare });
  await topology.startSubscribers();
  const [sub1, sub2] = topology.subs as [(typeof topology.subs)[number], (typeof topology.subs)[number]];
  const feeding = s.feeder.run();
  const steps: { at: number; position: number; what: string }[] = [];
  const step = async (share: number, what: string, act: () => Promise<unknown>): Promise<void> => {
    await s!.feeder.waitDispatched(Math.floor(FAULT_EVENTS * share));
    steps.push({ at: Math.round(s!.seconds * 10) / 10, position: s!.feeder.dispatched, what });
    await act();
  };
  // sub-1 carries the stream alone; sub-2 comes back and catches up from its cursors
  // (everything it replays sub-1 already archived and enqueued); then sub-2 carries the
  // rest alone.
  await step(0.3, 'kill -9 sub-2', () => sub2.kill('SIGKILL'));
  await step(0.6, 'start sub-2', () => s!.stack.startOne(sub2));
  await step(0.8, 'kill -9 sub-1 (not restarted)', () => sub1.kill('SIGKILL'));
  await feeding;
  const summary = await s.finish({ steps, cursors: await cursors(s), ...topology.evidence() });
  const gaps = await s.tally.db.collection('gaps').countDocuments();
  assert.equal(gaps, 0, 'no gap recorded');
  try {
    await s.assertNothingLost(summary);
  } catch (err) {
    (err as Error).message += `\n${await topology.logTails()}`;
    throw err;
  }
});

/** Each subscriber's cursor per router (`sub-1@r1`...): where each one got to. */
async function cursors(sc: Scenario): Promise<Record<string, unknown>> {
  const docs = await sc.tally.db.collection('cursors').find({}).toArray();
  return Object.fromEntries(docs.map(({ _id, ...rest }) => [String(_id), rest]));
}
