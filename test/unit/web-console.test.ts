/**
 * The web console's pure parts: escaping in every view, the request guard (DNS
 * rebinding, CSRF, tokens), the token rules, the metrics arithmetic behind the chart,
 * and the search form.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventDetail, EventSummary, StoredEvent } from '../../src/archive/archive.js';
import { parseTimeArg } from '../../src/cli/time-arg.js';
import { loadConfig } from '../../src/config/load.js';
import type { StatusReport } from '../../src/daemons/stack-status.js';
import { ConfigError } from '../../src/errors.js';
import type { HandlerResult } from '../../src/handlers/result.js';
import type { DeadJob } from '../../src/queue/dead-letters.js';
import { chartView, niceMax } from '../../src/web/chart-view.js';
import { dlqView } from '../../src/web/dlq-view.js';
import { eventView, liveRows, searchView, stillRunning } from '../../src/web/event-views.js';
import { healthView } from '../../src/web/health-view.js';
import { SafeHtml, escapeHtml, html } from '../../src/web/html.js';
import type { LiveEvent } from '../../src/web/live-stream.js';
import { loginView } from '../../src/web/overview-view.js';
import { parsePromText, sumOf } from '../../src/web/prom-text.js';
import { counterIncrease, ratesOf, summarize, type MetricsSnapshot } from '../../src/web/rate-series.js';
import { allowedHosts, guardRequest, parseHostHeader, type GuardPolicy, type GuardRequest } from '../../src/web/request-guard.js';
import { parseSearch } from '../../src/web/search-query.js';
import { parseTimeText } from '../../src/archive/time-text.js';
import { SESSION_MS, readWebToken, refuseExposedWithoutToken, sameSecret, sessionValue, validSession } from '../../src/web/web-auth.js';

const EVIL = '<script>alert(1)</script><img src=x onerror="alert(2)">\'"&';
/** Markup an attacker would want in the page: none of it may appear unescaped. */
const INJECTED = /<script|<img|onerror="alert/i;

test('web html - interpolated values are escaped, SafeHtml and arrays are not re-escaped', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  const inner = html`<b>${'<i>'}</b>`;
  assert.equal(
    html`<p title="${'"><script>'}">${inner}${[1, '<', html`<br />`]}${undefined}${null}${false}${0}</p>`.text,
    '<p title="&quot;&gt;&lt;script&gt;"><b>&lt;i&gt;</b>1&lt;<br />0</p>',
  );
  assert.equal(html`${{ a: '<x>' }}`.text, '{&quot;a&quot;:&quot;&lt;x&gt;&quot;}');
  assert.throws(() => new SafeHtml('<script>', Symbol('SafeHtml')), TypeError);
});

const now = Date.parse('2026-11-30T12:00:00Z');
const storedEvent = (over: Partial<StoredEvent> = {}): StoredEvent => ({
  _id: `ev-${EVIL}`,
  key: `local:${EVIL}`,
  time: new Date(now - 1000),
  received_at: new Date(now - 1000),
  namespace: 'local',
  event_type: EVIL,
  payload: { note: EVIL, [EVIL]: 1 },
  trace_id: `trace-${EVIL}`,
  parent_event: `parent-${EVIL}`,
  [`extra${EVIL}`]: EVIL,
  seq: 3,
  epoch: 1,
  ...over,
});
const run = (over: Partial<HandlerResult> = {}): HandlerResult => ({
  _id: `job-${EVIL}#1`,
  event_id: `ev-${EVIL}`,
  trace_id: 't',
  key: 'local:x',
  namespace: 'local',
  event_type: 'x',
  handler: `h-${EVIL}`,
  handler_id: 'h1',
  driver: 'shell',
  driver_type: 'shell',
  job_id: 'job',
  status: 'error',
  code: 3,
  error: EVIL,
  error_code: 'ERR_HANDLER',
  data: EVIL,
  stderr: EVIL,
  start: new Date(now - 500),
  end: new Date(now - 400),
  duration_ms: 100,
  duration: 0.1,
  attempt: 1,
  run: 1,
  dead: true,
  host: 'h',
  pid: 1,
  ...over,
});
const deadJob: DeadJob = {
  id: `job-${EVIL}`,
  queue: 'q',
  key: `local:${EVIL}`,
  driver: 'shell',
  handler: EVIL,
  eventId: `ev-${EVIL}`,
  attempts: 1,
  failedReason: EVIL,
  finishedOn: new Date(now),
  data: {} as DeadJob['data'],
};

