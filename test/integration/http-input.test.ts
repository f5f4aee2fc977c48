import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricValue } from '../../src/metrics.js';
import { ConfigError } from '../../src/errors.js';
import type { HttpInput } from '../../src/inputs/http-input.js';
import { inputsStack, type InputsStack } from '../helpers/inputs.js';
import { uniqueName, useServices } from '../helpers/services.js';

const stacks: InputsStack[] = [];
after(async () => {
  for (const s of stacks) await s.close();
});
const services = useServices();

const TOKEN = 'tok-3f9a1c';
const GH_SECRET = 'gh-hmac-secret';
let secrets: string;
let s: InputsStack;
let url: string;

function secretFile(name: string, value: string, mode = 0o600): string {
  const file = join(secrets, name);
  writeFileSync(file, `${value}\n`);
  chmodSync(file, mode);
  return file;
}

function httpFeeder(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    handler: 'HTTPInput',
    name: 'web',
    namespace: 'hooks',
    config: {
      listen: '127.0.0.1:0',
      token_file: join(secrets, 'token'),
      max_body_bytes: 4096,
      router_wait: 1,
      hooks: {
        github: { hmac_secret_file: join(secrets, 'github'), event_type_header: 'X-GitHub-Event', id_header: 'X-GitHub-Delivery' },
        alertmanager: { event_type: 'alert' },
      },
      ...extra,
    },
  };
}

before(async () => {
  secrets = mkdtempSync(join(tmpdir(), 'er-http-secrets-'));
  secretFile('token', TOKEN);
  secretFile('github', GH_SECRET);
  s = await inputsStack({ redisUrl: await services.redisUrl(), mongoUrl: await services.mongoUrl(), feeders: [httpFeeder()] });
  stacks.push(s);
  url = (s.inputs!.inputs[0] as HttpInput).url;
});

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const post = (path: string, body: string, headers: Record<string, string> = auth): Promise<Response> =>
  fetch(`${url}${path}`, { method: 'POST', headers, body });
const sign = (body: string, secret = GH_SECRET): string => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  assert.equal(res.headers.get('content-type'), 'application/json');
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, code: body.error.code, message: body.error.message };
}

test('HTTP input - POST /events with the token: 202 with the id, once the router has published it', async () => {
  const res = await post('/events', JSON.stringify({ event_type: 'deploy.done', payload: { app: 'api' } }));
  assert.equal(res.status, 202);
  const body = (await res.json()) as { id: string; event_type: string; namespace: string; seq: number };
  assert.equal(body.event_type, 'deploy.done');
  assert.equal(body.namespace, 'hooks');
  const [e] = await s.waitFor((e) => e.id === body.id);
  assert.deepEqual(e!.payload, { app: 'api' });
  assert.equal(e!.seq, body.seq);
});

test('HTTP input - a GitHub delivery signed with the hook secret: event github.<event>, payload the body, id from the delivery', async () => {
  const body = JSON.stringify({ ref: 'refs/heads/main', commits: [{ id: 'abc' }] });
  const delivery = uniqueName('gh');
  const res = await post('/hooks/github', body, {
    'content-type': 'application/json',
    'x-github-event': 'push',
    'x-github-delivery': delivery,
    'x-hub-signature-256': sign(body),
  });
  assert.equal(res.status, 202, await res.clone().text());
  const { id } = (await res.json()) as { id: string };
  assert.equal(id, `github:${delivery}`);
  const [e] = await s.waitFor((e) => e.id === id);
  assert.equal(e!.event_type, 'github.push');
  assert.equal(e!['hook'], 'github');
  assert.deepEqual(e!.payload, JSON.parse(body));
  // A hook also takes the bearer token instead of a signature.
  const viaToken = await post('/hooks/github', body, { ...auth, 'x-github-event': 'ping' });
  assert.equal(viaToken.status, 202);
});

test('HTTP input - a hook without a secret takes any JSON with the token; its event type is fixed', async () => {
  const res = await post('/hooks/alertmanager', JSON.stringify([{ status: 'firing' }]));
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  const [e] = await s.waitFor((e) => e.id === id);
  assert.equal(e!.event_type, 'alert');
  assert.deepEqual(e!.payload, [{ status: 'firing' }]);
});

