/**
 * The bare baseline for the router: a ZeroMQ PULL -> PUB relay with one receive loop and
 * nothing else, publishing the same two frames per message the router does (a topic
 * frame and the JSON body as received).
 *
 * Kept free of project imports so it can be bundled and run without tsx (router-rss.ts
 * runs it that way, to compare RSS with the built router fairly).
 *
 * Environment: BENCH_PULL_BIND, BENCH_PUB_BIND (default `tcp://127.0.0.1:*`),
 * BENCH_PUB_HWM (PUB send high-water mark; default 100000, the router's default).
 * Prints `{"msg":"relay listening","pull":...,"pub":...}` on stdout when bound; on
 * SIGTERM stops intake, publishes what it received and prints `{"msg":"relay closed"}`.
 */
import * as zmq from 'zeromq';

const TOPIC = 'local:bench.load';

const pullBind = process.env['BENCH_PULL_BIND'] || 'tcp://127.0.0.1:*';
const pubBind = process.env['BENCH_PUB_BIND'] || 'tcp://127.0.0.1:*';
const hwm = Number(process.env['BENCH_PUB_HWM'] || 100_000);

// Socket options as the router sets them.
const pub = new zmq.Publisher({ sendHighWaterMark: hwm, linger: 2000 });
const pull = new zmq.Pull({ linger: 0, maxMessageSize: 16 * 1024 * 1024 });
await pub.bind(pubBind);
await pull.bind(pullBind);

let relayed = 0;
const loop = (async () => {
  try {
    for await (const [body] of pull) {
      if (!body) continue;
      await pub.send([TOPIC, body]);
      relayed++;
    }
  } catch (err) {
    if (!pull.closed) throw err;
  }
})();

process.once('SIGTERM', () => {
  pull.close();
  void loop.then(() => {
    pub.close();
    process.stdout.write(`${JSON.stringify({ msg: 'relay closed', relayed })}\n`);
  });
});

process.stdout.write(`${JSON.stringify({ msg: 'relay listening', pull: pull.lastEndpoint, pub: pub.lastEndpoint })}\n`);
