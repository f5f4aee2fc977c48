import { HandlerRefusedError, HandlerTimeoutError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import { refused, type HandlerDriver, type RunContext, type RunOutcome } from './driver.js';
import { webhookOptionsSchema } from './output-options.js';
import type { HandlerSpec } from './spec.js';
import { render, renderText } from './template.js';

export interface WebhookDriverOptions {
  /** Most bytes of the response body kept in the result. */
  outputLimitBytes: number;
  /** `User-Agent` of the requests. */
  userAgent?: string;
}

/**
 * `"driver": "webhook"`: sends the event (or the entry's `body` template) as JSON to the
 * URL of `handler`, with the entry's `headers` (templates: `{{env.TOKEN}}` takes a secret
 * of the entry's `env`), and `X-Event-Id` so a receiver can drop a repeat (a run is
 * retried by the handler's policy: at least once). A 2xx response is `ok`; any other, or
 * no response, an error. The result's `code` is the HTTP status and `data` is
 * `{"status", "body"}` (the body parsed when it is JSON, capped at the output limit).
 */
export class WebhookDriver implements HandlerDriver {
  readonly #options: WebhookDriverOptions;

  constructor(options: WebhookDriverOptions) {
    this.#options = options;
  }

  async run(spec: HandlerSpec, event: ReactorEvent, ctx: RunContext): Promise<RunOutcome> {
    let url: string;
    let init: RequestInit;
    try {
      const o = webhookOptionsSchema.parse(spec.options ?? {});
      const scope = { event, env: ctx.env };
      url = renderText(spec.command, scope);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-event-id': event.id };
      if (this.#options.userAgent) headers['user-agent'] = this.#options.userAgent;
      for (const [name, value] of Object.entries(o.headers)) headers[name.toLowerCase()] = renderText(value, scope);
      init = { method: o.method, headers, body: JSON.stringify(render(o.body, scope)), redirect: 'manual' };
    } catch (err) {
      return refused(err instanceof HandlerRefusedError ? err : new HandlerRefusedError(`webhook: ${(err as Error).message}`));
    }
    const timeout = AbortSignal.timeout(ctx.timeoutMs);
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.any([ctx.signal, timeout]) });
    } catch (err) {
      if (timeout.aborted) return timedOut(ctx.timeoutMs, 'no response');
      const cause = (err as Error & { cause?: Error }).cause;
      return { status: 'error', error: `webhook request failed: ${cause?.message ?? (err as Error).message}`, errorCode: 'ERR_HANDLER', data: null };
    }
    let body: { text: string; truncated: boolean };
    try {
      body = await readCapped(res, this.#options.outputLimitBytes);
    } catch {
      if (timeout.aborted) return timedOut(ctx.timeoutMs, `status ${res.status}, body not read in time`);
      body = { text: '', truncated: false };
    }
    const data = { status: res.status, body: parseBody(body.text, res.headers.get('content-type'), body.truncated) };
    const extra = body.truncated ? { dataTruncated: true } : {};
    if (res.ok) return { status: 'ok', code: res.status, data, ...extra };
    return {
      status: 'error',
      code: res.status,
      error: `webhook answered HTTP ${res.status} ${res.statusText}`.trim(),
      errorCode: 'ERR_HANDLER',
      data,
      ...extra,
    };
  }
}

function timedOut(timeoutMs: number, how: string): RunOutcome {
  const err = new HandlerTimeoutError(timeoutMs);
  return { status: 'timeout', error: `${err.message}; ${how}`, errorCode: err.code, data: null };
}

async function readCapped(res: Response, limit: number): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: '', truncated: false };
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > limit) {
      chunks.push(Buffer.from(value.subarray(0, limit - size)));
      truncated = true;
      await reader.cancel();
      break;
    }
    chunks.push(Buffer.from(value));
    size += value.byteLength;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated };
}

function parseBody(text: string, type: string | null, truncated: boolean): unknown {
  if (!truncated && type !== null && /[/+]json\b/i.test(type)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // not JSON after all: kept as text
    }
  }
  return text;
}
