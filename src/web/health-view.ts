import type { DaemonStatus, StatusReport } from '../daemons/stack-status.js';
import { html, type SafeHtml } from './html.js';
import { count, pill, timeTag } from './view-parts.js';

/**
 * The daemons' health, as `event-reactor status` reports it: one card per daemon part,
 * then the router's position, the archive, the queues and lost events. The overview page
 * renders it and its script swaps in a fresh copy from `/partials/health` every few seconds.
 */
export function healthView(r: StatusReport, at: Date): SafeHtml {
  return html`<div class="cards" aria-describedby="health-at">
      ${(['router', 'sub', 'worker'] as const).map((part) => daemonCard(part, r.daemons[part]))} ${r.routers.map((rt) => routerCard(rt))}
      ${archiveCard(r.archive)} ${queueCard(r.queues)}
    </div>
    <p class="muted small" id="health-at">Checked ${timeTag(at)}</p>`;
}

const NAMES = { router: 'Router', sub: 'Subscriber', worker: 'Worker' } as const;

function daemonCard(part: 'router' | 'sub' | 'worker', d: DaemonStatus): SafeHtml {
  const state = !d.up ? 'down' : d.ready ? 'ready' : 'not ready';
  return html`<article class="card" data-daemon="${part}" aria-labelledby="card-${part}">
    <h3 id="card-${part}">${NAMES[part]} ${pill(state)}</h3>
    ${d.up ? html`<p class="small">pid ${d.pid ?? '-'} · up ${uptime(d.uptime_s)}</p>` : html`<p class="small problem">${d.error ?? 'no answer'}</p>`}
    ${
      d.missing && d.missing.length > 0
        ? html`<ul class="small problem">
            ${d.missing.map((m) => html`<li>${m.name}: ${m.error}</li>`)}
          </ul>`
        : ''
    }
    <p class="small muted mono">${d.url}</p>
  </article>`;
}

function routerCard(rt: StatusReport['router']): SafeHtml {
  if (rt.error)
    return html`<article class="card">
      <h3>Stream${rt.name === undefined ? '' : html` ${rt.name}`} ${pill('down', 'error', 'unreachable')}</h3>
      <p class="small problem">${rt.error}</p>
    </article>`;
  return html`<article class="card">
    <h3>Stream${rt.name === undefined ? '' : html` ${rt.name}`} ${pill('ok', 'ok', 'replay ok')}</h3>
    <dl class="kv small">
      <dt>Last seq</dt>
      <dd>${count(rt.last_seq)}</dd>
      <dt>Router start</dt>
      <dd title="epoch ${rt.epoch ?? '-'}">${rt.epoch === undefined ? '-' : timeTag(rt.epoch)}</dd>
      <dt>Replay buffer</dt>
      <dd>${count(rt.buffered)} events</dd>
    </dl>
  </article>`;
}

function archiveCard(a: StatusReport['archive']): SafeHtml {
  if (a.error)
    return html`<article class="card">
      <h3>Archive ${pill('down', 'error', 'unreachable')}</h3>
      <p class="small problem">${a.error}</p>
    </article>`;
  const lost = a.gaps?.lost ?? 0;
  const results = Object.entries(a.results ?? {});
  return html`<article class="card">
    <h3>Archive ${lost > 0 ? pill('error', 'error', `${count(lost)} lost`) : pill('ok', 'ok', 'none lost')}</h3>
    <dl class="kv small">
      <dt>Events</dt>
      <dd>${count(a.events)}</dd>
      <dt>Results</dt>
      <dd>${results.length === 0 ? 'none' : results.map(([k, v], i) => html`${i > 0 ? ', ' : ''}${k} ${count(v)}`)}</dd>
      <dt>Dead-lettered</dt>
      <dd>${count(a.dead)}</dd>
      ${(a.cursors ?? []).map(
        (c) =>
          html`<dt>Cursor ${c.name}</dt>
            <dd>
              seq
              ${count(c.seq)}${c.behind === null || c.behind === undefined ? ' (other epoch)' : c.behind > 0 ? html`, <strong>${count(c.behind)} behind</strong>` : ', up to date'}
            </dd>`,
      )}
    </dl>
  </article>`;
}

function queueCard(q: StatusReport['queues']): SafeHtml {
  if (q.error)
    return html`<article class="card">
      <h3>Queues ${pill('down', 'error', 'unreachable')}</h3>
      <p class="small problem">${q.error}</p>
    </article>`;
  const total: Record<string, number> = {};
  for (const byState of Object.values(q.counts ?? {})) for (const [state, n] of Object.entries(byState)) total[state] = (total[state] ?? 0) + n;
  const failed = total['failed'] ?? 0;
  return html`<article class="card">
    <h3>Queues ${failed > 0 ? pill('dead', 'dead', `${count(failed)} dead`) : pill('ok', 'ok', 'no dead letters')}</h3>
    <dl class="kv small">
      <dt>Waiting</dt>
      <dd>${count(total['waiting'])}</dd>
      <dt>Active</dt>
      <dd>${count(total['active'])}</dd>
      <dt>Delayed</dt>
      <dd>${count(total['delayed'])}</dd>
      <dt>Dead letters</dt>
      <dd><a href="/dlq">${count(failed)}</a></dd>
    </dl>
  </article>`;
}

function uptime(s: number | undefined): string {
  if (s === undefined) return '-';
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}
