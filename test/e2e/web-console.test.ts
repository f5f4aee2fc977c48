/**
 * The web console as an operator uses it: `event-reactor web` (the built bin) against a
 * running stack (router, subscriber and worker in this process), driven from a real
 * headless Chromium (Debian's package, installed on first use by test/helpers/browser.ts).
 *
 * Screenshots of the main pages are saved to $WEB_SCREENSHOTS when set (`npm run
 * screenshots` writes the README's, in test/e2e/screenshots/), else to a temporary folder.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { startDaemons, type RunningDaemons } from '../../src/daemons/start-daemons.js';
import { freePort } from '../../src/devstack/free-port.js';
import { silentLogger } from '../../src/logger.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { NOT_BUILT, runBin, startBin, type Running } from '../helpers/bins.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';
import { dropDatabase, useServices } from '../helpers/services.js';

const services = useServices();
const SHOTS = process.env['WEB_SCREENSHOTS'] ? resolve(process.env['WEB_SCREENSHOTS']) : mkdtempSync(join(tmpdir(), 'er-web-shots-'));
/** A payload that would run script if the console rendered it as markup. */
const HOSTILE = { note: '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">', disk: '/var' };
const TOKEN = 'test-token-0123456789abcdef';

let cfg: TestConfig;
let running: RunningDaemons | undefined;
let client: RouterClient | undefined;
let web: Running | undefined;
let url = '';
let browser: TestBrowser | undefined;
let page: Page;

after(async () => {
  await browser?.close();
  if (web && web.child.exitCode === null) {
    web.child.kill('SIGKILL');
    await web.exited;
  }
  client?.close();
  await running?.close();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
  if (!process.env['WEB_SCREENSHOTS']) rmSync(SHOTS, { recursive: true, force: true });
});

/** Start `event-reactor web` on a free loopback port; resolves with it and its URL. */
async function startConsole(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ proc: Running; url: string }> {
  const proc = startBin('event-reactor', ['web', '-c', cfg.configFile, '--http', '127.0.0.1:0', '--sample-interval', '1000', ...args], env);
  const line = await proc.waitFor(/event-reactor web: serving http:/, 30_000);
  return { proc, url: /serving (http:\S+)/.exec(line)![1]! };
}

