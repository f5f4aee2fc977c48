/**
 * The example handlers in handlers/: tsfunc modules loaded with tsx as the worker loads
 * them, shell scripts run as child processes with the event JSON as last argument.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import type { ReactorEvent } from '../../src/event/event.js';
import type { FollowUpEvent } from '../../src/handlers/driver.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { TsfuncDriver, type TsHandlerContext } from '../../src/handlers/tsfunc-driver.js';
import { runContext } from '../helpers/events.js';
import { silentLogger } from '../../src/logger.js';

const HANDLERS = resolve(dirname(fileURLToPath(import.meta.url)), '../../handlers');
const DAY_S = 86_400;

const tmp = mkdtempSync(join(tmpdir(), 'er-handlers-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let seq = 0;
function event(eventType: string, payload: unknown, over: Partial<ReactorEvent> = {}): ReactorEvent {
  seq++;
  return {
    id: `evt-${seq}`,
    namespace: 'local',
    event_type: eventType,
    payload,
    timestamp: 1_700_000_000 + seq,
    trace_id: `evt-${seq}`,
    seq,
    epoch: 1,
    ...over,
  };
}

/** A handler context whose fire() records what it was given. */
function fakeContext(over: Partial<TsHandlerContext> = {}): TsHandlerContext & { fired: FollowUpEvent[] } {
  const fired: FollowUpEvent[] = [];
  return {
    log: silentLogger(),
    signal: new AbortController().signal,
    attempt: 1,
    env: {},
    fire: async (e) => {
      fired.push(e);
      const id = `fired-${fired.length}`;
      return {
        id,
        namespace: e.namespace ?? 'local',
        event_type: e.event_type,
        payload: e.payload ?? {},
        timestamp: 1_700_000_000,
        trace_id: id,
        seq: 0,
        epoch: 1,
      };
    },
    fired,
    ...over,
  };
}

type Handler<R> = (e: ReactorEvent, ctx: TsHandlerContext) => Promise<R>;

async function loadHandler<R>(file: string, name: string): Promise<Handler<R>> {
  const mod = (await tsImport(pathToFileURL(join(HANDLERS, 'tsfunc', file)).href, import.meta.url)) as Record<string, unknown>;
  const fn = mod[name];
  assert.equal(typeof fn, 'function', `${file} exports no function ${name}`);
  return fn as Handler<R>;
}

interface EscalateResult {
  key: string;
  count: number;
  threshold: number;
  escalated: boolean;
  follow_up?: string;
}
interface HttpCheckResult {
  url: string;
  status: number;
  ok: boolean;
  latency_ms: number;
  final_url?: string;
}

const escalate = await loadHandler<EscalateResult>('escalate.ts', 'escalate');
const check = await loadHandler<HttpCheckResult>('http-check.ts', 'check');

// http-check falls back to process.env when ctx.env has no list: the tests give theirs in ctx.env.
delete process.env['HTTP_CHECK_ALLOW'];

/** A context whose HTTP_CHECK_ALLOW is `allow`. */
const allowing = (allow: string, over: Partial<TsHandlerContext> = {}): ReturnType<typeof fakeContext> =>
  fakeContext({ env: { HTTP_CHECK_ALLOW: allow }, ...over });

