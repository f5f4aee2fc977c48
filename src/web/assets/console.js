// The web console's one script: the live stream, refreshing fragments, and the
// dead-letter buttons. No framework, no build step. Everything taken from the server's
// JSON is put in the page as text (textContent), never as markup; HTML fragments come
// from the console's own /partials/ endpoints, which escape every value they render.
'use strict';

(function () {
  /** Header every state-changing request carries (see src/web/request-guard.ts). */
  const ACTION_HEADER = { 'X-Event-Reactor': '1' };
  const MAX_LIVE_ROWS = 100;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** `local:disk.*` as a RegExp: `*` any characters, `?` one; everything else literal. */
  function globRegExp(glob) {
    const source = glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    return new RegExp(`^${source}$`);
  }

  function timeCell(iso) {
    const td = el('td');
    td.append(el('time', { datetime: iso }, `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`));
    return td;
  }

  // ---- live stream (overview) ------------------------------------------------------
  function startLive() {
    const rows = document.querySelector('[data-live-rows]');
    if (!rows) return;
    const state = document.querySelector('[data-live-state]');
    const empty = document.querySelector('[data-live-empty]');
    const filterInput = document.querySelector('[data-live-filter]');
    const pauseButton = document.querySelector('[data-live-pause]');
    const seen = new Set(Array.from(rows.querySelectorAll('a')).map((a) => a.textContent));
    let filter;
    let paused = false;
    const held = [];

    const setState = (text, live) => {
      state.textContent = text;
      state.parentElement.classList.toggle('is-live', live);
    };
    const matches = (key) => !filter || filter.test(key);
    const applyFilter = () => {
      for (const tr of rows.rows) tr.hidden = !matches(tr.dataset.key || '');
    };

    const addRow = (e) => {
      if (seen.has(e.id)) return;
      seen.add(e.id);
      const tr = el('tr', { 'data-n': String(e.n), 'data-key': e.key, class: 'fresh' });
      tr.append(timeCell(e.time));
      tr.append(el('td', { class: 'mono' }, e.key));
      const idCell = el('td');
      idCell.append(el('a', { class: 'mono', href: `/events/${encodeURIComponent(e.id)}` }, e.id));
      tr.append(idCell);
      tr.append(el('td', { class: 'num' }, String(e.seq)));
      const payloadCell = el('td');
      payloadCell.append(el('code', { class: 'payload' }, e.payload + (e.truncated ? '…' : '')));
      tr.append(payloadCell);
      tr.hidden = !matches(e.key);
      rows.prepend(tr);
      while (rows.rows.length > MAX_LIVE_ROWS) {
        seen.delete(rows.rows[rows.rows.length - 1].querySelector('a').textContent);
        rows.deleteRow(-1);
      }
      if (empty) empty.hidden = true;
    };

    filterInput.addEventListener('input', () => {
      const text = filterInput.value.trim();
      filter = text === '' ? undefined : globRegExp(text);
      applyFilter();
    });
    pauseButton.addEventListener('click', () => {
      paused = !paused;
      pauseButton.setAttribute('aria-pressed', String(paused));
      pauseButton.textContent = paused ? 'Resume' : 'Pause';
      if (!paused) held.splice(0).forEach(addRow);
    });

    const after = document.body.dataset.liveLast || '0';
    const source = new EventSource(`/api/stream?after=${encodeURIComponent(after)}`);
    source.addEventListener('open', () => setState('live', true));
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) setState('disconnected: reload the page (or log in again)', false);
      else setState('reconnecting…', false);
    });
    source.addEventListener('event', (m) => {
      const e = JSON.parse(m.data);
      if (paused) {
        held.push(e);
        state.textContent = `paused: ${held.length} new`;
      } else addRow(e);
    });
  }

  // ---- fragments that refresh themselves (health, chart) ---------------------------
  function startPartials() {
    for (const box of document.querySelectorAll('[data-partial]')) {
      const every = Number(box.dataset.every) || 10000;
      const refresh = async () => {
        if (document.hidden) return;
        try {
          const res = await fetch(box.dataset.partial, { cache: 'no-store' });
          if (res.ok) box.innerHTML = await res.text();
        } catch {
          // the next round tries again
        }
      };
      setInterval(refresh, every);
    }
  }

  // ---- an event whose handlers are still running ------------------------------------
  function startEventRefresh() {
    const box = document.querySelector('[data-refresh]');
    if (!box) return;
    const every = Number(box.dataset.refresh) || 2000;
    let rounds = 0;
    const again = async () => {
      rounds += 1;
      try {
        const res = await fetch(location.href, { cache: 'no-store' });
        if (!res.ok) return;
        const next = new DOMParser().parseFromString(await res.text(), 'text/html').querySelector('main');
        const main = document.querySelector('main');
        if (next && main) main.replaceChildren(...next.childNodes);
        enableActions();
        if (!document.querySelector('[data-refresh]')) return;
      } catch {
        // try again below
      }
      if (rounds < 90) setTimeout(again, every);
    };
    setTimeout(again, every);
  }

  // ---- dead letters: retry and purge ------------------------------------------------
  function announce(text, problem) {
    const region = document.querySelector('[data-action-result]');
    if (!region) return;
    region.hidden = false;
    region.textContent = text;
    region.classList.toggle('notice-error', Boolean(problem));
  }

  async function post(path) {
    const res = await fetch(path, { method: 'POST', headers: ACTION_HEADER });
    let body = {};
    try {
      body = await res.json();
    } catch {
      // an empty or non-JSON answer: the status says enough
    }
    if (!res.ok) throw new Error(body.error || `the console answered ${res.status}`);
    return body;
  }

  async function onAction(button) {
    const action = button.dataset.action;
    const id = button.dataset.jobId;
    if (
      (action === 'purge' || action === 'purge-all') &&
      !confirm(action === 'purge' ? `Delete dead job ${id}? Its results stay in the archive.` : 'Delete every dead job? Their results stay in the archive.')
    )
      return;
    const cell = button.closest('[data-job-state]');
    const buttons = cell ? cell.querySelectorAll('button') : [button];
    for (const b of buttons) b.disabled = true;
    try {
      if (action === 'retry-all' || action === 'purge-all') {
        const body = await post(`/api/dlq/${action}`);
        const n = action === 'retry-all' ? body.retried : body.purged;
        announce(`${action === 'retry-all' ? 'Retried' : 'Purged'} ${n} job(s).`, false);
        for (const row of document.querySelectorAll('tr[data-job]')) markRow(row, action === 'retry-all' ? 'retried' : 'purged');
        return;
      }
      await post(`/api/dlq/${encodeURIComponent(id)}/${action}`);
      const row = button.closest('tr');
      if (row) markRow(row, action === 'retry' ? 'retried' : 'purged');
      announce(`${action === 'retry' ? 'Retried' : 'Purged'} job ${id}.`, false);
    } catch (err) {
      for (const b of buttons) b.disabled = false;
      announce(`Could not ${action.replace('-', ' ')}${id ? ` job ${id}` : ''}: ${err.message}`, true);
    }
  }

  function markRow(row, done) {
    const cell = row.querySelector('[data-job-state]');
    if (!cell) return;
    cell.replaceChildren(el('span', { class: `pill pill-${done === 'retried' ? 'info' : 'none'}`, 'data-status': done }, done));
    row.classList.add('done');
  }

  function enableActions() {
    for (const b of document.querySelectorAll('button[data-action]')) b.disabled = false;
  }

  document.addEventListener('click', (ev) => {
    const button = ev.target instanceof Element ? ev.target.closest('button[data-action]') : null;
    if (button) void onAction(button);
  });

  document.addEventListener('DOMContentLoaded', () => {
    enableActions();
    startLive();
    startPartials();
    startEventRefresh();
  });
})();