test('web views - an attacker-controlled payload, key, id, handler output and error render as text in every view', () => {
  const detail: EventDetail = {
    event: storedEvent(),
    runs: [run()],
    followUps: [storedEvent({ _id: `f-${EVIL}` })],
    chain: [storedEvent({ _id: 'root' }), storedEvent()],
  };
  const summary: EventSummary = {
    id: `ev-${EVIL}`,
    key: EVIL,
    time: new Date(now),
    trace_id: EVIL,
    outcome: 'dead',
    handlers: [{ handler: EVIL, handler_id: 'h', status: 'error', dead: true, runs: 2 }],
  };
  const live: LiveEvent = { n: 1, id: EVIL, key: EVIL, time: new Date(now).toISOString(), seq: 1, epoch: 1, trace_id: EVIL, payload: EVIL, truncated: true };
  const status: StatusReport = {
    router: { cursor: EVIL, endpoint: EVIL, error: EVIL },
    routers: [{ name: EVIL, cursor: EVIL, endpoint: EVIL, error: EVIL }],
    archive: { url: EVIL, database: EVIL, error: EVIL },
    queues: { url: EVIL, error: EVIL },
    daemons: {
      router: { url: EVIL, up: false, error: EVIL },
      sub: { url: EVIL, up: true, ready: false, missing: [{ name: EVIL, error: EVIL }] },
      worker: { url: EVIL, up: true, ready: true, pid: 1, uptime_s: 5 },
    },
  };
  const search = parseSearch(new URLSearchParams({ key: EVIL, since: EVIL, until: EVIL, trace: EVIL, status: EVIL, limit: EVIL }), now);
  const views = {
    event: eventView(detail, [deadJob], now).text,
    search: searchView(search, [summary], EVIL).text,
    live: liveRows([live]).text,
    health: healthView(status, new Date(now)).text,
    dlq: dlqView([deadJob], undefined).text,
    dlqError: dlqView([], EVIL).text,
    login: loginView(EVIL, true).text,
  };
  for (const [name, text] of Object.entries(views)) {
    assert.doesNotMatch(text, INJECTED, `${name} view`);
    assert.ok(text.includes('&lt;script&gt;'), `${name} view shows the markup as text`);
  }
  assert.equal(search.problems.length, 4, 'since, until, status and limit are refused');
});

test('web views - the event page shows runs with status colours and words, follow-ups and the trace', () => {
  const detail: EventDetail = {
    event: storedEvent({ _id: 'e1', key: 'local:a', payload: { n: 1 } }),
    runs: [
      run({ _id: 'j#1', status: 'error', dead: false, data: '', stderr: 'boom' }),
      run({ _id: 'j#2', status: 'ok', dead: false, error: 'none', data: 'fine', run: 2, attempt: 2 }),
    ],
    followUps: [storedEvent({ _id: 'f1', key: 'local:b' })],
    chain: [storedEvent({ _id: 'root', key: 'local:r' }), storedEvent({ _id: 'e1' })],
  };
  const text = eventView(detail, [], now + 60 * 60_000).text;
  assert.match(text, /<tr data-run="j#1" data-status="error">/);
  assert.match(text, /class="pill pill-ok" data-status="ok">ok</);
  assert.match(text, /href="\/events\/f1"/);
  assert.match(text, /href="\/events\/root"/);
  assert.match(text, /&quot;n&quot;: 1/);
  assert.doesNotMatch(text, /data-refresh/, 'an hour-old event does not refresh');
});

