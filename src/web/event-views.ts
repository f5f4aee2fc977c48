import type { EventDetail, EventSummary, StoredEvent } from '../archive/archive.js';
import { summarise } from '../archive/mongo-queries.js';
import type { HandlerResult } from '../handlers/result.js';
import type { DeadJob } from '../queue/dead-letters.js';
import { dlqTable } from './dlq-view.js';
import { html, type SafeHtml } from './html.js';
import type { LiveEvent } from './live-stream.js';
import { MAX_LIMIT, STATUSES, type ParsedSearch } from './search-query.js';
import { count, duration, eventLink, pill, prettyJson, timeTag } from './view-parts.js';

/** Rows of the live view: newest first. The page's script adds rows as SSE events come. */
export function liveRows(events: readonly LiveEvent[]): SafeHtml {
  return html`${[...events].reverse().map(liveRow)}`;
}

function liveRow(e: LiveEvent): SafeHtml {
  return html`<tr data-n="${e.n}" data-key="${e.key}">
    <td>${timeTag(e.time)}</td>
    <td class="mono">${e.key}</td>
    <td>${eventLink(e.id)}</td>
    <td class="num">${e.seq}</td>
    <td><code class="payload">${e.payload}${e.truncated ? '…' : ''}</code></td>
  </tr>`;
}

/** The live table, with the number of the last row for the script to resume after. */
export function liveSection(events: readonly LiveEvent[]): SafeHtml {
  return html`<section class="panel" aria-labelledby="live-h">
    <div class="panel-head">
      <h2 id="live-h">Live stream</h2>
      <p class="live-state" role="status" aria-live="polite"><span class="dot" aria-hidden="true"></span> <span data-live-state>connecting…</span></p>
      <label class="inline">Key filter <input type="search" name="live-filter" placeholder="local:disk.*" autocomplete="off" data-live-filter /></label>
      <button type="button" class="secondary" data-live-pause aria-pressed="false">Pause</button>
    </div>
    <div class="table-wrap live-wrap" role="region" tabindex="0" aria-label="Live stream, newest first (scrolls)">
      <table class="live" data-live-table>
        <caption class="visually-hidden">
          Events as the router publishes them, newest first (at most 100 rows)
        </caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Key</th>
            <th scope="col">Event id</th>
            <th scope="col" class="num">Seq</th>
            <th scope="col">Payload</th>
          </tr>
        </thead>
        <tbody data-live-rows>
          ${liveRows(events)}
        </tbody>
      </table>
    </div>
    <p class="small muted" data-live-empty${events.length > 0 ? html` hidden` : ''}>Nothing yet: events appear here as the router publishes them.</p>
  </section>`;
}

/** Handlers' latest outcomes as pills. */
function handlerPills(e: EventSummary): SafeHtml {
  if (e.handlers.length === 0) return html`<span class="muted">no handler ran</span>`;
  return html`${e.handlers.map((h) => html`<span class="handler">${h.handler} ${pill(h.dead ? 'dead' : h.status)}${h.runs > 1 ? html` <span class="muted small">(${h.runs} runs)</span>` : ''}</span> `)}`;
}

/** The search form and its results. */
export function searchView(s: ParsedSearch, events: readonly EventSummary[] | undefined, error: string | undefined): SafeHtml {
  const f = s.form;
  return html`<form class="search panel" method="get" action="/events" role="search" aria-label="Search the archive">
      <div class="fields">
        <label>
          Key
          <input name="key" value="${f.key}" placeholder="local:disk.*" autocomplete="off" />
          <span class="hint">namespace:event_type, * and ? as wildcards</span>
        </label>
        <label>
          From
          <input name="since" value="${f.since}" placeholder="30m or 2026-11-30T04:00Z" autocomplete="off" />
          <span class="hint">ISO time or a duration back</span>
        </label>
        <label>
          Until
          <input name="until" value="${f.until}" placeholder="5m" autocomplete="off" />
          <span class="hint">ISO time or a duration back</span>
        </label>
        <label>
          Trace
          <input name="trace" value="${f.trace}" placeholder="trace id" autocomplete="off" />
        </label>
        <label>
          Status
          <select name="status">
            <option value="">any</option>
            ${STATUSES.map((st) => html`<option value="${st}" ${f.status === st ? html` selected` : ''}>${st}</option>`)}
          </select>
        </label>
        <label>Limit <input name="limit" type="number" min="1" max="${MAX_LIMIT}" value="${f.limit}" placeholder="50" /></label>
      </div>
      <button type="submit">Search</button>
    </form>
    ${
      s.problems.length > 0
        ? html`<div class="notice notice-error" role="alert">
            <ul>
              ${s.problems.map((p) => html`<li>${p}</li>`)}
            </ul>
          </div>`
        : ''
    }
    ${error ? html`<div class="notice notice-error" role="alert">${error}</div>` : ''} ${events === undefined ? '' : resultsTable(events)}`;
}

