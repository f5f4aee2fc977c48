import { html, type SafeHtml } from './html.js';
import { liveSection } from './event-views.js';
import type { LiveEvent } from './live-stream.js';

/**
 * The overview: health, the chart and the live stream. Health and chart are fragments
 * the page's script reloads from `/partials/...` (`data-partial`, every `data-every` ms),
 * so they are rendered, and escaped, in one place: on the server.
 */
export function overviewView(parts: { health: SafeHtml; chart: SafeHtml; live: readonly LiveEvent[]; chartEveryMs: number }): SafeHtml {
  return html`<section class="panel" aria-labelledby="health-h">
      <h2 id="health-h">Health</h2>
      <div data-partial="/partials/health" data-every="10000" aria-live="off">${parts.health}</div>
    </section>
    <section class="panel" aria-labelledby="chart-h">
      <h2 id="chart-h">Throughput and errors</h2>
      <div data-partial="/partials/chart" data-every="${parts.chartEveryMs}" aria-live="off">${parts.chart}</div>
    </section>
    ${liveSection(parts.live)}`;
}

/** The login form (a console with a token). */
export function loginView(next: string, failed: boolean): SafeHtml {
  return html`<section class="panel narrow">
    ${failed ? html`<p class="notice notice-error" role="alert">That token is not the console's token.</p>` : ''}
    <form method="post" action="/login" class="login">
      <input type="hidden" name="next" value="${next}" />
      <label>Token <input type="password" name="token" autocomplete="current-password" required autofocus /></label>
      <p class="hint">The contents of the file named by <code>web.token_file</code>, or of <code>EVENT_REACTOR_WEB_TOKEN</code>.</p>
      <button type="submit">Log in</button>
    </form>
  </section>`;
}