test('web views - an event page refreshes while its handlers may still run', () => {
  const d = (runs: Partial<HandlerResult>[], ageMs: number): EventDetail => ({
    event: storedEvent({ received_at: new Date(now - ageMs) }),
    runs: runs.map((r) => run(r)),
    followUps: [],
    chain: [],
  });
  assert.equal(stillRunning(d([{ status: 'ok', dead: false }], 5_000), now), true, 'first 30 s: more handlers may come');
  assert.equal(stillRunning(d([{ status: 'ok', dead: false }], 60_000), now), false);
  assert.equal(stillRunning(d([], 60_000), now), true, 'no run yet');
  assert.equal(stillRunning(d([{ status: 'error', dead: false }], 60_000), now), true, 'a retry is due');
  assert.equal(stillRunning(d([{ status: 'error', dead: true }], 60_000), now), false, 'dead: nothing more comes');
  assert.equal(stillRunning(d([], 10 * 60_000), now), false, 'old events never refresh');
});

const policy = (over: Partial<GuardPolicy> = {}): GuardPolicy => ({
  hosts: allowedHosts('127.0.0.1'),
  port: 9480,
  token: undefined,
  cookie: 'er_web_9480',
  ...over,
});
const req = (over: Partial<GuardRequest> & { headers?: Record<string, string> } = {}): GuardRequest => ({
  method: 'GET',
  path: '/',
  query: new URLSearchParams(),
  now,
  ...over,
  headers: { host: '127.0.0.1:9480', ...over.headers },
});

test('web guard - DNS rebinding: the Host header must name this console and its port', () => {
  assert.deepEqual(guardRequest(req(), policy()), { ok: true, authenticated: false });
  assert.equal(guardRequest(req({ headers: { host: 'localhost:9480' } }), policy()).ok, true);
  assert.equal(guardRequest(req({ headers: { host: '[::1]:9480' } }), policy()).ok, true);
  for (const host of ['evil.example:9480', '127.0.0.1:9481', '127.0.0.1', 'attacker.127.0.0.1.nip.io:9480']) {
    const v = guardRequest(req({ headers: { host } }), policy());
    assert.equal(v.ok ? 0 : v.status, 403, host);
  }
  const none = guardRequest({ ...req(), headers: {} }, policy());
  assert.equal(none.ok ? 0 : none.status, 400);
  // All interfaces: any name (a token is required there anyway).
  assert.equal(guardRequest(req({ headers: { host: 'console.example:9480' } }), policy({ hosts: allowedHosts('0.0.0.0') })).ok, true);
  assert.deepEqual(parseHostHeader('[::1]:80'), { name: '::1', port: 80 });
  assert.deepEqual(parseHostHeader('LOCALHOST.'), { name: 'localhost', port: 80 });
  assert.equal(parseHostHeader('a b:1'), undefined);
});