/** A local HTTP server on an ephemeral port; `requests` records what it received. */
async function httpServer(respond: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{
  url: string;
  /** host:port, as HTTP_CHECK_ALLOW takes it. */
  host: string;
  requests: { method: string; headers: IncomingMessage['headers']; body: string }[];
  /** TCP connections accepted so far. */
  connections: () => number;
  close: () => Promise<void>;
}> {
  const requests: { method: string; headers: IncomingMessage['headers']; body: string }[] = [];
  let connections = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', headers: req.headers, body });
      respond(req, body, res);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    url: `http://127.0.0.1:${address.port}`,
    host: `127.0.0.1:${address.port}`,
    requests,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a shell example as the shell driver does: JSON as last argument and on stdin, EVENT_* in env. */
function runShell(script: string, args: string[], e: ReactorEvent, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const json = JSON.stringify(e);
  return new Promise((resolve) => {
    const child = execFile(
      join(HANDLERS, 'shell', script),
      [...args, json],
      {
        cwd: tmp,
        timeout: 20_000,
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          EVENT_ID: e.id,
          EVENT_TYPE: e.event_type,
          EVENT_NAMESPACE: e.namespace,
          EVENT_KEY: `${e.namespace}:${e.event_type}`,
          EVENT_TRACE_ID: e.trace_id,
          EVENT_ATTEMPT: '1',
          ...env,
        },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(json);
  });
}

// ---- escalate.ts ----

test('handlers-examples - escalate fires <ns>:<type>.escalated on the threshold-th event in a row', async () => {
  const ctx = fakeContext();
  const events = [1, 2, 3].map(() => event('esc.a', { threshold: 3 }));
  const results: EscalateResult[] = [];
  for (const e of events) results.push(await escalate(e, ctx));
  assert.deepEqual(
    results.map((r) => [r.count, r.escalated]),
    [
      [1, false],
      [2, false],
      [3, true],
    ],
  );
  assert.equal(ctx.fired.length, 1);
  const fired = ctx.fired[0]!;
  assert.equal(fired.namespace, 'local');
  assert.equal(fired.event_type, 'esc.a.escalated');
  assert.deepEqual(fired.payload, { key: 'local:esc.a', subject: null, count: 3, threshold: 3, first_event: events[0]!.id, last_event: events[2]!.id });
  assert.equal(results[2]!.follow_up, 'fired-1');
});

test('handlers-examples - escalate starts counting again after escalating', async () => {
  const ctx = fakeContext();
  for (let i = 0; i < 4; i++) await escalate(event('esc.b', { threshold: 2 }), ctx);
  assert.equal(ctx.fired.length, 2);
});

test('handlers-examples - escalate uses a threshold of 3 when the payload has none', async () => {
  const ctx = fakeContext();
  const counts = [];
  for (let i = 0; i < 3; i++) counts.push((await escalate(event('esc.default', {}), ctx)).escalated);
  assert.deepEqual(counts, [false, false, true]);
});

test('handlers-examples - escalate counts each subject separately', async () => {
  const ctx = fakeContext();
  await escalate(event('esc.c', { threshold: 2, subject: 'web1' }), ctx);
  const other = await escalate(event('esc.c', { threshold: 2, subject: 'web2' }), ctx);
  assert.equal(other.count, 1);
  assert.equal(ctx.fired.length, 0);
  const again = await escalate(event('esc.c', { threshold: 2, subject: 'web1' }), ctx);
  assert.equal(again.escalated, true);
  assert.equal((ctx.fired[0]!.payload as { subject: string }).subject, 'web1');
});

test('handlers-examples - escalate resets the count on resolved: true', async () => {
  const ctx = fakeContext();
  await escalate(event('esc.d', { threshold: 2 }), ctx);
  const reset = await escalate(event('esc.d', { resolved: true }), ctx);
  assert.equal(reset.count, 0);
  const next = await escalate(event('esc.d', { threshold: 2 }), ctx);
  assert.equal(next.count, 1);
  assert.equal(ctx.fired.length, 0);
});

test('handlers-examples - escalate starts a new streak after a gap longer than window_s', async () => {
  const ctx = fakeContext();
  await escalate(event('esc.e', { threshold: 2, window_s: 60 }, { timestamp: 1000 }), ctx);
  const late = await escalate(event('esc.e', { threshold: 2, window_s: 60 }, { timestamp: 1061 }), ctx);
  assert.equal(late.count, 1);
  const soon = await escalate(event('esc.e', { threshold: 2, window_s: 60 }, { timestamp: 1100 }), ctx);
  assert.equal(soon.escalated, true);
});

test('handlers-examples - escalate does not count a retried event twice', async () => {
  const ctx = fakeContext();
  const e = event('esc.f', { threshold: 2 });
  await escalate(e, ctx);
  const retry = await escalate(e, { ...ctx, attempt: 2 });
  assert.equal(retry.count, 1);
  assert.equal(ctx.fired.length, 0);
});

test('handlers-examples - escalate keeps the count when fire fails, so the retry escalates', async () => {
  const failing = fakeContext({
    fire: async () => {
      throw new Error('router unavailable');
    },
  });
  await escalate(event('esc.g', { threshold: 2 }), failing);
  const e = event('esc.g', { threshold: 2 });
  await assert.rejects(escalate(e, failing), /router unavailable/);
  const ctx = fakeContext();
  const retry = await escalate(e, { ...ctx, attempt: 2 });
  assert.equal(retry.escalated, true);
  assert.equal(ctx.fired.length, 1);
});

test('handlers-examples - escalate neither counts nor fires once its signal is aborted', async () => {
  const controller = new AbortController();
  controller.abort(new Error('handler timed out'));
  const ctx = fakeContext({ signal: controller.signal });
  await assert.rejects(escalate(event('esc.h', { threshold: 1 }), ctx), /handler timed out/);
  assert.equal(ctx.fired.length, 0);
  const next = await escalate(event('esc.h', { threshold: 2 }), fakeContext());
  assert.equal(next.count, 1);
});

test('handlers-examples - escalate refuses a threshold that is not a whole number >= 1', async () => {
  await assert.rejects(escalate(event('esc.i', { threshold: 0 }), fakeContext()), /payload\.threshold must be a whole number >= 1/);
  await assert.rejects(escalate(event('esc.i', { threshold: '3' }), fakeContext()), /payload\.threshold/);
});

// ---- http-check.ts ----

test('handlers-examples - http-check returns the status and latency of a 2xx answer', async () => {
  const server = await httpServer((_req, _body, res) => res.writeHead(204).end());
  try {
    const result = await check(event('check.http', { url: `${server.url}/health` }), allowing(server.host));
    assert.equal(result.status, 204);
    assert.equal(result.ok, true);
    assert.equal(result.url, `${server.url}/health`);
    assert.ok(Number.isInteger(result.latency_ms) && result.latency_ms >= 0, `latency_ms ${result.latency_ms}`);
    assert.equal(server.requests[0]?.method, 'GET');
    assert.equal(result.final_url, undefined);
  } finally {
    await server.close();
  }
});

test('handlers-examples - http-check throws on a non-2xx answer, naming the status', async () => {
  const server = await httpServer((_req, _body, res) => res.writeHead(503).end('down'));
  try {
    await assert.rejects(check(event('check.http', { url: server.url }), allowing(server.host)), /answered 503 .*expected a 2xx status/);
  } finally {
    await server.close();
  }
});

test('handlers-examples - http-check accepts the status named by expect_status', async () => {
  const server = await httpServer((_req, _body, res) => res.writeHead(401).end());
  try {
    const result = await check(event('check.http', { url: server.url, expect_status: 401 }), allowing(server.host));
    assert.equal(result.status, 401);
  } finally {
    await server.close();
  }
});

test('handlers-examples - http-check names the reason of a refused connection', async () => {
  const server = await httpServer((_req, _body, res) => res.end());
  const { url, host } = server;
  await server.close();
  await assert.rejects(check(event('check.http', { url }), allowing(host)), /failed: ECONNREFUSED/);
});

test('handlers-examples - http-check aborts the request when its signal is aborted', async () => {
  const server = await httpServer(() => {
    // never answers
  });
  try {
    const controller = new AbortController();
    const ctx = allowing(server.host, { signal: controller.signal });
    const pending = check(event('check.http', { url: server.url }), ctx);
    setTimeout(() => controller.abort(new Error('handler timed out')), 50);
    await assert.rejects(pending, /handler timed out/);
  } finally {
    await server.close();
  }
});

test('handlers-examples - http-check refuses a URL that is not http or https', async () => {
  await assert.rejects(check(event('check.http', { url: 'file:///etc/passwd' }), fakeContext()), /must be http or https/);
  await assert.rejects(check(event('check.http', {}), fakeContext()), /payload\.url must be a string/);
});

test('handlers-examples - http-check run by the tsfunc driver stores a refused connection as an error result', async () => {
  const server = await httpServer((_req, _body, res) => res.end());
  const { url, host } = server;
  await server.close();
  const driver = new TsfuncDriver({ handlersDir: join(HANDLERS, 'tsfunc'), outputLimitBytes: 65_536 });
  const spec: HandlerSpec = { id: 'http-check', key: 'local:check.http', driver: 'tsfunc', command: 'http-check.check', exclusive: false };
  const outcome = await driver.run(spec, event('check.http', { url }), runContext({ timeoutMs: 5000, env: { HTTP_CHECK_ALLOW: host } }));
  await driver.close();
  assert.equal(outcome.status, 'error');
  assert.match(outcome.error ?? '', /ECONNREFUSED/);
});

test("handlers-examples - http-check run by the tsfunc driver takes HTTP_CHECK_ALLOW from the entry's env", async () => {
  const server = await httpServer((_req, _body, res) => res.writeHead(204).end());
  const driver = new TsfuncDriver({ handlersDir: join(HANDLERS, 'tsfunc'), outputLimitBytes: 65_536 });
  try {
    const spec: HandlerSpec = { id: 'http-check', key: 'local:check.http', driver: 'tsfunc', command: 'http-check.check', exclusive: false };
    const refused = await driver.run(spec, event('check.http', { url: server.url }), runContext({ timeoutMs: 5000 }));
    assert.equal(refused.status, 'error');
    assert.match(refused.error ?? '', /HTTP_CHECK_ALLOW is empty/);
    assert.equal(server.connections(), 0);
    const ok = await driver.run(spec, event('check.http', { url: server.url }), runContext({ timeoutMs: 5000, env: { HTTP_CHECK_ALLOW: server.host } }));
    assert.equal(ok.status, 'ok', ok.error);
    assert.equal(server.requests.length, 1);
  } finally {
    await driver.close();
    await server.close();
  }
});

test('handlers-examples - http-check refuses a host not in HTTP_CHECK_ALLOW without connecting to it', async () => {
  const server = await httpServer((_req, _body, res) => res.writeHead(204).end());
  try {
    const port = Number(new URL(server.url).port);
    // Another host; the same host on the scheme's default port only; on another port.
    for (const allow of ['example.org:*', '127.0.0.1', `127.0.0.1:${port === 65_535 ? port - 1 : port + 1}`, `localhost:${port}`]) {
      await assert.rejects(
        check(event('check.http', { url: `${server.url}/health` }), allowing(allow)),
        new RegExp(`refusing .*: 127\\.0\\.0\\.1:${port} is not in HTTP_CHECK_ALLOW`),
        `allowed by ${allow}`,
      );
    }
    assert.equal(server.connections(), 0);
  } finally {
    await server.close();
  }
});

test('handlers-examples - http-check with an empty or missing HTTP_CHECK_ALLOW refuses every URL without connecting', async () => {
  const server = await httpServer((_req, _body, res) => res.writeHead(204).end());
  try {
    for (const ctx of [fakeContext(), allowing(''), allowing(' , ')]) {
      await assert.rejects(check(event('check.http', { url: server.url }), ctx), /HTTP_CHECK_ALLOW is empty, so no host may be checked/);
    }
    assert.equal(server.connections(), 0);
  } finally {
    await server.close();
  }
});

test('handlers-examples - http-check compares hosts as URLs normalise them, so another spelling of an address is the same host', async () => {
  const server = await httpServer((_req, _body, res) => res.writeHead(204).end());
  try {
    const port = new URL(server.url).port;
    // 2130706433 and 127.1 are 127.0.0.1: allowed as such...
    for (const spelling of ['2130706433', '127.1', '0x7f.0.0.1']) {
      const result = await check(event('check.http', { url: `http://${spelling}:${port}/` }), allowing(`127.0.0.1:${port}`));
      assert.equal(result.status, 204, spelling);
    }
    // ...and refused as such when 127.0.0.1 is not on the list.
    await assert.rejects(check(event('check.http', { url: `http://2130706433:${port}/` }), allowing(`10.0.0.1:${port}`)), /127\.0\.0\.1:\d+ is not in/);
    assert.equal(server.requests.length, 3);
  } finally {
    await server.close();
  }
});

test('handlers-examples - http-check *.domain allows names under domain only', async () => {
  const allow = allowing('*.example.org:8080');
  for (const url of ['http://example.org:8080/', 'http://evil-example.org:8080/', 'http://example.org.evil.test:8080/', 'http://a.example.org/']) {
    await assert.rejects(check(event('check.http', { url }), allow), /is not in HTTP_CHECK_ALLOW/, url);
  }
  // Allowed: it gets as far as the request, which an aborted signal stops before any lookup.
  const controller = new AbortController();
  controller.abort(new Error('allowed, not requested'));
  await assert.rejects(
    check(event('check.http', { url: 'http://a.b.example.org:8080/' }), allowing('*.example.org:8080', { signal: controller.signal })),
    /allowed, not requested/,
  );
});

test('handlers-examples - http-check refuses a malformed HTTP_CHECK_ALLOW entry, naming it', async () => {
  for (const entry of ['http://example.org/', 'example.org:99999', 'user@example.org', '*.10.0.0.1']) {
    await assert.rejects(check(event('check.http', { url: 'http://example.org/' }), allowing(entry)), (err: Error) => {
      assert.ok(err.message.startsWith(`HTTP_CHECK_ALLOW: ${JSON.stringify(entry)} `), err.message);
      return true;
    });
  }
});

test('handlers-examples - http-check follows a redirect to an allowed host and reports final_url', async () => {
  const target = await httpServer((_req, _body, res) => res.writeHead(204).end());
  const first = await httpServer((_req, _body, res) => res.writeHead(302, { location: `${target.url}/ok` }).end());
  try {
    const result = await check(event('check.http', { url: first.url }), allowing(`${first.host} ${target.host}`));
    assert.equal(result.status, 204);
    assert.equal(result.url, `${first.url}/`);
    assert.equal(result.final_url, `${target.url}/ok`);
  } finally {
    await first.close();
    await target.close();
  }
});

test('handlers-examples - http-check refuses a redirect to a host not in HTTP_CHECK_ALLOW without requesting it', async () => {
  const elsewhere = await httpServer((_req, _body, res) => res.writeHead(200).end('secret'));
  const locations = [`${elsewhere.url}/internal`, 'http://169.254.169.254/latest/meta-data/'];
  let i = 0;
  const first = await httpServer((_req, _body, res) => res.writeHead(307, { location: locations[i++ % locations.length] }).end());
  try {
    for (const location of locations) {
      await assert.rejects(check(event('check.http', { url: first.url }), allowing(first.host)), (err: Error) => {
        assert.ok(err.message.startsWith(`refusing ${location} (redirect 1 of ${first.url}/)`), err.message);
        assert.match(err.message, /is not in HTTP_CHECK_ALLOW/);
        return true;
      });
    }
    assert.equal(first.requests.length, 2);
    assert.equal(elsewhere.connections(), 0);
  } finally {
    await first.close();
    await elsewhere.close();
  }
});

test('handlers-examples - http-check refuses a redirect to a scheme other than http or https', async () => {
  const first = await httpServer((_req, _body, res) => res.writeHead(301, { location: 'file:///etc/passwd' }).end());
  try {
    await assert.rejects(check(event('check.http', { url: first.url }), allowing(first.host)), /the redirect from .* must be http or https, got file:/);
  } finally {
    await first.close();
  }
});

test('handlers-examples - http-check gives up after 5 redirects', async () => {
  const loop = await httpServer((req, _body, res) => res.writeHead(302, { location: `${req.url ?? '/'}x` }).end());
  try {
    await assert.rejects(check(event('check.http', { url: loop.url }), allowing(loop.host)), /redirected more than 5 times/);
    assert.equal(loop.requests.length, 6);
  } finally {
    await loop.close();
  }
});

test('handlers-examples - http-check refuses methods other than GET and HEAD without connecting', async () => {
  const server = await httpServer((_req, _body, res) => res.writeHead(204).end());
  try {
    for (const method of ['DELETE', 'post', 'PUT']) {
      await assert.rejects(check(event('check.http', { url: server.url, method }), allowing(server.host)), /payload\.method must be GET or HEAD/);
    }
    assert.equal(server.connections(), 0);
    const head = await check(event('check.http', { url: server.url, method: 'head' }), allowing(server.host));
    assert.equal(head.status, 204);
    assert.equal(server.requests[0]?.method, 'HEAD');
  } finally {
    await server.close();
  }
});

// ---- notify-webhook.sh ----

test('handlers-examples - notify-webhook without WEBHOOK_URL prints the event it would send', async () => {
  const e = event('disk.full', { host: 'web1', used: 97 });
  const r = await runShell('notify-webhook.sh', [], e);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /WEBHOOK_URL not set; would POST local:disk\.full/);
  assert.ok(r.stdout.includes(JSON.stringify(e)), r.stdout);
});

test('handlers-examples - notify-webhook POSTs the event JSON to WEBHOOK_URL', async () => {
  const server = await httpServer((_req, _body, res) => res.writeHead(200).end('ok'));
  try {
    const e = event('disk.full', { host: 'web1', used: 97 });
    const r = await runShell('notify-webhook.sh', [], e, { WEBHOOK_URL: `${server.url}/hooks/secret-token` });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(server.requests.length, 1);
    const req = server.requests[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['x-event-id'], e.id);
    assert.deepEqual(JSON.parse(req.body), e);
    assert.match(r.stdout, /HTTP 200/);
    assert.doesNotMatch(r.stdout, /secret-token/);
  } finally {
    await server.close();
  }
});

test('handlers-examples - notify-webhook exits non-zero when the webhook answers an error', async () => {
  const server = await httpServer((_req, _body, res) => res.writeHead(500).end('broken'));
  try {
    const r = await runShell('notify-webhook.sh', [], event('disk.full', {}), { WEBHOOK_URL: server.url });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /HTTP 500/);
    assert.match(r.stderr, /broken/);
  } finally {
    await server.close();
  }
});

test('handlers-examples - notify-webhook exits non-zero when the webhook cannot be reached', async () => {
  const server = await httpServer((_req, _body, res) => res.end());
  const url = server.url;
  await server.close();
  const r = await runShell('notify-webhook.sh', [], event('disk.full', {}), { WEBHOOK_URL: url });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /request to 127\.0\.0\.1:\d+ failed/);
});