/** A raw HTTP request, so that Host, Origin and the like can be set as an attacker would. */
function raw(
  target: string,
  options: { method?: string; path: string; headers?: Record<string, string> },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(target);
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: options.method ?? 'GET', path: options.path, headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function fire(event: object): Promise<string> {
  return (await client!.send(event)).id;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

before(
  async () => {
    if (NOT_BUILT) return;
    const http = { router: `127.0.0.1:${await freePort()}`, sub: `127.0.0.1:${await freePort()}`, worker: `127.0.0.1:${await freePort()}` };
    cfg = await writeTestConfig({
      redisUrl: await services.redisUrl(),
      mongoUrl: await services.mongoUrl(),
      handlers: {
        'local:web.ok': [{ driver: 'shell', handler: 'ok.sh' }],
        'local:web.disk': [
          { driver: 'shell', handler: 'ok.sh' },
          { driver: 'tsfunc', handler: 'summary.summarize' },
        ],
        'local:web.flaky': [{ driver: 'shell', handler: 'flaky.sh', retries: 0 }],
        'local:web.chain': [{ driver: 'tsfunc', handler: 'chain.next' }],
      },
      files: {
        'ok.sh': '#!/bin/sh\necho "handled $EVENT_TYPE"\n',
        // Fails until the test creates "go" beside it: a dead letter that a retry fixes.
        'flaky.sh': '#!/bin/sh\nif [ -f "$(dirname "$0")/go" ]; then echo recovered; else echo "not yet: no go file" >&2; exit 3; fi\n',
        'summary.ts': 'export function summarize(e: { payload: { disk?: string } }): object {\n  return { checked: e.payload.disk ?? null };\n}\n',
        'chain.ts':
          'export async function next(_e: unknown, ctx: { fire(e: object): Promise<{ id: string }> }): Promise<string> {\n  return (await ctx.fire({ event_type: "web.ok", payload: { from: "chain" } })).id;\n}\n',
      },
      extra: { http },
    });
    running = await startDaemons(['router', 'sub', 'worker'], cfg.settings, silentLogger());
    client = new RouterClient({ uri: `tcp://127.0.0.1:${cfg.ports.rep}`, timeoutMs: 5000 });
    ({ proc: web, url } = await startConsole());
    // PUB/SUB joins in the background: fire until the console's live stream has one.
    await eventually(
      async () => {
        await fire({ event_type: 'web.ok', payload: { warmup: true } });
        const r = await raw(url, { path: '/', headers: { Host: new URL(url).host } });
        return r.body.includes('warmup') || undefined;
      },
      "the console's live stream to receive an event",
      30_000,
    );
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    page.on('dialog', (d) => void d.accept());
  },
  { timeout: 20 * 60_000 },
);

test('web console - the overview shows each daemon ready, and a fired event appears live', { skip: NOT_BUILT, timeout: 120_000 }, async () => {
  await page.goto(url);
  for (const part of ['router', 'sub', 'worker']) {
    await page.locator(`[data-daemon="${part}"] .pill`).filter({ hasText: 'ready' }).waitFor({ timeout: 30_000 });
  }
  await page.locator('.live-state.is-live').waitFor({ timeout: 30_000 });
  const id = await fire({ event_type: 'web.disk', payload: HOSTILE });
  const row = page.locator(`[data-live-rows] tr`).filter({ hasText: id });
  await row.waitFor({ timeout: 30_000 });
  assert.equal(await row.locator('td.mono').first().textContent(), 'local:web.disk');
  // The payload shows as text: the markup in it is not markup in the page.
  assert.match((await row.locator('code.payload').textContent()) ?? '', /<script>window\.__pwned = 1<\/script>/);
  assert.equal(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned), undefined);
  assert.equal(await page.locator('[data-live-rows] script, [data-live-rows] img').count(), 0);

  await row.getByRole('link', { name: id }).click();
  await page.waitForURL(`**/events/${encodeURIComponent(id)}`);
  // The page refreshes itself until both handlers have run.
  await page.locator('table.runs tr[data-status="ok"]').nth(1).waitFor({ timeout: 60_000 });
  const runs = await page.locator('table.runs tbody tr').allTextContents();
  assert.equal(runs.length, 2, runs.join('\n'));
  assert.ok(
    runs.some((r) => r.includes('shell:ok.sh') && r.includes('handled web.disk')),
    runs.join('\n'),
  );
  assert.ok(
    runs.some((r) => r.includes('tsfunc:summary.summarize') && r.includes('"checked": "/var"')),
    runs.join('\n'),
  );
  assert.match(
    (await page.locator('[data-payload]').textContent()) ?? '',
    /"note": "<script>window\.__pwned = 1<\/script><img src=x onerror=\\"window\.__pwned = 2\\">"/,
  );
  assert.equal(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned), undefined);
  assert.equal(await page.locator('main script, main img').count(), 0);
  await shot('event');
});

test('web console - history search by key, status, time and trace', { skip: NOT_BUILT, timeout: 120_000 }, async () => {
  const chain = await fire({ event_type: 'web.chain', payload: {} });
  const followUp = await eventually(async () => {
    const r = await fetch(`${url}/api/events/${encodeURIComponent(chain)}`);
    if (!r.ok) return undefined;
    const d = (await r.json()) as { followUps: { _id: string }[] };
    return d.followUps[0]?._id;
  }, 'the chain handler to fire its follow-up');

  await page.goto(`${url}/events`);
  await page.getByLabel('Key').fill('local:web.ch*');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/key=local%3Aweb\.ch\*/);
  const keys = await page.locator('table.events tbody tr td.mono').allTextContents();
  assert.deepEqual(keys, ['local:web.chain']);

  await page.goto(`${url}/events?trace=${encodeURIComponent(chain)}`);
  const ids = await page.locator('table.events tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event')));
  assert.deepEqual(new Set(ids), new Set([chain, followUp]));

  await page.goto(`${url}/events`);
  await page.getByLabel('From').fill('yesterday');
  await page.getByRole('button', { name: 'Search' }).click();
  assert.match((await page.getByRole('alert').textContent()) ?? '', /From "yesterday" is not a time/);

  await page.goto(`${url}/events?since=2999-01-01`);
  assert.match((await page.getByRole('status').first().textContent()) ?? '', /No event matches/);

  await page.goto(`${url}/events?key=${encodeURIComponent('local:web.*')}&since=1h`);
  await page.locator('table.events tbody tr').first().waitFor();
  await shot('events');
  await page.goto(`${url}/events/${encodeURIComponent(followUp)}`);
  assert.equal(await page.locator('.kv dt', { hasText: 'Caused by' }).locator('+ dd a').textContent(), chain);
});