test('web guard - CSRF: POST only, with X-Event-Reactor: 1, from our own origin; no preflight is ever answered', () => {
  const post = (headers: Record<string, string>, path = '/api/dlq/j/retry'): ReturnType<typeof guardRequest> =>
    guardRequest(req({ method: 'POST', path, headers }), policy());
  const status = (v: ReturnType<typeof guardRequest>): number => (v.ok ? 200 : v.status);
  assert.equal(status(post({})), 403);
  assert.equal(status(post({ 'x-event-reactor': '1' })), 200);
  assert.equal(status(post({ 'x-event-reactor': '1', origin: 'http://127.0.0.1:9480', 'sec-fetch-site': 'same-origin' })), 200);
  assert.equal(status(post({ 'x-event-reactor': '1', origin: 'http://evil.example' })), 403);
  assert.equal(status(post({ 'x-event-reactor': '1', origin: 'null' })), 403);
  assert.equal(status(post({ 'x-event-reactor': '1', 'sec-fetch-site': 'same-site' })), 403);
  assert.equal(status(guardRequest(req({ method: 'OPTIONS' }), policy())), 405);
  assert.equal(status(guardRequest(req({ method: 'PUT', headers: { 'x-event-reactor': '1' } }), policy())), 405);
  // Log in and out are plain forms: a browser's post must say it comes from here.
  assert.equal(status(post({ origin: 'http://127.0.0.1:9480', 'sec-fetch-site': 'same-origin' }, '/login')), 200);
  assert.equal(status(post({ 'sec-fetch-site': 'same-origin' }, '/login')), 403);
  assert.equal(status(post({ origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' }, '/logout')), 403);
  assert.equal(status(post({}, '/login')), 200, 'a script without browser headers');
});

test('web guard - with a token: Bearer, a session cookie, or ?token= on the stream only; pages go to the login form', () => {
  const token = 'a-token-of-24-characters';
  const p = policy({ token });
  const status = (v: ReturnType<typeof guardRequest>): number => (v.ok ? 200 : v.status);
  assert.deepEqual(guardRequest(req({ path: '/dlq' }), p), {
    ok: false,
    status: 401,
    reason: 'a token is required (Authorization: Bearer <token>, or log in)',
    login: true,
  });
  assert.equal(status(guardRequest(req({ path: '/api/events' }), p)), 401);
  assert.equal(
    guardRequest(req({ path: '/api/events' }), p).ok ? undefined : (guardRequest(req({ path: '/api/events' }), p) as { login?: boolean }).login,
    undefined,
  );
  assert.deepEqual(guardRequest(req({ path: '/api/events', headers: { authorization: `Bearer ${token}` } }), p), { ok: true, authenticated: true });
  const wrong = guardRequest(req({ path: '/api/events', headers: { authorization: `Bearer ${token}x` } }), p);
  assert.equal(wrong.ok ? 0 : wrong.status, 401);
  assert.equal(wrong.ok ? false : wrong.wrongToken, true);
  const cookie = `other=1; er_web_9480=${sessionValue(token, now)}`;
  assert.equal(status(guardRequest(req({ path: '/', headers: { cookie } }), p)), 200);
  const old = `er_web_9480=${sessionValue(token, now - SESSION_MS - 1000)}`;
  assert.equal(status(guardRequest(req({ path: '/', headers: { cookie: old } }), p)), 401);
  const forged = `er_web_9480=${sessionValue('another-token-of-some-length', now)}`;
  assert.equal(status(guardRequest(req({ path: '/', headers: { cookie: forged } }), p)), 401);
  assert.equal(status(guardRequest(req({ path: '/api/stream', query: new URLSearchParams({ token }) }), p)), 200);
  assert.equal(status(guardRequest(req({ path: '/api/events', query: new URLSearchParams({ token }) }), p)), 401);
  for (const path of ['/login', '/assets/console.js', '/healthz']) assert.equal(status(guardRequest(req({ path }), p)), 200, path);
});

test('web auth - tokens compare in constant time; sessions expire and are bound to the token', () => {
  assert.equal(sameSecret('abc', 'abc'), true);
  assert.equal(sameSecret('abc', 'abcd'), false);
  const token = 'a-token-of-24-characters';
  const v = sessionValue(token, now);
  assert.equal(validSession(v, token, now + 1000), true);
  assert.equal(validSession(v, token, now + SESSION_MS + 1000), false);
  assert.equal(validSession(v, 'a-token-of-24-characterz', now), false);
  assert.equal(validSession(`${v.split('.')[0]}0.${v.split('.')[1]}`, token, now), false, 'a changed time breaks the MAC');
  assert.equal(validSession('garbage', token, now), false);
});

test('web auth - the token: env wins, a file others can read is refused, short tokens are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'er-web-unit-'));
  try {
    const file = join(dir, 'token');
    writeFileSync(file, 'a-long-enough-token-1234\n');
    chmodSync(file, 0o600);
    assert.deepEqual(readWebToken(file, '/etc/er/config.json', {}), { token: 'a-long-enough-token-1234', source: file });
    assert.equal(readWebToken(file, '/etc/er/config.json', { EVENT_REACTOR_WEB_TOKEN: 'from-the-environment-123' })?.source, 'env EVENT_REACTOR_WEB_TOKEN');
    assert.equal(readWebToken(undefined, '/etc/er/config.json', {}), undefined);
    chmodSync(file, 0o640);
    assert.throws(
      () => readWebToken(file, '/etc/er/config.json', {}),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems[0]?.path === 'web.token_file' &&
        /readable or writable by others \(mode 0640\); fix with chmod 600/.test(err.message),
    );
    assert.throws(() => readWebToken(join(dir, 'missing'), '/etc/er/config.json', {}), /token file .* not found/);
    assert.throws(() => readWebToken(undefined, '/etc/er/config.json', { EVENT_REACTOR_WEB_TOKEN: 'short' }), /at least 16 characters/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('web auth - protected mode: a non-loopback address needs a token; the refusal names the address and both ways out', () => {
  const where = { file: '/etc/er/config.json', path: 'http.web' };
  refuseExposedWithoutToken({ host: '127.0.0.1', port: 9480 }, undefined, where);
  refuseExposedWithoutToken({ host: '::1', port: 9480 }, undefined, where);
  refuseExposedWithoutToken({ host: '0.0.0.0', port: 9480 }, { token: 'x'.repeat(20), source: 'env' }, where);
  for (const host of ['0.0.0.0', '192.168.1.5', '::']) {
    assert.throws(
      () => refuseExposedWithoutToken({ host, port: 9480 }, undefined, where),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems[0]?.path === 'http.web' &&
        err.message.includes(`${host.includes(':') ? `[${host}]` : host}:9480`) &&
        /web\.token_file/.test(err.message) &&
        /EVENT_REACTOR_WEB_TOKEN/.test(err.message) &&
        /loopback address/.test(err.message),
      host,
    );
  }
});

test('web config - http.web defaults to 127.0.0.1:9480; web.token_file is resolved beside config.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'er-web-cfg-'));
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, '{}');
    const plain = loadConfig({ path: file, env: {} }).settings;
    assert.deepEqual(plain.http.web, { host: '127.0.0.1', port: 9480 });
    assert.equal(plain.web.tokenFile, undefined);
    writeFileSync(file, JSON.stringify({ http: { web: '0.0.0.0:8080' }, web: { token_file: 'web.token' } }));
    const set = loadConfig({ path: file, env: {} }).settings;
    assert.deepEqual(set.http.web, { host: '0.0.0.0', port: 8080 });
    assert.equal(set.web.tokenFile, join(dir, 'web.token'));
    writeFileSync(file, JSON.stringify({ http: { web: 'nope' } }));
    assert.throws(() => loadConfig({ path: file, env: {} }), /http\.web/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('web metrics - Prometheus text is parsed for the counters the chart needs', () => {
  const text = [
    '# HELP worker_handler_runs_total Handler runs',
    '# TYPE worker_handler_runs_total counter',
    'worker_handler_runs_total{driver="shell",status="ok"} 7',
    'worker_handler_runs_total{driver="tsfunc",status="ok"} 3',
    'worker_handler_runs_total{driver="shell",status="error"} 2',
    'worker_handler_runs_total{driver="shell",status="timeout"} 1',
    'queue_jobs{queue="q",state="failed"} 4',
    'odd_label{a="x\\"y\\\\z"} 1',
    'router_events_published_total 12 1700000000000',
    'bucket{le="+Inf"} +Inf',
    'not a sample',
  ].join('\n');
  const samples = parsePromText(text);
  assert.equal(sumOf(samples, 'worker_handler_runs_total'), 13);
  assert.equal(sumOf(samples, 'worker_handler_runs_total', { status: 'ok' }), 10);
  assert.equal(sumOf(samples, 'router_events_published_total'), 12);
  assert.equal(sumOf(samples, 'missing'), undefined);
  assert.deepEqual(samples.find((s) => s.name === 'odd_label')?.labels, { a: 'x"y\\z' });
  assert.equal(sumOf(samples, 'bucket'), Infinity);
});

test('web metrics - rates per interval, counter resets after a restart, error rate and the last minute', () => {
  assert.equal(counterIncrease(10, 15), 5);
  assert.equal(counterIncrease(10, 3), 3, 'the daemon restarted: its counter began again at 0');
  assert.equal(counterIncrease(undefined, 3), null);
  const snaps: MetricsSnapshot[] = [
    { t: 0, published: 100, runsOk: 50, runsFailed: 0 },
    { t: 5000, published: 150, runsOk: 90, runsFailed: 10 },
    { t: 10_000, runsOk: 90, runsFailed: 10 }, // the router did not answer
    { t: 15_000, published: 20, runsOk: 90, runsFailed: 10 }, // the router restarted
  ];
  const points = ratesOf(snaps);
  assert.deepEqual(
    points.map((p) => [p.published, p.runsOk, p.runsFailed, p.errorRate]),
    [
      [10, 8, 2, 0.2],
      [null, 0, 0, null],
      [null, 0, 0, null],
    ],
  );
  const s = summarize(points, 15_000);
  assert.equal(s.published, 10);
  assert.equal(s.errorRate, 0.2);
  assert.equal(summarize(points, 600_000).published, null, 'nothing in the last minute');
  assert.equal(niceMax(3.2), 5);
  assert.equal(niceMax(12), 20);
  assert.equal(niceMax(1), 1);
});

test('web chart - says the last minute in words and draws bars and a line; a daemon without metrics is named', () => {
  const points = ratesOf([
    { t: now - 10_000, published: 0, runsOk: 0, runsFailed: 0 },
    { t: now - 5000, published: 50, runsOk: 40, runsFailed: 10 },
    { t: now, published: 100, runsOk: 80, runsFailed: 20 },
  ]);
  const text = chartView({ intervalMs: 5000, windowMs: 600_000, points, queue: undefined, unavailable: [{ part: 'worker', error: `down ${EVIL}` }] }, now).text;
  assert.match(text, /Last minute: 10 events\/s published, 10 handler runs\/s, 20\.0% of runs failed\./);
  assert.match(text, /class="problem">20\.0%</, 'above 5% the error rate shows as a problem');
  assert.match(text, /<path class="line-published" d="M/);
  assert.equal((text.match(/class="bar-failed"/g) ?? []).length, 2);
  assert.match(text, /Not charted: worker \(down &lt;script&gt;/);
  assert.match(chartView({ intervalMs: 5000, windowMs: 600_000, points: [], queue: undefined, unavailable: [] }, now).text, /No figures yet/);
});

test('web search - the form becomes an archive query; times as the CLI reads them', () => {
  const s = parseSearch(
    new URLSearchParams({ key: ' local:disk.* ', since: '30m', until: '2026-11-30T11:00:00Z', trace: 't1', status: 'dead', limit: '20' }),
    now,
  );
  assert.deepEqual(s.problems, []);
  assert.deepEqual(s.query, {
    key: 'local:disk.*',
    since: new Date(now - 30 * 60_000),
    until: new Date('2026-11-30T11:00:00Z'),
    trace: 't1',
    status: 'dead',
    limit: 20,
  });
  assert.deepEqual(parseSearch(new URLSearchParams(), now).query, { limit: 50 });
  assert.equal(parseSearch(new URLSearchParams({ limit: '501' }), now).problems.length, 1);
  for (const [text, want] of [
    ['90s', new Date(now - 90_000)],
    ['1.5h', new Date(now - 5_400_000)],
    ['1w', new Date(now - 604_800_000)],
    ['2026-11-30T04:00:00+02:00', new Date('2026-11-30T02:00:00Z')],
  ] as const) {
    assert.deepEqual(parseTimeText(text, now), want, text);
  }
  for (const text of ['yesterday', '30', '-5m', '']) {
    assert.equal(parseTimeText(text, now), undefined, text);
    assert.throws(() => parseTimeArg(text, '--since', now), /is not a time/);
  }
});
