import { html, type SafeHtml } from './html.js';

/**
 * Small pieces every page uses. A status is always shown as a coloured pill that also
 * says it in words (colour alone tells nothing to a screen reader or a colour-blind eye).
 */

/** Pill tones, each a CSS class: green, amber, red, dark red, grey, blue. */
export type Tone = 'ok' | 'warn' | 'error' | 'dead' | 'none' | 'info';

const TONE_OF: Record<string, Tone> = {
  ok: 'ok',
  ready: 'ok',
  up: 'ok',
  error: 'error',
  timeout: 'warn',
  dead: 'dead',
  down: 'error',
  none: 'none',
  pending: 'info',
  'not ready': 'warn',
};

/** A status pill: `ok`, `error`, `timeout`, `dead`, `none`... in its colour, with its name. */
export function pill(status: string, tone: Tone = TONE_OF[status] ?? 'none', label: string = status): SafeHtml {
  return html`<span class="pill pill-${tone}" data-status="${status}">${label}</span>`;
}

/** A time as `2026-11-30 04:00:01Z` in a `<time>` element (UTC, as the logs and the CLI show it). */
export function timeTag(value: Date | string | number | undefined | null): SafeHtml {
  if (value === undefined || value === null) return html`<span class="muted">-</span>`;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return html`<span class="muted">-</span>`;
  const iso = d.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 19)}Z</time>`;
}

/** The link to an event's page. */
export function eventHref(id: string): string {
  return `/events/${encodeURIComponent(id)}`;
}

/** An event id as a link to its page, in monospace. */
export function eventLink(id: string): SafeHtml {
  return html`<a class="mono" href="${eventHref(id)}">${id}</a>`;
}

/** Pretty JSON of a value, for a `<pre>`: text, never markup. */
export function prettyJson(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/** `1234` as `1,234`; undefined as `-`. */
export function count(n: number | undefined | null): string {
  return n === undefined || n === null ? '-' : n.toLocaleString('en-US');
}

/** A duration in ms as `850 ms`, `12.3 s` or `4 min`. */
export function duration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}