function resultsTable(events: readonly EventSummary[]): SafeHtml {
  if (events.length === 0) return html`<p class="notice" role="status">No event matches.</p>`;
  return html`<p class="small muted" role="status">${count(events.length)} event(s), newest first</p>
    <div class="table-wrap">
      <table class="events">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Key</th>
            <th scope="col">Outcome</th>
            <th scope="col">Handlers</th>
            <th scope="col">Event id</th>
            <th scope="col">Trace</th>
          </tr>
        </thead>
        <tbody>
          ${events.map(
            (e) =>
              html`<tr data-event="${e.id}">
                <td>${timeTag(e.time)}</td>
                <td class="mono">${e.key}</td>
                <td>${pill(e.outcome)}</td>
                <td>${handlerPills(e)}</td>
                <td>${eventLink(e.id)}</td>
                <td>
                  ${e.trace_id === e.id ? html`<span class="muted">itself</span>` : html`<a class="mono" href="/events?trace=${encodeURIComponent(e.trace_id)}">${e.trace_id}</a>`}
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
}

/**
 * True while the event's handlers may still be running, so its page refreshes itself:
 * for its first 30 seconds whatever its runs say (the console does not know how many
 * handlers matched, so one finished run does not mean all are done), then while no
 * handler has run or some handler's latest run failed without being dead (a retry is
 * due), up to five minutes: an old event with no run had no handler.
 */
export function stillRunning(d: EventDetail, now: number): boolean {
  const age = now - new Date(d.event.received_at).getTime();
  if (age < 30_000) return true;
  if (age > 5 * 60_000) return false;
  const { outcome } = summarise(d.runs);
  return outcome === 'none' || outcome === 'error';
}

function payloadText(e: StoredEvent): string {
  if (e['payload'] !== undefined) return prettyJson(e['payload']);
  const text = e['payload_json'];
  if (typeof text !== 'string') return 'null';
  try {
    return prettyJson(JSON.parse(text));
  } catch {
    return text;
  }
}

/** What the archive adds or the page shows elsewhere, left out of "other fields". */
const SHOWN = new Set([
  '_id',
  'id',
  'key',
  'time',
  'received_at',
  'namespace',
  'event_type',
  'payload',
  'payload_json',
  'timestamp',
  'trace_id',
  'parent_event',
  'seq',
  'epoch',
]);