// ---- disk-cleanup.sh ----

/** root/data/{old.log, new.log, sub/old2.log} with old files 10 days old; returns paths. */
function cleanupTree(name: string): { root: string; data: string; old: string[]; fresh: string } {
  const root = join(tmp, name, 'root');
  const data = join(root, 'data');
  mkdirSync(join(data, 'sub'), { recursive: true });
  const old = [join(data, 'old.log'), join(data, 'sub', 'old2.log')];
  const fresh = join(data, 'new.log');
  const tenDaysAgo = Date.now() / 1000 - 10 * DAY_S;
  for (const f of old) {
    writeFileSync(f, 'old');
    utimesSync(f, tenDaysAgo, tenDaysAgo);
  }
  writeFileSync(fresh, 'new');
  return { root, data, old, fresh };
}

/** The files a run listed (relative to the cleaned directory `dir`), as absolute paths, sorted. */
function listed(stdout: string, dir: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('./'))
    .map((l) => join(dir, l))
    .sort();
}

/** A file outside every cleaned tree, 10 days old, that no run may delete. */
function outsider(name: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'precious.log');
  writeFileSync(file, 'precious');
  const tenDaysAgo = Date.now() / 1000 - 10 * DAY_S;
  utimesSync(file, tenDaysAgo, tenDaysAgo);
  return file;
}

