import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAULT_EVENTS, Scenario } from './helpers/scenario.js';
import { Topology } from './helpers/topology.js';

let s: Scenario | undefined;
const topology = new Topology({ routers: 2, subscribers: 1 });
after(async () => {
  await topology.stop().catch(() => undefined);
  await s?.close();
});

/** How long the killed router stays down before it is started again (on its journal). */
const DOWN_MS = 10_000;
/** Real `fire-event -u r1,r2 --retries` processes started once the first router is dead. */
const CLI_EVENTS = 6;
/**
 * PUSH has no acknowledgement: a stream on a socket connected to both routers, from 1 s
 * before the kill to 1 s after the restart, measured (not asserted).
 */
const PUSH_STREAM_RATE = 200;

test('faults - kill -9 of one of two routers under load, restarted later: every acknowledged event archived and run exactly once', async () => {
  s = await Scenario.start('router-pair-kill', { prepare: topology.prepare });
  const { feeder, stack } = s;
  const [r1, r2] = topology.routerNames;
  const killed = topology.routers[0]!;
  const feeding = feeder.run();
  await feeder.waitDispatched(Math.floor(FAULT_EVENTS * 0.3));
  // The main feed's PUSH-bound events go by REQ (failing over to r2) while r1 is down.
  feeder.pausePush();
  await feeder.pushIdle();
  let streamStop = false;
  const stream = feeder.pushMeasured(60 * PUSH_STREAM_RATE, { group: 'push_across_kill', ratePerSec: PUSH_STREAM_RATE, until: () => streamStop });
  await sleep(1000);
  const killedAt = s.seconds;
  const dispatchedAtKill = feeder.dispatched;
  await killed.kill('SIGKILL');
  const exit = await killed.exited;
  // The REQ clients were all asking r1 first: each times out (2 s) and fails over to r2
  // with the same id; fire-event tries r1, times out (1 s), then r2.
  const cli = feeder.fireCli(
    Array.from({ length: CLI_EVENTS }, (_, i) => `router-pair-kill-cli-${i}`),
    10,
  );
  await sleep(DOWN_MS);
  await stack.startOne(killed);
  const downS = s.seconds - killedAt;
  await sleep(1000);
  streamStop = true;
  feeder.resumePush();
  const cliCodes = await cli;
  await Promise.all([stream, feeding]);
  const summary = await s.finish({
    router_exit: exit,
    killed_at_dispatched: dispatchedAtKill,
    router_down_s: Math.round(downS * 10) / 10,
    cli_exit_codes: cliCodes,
    ...(await journals(s, [r1!, r2!])),
    ...topology.evidence(),
  });
  const gaps = await s.tally.db.collection('gaps').countDocuments();
  assert.equal(exit, 'SIGKILL', 'how the router exited');
  assert.deepEqual(cliCodes, Array<number>(CLI_EVENTS).fill(0), 'every fire-event process succeeds (failing over to r2)');
  assert.equal(gaps, 0, 'no gap recorded: the killed router replayed its journal after its restart');
  await assertWithTails(s, summary);
});

/**
 * Which router journaled what: events in each journal (the killed one's before the kill
 * and after its restart, by epoch) and in both (a REQ that r1 journaled but did not answer
 * before it died, sent again to r2 with the same id).
 */
async function journals(sc: Scenario, [first, second]: [string, string]): Promise<Record<string, unknown>> {
  const a = await topology.journal(sc.redis.url, first);
  const b = await topology.journal(sc.redis.url, second);
  const epochs = [...new Set(a.map((e) => e.epoch))].sort((x, y) => x - y);
  const inB = new Set(b.map((e) => e.id));
  // The measured PUSH stream: where ZeroMQ delivered what was sent across the kill.
  const pushed = (es: { id: string }[]): number => es.filter((e) => e.id.includes('-push_across_kill-')).length;
  const byRun = (f: (es: { id: string }[]) => number): Record<string, number> =>
    Object.fromEntries(epochs.map((ep, i) => [i === 0 ? 'before_kill' : `after_restart_${i}`, f(a.filter((e) => e.epoch === ep))]));
  return {
    journaled: { [first]: byRun((es) => es.length), [second]: b.length, both: a.filter((e) => inB.has(e.id)).length },
    push_across_kill_journaled: { [first]: byRun(pushed), [second]: pushed(b) },
  };
}

async function assertWithTails(sc: Scenario, summary: Awaited<ReturnType<Scenario['finish']>>): Promise<void> {
  try {
    await sc.assertNothingLost(summary);
  } catch (err) {
    (err as Error).message += `\n${await topology.logTails()}`;
    throw err;
  }
}
