'use strict';

/*
 * Operator dashboard of @neolith/orchestrator-router: polls /api/overview,
 * draws the totals, the queue-depth chart (uPlot) and one page of
 * orchestrators, and (when the server allows it) runs the two actions.
 * Every piece of data reaches the DOM through textContent or setAttribute.
 */
(function () {
  const DEFAULT_INTERVAL_MS = 2000;
  const SEARCH_DEBOUNCE_MS = 250;
  const CHART_HEIGHT = 200;
  const UNREADABLE_LISTED = 20;
  const COLUMNS = 10; // without the actions column

  const $ = (id) => document.getElementById(id);
  const el = {
    source: $('source'),
    prefix: $('prefix'),
    read: $('read'),
    tokenField: $('token-field'),
    token: $('token'),
    error: $('error'),
    errorMessage: $('error-message'),
    errorDetail: $('error-detail'),
    totals: $('totals'),
    chart: $('chart'),
    search: $('search'),
    size: $('size'),
    prev: $('prev'),
    next: $('next'),
    pageInfo: $('page-info'),
    actionStatus: $('action-status'),
    unreadable: $('unreadable'),
    unreadableSummary: $('unreadable-summary'),
    unreadableList: $('unreadable-list'),
    table: $('orchestrators'),
    thead: document.querySelector('#orchestrators thead'),
    tbody: document.querySelector('#orchestrators tbody'),
    actionsHeader: document.querySelector('#orchestrators th[data-field="actions"]'),
    detail: $('detail'),
    detailTitle: $('detail-title'),
    detailNote: $('detail-note'),
    detailSummary: $('detail-summary'),
    detailSessions: document.querySelector('#detail-sessions tbody'),
    detailClose: $('detail-close'),
  };

  const state = {
    // the query
    page: 1,
    size: 50,
    search: '',
    sort: 'depth',
    order: 'desc',
    // polling
    intervalMs: DEFAULT_INTERVAL_MS,
    inFlight: false,
    again: false,
    timer: 0,
    last: null, // the last good answer of /api/overview
    fetchError: null, // why the last poll got no answer, or null
    // rendering
    rowsKey: '',
    rowsById: new Map(),
    unreadableKey: '',
    chart: null,
    actions: false,
    pending: new Set(), // "id\naction" of the actions under way
    // detail panel
    detailId: null,
    detailBusy: false,
  };

  const intFormat = new Intl.NumberFormat('en-US');

  /** Formats an integer with thousands separators ("10,000"); "–" when not a number. */
  function fmtInt(n) {
    return typeof n === 'number' && Number.isFinite(n) ? intFormat.format(n) : '–';
  }

  /** Pads a number to two digits. */
  function pad2(n) {
    return n < 10 ? '0' + n : String(n);
  }

  /** Formats an epoch in ms as local "HH:MM:SS", prefixed by "YYYY-MM-DD " when not today. */
  function fmtClock(ms) {
    const d = new Date(ms);
    if (Number.isNaN(d.getTime())) return '–';
    const time = pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
    if (d.toDateString() === new Date().toDateString()) return time;
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + time;
  }

  /** Formats an age in ms as "5 s", "3 m 4 s", "1 h 2 m" or "1 d 3 h"; "–" when null. */
  function fmtAge(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' m ' + (s % 60) + ' s';
    const h = Math.floor(m / 60);
    if (h < 24) return h + ' h ' + (m % 60) + ' m';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }

  /** Picks the singular or the plural form for a count. */
  function plural(n, one, many) {
    return n === 1 ? one : many;
  }

  /** Sets an element's text only when it changed (keeps the DOM and screen readers quiet). */
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  /** Creates an element with an optional class and text. */
  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /**
   * Fetches JSON with a timeout. Resolves the parsed body of a 2xx answer; rejects
   * with an Error carrying `status` (and the server's `error` text) otherwise.
   */
  async function getJSON(url, init, timeoutMs) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs || 10000);
    try {
      const res = await fetch(url, Object.assign({ cache: 'no-store', signal: abort.signal }, init));
      let body = null;
      try {
        body = await res.json();
      } catch (_) {
        body = null;
      }
      if (!res.ok) {
        const err = new Error((body && typeof body.error === 'string' && body.error) || res.statusText || 'no reason given');
        err.status = res.status;
        throw err;
      }
      return body;
    } catch (err) {
      if (err.name === 'AbortError') {
        const late = new Error('no answer within ' + Math.round((timeoutMs || 10000) / 1000) + ' s');
        late.timeout = true;
        throw late;
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The query string of /api/overview for the current controls. */
  function overviewQuery() {
    const q = new URLSearchParams();
    q.set('page', String(state.page));
    q.set('size', String(state.size));
    if (state.search) q.set('search', state.search);
    q.set('sort', state.sort);
    q.set('order', state.order);
    return q.toString();
  }

  /* ------------------------------------------------------------------ polling */

  /** Polls at once, or right after the poll in flight (never two at once). */
  function pollSoon() {
    if (state.inFlight) {
      state.again = true;
      return;
    }
    clearTimeout(state.timer);
    poll();
  }

  /** One poll of /api/overview; schedules the next one when done. */
  async function poll() {
    state.inFlight = true;
    state.again = false;
    const query = overviewQuery();
    try {
      const data = await getJSON('/api/overview?' + query, undefined, Math.max(10000, 3 * state.intervalMs));
      state.fetchError = null;
      // An answer to a query the operator has since changed is dropped: the next poll follows at once.
      if (query === overviewQuery()) render(data);
    } catch (err) {
      state.fetchError = describeFetchError(err);
      renderBanner();
      renderRead();
    } finally {
      state.inFlight = false;
      if (state.again || query !== overviewQuery()) {
        poll();
      } else {
        state.timer = setTimeout(poll, state.intervalMs);
      }
    }
    if (state.detailId !== null) loadDetail();
  }

  /** Words for a poll that got no good answer. */
  function describeFetchError(err) {
    if (err.status === 400) return 'the dashboard server refused the query: ' + err.message;
    if (err.status) return 'the dashboard server answered ' + err.status + ': ' + err.message;
    if (err.timeout) return 'the dashboard server gave ' + err.message;
    return 'cannot reach the dashboard server (' + err.message + ')';
  }

  /* ---------------------------------------------------------------- rendering */

  /** Draws a good answer of /api/overview. */
  function render(data) {
    state.last = data;
    if (typeof data.intervalMs === 'number' && data.intervalMs > 0) state.intervalMs = data.intervalMs;
    if (typeof data.page === 'number') state.page = data.page;
    if (typeof data.size === 'number') state.size = data.size;
    if (data.sort) state.sort = data.sort;
    if (data.order) state.order = data.order;
    if (typeof data.pages === 'number' && data.pages >= 1 && state.page > data.pages) {
      // The page went past the end (rows shrank): go to the last one.
      state.page = data.pages;
      state.again = true;
    }
    setActions(data.actions === true);
    renderHeader(data);
    renderBanner();
    renderTotals(data.totals || {});
    renderChart(data.history || {});
    renderControls(data);
    renderRows(false);
    renderUnreadable(data.unreadable || []);
  }

  /** Header: source, prefix, time of the last read. */
  function renderHeader(data) {
    setText(el.source, data.source || '–');
    setText(el.prefix, data.prefix ? 'prefix ' + JSON.stringify(data.prefix) : 'no prefix');
    renderRead();
  }

  /** "read HH:MM:SS (N ms)", marked stale when it is older than three intervals. */
  function renderRead() {
    const data = state.last;
    if (!data || data.readAt == null) {
      setText(el.read, 'not read yet');
      return;
    }
    setText(el.read, 'read ' + fmtClock(data.readAt) + ' (' + fmtInt(data.readMs) + ' ms)');
    el.read.title = 'Redis is read every ' + state.intervalMs / 1000 + ' s';
    const stale = state.fetchError !== null || data.error != null || Date.now() - data.readAt > Math.max(3 * state.intervalMs, 10000);
    el.read.classList.toggle('stale', stale);
  }

  /** The error banner: the poll that failed, else the server's failed read of Redis. */
  function renderBanner() {
    const data = state.last;
    const shown = data && data.readAt != null ? 'showing data read at ' + fmtClock(data.readAt) : 'no data read yet';
    let message = null;
    let detail = '';
    if (state.fetchError !== null) {
      message = state.fetchError;
      detail = shown;
    } else if (data && data.error) {
      message = data.error.message || 'cannot read Redis';
      detail = (data.error.since ? 'since ' + fmtClock(data.error.since) + ' · ' : '') + shown;
    }
    el.error.hidden = message === null;
    setText(el.errorMessage, message || '');
    setText(el.errorDetail, detail);
  }

  /** The totals line, and the tab title. */
  function renderTotals(t) {
    const q = t.queue || {};
    const values = {
      orchestrators: t.orchestrators,
      online: t.online,
      queued: q.total,
      high: q.high,
      normal: q.normal,
      low: q.low,
      receipts: t.pendingReceipts,
      dead: t.deadLetters,
    };
    for (const b of el.totals.querySelectorAll('[data-total]')) {
      const v = values[b.getAttribute('data-total')];
      setText(b, fmtInt(v));
      b.classList.toggle('alert', (b.getAttribute('data-total') === 'dead' && v > 0));
    }
    const title = (typeof q.total === 'number' ? fmtInt(q.total) + ' queued · ' : '') + 'orchestrator-router';
    if (document.title !== title) document.title = title;
  }

  /* -------------------------------------------------------------------- chart */

  /** The last value of an array, or null. */
  function lastOf(a) {
    return a && a.length ? a[a.length - 1] : null;
  }

  /** Formats unix seconds as local "HH:MM" (or "HH:MM:SS" when withSeconds). */
  function fmtTick(sec, withSeconds) {
    const d = new Date(sec * 1000);
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + (withSeconds ? ':' + pad2(d.getSeconds()) : '');
  }

  /** The uPlot options of the queue-depth chart. The legend shows the latest sample unless the cursor points at one. */
  function chartOptions(width) {
    const incrs = [];
    for (let mag = 1; mag <= 1e9; mag *= 10) incrs.push(mag, 2 * mag, 5 * mag);
    const count = (u, v, si, idx) => fmtInt(idx == null ? lastOf(u.data[si]) : v);
    const time = (u, v, si, idx) => {
      const t = idx == null ? lastOf(u.data[0]) : v;
      return t == null ? '–' : fmtClock(t * 1000);
    };
    const axis = {
      stroke: '#5b6472',
      font: '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
      grid: { stroke: '#eceef2', width: 1 },
      ticks: { stroke: '#d5d9e0', width: 1, size: 4 },
    };
    return {
      width: width,
      height: CHART_HEIGHT,
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
      legend: { live: true },
      scales: {
        x: { time: true },
        y: { range: (u, min, max) => [0, max > 0 ? Math.ceil(max * 1.1) : 1] },
      },
      axes: [
        Object.assign({}, axis, {
          space: 64,
          // Whole seconds at least: samples come every interval, often several a second.
          incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
          values: (u, splits, ai, space, incr) => splits.map((v) => fmtTick(v, incr < 60)),
        }),
        Object.assign({}, axis, { incrs: incrs, size: 56, values: (u, splits) => splits.map((v) => fmtInt(v)) }),
      ],
      series: [
        { label: 'time', value: time },
        { label: 'high', stroke: '#d9480f', width: 1.5, value: count, points: { show: false } },
        { label: 'normal', stroke: '#1c7ed6', width: 1.5, value: count, points: { show: false } },
        { label: 'low', stroke: '#868e96', width: 1.5, value: count, points: { show: false } },
        { label: 'total', stroke: '#212529', width: 2, value: count, points: { show: false } },
      ],
    };
  }

  /** Creates the chart on the first answer, then feeds it each poll's history. */
  function renderChart(h) {
    const data = [h.t || [], h.high || [], h.normal || [], h.low || [], h.total || []];
    if (state.chart) {
      state.chart.setData(data);
      if (state.chart.cursor.idx == null) state.chart.setLegend({ idx: null }); // the legend's latest values
      return;
    }
    if (typeof window.uPlot !== 'function') {
      setText(el.chart, 'The chart library (uPlot) did not load.');
      return;
    }
    state.chart = new window.uPlot(chartOptions(chartWidth()), data, el.chart);
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(() => {
        const width = chartWidth();
        if (state.chart && width > 0 && width !== state.chart.width) {
          state.chart.setSize({ width: width, height: CHART_HEIGHT });
        }
      }).observe(el.chart);
    }
  }

  /** The width the chart should take: its container's. */
  function chartWidth() {
    return Math.max(200, Math.floor(el.chart.clientWidth));
  }

  /* ------------------------------------------------------------ controls */

  /** Pager, search box, size and the sorted column. */
  function renderControls(data) {
    const pages = Math.max(1, data.pages || 0);
    const page = Math.min(Math.max(1, data.page || 1), pages);
    setText(el.pageInfo, 'page ' + page + ' of ' + pages + ' · ' + fmtInt(data.matched || 0) + ' matching');
    el.prev.disabled = page <= 1;
    el.next.disabled = page >= pages;
    if (String(state.size) !== el.size.value) {
      if (![...el.size.options].some((o) => o.value === String(state.size))) el.size.add(new Option(String(state.size)));
      el.size.value = String(state.size);
    }
    renderSortHeaders();
  }

  /** Marks the sorted column header with aria-sort. */
  function renderSortHeaders() {
    for (const th of el.thead.querySelectorAll('th[data-sort]')) {
      const active = th.getAttribute('data-sort') === state.sort;
      const value = active ? (state.order === 'asc' ? 'ascending' : 'descending') : null;
      if (value) th.setAttribute('aria-sort', value);
      else th.removeAttribute('aria-sort');
    }
  }

  /** Shows or hides what only exists when the server runs with --allow-actions. */
  function setActions(on) {
    if (on === state.actions) return;
    state.actions = on;
    el.actionsHeader.hidden = !on;
    if (on) {
      el.tokenField.hidden = false;
      if (!el.tokenField.isConnected) document.querySelector('header .meta').append(el.tokenField);
    } else {
      el.tokenField.remove();
    }
  }

  /* ------------------------------------------------------------------ rows */

  /** Rebuilds the tbody, unless the rows (and what decorates them) did not change. */
  function renderRows(force) {
    const data = state.last;
    if (!data) return;
    const rows = Array.isArray(data.rows) ? data.rows : [];
    const key = JSON.stringify([rows, state.actions, state.detailId, [...state.pending], data.readAt == null, state.search]);
    if (!force && key === state.rowsKey) return;
    state.rowsKey = key;
    state.rowsById = new Map(rows.map((r) => [r.orchestratorId, r]));
    const frag = document.createDocumentFragment();
    for (const r of rows) frag.append(buildRow(r));
    if (rows.length === 0) frag.append(emptyRow(data));
    el.tbody.replaceChildren(frag);
  }

  /** A numeric cell. */
  function numCell(field, n, alertWhenPositive) {
    const td = make('td', 'num', fmtIntPlain(n));
    td.setAttribute('data-field', field);
    if (n === 0) td.classList.add('zero');
    else if (alertWhenPositive && n > 0) td.classList.add('alert');
    return td;
  }

  /** An integer as plain digits (the table's cells: easy to read back and compare). */
  function fmtIntPlain(n) {
    return typeof n === 'number' && Number.isFinite(n) ? String(n) : '–';
  }

  /** One <tr data-orchestrator> of the table. */
  function buildRow(r) {
    const id = String(r.orchestratorId);
    const queue = r.queue || {};
    const tr = document.createElement('tr');
    tr.setAttribute('data-orchestrator', id);
    if (id === state.detailId) tr.classList.add('selected');

    const idCell = make('td', 'id');
    idCell.setAttribute('data-field', 'id');
    const open = make('button', 'link', id);
    open.type = 'button';
    open.setAttribute('data-open', '');
    open.title = 'Show the sessions of ' + id;
    idCell.append(open);

    const online = make('td', r.online ? 'presence on' : 'presence off', r.online ? 'online' : 'offline');
    online.setAttribute('data-field', 'online');

    const oldest = make('td', 'num', fmtAge(r.oldestAgeMs));
    oldest.setAttribute('data-field', 'oldest');
    if (typeof r.oldestAgeMs === 'number') {
      if (r.oldestAgeMs >= 600000) oldest.classList.add('late');
      else if (r.oldestAgeMs >= 60000) oldest.classList.add('warn');
    } else {
      oldest.classList.add('zero');
    }

    tr.append(
      idCell,
      online,
      numCell('sessions', r.sessions),
      numCell('high', queue.high),
      numCell('normal', queue.normal),
      numCell('low', queue.low),
      numCell('total', queue.total),
      oldest,
      numCell('receipts', r.pendingReceipts),
      numCell('dead', r.deadLetters, true),
    );
    const total = tr.querySelector('[data-field="total"]');
    total.classList.add('strong');

    if (state.actions) {
      const cell = make('td', 'actions');
      cell.setAttribute('data-field', 'actions');
      cell.append(
        actionButton(id, 'requeue-dead-letters', 'Requeue dead', !(r.deadLetters > 0)),
        actionButton(id, 'drop-queue', 'Drop queue', !(queue.total > 0)),
      );
      tr.append(cell);
    }
    return tr;
  }

  /** A <button data-action> of a row; disabled when there is nothing to act on or it is under way. */
  function actionButton(id, action, label, nothingToDo) {
    const b = make('button', action === 'drop-queue' ? 'danger' : '', label);
    b.type = 'button';
    b.setAttribute('data-action', action);
    b.disabled = nothingToDo || state.pending.has(id + '\n' + action);
    return b;
  }

  /** The row shown when the page has no orchestrator. */
  function emptyRow(data) {
    let text;
    if (data.readAt == null) text = 'Waiting for the first read of Redis…';
    else if (data.matched > 0) text = 'Nothing on this page.';
    else if (state.search) text = 'No orchestrator id contains “' + state.search + '”.';
    else text = 'No orchestrators known' + (data.prefix ? ' under this prefix.' : '.');
    const tr = make('tr', 'empty');
    const td = make('td', '', text);
    td.colSpan = COLUMNS + (state.actions ? 1 : 0);
    tr.append(td);
    return tr;
  }

  /** The list of orchestrators the server could not read (hidden when there are none). */
  function renderUnreadable(list) {
    const key = JSON.stringify(list);
    if (key === state.unreadableKey) return;
    state.unreadableKey = key;
    el.unreadable.hidden = list.length === 0;
    setText(el.unreadableSummary, list.length + ' ' + plural(list.length, 'orchestrator', 'orchestrators') + ' could not be read');
    const frag = document.createDocumentFragment();
    for (const u of list.slice(0, UNREADABLE_LISTED)) {
      const li = make('li');
      li.append(make('code', '', String(u.orchestratorId)), document.createTextNode(': ' + u.error));
      frag.append(li);
    }
    if (list.length > UNREADABLE_LISTED) frag.append(make('li', 'muted', 'and ' + (list.length - UNREADABLE_LISTED) + ' more'));
    el.unreadableList.replaceChildren(frag);
  }

  /* ---------------------------------------------------------------- actions */

  /** The URL of an orchestrator's resource. */
  function orchestratorUrl(id, tail) {
    return '/api/orchestrators/' + encodeURIComponent(id) + (tail ? '/' + tail : '');
  }

  /** Shows the outcome of an action in the status line. */
  function showActionStatus(outcome, text) {
    el.actionStatus.hidden = false;
    el.actionStatus.setAttribute('data-outcome', outcome);
    el.actionStatus.title = fmtClock(Date.now());
    el.actionStatus.textContent = text;
  }

  /** Runs one action on one orchestrator (drop asks first), then reports and polls. */
  async function runAction(id, action) {
    const row = state.rowsById.get(id);
    if (action === 'drop-queue') {
      const n = row && row.queue ? row.queue.total : 0;
      if (!window.confirm('Drop the ' + n + ' queued ' + plural(n, 'message', 'messages') + ' of ' + id + '?')) return;
    }
    const key = id + '\n' + action;
    if (state.pending.has(key)) return;
    state.pending.add(key);
    renderRows(false);
    const headers = { 'Content-Type': 'application/json' };
    const token = el.token.value.trim();
    if (token) headers.Authorization = 'Bearer ' + token;
    let ok = false;
    try {
      const res = await fetch(orchestratorUrl(id, action), { method: 'POST', headers: headers, body: '{}', cache: 'no-store' });
      let body = null;
      try {
        body = await res.json();
      } catch (_) {
        body = null;
      }
      if (res.ok) {
        ok = true;
        showActionStatus('ok', describeSuccess(id, action, body || {}));
      } else {
        const reason = (body && typeof body.error === 'string' && body.error) || res.statusText || 'no reason given';
        showActionStatus('refused', 'refused: ' + res.status + ' ' + reason);
      }
    } catch (err) {
      showActionStatus('failed', 'failed: cannot reach the dashboard server (' + err.message + ')');
    } finally {
      state.pending.delete(key);
    }
    if (ok) pollSoon(); // the poll redraws the rows
    else renderRows(false);
  }

  /** The status line of an action that succeeded. */
  function describeSuccess(id, action, body) {
    if (action === 'requeue-dead-letters') {
      const n = Number(body.requeued) || 0;
      return 'requeued ' + n + ' dead ' + plural(n, 'letter', 'letters') + ' of ' + id;
    }
    const d = body.dropped || {};
    const n = Number(d.total) || 0;
    return 'dropped ' + n + ' queued ' + plural(n, 'message', 'messages') + ' of ' + id +
      ' (high ' + (d.high || 0) + ', normal ' + (d.normal || 0) + ', low ' + (d.low || 0) + ')';
  }

  /* ----------------------------------------------------------------- detail */

  /** Opens the detail panel of one orchestrator. */
  function openDetail(id) {
    state.detailId = id;
    el.detail.hidden = false;
    setText(el.detailTitle, id);
    setText(el.detailNote, 'Loading…');
    el.detailSummary.replaceChildren();
    el.detailSessions.replaceChildren();
    renderRows(false);
    loadDetail();
    el.detailClose.focus();
  }

  /** Closes the detail panel. */
  function closeDetail() {
    state.detailId = null;
    el.detail.hidden = true;
    renderRows(false);
  }

  /** Fetches and draws the open detail (one request at a time). */
  async function loadDetail() {
    const id = state.detailId;
    if (id === null || state.detailBusy) return;
    state.detailBusy = true;
    try {
      const d = await getJSON(orchestratorUrl(id), undefined, 10000);
      if (state.detailId === id) renderDetail(d);
    } catch (err) {
      if (state.detailId === id) {
        setText(el.detailNote, err.status === 404 ? 'Not found (404): ' + err.message
          : err.status ? 'Refused: ' + err.status + ' ' + err.message
            : 'Cannot reach the dashboard server (' + err.message + ')');
        el.detailNote.classList.add('alert');
      }
    } finally {
      state.detailBusy = false;
    }
  }

  /** Formats a point in time (ISO-8601, as the server sends them), with its age. */
  function fmtWhen(v) {
    if (v == null || v === '') return '–';
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) return String(v);
    return fmtClock(ms) + ' (' + fmtAge(Date.now() - ms) + ' ago)';
  }

  /** Formats any session field for a cell. */
  function fmtValue(v) {
    if (v == null) return '–';
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (typeof v === 'number') return fmtInt(v);
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  /** Draws the detail of one orchestrator. */
  function renderDetail(d) {
    setText(el.detailNote, 'Read ' + fmtClock(Date.now()));
    el.detailNote.classList.remove('alert');
    const q = d.queue || {};
    const items = [
      ['Presence', d.online ? 'online' : 'offline'],
      ['Queued', fmtInt(q.total) + ' (high ' + fmtInt(q.high) + ' · normal ' + fmtInt(q.normal) + ' · low ' + fmtInt(q.low) + ')'],
      ['Oldest queued', d.oldestQueuedAt ? fmtWhen(d.oldestQueuedAt) : '–'],
      ['Receipts awaited', fmtInt(d.pendingReceipts)],
      ['Dead letters', fmtInt(d.deadLetters)],
    ];
    const dl = document.createDocumentFragment();
    for (const [k, v] of items) dl.append(make('dt', '', k), make('dd', '', v));
    el.detailSummary.replaceChildren(dl);

    const sessions = Array.isArray(d.sessions) ? d.sessions : [];
    const frag = document.createDocumentFragment();
    for (const s of sessions) {
      const tr = make('tr');
      tr.append(
        make('td', 'mono', fmtValue(s.sessionId)),
        make('td', 'mono', fmtValue(s.daemonId)),
        make('td', '', fmtValue(s.status)),
        make('td', 'when', fmtWhen(s.lastActiveAt)),
        make('td', '', s.primary ? 'primary' : ''),
        make('td', '', fmtValue(s.daemonEvents)),
      );
      frag.append(tr);
    }
    if (sessions.length === 0) {
      const tr = make('tr', 'empty');
      const td = make('td', '', 'No sessions.');
      td.colSpan = 6;
      tr.append(td);
      frag.append(tr);
    }
    el.detailSessions.replaceChildren(frag);
  }

  /* ----------------------------------------------------------------- wiring */

  /** Takes the token from the URL fragment (#token=…) and removes it from the address bar. */
  function takeTokenFromFragment() {
    if (!location.hash) return;
    const token = new URLSearchParams(location.hash.slice(1)).get('token');
    if (token !== null) el.token.value = token;
    history.replaceState(null, '', location.pathname + location.search);
  }

  /** Hooks the controls up. */
  function wire() {
    let debounce = 0;
    const applySearch = () => {
      clearTimeout(debounce);
      if (el.search.value === state.search) return;
      state.search = el.search.value;
      state.page = 1;
      pollSoon();
    };
    el.search.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(applySearch, SEARCH_DEBOUNCE_MS);
    });
    el.search.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') applySearch();
    });

    el.size.addEventListener('change', () => {
      state.size = Number(el.size.value);
      state.page = 1;
      pollSoon();
    });
    el.prev.addEventListener('click', () => {
      if (state.page > 1) {
        state.page -= 1;
        el.prev.disabled = true;
        pollSoon();
      }
    });
    el.next.addEventListener('click', () => {
      state.page += 1;
      el.next.disabled = true;
      pollSoon();
    });

    el.thead.addEventListener('click', (ev) => {
      const th = ev.target.closest('th[data-sort]');
      if (!th) return;
      const key = th.getAttribute('data-sort');
      if (state.sort === key) {
        state.order = state.order === 'desc' ? 'asc' : 'desc';
      } else {
        state.sort = key;
        state.order = key === 'id' ? 'asc' : 'desc';
      }
      state.page = 1;
      renderSortHeaders();
      pollSoon();
    });

    el.tbody.addEventListener('click', (ev) => {
      const button = ev.target.closest('button');
      if (!button || button.disabled) return;
      const tr = button.closest('tr[data-orchestrator]');
      if (!tr) return;
      const id = tr.getAttribute('data-orchestrator');
      if (button.hasAttribute('data-open')) openDetail(id);
      else if (button.hasAttribute('data-action')) runAction(id, button.getAttribute('data-action'));
    });

    el.detailClose.addEventListener('click', closeDetail);
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && state.detailId !== null) closeDetail();
    });
  }

  takeTokenFromFragment();
  el.tokenField.remove(); // put back by setActions(true)
  wire();
  renderSortHeaders();
  poll();
})();