test('handlers-examples - disk-cleanup dry run lists only files older than older_than_days and deletes nothing', async () => {
  const t = cleanupTree('dry');
  const r = await runShell('disk-cleanup.sh', [], event('disk.full', { path: t.data, older_than_days: 7 }), { CLEANUP_ROOT: t.root });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /dry run/);
  assert.deepEqual(listed(r.stdout, t.data), [...t.old].sort());
  for (const f of [...t.old, t.fresh]) assert.ok(existsSync(f), `${f} was deleted`);
});

test('handlers-examples - disk-cleanup --delete removes only the old files', async () => {
  const t = cleanupTree('delete');
  const r = await runShell('disk-cleanup.sh', ['--delete'], event('disk.full', { path: t.data, older_than_days: 7 }), { CLEANUP_ROOT: t.root });
  assert.equal(r.code, 0, r.stderr);
  for (const f of t.old) assert.ok(!existsSync(f), `${f} was kept`);
  assert.ok(existsSync(t.fresh), 'the new file was deleted');
});

test('handlers-examples - disk-cleanup refuses a path outside CLEANUP_ROOT', async () => {
  const t = cleanupTree('outside');
  const elsewhere = cleanupTree('outside-other');
  const r = await runShell('disk-cleanup.sh', ['--delete'], event('disk.full', { path: elsewhere.data, older_than_days: 1 }), { CLEANUP_ROOT: t.root });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /outside CLEANUP_ROOT/);
  for (const f of elsewhere.old) assert.ok(existsSync(f), `${f} was deleted`);
});