test('web console - a dead letter is retried from the page and then runs ok', { skip: NOT_BUILT, timeout: 120_000 }, async () => {
  const id = await fire({ event_type: 'web.flaky', payload: { attempt: 'first' } });
  await eventually(async () => {
    const r = await fetch(`${url}/api/dlq`);
    return ((await r.json()) as { eventId: string }[]).some((j) => j.eventId === id) || undefined;
  }, 'the flaky job to be dead-lettered');

  await page.goto(`${url}/events?status=dead`);
  assert.ok((await page.locator('table.events tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event')))).includes(id));
  await page.goto(`${url}/dlq`);
  const row = page.locator('tr[data-job]').filter({ hasText: id });
  await row.waitFor();
  assert.match((await row.textContent()) ?? '', /handler exited with code 3/);
  await shot('dlq');

  writeFileSync(join(cfg.handlersDir, 'go'), '');
  chmodSync(join(cfg.handlersDir, 'go'), 0o644);
  await row.getByRole('button', { name: 'Retry' }).click();
  await row.locator('[data-status="retried"]').waitFor();
  assert.match((await page.locator('[data-action-result]').textContent()) ?? '', /Retried job/);

  await eventually(
    async () => {
      await page.goto(`${url}/events/${encodeURIComponent(id)}`);
      return (await page.locator('table.runs tr[data-status="ok"]').count()) > 0 || undefined;
    },
    'the retried job to run ok',
    60_000,
  );
  const statuses = await page.locator('table.runs tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status')));
  assert.deepEqual(statuses, ['dead', 'ok']);
  assert.match((await page.locator('table.runs').textContent()) ?? '', /recovered/);
  const left = (await (await fetch(`${url}/api/dlq`)).json()) as { eventId: string }[];
  assert.ok(!left.some((j) => j.eventId === id), 'the job left the dead-letter queue');
});

test('web console - a dead letter is purged from the page', { skip: NOT_BUILT, timeout: 120_000 }, async () => {
  rmSync(join(cfg.handlersDir, 'go'), { force: true });
  const id = await fire({ event_type: 'web.flaky', payload: { attempt: 'to purge' } });
  await eventually(
    async () => ((await (await fetch(`${url}/api/dlq`)).json()) as { eventId: string }[]).some((j) => j.eventId === id) || undefined,
    'a dead letter',
  );
  await page.goto(`${url}/dlq`);
  const row = page.locator('tr[data-job]').filter({ hasText: id });
  await row.getByRole('button', { name: 'Purge' }).click(); // the confirm() is accepted
  await row.locator('[data-status="purged"]').waitFor();
  const left = (await (await fetch(`${url}/api/dlq`)).json()) as { eventId: string }[];
  assert.ok(!left.some((j) => j.eventId === id));
});

