import type { DeadJob } from '../queue/dead-letters.js';
import { html, type SafeHtml } from './html.js';
import { count, eventLink, timeTag } from './view-parts.js';

/**
 * Dead letters with their Retry and Purge buttons. The buttons work through the page's
 * script (a POST with the `X-Event-Reactor` header, see request-guard.ts); without
 * script they are disabled rather than pretending to work.
 */
export function dlqTable(jobs: readonly DeadJob[]): SafeHtml {
  return html`<div class="table-wrap">
    <table class="dlq">
      <thead>
        <tr>
          <th scope="col">Failed at</th>
          <th scope="col">Key</th>
          <th scope="col">Handler</th>
          <th scope="col">Event</th>
          <th scope="col" class="num">Attempts</th>
          <th scope="col">Reason</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        ${jobs.map(
          (j) =>
            html`<tr data-job="${j.id}">
              <td>${timeTag(j.finishedOn)}</td>
              <td class="mono">${j.key}</td>
              <td class="mono">${j.driver}:${j.handler}</td>
              <td>${eventLink(j.eventId)}</td>
              <td class="num">${j.attempts}</td>
              <td class="problem small">${j.failedReason}</td>
              <td class="actions" data-job-state>
                <button type="button" data-action="retry" data-job-id="${j.id}" disabled>Retry</button>
                <button type="button" class="danger" data-action="purge" data-job-id="${j.id}" disabled>Purge</button>
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

/** The dead-letter queue page. */
export function dlqView(jobs: readonly DeadJob[], error: string | undefined): SafeHtml {
  if (error) return html`<div class="notice notice-error" role="alert">${error}</div>`;
  return html`<section class="panel" aria-labelledby="dlq-h">
    <div class="panel-head">
      <h2 id="dlq-h">${count(jobs.length)} dead job(s)</h2>
      ${
        jobs.length > 0
          ? html`<button type="button" data-action="retry-all" disabled>Retry all</button>
              <button type="button" class="danger" data-action="purge-all" disabled>Purge all</button>`
          : ''
      }
    </div>
    <p class="small muted">
      Handler jobs that failed their last attempt. Retry puts a job back in its queue with its attempts reset; Purge deletes it from Redis (its results stay in
      the archive).
    </p>
    <p class="notice" role="status" aria-live="polite" data-action-result hidden></p>
    ${jobs.length === 0 ? html`<p class="notice">No dead letters: every handler job succeeded or is still being retried.</p>` : dlqTable(jobs)}
  </section>`;
}
