import type { Command } from 'commander';
import { collectStatus, type StatusReport } from '../daemons/stack-status.js';
import { addDaemonOptions, loadForReader, reportError, type DaemonFlags } from './common.js';
import { EXIT } from './exit-codes.js';

export function formatStatus(r: StatusReport): string {
  const lines: string[] = [];
  for (const [part, d] of Object.entries(r.daemons)) {
    const state = !d.up
      ? `DOWN (${d.error ?? 'no answer'})`
      : d.ready
        ? `up, ready (pid ${d.pid}, ${d.uptime_s} s${d.handlers ? `, handler table ${d.handlers}` : ''})`
        : `up, NOT READY: ${(d.missing ?? []).map((m) => `${m.name}: ${m.error}`).join('; ')}`;
    lines.push(`daemon    ${part.padEnd(6)} ${d.url}: ${state}`);
  }
  const tables = new Set(Object.values(r.daemons).flatMap((d) => (d.up && d.handlers ? [d.handlers] : [])));
  if (tables.size > 1)
    lines.push(`WARNING   the subscriber and the workers run different handler tables (${[...tables].join(', ')}): reload them (systemctl reload)`);
  for (const rt of r.routers) {
    const which = `${rt.name === undefined ? '' : `${rt.name} `}${rt.endpoint}`;
    lines.push(
      rt.error
        ? `router    ${which}: UNREACHABLE (${rt.error})`
        : `router    ${which}: epoch ${rt.epoch}, last seq ${rt.last_seq}, ${rt.journal ?? 'memory'} journal ${rt.buffered} events (seq ${rt.first_seq ?? '-'}..${rt.last_seq})${rt.buffer_bytes === null || rt.buffer_bytes === undefined ? '' : `, ${rt.buffer_bytes} bytes`}`,
    );
  }
  const a = r.archive;
  if (a.error) {
    lines.push(`archive   ${a.url} ${a.database}: UNREACHABLE (${a.error})`);
  } else {
    const res =
      Object.entries(a.results ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none';
    lines.push(`archive   ${a.url} ${a.database}: ${a.events} events; results: ${res}; dead-lettered ${a.dead}`);
    for (const c of a.cursors ?? [])
      lines.push(
        `cursor    ${c.name}: epoch ${c.epoch} seq ${c.seq}${c.behind === null || c.behind === undefined ? ' (other epoch than the router)' : `, ${c.behind} behind`} (saved ${new Date(c.updated_at).toISOString()})`,
      );
    if (a.conflicts) lines.push(`conflicts ${a.conflicts} event(s) reused an archived id with other content: kept the first; see the conflicts collection`);
    if (a.rejected) lines.push(`rejected  ${a.rejected} event(s)/result(s) MongoDB refused even as JSON text: kept as text in the rejected collection`);
    const g = a.gaps!;
    if (g.count === 0) lines.push('gaps      none: no event lost');
    else {
      const counted = g.count - g.unknown;
      const parts = [];
      if (counted > 0) parts.push(`${counted} unrepairable gap(s), ${g.lost} event(s) lost`);
      if (g.unknown > 0) parts.push(`${g.unknown} range(s) of unknown size lost with a router restart (memory journal)`);
      lines.push(`gaps      ${parts.join('; ')}`);
    }
    for (const x of g.latest)
      lines.push(
        `          ${x.subscriber}: epoch ${x.epoch} seq ${x.from}..${x.to ?? '?'}${x.count === null ? ' (unknown count)' : ''} (${x.reason}) at ${new Date(x.detected_at).toISOString()}`,
      );
  }
  const q = r.queues;
  if (q.error) lines.push(`queues    ${q.url}: UNREACHABLE (${q.error})`);
  else
    for (const [name, c] of Object.entries(q.counts ?? {})) {
      const entry = q.entries?.find((e) => e.queue === name);
      // The two queues of before per-entry queues, once empty, are not worth a line.
      if (!entry && c.waiting + c.active + c.delayed + c.failed === 0) continue;
      const b = entry?.breaker;
      const breaker =
        b?.state === 'open' ? `; breaker OPEN until ${new Date(b.until ?? 0).toISOString()}` : b ? `; breaker closed (opened ${b.opened} time(s))` : '';
      const about = entry ? ` (${entry.key} ${entry.driver}:${entry.handler}; ${entry.described}${breaker})` : '';
      lines.push(
        `queue     ${name}${about}: ${Object.entries(c)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
    }
  const actors = r.actors?.list ?? [];
  const live = actors.filter((x) => x.live);
  if (r.actors?.error) lines.push(`actors    UNREACHABLE (${r.actors.error})`);
  else if (actors.length > 0) {
    lines.push(`actors    ${live.length} live: ${live.map((x) => `${x.name} (beat ${x.last_beat_s} s ago)`).join(', ') || 'none'}`);
    const away = actors.filter((x) => !x.live).map((x) => (x.last_beat_s === null ? `${x.name} (never seen)` : `${x.name} (last beat ${x.last_beat_s} s ago)`));
    if (away.length > 0) lines.push(`          not live: ${away.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

export function configureStatusCommand(cmd: Command, result: { code: number }): Command {
  addDaemonOptions(
    cmd.description(
      'Show each daemon up or down and ready or not (from its HTTP endpoints), the router position and replay buffer, archive counts, cursors, lost events and queue depths',
    ),
  );
  return cmd.option('--json', 'print JSON').action(async (flags: DaemonFlags & { json?: boolean }) => {
    try {
      const { settings } = await loadForReader(flags);
      const report = await collectStatus(settings);
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
      // A daemon whose address is known (not port 0) and that is down or not ready counts too.
      const daemonDown = Object.values(report.daemons).some((d) => !d.url.endsWith(':0') && (!d.up || d.ready === false));
      const down = report.routers.some((r) => r.error) || report.archive.error || report.queues.error || daemonDown;
      result.code = down ? EXIT.UNAVAILABLE : EXIT.OK;
    } catch (err) {
      result.code = reportError(err, 'event-reactor status');
    }
  });
}