test('handlers-examples - disk-cleanup refuses a symlink inside CLEANUP_ROOT that leads outside it', async () => {
  const t = cleanupTree('symlink');
  const elsewhere = cleanupTree('symlink-other');
  const link = join(t.root, 'link');
  symlinkSync(elsewhere.data, link);
  const r = await runShell('disk-cleanup.sh', ['--delete'], event('disk.full', { path: link, older_than_days: 1 }), { CLEANUP_ROOT: t.root });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /outside CLEANUP_ROOT/);
  for (const f of elsewhere.old) assert.ok(existsSync(f), `${f} was deleted`);
});

test('handlers-examples - disk-cleanup refuses to run without CLEANUP_ROOT', async () => {
  const t = cleanupTree('noroot');
  const r = await runShell('disk-cleanup.sh', [], event('disk.full', { path: t.data, older_than_days: 1 }));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /CLEANUP_ROOT is not set/);
});

test('handlers-examples - disk-cleanup refuses a bad older_than_days', async () => {
  const t = cleanupTree('baddays');
  for (const days of [0, -1, 'soon', null]) {
    const r = await runShell('disk-cleanup.sh', [], event('disk.full', { path: t.data, older_than_days: days }), { CLEANUP_ROOT: t.root });
    assert.notEqual(r.code, 0, `older_than_days ${JSON.stringify(days)} was accepted`);
    assert.match(r.stderr, /older_than_days/);
  }
});