test('web console - the chart shows throughput and the error rate from the daemons’ metrics', { skip: NOT_BUILT, timeout: 120_000 }, async () => {
  for (let i = 0; i < 5; i++) await fire({ event_type: 'web.ok', payload: { i } });
  await page.goto(url);
  await eventually(
    async () => {
      await page.reload();
      const published = await page.locator('[data-figure="published"]').textContent();
      const runs = await page.locator('[data-figure="runs"]').textContent();
      return (published !== '-' && published !== '0' && runs !== '-' && runs !== '0') || undefined;
    },
    'the chart to show events and handler runs',
    30_000,
  );
  assert.ok((await page.locator('svg.chart path.line-published').count()) > 0);
  assert.ok((await page.locator('svg.chart rect.bar-ok').count()) > 0);
  assert.match((await page.locator('[data-figure="error-rate"]').textContent()) ?? '', /^\d+\.\d%$/);
  if (process.env['WEB_SCREENSHOTS']) {
    // For the README: half a minute of steady traffic, one event in ten failing.
    for (let i = 0; i < 90; i++) {
      await fire({ event_type: i % 10 === 9 ? 'web.flaky' : i % 3 === 0 ? 'web.disk' : 'web.ok', payload: { i, disk: '/var', used: 90 + (i % 10) } });
      await new Promise((r) => setTimeout(r, 300));
    }
    await page.reload();
  }
  await page.locator('.live-state.is-live').waitFor();
  await shot('overview');
});