/** An event, its handler runs, its dead letters, its follow-ups and its trace. */
export function eventView(d: EventDetail, dead: readonly DeadJob[], now: number): SafeHtml {
  const e = d.event;
  const { outcome } = summarise(d.runs);
  const trace = typeof e['trace_id'] === 'string' ? e['trace_id'] : e._id;
  const parent = typeof e['parent_event'] === 'string' ? e['parent_event'] : undefined;
  const others = Object.entries(e).filter(([k]) => !SHOWN.has(k));
  const running = stillRunning(d, now);
  return html`<section class="panel event-head" aria-label="Event">
      <p class="event-key"><span class="mono">${e.key}</span> ${pill(outcome)}${running ? html` ${pill('pending', 'info', 'refreshing')}` : ''}</p>
      <dl class="kv">
        <dt>Id</dt>
        <dd class="mono" data-field="id">${e._id}</dd>
        <dt>Time</dt>
        <dd>${timeTag(e.time)}</dd>
        <dt>Received</dt>
        <dd>${timeTag(e.received_at)}</dd>
        <dt>Trace</dt>
        <dd>
          ${trace === e._id ? html`<span class="muted">starts here</span>` : html`<a class="mono" href="/events?trace=${encodeURIComponent(trace)}">${trace}</a>`}
        </dd>
        ${
          parent
            ? html`<dt>Caused by</dt>
                <dd>${eventLink(parent)}</dd>`
            : ''
        }
        <dt>Seq / epoch</dt>
        <dd class="mono">${typeof e['seq'] === 'number' ? e['seq'] : '-'} / ${typeof e['epoch'] === 'number' ? e['epoch'] : '-'}</dd>
        ${others.map(
          ([k, v]) =>
            html`<dt>${k}</dt>
              <dd class="mono">${typeof v === 'string' ? v : prettyJson(v)}</dd>`,
        )}
      </dl>
      ${typeof e['archive_note'] === 'string' ? html`<p class="small muted">${e['archive_note']}</p>` : ''}
    </section>
    ${
      d.chain.length > 1
        ? html`<section class="panel" aria-labelledby="chain-h">
            <h2 id="chain-h">Trace</h2>
            <ol class="chain">
              ${d.chain.map((c) => html`<li>${c._id === e._id ? html`<strong class="mono">${c._id}</strong>` : eventLink(c._id)} <span class="mono muted">${c.key}</span></li>`)}
            </ol>
          </section>`
        : ''
    }
    <section class="panel" aria-labelledby="payload-h">
      <h2 id="payload-h">Payload</h2>
      <pre class="json" data-payload>${payloadText(e)}</pre>
    </section>
    <section class="panel" aria-labelledby="runs-h" ${running ? html`data-refresh="2000"` : ''}>
      <h2 id="runs-h">Handler runs</h2>
      ${d.runs.length === 0 ? html`<p class="muted" data-runs-empty>${running ? 'No run yet: this page refreshes until the handlers have run.' : 'No handler ran for this event.'}</p>` : runsTable(d.runs)}
    </section>
    ${
      dead.length > 0
        ? html`<section class="panel" aria-labelledby="dead-h">
            <h2 id="dead-h">Dead letters of this event</h2>
            ${dlqTable(dead)}
          </section>`
        : ''
    }
    <section class="panel" aria-labelledby="follow-h">
      <h2 id="follow-h">Follow-up events</h2>
      ${
        d.followUps.length === 0
          ? html`<p class="muted">None: no handler fired an event from this one.</p>`
          : html`<ul class="follow-ups">
              ${d.followUps.map((f) => html`<li>${eventLink(f._id)} <span class="mono">${f.key}</span> ${timeTag(f.time)}</li>`)}
            </ul>`
      }
    </section>`;
}

function runsTable(runs: readonly HandlerResult[]): SafeHtml {
  return html`<div class="table-wrap">
    <table class="runs">
      <thead>
        <tr>
          <th scope="col">Handler</th>
          <th scope="col">Status</th>
          <th scope="col">Run</th>
          <th scope="col">Exit</th>
          <th scope="col" class="num">Duration</th>
          <th scope="col">Started</th>
          <th scope="col">Output</th>
        </tr>
      </thead>
      <tbody>
        ${runs.map(
          (r) =>
            html`<tr data-run="${r._id}" data-status="${r.dead ? 'dead' : r.status}">
              <td><span class="mono">${r.driver}:${r.handler}</span></td>
              <td>${pill(r.dead ? 'dead' : r.status)}${r.error_code ? html` <span class="small mono">${r.error_code}</span>` : ''}</td>
              <td>run ${r.run}, attempt ${r.attempt}</td>
              <td class="mono">${r.code ?? (r.signal ? r.signal : '-')}</td>
              <td class="num">${duration(r.duration_ms)}</td>
              <td>${timeTag(r.start)}</td>
              <td>${output(r)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

function output(r: HandlerResult): SafeHtml {
  const data = r.data === null || r.data === undefined || r.data === '' ? undefined : typeof r.data === 'string' ? r.data.trimEnd() : prettyJson(r.data);
  const parts = [
    r.error ? html`<p class="problem small">${r.error}</p>` : '',
    data !== undefined
      ? html`<details open>
          <summary>data${r.data_truncated ? ' (cut at the output limit)' : ''}</summary>
          <pre class="out" data-output>${data}</pre>
        </details>`
      : '',
    r.stderr ? html`<details${r.status === 'ok' ? '' : html` open`}><summary>stderr</summary><pre class="out">${r.stderr.trimEnd()}</pre></details>` : '',
  ];
  return parts.some((p) => p !== '') ? html`${parts}` : html`<span class="muted">none</span>`;
}