test('handlers-examples - disk-cleanup reads the payload with node when jq is not installed', async () => {
  const t = cleanupTree('nojq');
  // A PATH with only what the script needs besides jq.
  const bin = join(tmp, 'nojq-bin');
  mkdirSync(bin);
  for (const cmd of ['find', 'cat']) {
    const found = ['/usr/bin', '/bin'].map((d) => join(d, cmd)).find((p) => existsSync(p));
    assert.ok(found, `${cmd} not found in /usr/bin or /bin`);
    symlinkSync(found, join(bin, cmd));
  }
  symlinkSync(process.execPath, join(bin, 'node'));
  const r = await runShell('disk-cleanup.sh', [], event('disk.full', { path: t.data, older_than_days: 7 }), { CLEANUP_ROOT: t.root, PATH: bin });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(listed(r.stdout, t.data), [...t.old].sort());
});

test('handlers-examples - disk-cleanup --delete does not follow a symlink to a file outside CLEANUP_ROOT: the target survives', async () => {
  const t = cleanupTree('file-link');
  const target = outsider('file-link-outside');
  const link = join(t.data, 'sub', 'planted.log');
  symlinkSync(target, link);
  const tenDaysAgo = Date.now() / 1000 - 10 * DAY_S;
  lutimesSync(link, tenDaysAgo, tenDaysAgo);
  const r = await runShell('disk-cleanup.sh', ['--delete'], event('disk.full', { path: t.data, older_than_days: 7 }), { CLEANUP_ROOT: t.root });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(target, 'utf8'), 'precious');
  assert.ok(lstatSync(link).isSymbolicLink(), 'the symlink itself was removed');
  assert.deepEqual(listed(r.stdout, t.data), [...t.old].sort());
  for (const f of t.old) assert.ok(!existsSync(f), `${f} was kept`);
});