test('web console - Host, Origin, method and the custom header guard every change (CSRF, DNS rebinding)', { skip: NOT_BUILT }, async () => {
  const host = new URL(url).host;
  const port = new URL(url).port;
  const rebound = await raw(url, { path: '/api/events', headers: { Host: `evil.example:${port}` } });
  assert.equal(rebound.status, 403);
  assert.match(rebound.body, /DNS rebinding/);
  assert.equal((await raw(url, { path: '/', headers: { Host: `localhost:${port}` } })).status, 200);

  const noHeader = await raw(url, { method: 'POST', path: '/api/dlq/x/retry', headers: { Host: host } });
  assert.equal(noHeader.status, 403);
  assert.match(noHeader.body, /X-Event-Reactor: 1/);
  const crossOrigin = await raw(url, {
    method: 'POST',
    path: '/api/dlq/x/retry',
    headers: { Host: host, 'X-Event-Reactor': '1', Origin: 'http://evil.example' },
  });
  assert.equal(crossOrigin.status, 403);
  const crossSite = await raw(url, {
    method: 'POST',
    path: '/api/dlq/x/retry',
    headers: { Host: host, 'X-Event-Reactor': '1', 'Sec-Fetch-Site': 'cross-site' },
  });
  assert.equal(crossSite.status, 403);
  const preflight = await raw(url, {
    method: 'OPTIONS',
    path: '/api/dlq/x/retry',
    headers: { Host: host, Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' },
  });
  assert.equal(preflight.status, 405);
  assert.equal(preflight.headers['access-control-allow-origin'], undefined);
  assert.equal((await raw(url, { method: 'GET', path: '/api/dlq/x/retry', headers: { Host: host, 'X-Event-Reactor': '1' } })).status, 404);
  // Through the guard, the request reaches the queue: no such job.
  const ok = await raw(url, { method: 'POST', path: '/api/dlq/x/retry', headers: { Host: host, 'X-Event-Reactor': '1', Origin: `http://${host}` } });
  assert.equal(ok.status, 404);
  assert.match((JSON.parse(ok.body) as { error: string }).error, /no dead job with id "x"/);

  const pageHeaders = (await raw(url, { path: '/', headers: { Host: host } })).headers;
  assert.match(String(pageHeaders['content-security-policy']), /script-src 'self'/);
  assert.equal(pageHeaders['x-frame-options'], 'DENY');
});

test('web console - with a token: 401 without it, Bearer and ?token= for scripts, a login page for people', { skip: NOT_BUILT, timeout: 120_000 }, async () => {
  const { proc, url: tokenUrl } = await startConsole([], { EVENT_REACTOR_WEB_TOKEN: TOKEN });
  try {
    const host = new URL(tokenUrl).host;
    assert.equal((await raw(tokenUrl, { path: '/api/events', headers: { Host: host } })).status, 401);
    assert.equal((await raw(tokenUrl, { path: '/api/events', headers: { Host: host, Authorization: `Bearer ${TOKEN}x` } })).status, 401);
    assert.equal((await raw(tokenUrl, { path: '/api/events', headers: { Host: host, Authorization: `Bearer ${TOKEN}` } })).status, 200);
    const stream = await new Promise<{ status: number; type: string | undefined }>((resolvePromise, reject) => {
      const u = new URL(tokenUrl);
      const req = request({ host: u.hostname, port: u.port, path: `/api/stream?token=${TOKEN}` }, (res) => {
        resolvePromise({ status: res.statusCode ?? 0, type: res.headers['content-type'] });
        res.destroy();
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(stream.status, 200);
    assert.match(stream.type ?? '', /text\/event-stream/);
    // The query token is for the stream only.
    assert.equal((await raw(tokenUrl, { path: `/api/events?token=${TOKEN}`, headers: { Host: host } })).status, 401);

    const other = await browser!.context.browser()?.newContext();
    const p = other ? await other.newPage() : await browser!.context.newPage();
    try {
      await p.goto(`${tokenUrl}/dlq`);
      await p.waitForURL(/\/login\?next=%2Fdlq/);
      await p.getByLabel('Token').fill('wrong-token-wrong-token');
      await p.getByRole('button', { name: 'Log in' }).click();
      assert.match((await p.getByRole('alert').textContent()) ?? '', /not the console's token/);
      await p.getByLabel('Token').fill(TOKEN);
      await p.getByRole('button', { name: 'Log in' }).click();
      await p.waitForURL(/\/dlq$/);
      await p.getByRole('heading', { name: 'Dead letters' }).waitFor();
      const cookie = (await p.context().cookies(tokenUrl)).find((c) => c.name.startsWith('er_web_'));
      assert.ok(cookie?.httpOnly, 'the session cookie is HttpOnly');
      assert.equal(cookie?.sameSite, 'Strict');
      // The live stream takes the session cookie too (EventSource cannot send a header).
      await p.goto(tokenUrl);
      await p.locator('.live-state.is-live').waitFor({ timeout: 30_000 });
      await p.getByRole('button', { name: 'Log out' }).click();
      await p.waitForURL(/\/login$/);
    } finally {
      await p.close();
    }
  } finally {
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
  }
});

test('web console - refuses a non-loopback address without a token (exit 78), and a token file others can read', { skip: NOT_BUILT }, async () => {
  const open = await runBin('event-reactor', ['web', '-c', cfg.configFile, '--http', '0.0.0.0:0']);
  assert.equal(open.code, 78, open.stderr);
  assert.match(open.stderr, /refuses to listen on 0\.0\.0\.0:0/);
  assert.match(open.stderr, /web\.token_file/);
  assert.match(open.stderr, /EVENT_REACTOR_WEB_TOKEN/);
  assert.match(open.stderr, /127\.0\.0\.1/);

  const dir = mkdtempSync(join(tmpdir(), 'er-web-token-'));
  try {
    const tokenFile = join(dir, 'web.token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    chmodSync(tokenFile, 0o644);
    const config = join(dir, 'config.json');
    mkdirSync(join(dir, 'event-handlers'));
    writeFileSync(join(dir, 'event-handlers.json'), '{}');
    const base = JSON.parse(await (await import('node:fs/promises')).readFile(cfg.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(config, JSON.stringify({ ...base, web: { token_file: 'web.token' } }));
    const unsafe = await runBin('event-reactor', ['web', '-c', config, '--http', '0.0.0.0:0']);
    assert.equal(unsafe.code, 78, unsafe.stderr);
    assert.match(unsafe.stderr, /web\.token_file: token file .*web\.token is readable or writable by others \(mode 0644\); fix with chmod 600/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('web console - SIGTERM stops it cleanly (exit 0)', { skip: NOT_BUILT, timeout: 60_000 }, async () => {
  // An open live stream must not hold the shutdown.
  await page.goto(url);
  await page.locator('.live-state.is-live').waitFor();
  web!.child.kill('SIGTERM');
  assert.equal(await web!.exited, 0);
});
