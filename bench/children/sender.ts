/**
 * Load sender for router-throughput.ts: a PUSH socket connected to the relay's PULL.
 * Sends a small probe event every 10 ms until the parent says `go`, then
 * BENCH_MESSAGES copies of a 1 KB event as fast as ZeroMQ takes them (PUSH blocks at
 * its high-water mark, so the relay paces it), reports `sent`, and exits on `stop`.
 * Events carry `namespace: "local"` (the router's default for PULL), as EventReactor's
 * feeders send them, so its router (eventreactor-relay.py) publishes them too.
 *
 * Environment: BENCH_PULL (connect endpoint), BENCH_MESSAGES.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as zmq from 'zeromq';
import { namespacedEventJson, namespacedProbeJson } from '../lib/events.js';
import { requiredEnv } from '../lib/options.js';
import type { GoMessage, SentMessage, StopMessage } from './protocol.js';

const count = Number(requiredEnv('BENCH_MESSAGES'));
const push = new zmq.Push({ linger: 5000 });
push.connect(requiredEnv('BENCH_PULL'));
process.once('disconnect', () => process.exit(0));

let go = false;
process.on('message', (m: GoMessage) => {
  if (m.type === 'go') go = true;
});

const probe = Buffer.from(namespacedProbeJson('local', 'bench.probe'));
while (!go) {
  await push.send(probe);
  await sleep(10);
}

const body = Buffer.from(namespacedEventJson('local', 'bench.load'));
const started = performance.now();
for (let i = 0; i < count; i++) await push.send(body);
const done: SentMessage = { type: 'sent', sent: count, ms: performance.now() - started };
process.send?.(done);
// Up to a high-water mark of messages can still be queued in this process: stay up until
// the parent has counted what arrived (zeromq.js does not flush them at process exit).
process.on('message', (m: StopMessage) => {
  if (m.type !== 'stop') return;
  push.close();
  process.disconnect();
});