test('handlers-examples - disk-cleanup --delete does not descend a symlinked directory', async () => {
  const t = cleanupTree('dir-link');
  const target = outsider('dir-link-outside');
  symlinkSync(dirname(target), join(t.data, 'elsewhere'));
  const r = await runShell('disk-cleanup.sh', ['--delete'], event('disk.full', { path: t.data, older_than_days: 7 }), { CLEANUP_ROOT: t.root });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(target), 'a file behind a symlinked directory was deleted');
  assert.doesNotMatch(r.stdout, /precious/);
  for (const f of t.old) assert.ok(!existsSync(f), `${f} was kept`);
});

test('handlers-examples - disk-cleanup refuses a CLEANUP_ROOT that is a symlink, naming the directory to use', async () => {
  const t = cleanupTree('root-link');
  const link = join(tmp, 'root-link', 'root-alias');
  symlinkSync(t.root, link);
  for (const root of [link, `${link}/`]) {
    const r = await runShell('disk-cleanup.sh', ['--delete'], event('disk.full', { path: t.data, older_than_days: 7 }), { CLEANUP_ROOT: root });
    assert.equal(r.code, 1, r.stdout);
    assert.ok(r.stderr.includes(`CLEANUP_ROOT ${link} is a symlink; set it to the directory it leads to, ${t.root}`), r.stderr);
  }
  for (const f of t.old) assert.ok(existsSync(f), `${f} was deleted`);
});

test('handlers-examples - disk-cleanup refuses a payload.path that is a symlink, even one leading inside CLEANUP_ROOT', async () => {
  const t = cleanupTree('path-link');
  const link = join(t.root, 'data-alias');
  symlinkSync(t.data, link);
  for (const path of [link, `${link}/`, `${link}//`]) {
    const r = await runShell('disk-cleanup.sh', ['--delete'], event('disk.full', { path, older_than_days: 7 }), { CLEANUP_ROOT: t.root });
    assert.equal(r.code, 1, r.stdout);
    assert.ok(r.stderr.includes(`${link} is a symlink (to ${t.data}); refusing`), r.stderr);
  }
  for (const f of t.old) assert.ok(existsSync(f), `${f} was deleted`);
});

test('handlers-examples - disk-cleanup cleans CLEANUP_ROOT itself when payload.path names it', async () => {
  const t = cleanupTree('root-itself');
  const r = await runShell('disk-cleanup.sh', [], event('disk.full', { path: t.root, older_than_days: 7 }), { CLEANUP_ROOT: t.root });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(listed(r.stdout, t.root), [...t.old].sort());
});
