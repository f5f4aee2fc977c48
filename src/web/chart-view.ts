import { html, type SafeHtml } from './html.js';
import type { RateHistory } from './metrics-sampler.js';
import { summarize } from './rate-series.js';

/** Plot size in SVG units; the SVG scales to its box. */
const W = 720;
const H = 180;
const PAD = { left: 44, right: 8, top: 10, bottom: 22 };
/** Above this share of failed runs the error rate shows red. */
const ERROR_RATE_ALERT = 0.05;

/**
 * The throughput and error-rate chart, as server-rendered SVG: handler runs per second as
 * bars (ok in green, failed in red on top), events published per second as a blue line,
 * over the sampler's window. Gaps where a daemon did not answer. A sentence above it says
 * the last minute's figures in words, for screen readers and for a quick look.
 */
export function chartView(h: RateHistory, now: number): SafeHtml {
  const windowMs = h.windowMs;
  const start = now - windowMs;
  const points = h.points.filter((p) => p.t > start);
  const s = summarize(h.points, now);
  const max = niceMax(Math.max(1, ...points.map((p) => Math.max(p.published ?? 0, (p.runsOk ?? 0) + (p.runsFailed ?? 0)))));
  const x = (t: number): number => PAD.left + ((t - start) / windowMs) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  const barW = Math.max(1, ((h.intervalMs / windowMs) * (W - PAD.left - PAD.right)) / 1.6);

  const bars = points.flatMap((p) => {
    if (p.runsOk === null || p.runsFailed === null) return [];
    const cx = x(p.t) - barW / 2;
    const ok = html`<rect
      class="bar-ok"
      x="${cx.toFixed(1)}"
      y="${y(p.runsOk).toFixed(1)}"
      width="${barW.toFixed(1)}"
      height="${(y(0) - y(p.runsOk)).toFixed(1)}"
    />`;
    const failed =
      p.runsFailed > 0
        ? html`<rect
            class="bar-failed"
            x="${cx.toFixed(1)}"
            y="${y(p.runsOk + p.runsFailed).toFixed(1)}"
            width="${barW.toFixed(1)}"
            height="${(y(p.runsOk) - y(p.runsOk + p.runsFailed)).toFixed(1)}"
          />`
        : '';
    return [ok, failed];
  });

  // One path per run of consecutive points with data: a missing scrape breaks the line.
  const segments: string[] = [];
  let current = '';
  for (const p of points) {
    if (p.published === null) {
      if (current) segments.push(current);
      current = '';
      continue;
    }
    current += `${current ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.published).toFixed(1)}`;
  }
  if (current) segments.push(current);

  const grid = [0, max / 2, max].map((v) => {
    const at = y(v).toFixed(1);
    const label = html`<text class="axis" x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`;
    return html`<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${at}" y2="${at}" />${label}`;
  });
  const minutes = Math.round(windowMs / 60_000);
  const ticks = [
    { t: start, label: `${minutes} min ago`, anchor: 'start' },
    { t: start + windowMs / 2, label: `${Math.round(minutes / 2)} min ago`, anchor: 'middle' },
    { t: now, label: 'now', anchor: 'end' },
  ].map((k) => html`<text class="axis" x="${x(k.t).toFixed(1)}" y="${H - 6}" text-anchor="${k.anchor}">${k.label}</text>`);

  const rate = s.errorRate;
  const words =
    points.length === 0
      ? 'No figures yet: the first come one sampling interval after the console starts.'
      : `Last minute: ${s.published === null ? 'unknown' : fmt(s.published)} events/s published, ${s.runs === null ? 'unknown' : fmt(s.runs)} handler runs/s, ${rate === null ? 'no handler runs' : `${(rate * 100).toFixed(1)}% of runs failed`}.`;
  const alert = rate !== null && rate > ERROR_RATE_ALERT;
  return html`<p class="chart-summary" id="chart-desc">
      ${figure('published', s.published === null ? '-' : fmt(s.published), 'events/s', false)}
      ${figure('runs', s.runs === null ? '-' : fmt(s.runs), 'handler runs/s', false)}
      ${figure('error-rate', rate === null ? '-' : `${(rate * 100).toFixed(1)}%`, 'failed', alert)}
      <span class="visually-hidden">${words}</span>
    </p>
    <svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title" aria-describedby="chart-desc" preserveAspectRatio="none">
      <title id="chart-title">Events published per second (line) and handler runs per second, ok and failed (bars), over the last ${minutes} minutes</title>
      ${grid}
      <g>${bars}</g>
      ${segments.map((d) => html`<path class="line-published" d="${d}" />`)} ${ticks}
    </svg>
    ${
      h.unavailable.length > 0
        ? html`<p class="small problem">Not charted: ${h.unavailable.map((u, i) => html`${i > 0 ? '; ' : ''}${u.part} (${u.error})`)}</p>`
        : ''
    }`;
}

const SWATCH = { published: 'published', runs: 'ok', 'error-rate': 'failed' } as const;

/** One figure of the summary: its colour, its value, its unit. */
function figure(name: keyof typeof SWATCH, value: string, unit: string, problem: boolean): SafeHtml {
  const swatch = html`<span class="swatch swatch-${SWATCH[name]}" aria-hidden="true"></span>`;
  return html`<span class="figure">${swatch} <strong data-figure="${name}" class="${problem ? 'problem' : ''}">${value}</strong> ${unit}</span>`;
}

/** A round upper bound for the y axis: 1, 2 or 5 times a power of ten. */
export function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (v < 10) return v.toFixed(1).replace(/\.0$/, '');
  return Math.round(v).toLocaleString('en-US');
}