test('HTTP input - refusals: each with its status and a JSON error body, counted by reason, nothing forwarded', async () => {
  const before = s.published.length;
  const ghBody = JSON.stringify({ zen: 'x' });
  const cases: [Promise<Response>, number, string][] = [
    [post('/events', '{"event_type": "x"}', { 'content-type': 'application/json' }), 401, 'unauthorized'],
    [post('/events', '{"event_type": "x"}', { ...auth, authorization: 'Bearer wrong' }), 403, 'forbidden'],
    [post('/events', '{"event_type":', auth), 400, 'invalid_json'],
    [post('/events', '{"payload": {}}', auth), 400, 'missing_event_type'],
    [post('/events', '{"event_type": "has space"}', auth), 400, 'bad_event_type'],
    [post('/events', '[1]', auth), 400, 'not_object'],
    [post('/events', 'event_type=x', { ...auth, 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type'],
    [post('/events', JSON.stringify({ event_type: 'big', payload: 'x'.repeat(5000) })), 413, 'too_large'],
    [post('/hooks/gitlab', '{}'), 404, 'unknown_hook'],
    [post('/nope', '{}'), 404, 'not_found'],
    [fetch(`${url}/events`), 405, 'method_not_allowed'],
    [
      post('/hooks/github', ghBody, { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': sign(ghBody, 'wrong') }),
      403,
      'bad_signature',
    ],
    [post('/hooks/github', ghBody, { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': 'sha256=00' }), 403, 'bad_signature'],
    [post('/hooks/github', ghBody, { 'content-type': 'application/json', 'x-github-event': 'push' }), 401, 'unauthorized'],
    [post('/hooks/github', ghBody, { 'content-type': 'application/json', 'x-hub-signature-256': sign(ghBody) }), 400, 'missing_event_type'],
  ];
  for (const [res, status, code] of cases) {
    const e = await errorOf(await res);
    assert.deepEqual([e.status, e.code], [status, code], e.message);
  }
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_refused_total', { input: 'web', reason: 'bad_signature' }), 2);
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_refused_total', { input: 'web', reason: 'too_large' }), 1);
  assert.equal(s.published.length, before, 'nothing refused was forwarded');
  // A chunked body over the limit (no Content-Length) is cut off too.
  const init = {
    method: 'POST',
    headers: auth,
    body: new ReadableStream({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('x'.repeat(1000)));
        c.close();
      },
    }),
    duplex: 'half' as const,
  };
  const chunked = await fetch(`${url}/events`, init).catch((err: unknown) => err as Error);
  if (chunked instanceof Response) assert.equal(chunked.status, 413);
});

test('HTTP input - router down: 503 with Retry-After and nothing lost; once it is back the same request is accepted', async () => {
  await s.stopRouter();
  const id = uniqueName('retry');
  const body = JSON.stringify({ id, event_type: 'deploy.retry' });
  const started = Date.now();
  const res = await post('/events', body);
  const e = await errorOf(res);
  assert.deepEqual([e.status, e.code], [503, 'router_unavailable']);
  assert.equal(res.headers.get('retry-after'), '5');
  assert.ok(Date.now() - started < 5000, 'answered within router_wait');
  await s.startRouter();
  const again = await post('/events', body);
  assert.equal(again.status, 202);
  const got = await s.waitFor((ev) => ev.id === id);
  assert.equal(got[0]!.event_type, 'deploy.retry');
});

test('HTTP input - secret files others can read are refused at start, naming file and key', async () => {
  secretFile('open-token', TOKEN, 0o644);
  const feeder = httpFeeder({ token_file: join(secrets, 'open-token'), hooks: {} });
  await assert.rejects(
    inputsStack({ redisUrl: await services.redisUrl(), mongoUrl: await services.mongoUrl(), feeders: [feeder] }).then((st) => stacks.push(st)),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems[0]!.path === 'feeds.feeders[1].config.token_file' &&
      /readable or writable by others \(mode 0644\)/.test(err.message),
  );
});
