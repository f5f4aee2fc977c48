/**
 * Load receiver for router-throughput.ts: a SUB socket on the relay's PUB, subscribed to
 * everything. Probes (short messages) only signal that the subscription is live; load
 * messages are counted and timed from the first to the last. Reports when
 * BENCH_MESSAGES have arrived, or `idleMs` after the sender finished with no more
 * arriving (the rest were dropped).
 *
 * Environment: BENCH_PUB (connect endpoint), BENCH_MESSAGES, BENCH_SUB_HWM.
 */
import * as zmq from 'zeromq';
import { PROBE_MAX_BYTES } from '../lib/events.js';
import { requiredEnv } from '../lib/options.js';
import type { ListeningMessage, ReceivedMessage, SenderDoneMessage, SubscribedMessage } from './protocol.js';

const expected = Number(requiredEnv('BENCH_MESSAGES'));
const sub = new zmq.Subscriber({ receiveHighWaterMark: Number(requiredEnv('BENCH_SUB_HWM')), linger: 0 });
sub.connect(requiredEnv('BENCH_PUB'));
sub.subscribe();
process.once('disconnect', () => process.exit(0));

let received = 0;
let first = 0;
let last = 0;
let subscribed = false;
let idle: NodeJS.Timeout | undefined;

process.on('message', (m: SenderDoneMessage) => {
  if (m.type !== 'sender-done') return;
  // Check every idleMs whether anything arrived since the last check.
  let seen = -1;
  idle = setInterval(() => {
    if (received === seen) sub.close();
    seen = received;
  }, m.idleMs);
});

process.send?.({ type: 'listening' } satisfies ListeningMessage);
try {
  for await (const frames of sub) {
    const body = frames[frames.length - 1];
    if (!body || body.length <= PROBE_MAX_BYTES) {
      if (!subscribed) {
        subscribed = true;
        process.send?.({ type: 'subscribed' } satisfies SubscribedMessage);
      }
      continue;
    }
    last = performance.now();
    if (received === 0) first = last;
    if (++received === expected) break;
  }
} catch (err) {
  if (!sub.closed) throw err;
}
clearInterval(idle);
if (!sub.closed) sub.close();
process.send?.({ type: 'received', received, spanMs: last - first } satisfies ReceivedMessage);
process.disconnect();
