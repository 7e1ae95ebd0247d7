// pipemon report renderer: tables and SVG charts from the JSON blocks inlined in
// this page. No library and no network: every chart is a few SVG paths built here,
// and a pipeline's run series is parsed only when its page is opened.
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('pipemon-data').textContent);
  var P = D.pipelines;
  var A = D.alerts;
  var SVGNS = 'http://www.w3.org/2000/svg';
  var RANK = { failing: 0, late: 1, degraded: 2, healthy: 3 };
  var SEVRANK = { critical: 0, high: 1, medium: 2, low: 3 };
  var OUTCOMES = [
    ['s', 'success', '✔'], ['f', 'failed', '✖'], ['c', 'cancelled', '⊘'],
    ['k', 'skipped', '–'], ['r', 'running', '▶']
  ];
  var byId = new Map();
  P.forEach(function (p, i) { p.idx = i; byId.set(p.pipeline_id, p); });
  var alertById = new Map();
  var alertsOf = new Map();
  A.forEach(function (a) {
    alertById.set(a.id, a);
    var ids = a.pipeline_id ? [a.pipeline_id] : ((a.details && a.details.affected_pipelines) || []);
    ids.forEach(function (id) {
      if (!byId.has(id)) return;
      if (!alertsOf.has(id)) alertsOf.set(id, []);
      alertsOf.get(id).push(a);
    });
  });
  alertsOf.forEach(function (list) { list.sort(function (x, y) { return x.start_ms - y.start_ms || x.id - y.id; }); });
  var seriesCache = new Map();

  // ---- small helpers -------------------------------------------------------
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (attrs[k] === null || attrs[k] === undefined) continue;
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'cls') e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) e.appendChild(arguments[i]);
    return e;
  }
  function svgText(x, y, s, anchor) {
    var t = svg('text', { x: x, y: y, 'text-anchor': anchor || 'start' });
    t.textContent = s;
    return t;
  }
  function fmtDur(ms) {
    if (ms === null || ms === undefined) return '—';
    if (ms < 1000) return Math.round(ms) + 'ms';
    var s = ms / 1000;
    if (s < 60) return s.toFixed(1) + 's';
    s = Math.floor(s);
    if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h' + String(Math.floor(s % 3600 / 60)).padStart(2, '0') + 'm';
    return Math.floor(s / 86400) + 'd' + String(Math.floor(s % 86400 / 3600)).padStart(2, '0') + 'h';
  }
  function fmtPct(r) { return r === null || r === undefined ? '—' : (r * 100).toFixed(1) + '%'; }
  function fmtNum(n) {
    if (n === null || n === undefined) return '—';
    if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
    if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(0) + 'k';
    return String(Math.round(n));
  }
  function fmtTime(iso) { return iso ? iso.slice(0, 16).replace('T', ' ') + 'Z' : '—'; }
  function stateBadge(s) { return el('span', { cls: 'state ' + s, text: s }); }
  function sevBadge(s) { return el('span', { cls: 'sev ' + s, text: s }); }
  function pipeHref(id) { return '#p/' + encodeURIComponent(id); }
  function teamHref(t) { return '#team/' + encodeURIComponent(t); }
  function link(href, text) { return el('a', { href: href, text: text }); }
  function td(text, cls, field, value) {
    var c = el('td', { cls: cls, 'data-field': field });
    if (value !== undefined) c.setAttribute('data-value', value === null ? '' : String(value));
    if (typeof text === 'string') c.textContent = text; else if (text) c.appendChild(text);
    return c;
  }
  function firing(a) { return a.status === 'firing'; }
  function openAlerts(id) { return (alertsOf.get(id) || []).filter(firing); }
  // A pipeline's series block, decoded (see `series_json` in src/report/mod.rs):
  // start times from minute deltas, outcome letters from their run lengths, retries
  // from the retried runs' pairs, durations, records and bands from log-quantised
  // deltas (1/200 in natural log); bands expanded to one value per run (null where
  // no band point is) for the chart code.
  function logDeltas(a, vol) {
    var acc = 0, out = new Array(a.length);
    for (var i = 0; i < a.length; i++) {
      if (a[i] === null) { out[i] = null; continue; }
      acc += a[i];
      var x = Math.exp(acc / 200);
      out[i] = vol ? x - 1 : x;
    }
    return out;
  }
  function series(p) {
    if (!seriesCache.has(p.idx)) {
      var raw = JSON.parse(document.getElementById('s' + p.idx).textContent);
      var n = raw.t.length, t = new Array(n);
      var acc = Math.floor(D.window_start_ms / 60000);
      for (var i = 0; i < n; i++) { acc += raw.t[i]; t[i] = acc * 60000; }
      raw.ms = t;
      raw.o = raw.o.replace(/(\d+)([a-z])/g, function (m, k, c) { return c.repeat(Number(k)); });
      var y = new Array(n).fill(0);
      for (var j = 0, at = 0; j + 1 < raw.y.length; j += 2) { at += raw.y[j]; y[at] = raw.y[j + 1]; }
      raw.y = y;
      raw.d = logDeltas(raw.d, false);
      raw.r = logDeltas(raw.r, true);
      var pts = [];
      for (i = 0; i < n; i++) if (i % raw.bs === 0 || i === n - 1) pts.push(i);
      ['de', 'du', 'dl', 've', 'vu', 'vl'].forEach(function (k) {
        var full = new Array(n).fill(null);
        logDeltas(raw[k], k[0] === 'v').forEach(function (v, j) { if (v !== null) full[pts[j]] = v; });
        raw[k] = full;
      });
      seriesCache.set(p.idx, raw);
    }
    return seriesCache.get(p.idx);
  }
  function tableWrap(table) { return el('div', { cls: 'tablewrap' }, table); }

  // ---- sortable pipeline table ----------------------------------------------
  var COLUMNS = [
    { key: 'state', label: 'State', get: function (p) { return RANK[p.state]; }, cell: function (p) { return td(stateBadge(p.state), null, 'state', p.state); } },
    { key: 'pipeline_id', label: 'Pipeline', get: function (p) { return p.pipeline_id; }, cell: function (p) { return td(link(pipeHref(p.pipeline_id), p.pipeline_id), null, 'pipeline_id', p.pipeline_id); } },
    { key: 'team', label: 'Team', get: function (p) { return p.team; }, cell: function (p) { return td(link(teamHref(p.team), p.team), null, 'team', p.team); } },
    { key: 'success_rate', label: 'Success rate', num: true, get: function (p) { return p.success_rate === null ? -1 : p.success_rate; }, cell: function (p) { return td(fmtPct(p.success_rate), 'num', 'success_rate', p.success_rate); } },
    { key: 'consecutive_failures', label: 'Failure streak', num: true, get: function (p) { return p.consecutive_failures; }, cell: function (p) { return td(String(p.consecutive_failures), 'num', 'consecutive_failures', p.consecutive_failures); } },
    { key: 'last_success_at', label: 'Last success', get: function (p) { return p.last_success_at || ''; }, cell: function (p) { return td(fmtTime(p.last_success_at), null, 'last_success_at', p.last_success_at); } },
    { key: 'duration_p95_ms', label: 'p95 duration', num: true, get: function (p) { return p.duration_p95_ms === null ? -1 : p.duration_p95_ms; }, cell: function (p) { return td(fmtDur(p.duration_p95_ms), 'num', 'duration_p95_ms', p.duration_p95_ms); } },
    { key: 'open_alerts', label: 'Open alerts', num: true, get: function (p) { return p.open_alerts; }, cell: function (p) { return td(String(p.open_alerts), 'num', 'open_alerts', p.open_alerts); } },
    { key: 'runs_total', label: 'Runs', num: true, get: function (p) { return p.runs_total; }, cell: function (p) { return td(String(p.runs_total), 'num', 'runs_total', p.runs_total); } }
  ];
  function failingFirst(x, y) {
    return RANK[x.state] - RANK[y.state] || y.open_alerts - x.open_alerts ||
      y.consecutive_failures - x.consecutive_failures || (x.pipeline_id < y.pipeline_id ? -1 : 1);
  }
  function pipelineTable(list, id) {
    var rows = list.slice().sort(failingFirst);
    var tbody = el('tbody');
    var trs = new Map();
    rows.forEach(function (p) {
      var tr = el('tr', { 'data-pipeline-id': p.pipeline_id, 'data-team': p.team, 'data-state': p.state });
      COLUMNS.forEach(function (c) { tr.appendChild(c.cell(p)); });
      trs.set(p, tr);
      tbody.appendChild(tr);
    });
    var sortKey = 'state', dir = 1;
    var headRow = el('tr');
    COLUMNS.forEach(function (c) {
      var th = el('th', { scope: 'col', cls: c.num ? 'num' : null, 'aria-sort': c.key === 'state' ? 'ascending' : 'none' });
      var b = el('button', { type: 'button', text: c.label });
      b.addEventListener('click', function () {
        dir = sortKey === c.key ? -dir : (c.num ? -1 : 1);
        sortKey = c.key;
        rows.sort(function (x, y) {
          var a = c.get(x), b2 = c.get(y);
          return (a < b2 ? -1 : a > b2 ? 1 : 0) * dir || failingFirst(x, y);
        });
        headRow.querySelectorAll('th').forEach(function (h) { h.setAttribute('aria-sort', 'none'); });
        th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
        var frag = document.createDocumentFragment();
        rows.forEach(function (p) { frag.appendChild(trs.get(p)); });
        tbody.appendChild(frag);
      });
      th.appendChild(b);
      headRow.appendChild(th);
    });
    var table = el('table', { id: id }, el('caption', { cls: 'muted', style: 'caption-side:bottom;text-align:left;padding:.4rem .6rem', text: 'Figures over all history, as `pipemon query pipeline_health`. Click a column to sort.' }), el('thead', null, headRow), tbody);
    table.filterRows = function (team, text) {
      var shown = 0;
      trs.forEach(function (tr, p) {
        var ok = (!team || p.team === team) && (!text || p.pipeline_id.indexOf(text) >= 0);
        tr.hidden = !ok;
        if (ok) shown++;
      });
      return shown;
    };
    return table;
  }

  function stateCards(list) {
    var counts = { failing: 0, late: 0, degraded: 0, healthy: 0 };
    list.forEach(function (p) { counts[p.state]++; });
    var ul = el('ul', { cls: 'cards', 'aria-label': 'Pipelines by state' });
    ['failing', 'late', 'degraded', 'healthy'].forEach(function (s) {
      ul.appendChild(el('li', { 'data-state-count': s }, el('span', { cls: 'n', text: String(counts[s]) }), stateBadge(s)));
    });
    return ul;
  }

  function alertTable(list, numbered) {
    if (!list.length) return el('p', { cls: 'empty', text: 'None.' });
    var tbody = el('tbody');
    list.forEach(function (a, i) {
      tbody.appendChild(el('tr', { 'data-alert-id': a.id },
        numbered ? td(String(i + 1), 'num') : null,
        td(link('#alert/' + a.id, '#' + a.id)),
        td(sevBadge(a.severity)),
        td(a.kind),
        td(a.status + (a.silenced ? ' (silenced)' : '') + (a.inhibited ? ' (inhibited)' : '')),
        td(a.pipeline_id ? link(pipeHref(a.pipeline_id), a.pipeline_id) : 'systemic'),
        td(fmtTime(a.started_at)),
        td(a.summary, 'wrap')));
    });
    var head = el('tr');
    (numbered ? ['Mark'] : []).concat(['Alert', 'Severity', 'Kind', 'Status', 'Pipeline', 'Started', 'Summary']).forEach(function (h) { head.appendChild(el('th', { scope: 'col', text: h })); });
    return tableWrap(el('table', null, el('thead', null, head), tbody));
  }
  function bySeverity(x, y) { return SEVRANK[x.severity] - SEVRANK[y.severity] || y.start_ms - x.start_ms; }

  // ---- pages ------------------------------------------------------------------
  function overview(app) {
    app.appendChild(el('h1', { text: 'Fleet health' }));
    app.appendChild(stateCards(P));
    var firingList = A.filter(firing).sort(bySeverity);
    var teams = Object.keys(D.teams);
    var controls = el('div', { cls: 'controls' });
    var sel = el('select', { id: 'team-filter' }, el('option', { value: '', text: 'all teams' }));
    teams.forEach(function (t) { sel.appendChild(el('option', { value: t, text: t })); });
    var input = el('input', { id: 'text-filter', type: 'search', placeholder: 'pipeline name contains…' });
    var count = el('span', { cls: 'muted', 'aria-live': 'polite' });
    controls.appendChild(el('label', null, 'Team ', sel));
    controls.appendChild(el('label', null, 'Filter ', input));
    controls.appendChild(count);
    app.appendChild(el('h2', { text: 'Pipelines, failing first' }));
    app.appendChild(controls);
    var table = pipelineTable(P, 'fleet');
    function apply() { count.textContent = table.filterRows(sel.value, input.value.trim()) + ' of ' + P.length + ' shown'; }
    sel.addEventListener('change', apply);
    input.addEventListener('input', apply);
    app.appendChild(tableWrap(table));
    apply();
    app.appendChild(el('h2', { text: 'Teams' }));
    var tb = el('tbody');
    teams.forEach(function (t) {
      var mine = P.filter(function (p) { return p.team === t; });
      var open = firingList.filter(function (a) { return a.team === t; });
      tb.appendChild(el('tr', { 'data-team': t }, td(link(teamHref(t), t)), td(String(mine.length), 'num'),
        td(String(mine.filter(function (p) { return p.state === 'failing'; }).length), 'num'),
        td(String(open.length), 'num')));
    });
    var th = el('tr');
    ['Team', 'Pipelines', 'Failing', 'Open alerts'].forEach(function (h) { th.appendChild(el('th', { scope: 'col', text: h })); });
    app.appendChild(tableWrap(el('table', null, el('thead', null, th), tb)));
    app.appendChild(el('h2', { text: 'Firing alerts (' + firingList.length + ')' }));
    app.appendChild(alertTable(firingList, false));
  }

  function teamPage(app, team) {
    var mine = P.filter(function (p) { return p.team === team; });
    app.appendChild(el('h1', { text: 'Team ' + team }));
    app.appendChild(stateCards(mine));
    var open = A.filter(function (a) { return firing(a) && a.team === team; }).sort(bySeverity);
    var ul = el('ul', { cls: 'cards', 'aria-label': 'Open alerts by severity' });
    ['critical', 'high', 'medium', 'low'].forEach(function (s) {
      ul.appendChild(el('li', null, el('span', { cls: 'n', text: String(open.filter(function (a) { return a.severity === s; }).length) }), sevBadge(s), ' open'));
    });
    app.appendChild(ul);
    app.appendChild(el('h2', { text: 'Pipelines' }));
    app.appendChild(tableWrap(pipelineTable(mine, 'team-pipelines')));
    app.appendChild(el('h2', { text: 'Open alerts' }));
    app.appendChild(alertTable(open, false));
  }

  // x axis ticks: one per day (or per week on long windows), labelled MM-DD.
  function timeAxis(g, x0, x1, X, y) {
    var day = 86400000;
    var span = x1 - x0;
    var step = span > 45 * day ? 7 * day : span > 20 * day ? 2 * day : day;
    for (var t = Math.ceil(x0 / day) * day; t <= x1; t += step) {
      var x = X(t);
      g.appendChild(svg('line', { x1: x, x2: x, y1: y, y2: y + 4, class: 'axis' }));
      g.appendChild(svgText(x, y + 15, new Date(t).toISOString().slice(5, 10), 'middle'));
    }
  }
  function alertMarks(g, alerts, X, top, bottom, x0) {
    alerts.forEach(function (a, i) {
      var x = X(Math.max(a.start_ms, x0));
      var title = svg('title', {});
      title.textContent = '#' + a.id + ' ' + a.kind + ' (' + a.severity + ', ' + a.status + ') started ' + a.started_at + (a.start_ms < x0 ? ', before this window' : '');
      var mark = svg('a', { href: '#alert/' + a.id, class: 'alert-mark', 'data-alert-id': a.id, 'aria-label': 'alert ' + a.id + ' ' + a.kind },
        title,
        svg('line', { x1: x, x2: x, y1: top, y2: bottom }),
        svg('path', { d: 'M' + (x - 5) + ' ' + (top - 9) + 'h10l-5 8z' }));
      mark.appendChild(svgText(x + 6, top - 1, String(i + 1)));
      g.appendChild(mark);
    });
  }
  // A line chart of one series with its band: `v` values, `lo`/`mid`/`hi` band,
  // failed runs marked with a cross.
  function lineChart(opts) {
    var W = 1000, H = 250, L = 64, R = 12, T = 22, B = 30;
    var s = opts.s, xs = s.ms, x0 = D.window_start_ms, x1 = Math.max(D.window_end_ms, x0 + 1);
    var X = function (t) { return L + (t - x0) / (x1 - x0) * (W - L - R); };
    var vmax = 0;
    for (var i = 0; i < xs.length; i++) {
      if (opts.v[i] !== null && opts.v[i] > vmax) vmax = opts.v[i];
      if (opts.hi[i] !== null && opts.hi[i] > vmax) vmax = opts.hi[i];
    }
    vmax = vmax > 0 ? vmax * 1.05 : 1;
    var empty = xs.length === 0;
    var Y = function (v) { return T + (H - T - B) * (1 - v / vmax); };
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart ' + opts.cls, role: 'img', 'aria-label': opts.label });
    var title = svg('title', {}); title.textContent = opts.label; root.appendChild(title);
    var g = svg('g', {});
    root.appendChild(g);
    for (var k = 0; k <= 4; k++) {
      var v = vmax / 4 * k, y = Y(v);
      g.appendChild(svg('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'axis' }));
      if (!empty) g.appendChild(svgText(L - 6, y + 4, opts.fmt(v), 'end'));
    }
    if (empty) g.appendChild(svgText((L + W - R) / 2, (T + H - B) / 2, 'No runs started in this window', 'middle'));
    timeAxis(g, x0, x1, X, H - B);
    // Band: contiguous stretches where the baseline exists.
    var band = '', exp = '', up = '';
    var seg = [];
    function flush() {
      if (seg.length) {
        band += 'M' + seg.map(function (j) { return X(xs[j]).toFixed(1) + ' ' + Y(opts.hi[j]).toFixed(1); }).join('L') +
          'L' + seg.slice().reverse().map(function (j) { return X(xs[j]).toFixed(1) + ' ' + Y(opts.lo[j]).toFixed(1); }).join('L') + 'Z';
        exp += 'M' + seg.map(function (j) { return X(xs[j]).toFixed(1) + ' ' + Y(opts.mid[j]).toFixed(1); }).join('L');
        up += 'M' + seg.map(function (j) { return X(xs[j]).toFixed(1) + ' ' + Y(opts.hi[j]).toFixed(1); }).join('L');
      }
      seg = [];
    }
    for (i = 0; i < xs.length; i++) {
      if (opts.hi[i] !== null) seg.push(i);
      else if (i % s.bs === 0 || i === xs.length - 1) flush();
    }
    flush();
    g.appendChild(svg('path', { d: band || 'M0 0', class: 'bandarea' }));
    g.appendChild(svg('path', { d: up || 'M0 0', class: 'upper' }));
    g.appendChild(svg('path', { d: exp || 'M0 0', class: 'expected' }));
    var line = '', dots = '', fails = '', pen = false;
    for (i = 0; i < xs.length; i++) {
      var val = opts.v[i];
      if (val === null || s.o[i] !== 's') { if (s.o[i] !== 'f') pen = false; }
      if (val !== null && s.o[i] === 's') {
        var px = X(xs[i]).toFixed(1), py = Y(val).toFixed(1);
        line += (pen ? 'L' : 'M') + px + ' ' + py;
        pen = true;
        if (xs.length <= 500) dots += 'M' + px + ' ' + py + 'm-2 0a2 2 0 1 0 4 0a2 2 0 1 0-4 0';
      }
      if (s.o[i] === 'f') {
        var fx = X(xs[i]), fy = val === null ? H - B - 6 : Y(val);
        fails += 'M' + (fx - 4) + ' ' + (fy - 4) + 'l8 8m0-8l-8 8';
      }
    }
    g.appendChild(svg('path', { d: line || 'M0 0', class: 'series' }));
    if (dots) g.appendChild(svg('path', { d: dots, class: 'pt' }));
    if (fails) g.appendChild(svg('path', { d: fails, class: 'fail' }));
    alertMarks(g, opts.alerts, X, T, H - B, x0);
    return root;
  }
  function timeline(s, alerts) {
    var W = 1000, L = 92, R = 12, T = 8, lane = 18, B = 24;
    var lanes = OUTCOMES.concat([['y', 'retried', '↻']]);
    var H = T + lane * lanes.length + B;
    var x0 = D.window_start_ms, x1 = Math.max(D.window_end_ms, x0 + 1);
    var X = function (t) { return L + (t - x0) / (x1 - x0) * (W - L - R); };
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart timeline', role: 'img', 'aria-label': 'Run timeline: one mark per run, one row per outcome; retried runs also in the last row' });
    var paths = {};
    lanes.forEach(function (l, j) {
      paths[l[0]] = '';
      root.appendChild(svgText(L - 8, T + lane * j + 13, l[2] + ' ' + l[1], 'end'));
      root.appendChild(svg('line', { x1: L, x2: W - R, y1: T + lane * (j + 1), y2: T + lane * (j + 1), class: 'axis' }));
    });
    var laneOf = { s: 0, f: 1, c: 2, k: 3, r: 4, y: 5 };
    for (var i = 0; i < s.ms.length; i++) {
      var x = X(s.ms[i]).toFixed(1);
      paths[s.o[i]] += 'M' + x + ' ' + (T + lane * laneOf[s.o[i]] + 3) + 'h1.6v12h-1.6z';
      if (s.y[i] > 0) paths.y += 'M' + x + ' ' + (T + lane * 5 + 3) + 'h1.6v12h-1.6z';
    }
    lanes.forEach(function (l) { if (paths[l[0]]) root.appendChild(svg('path', { d: paths[l[0]], class: 'lane-' + l[0] })); });
    timeAxis(root, x0, x1, X, H - B);
    return root;
  }

  function pipelinePage(app, id) {
    var p = byId.get(id);
    if (!p) { app.appendChild(el('p', { cls: 'empty', text: 'No pipeline ' + id + ' in this report.' })); return; }
    var alerts = alertsOf.get(id) || [];
    app.appendChild(el('h1', null, id + ' ', stateBadge(p.state)));
    var facts = [
      ['Team', link(teamHref(p.team), p.team)], ['Priority', p.priority], ['Environment', p.environment || '—'],
      ['Success rate', fmtPct(p.success_rate)], ['Failure streak', String(p.consecutive_failures)],
      ['Last run', fmtTime(p.last_run_at) + ' (' + (p.last_status || '—') + ')'], ['Last success', fmtTime(p.last_success_at)],
      ['Duration p50 / p95', fmtDur(p.duration_p50_ms) + ' / ' + fmtDur(p.duration_p95_ms)],
      ['Runs (retried)', p.runs_total + ' (' + p.runs_retried + ')'], ['Open alerts', String(p.open_alerts)]
    ];
    var dl = el('dl', { cls: 'grid2' });
    facts.forEach(function (f) { dl.appendChild(el('div', null, el('dt', { text: f[0] }), el('dd', null, f[1]))); });
    app.appendChild(dl);
    var s = series(p);
    var runsIn = s.ms.length;
    app.appendChild(el('p', { cls: 'muted', text: runsIn + ' runs since ' + fmtTime(D.window_start) + '. Shaded: the detector’s expected band (recent baseline, from the lower threshold to the alert threshold); dashed: expected value; ✖ failed run; numbered red marks: alerts where they started.' }));
    app.appendChild(el('h2', { text: 'Duration' }));
    app.appendChild(lineChart({ s: s, v: s.d, lo: s.dl, mid: s.de, hi: s.du, alerts: alerts, fmt: fmtDur, cls: 'chart-duration', label: 'Duration of each successful run of ' + id + ' with the expected band and alerts' }));
    app.appendChild(el('h2', { text: 'Records processed' }));
    app.appendChild(lineChart({ s: s, v: s.r, lo: s.vl, mid: s.ve, hi: s.vu, alerts: alerts, fmt: fmtNum, cls: 'chart-records', label: 'Records processed by each successful run of ' + id + ' with the expected band and alerts' }));
    app.appendChild(el('h2', { text: 'Runs' }));
    app.appendChild(timeline(s, alerts));
    var counts = {};
    for (var i = 0; i < s.o.length; i++) counts[s.o[i]] = (counts[s.o[i]] || 0) + 1;
    var retried = s.y.filter(function (v) { return v > 0; }).length;
    var legend = el('ul', { cls: 'legend' });
    OUTCOMES.forEach(function (o) { legend.appendChild(el('li', { text: o[2] + ' ' + o[1] + ': ' + (counts[o[0]] || 0) })); });
    legend.appendChild(el('li', { text: '↻ retried: ' + retried }));
    app.appendChild(legend);
    var open = alerts.filter(firing);
    app.appendChild(el('h2', { text: 'Open alerts (' + open.length + ')' }));
    app.appendChild(alertTable(open, false));
    app.appendChild(el('h2', { text: 'Open and recent alerts (' + alerts.length + ', numbered as on the charts)' }));
    app.appendChild(alertTable(alerts, true));
  }

  function alertPage(app, id) {
    var a = alertById.get(id);
    if (!a) { app.appendChild(el('p', { cls: 'empty', text: 'No alert #' + id + ' in this report.' })); return; }
    app.appendChild(el('h1', null, '#' + a.id + ' ' + a.kind + ' ', sevBadge(a.severity)));
    app.appendChild(el('p', { text: a.summary }));
    var facts = [
      ['Status', a.status + (a.silenced ? ', silenced' : '') + (a.inhibited ? ', inhibited' : '') + (a.details && a.details.acked_at ? ', acknowledged' : '')],
      ['Pipeline', a.pipeline_id ? link(pipeHref(a.pipeline_id), a.pipeline_id) : 'systemic'], ['Team', a.team],
      ['Started', fmtTime(a.started_at)], ['Resolved', fmtTime(a.resolved_at)], ['Last seen', fmtTime(a.last_seen_at)],
      ['Occurrences', String(a.occurrences)], ['Routed to', (a.receivers || []).join(', ') || '—']
    ];
    var dl = el('dl', { cls: 'grid2' });
    facts.forEach(function (f) { dl.appendChild(el('div', null, el('dt', { text: f[0] }), el('dd', null, f[1]))); });
    app.appendChild(dl);
    app.appendChild(el('h2', { text: 'Why it fired' }));
    var ul = el('ul', { cls: 'why' });
    (a.why || []).forEach(function (w) { ul.appendChild(el('li', { text: w })); });
    app.appendChild(ul);
    app.appendChild(el('h2', { text: 'Runs behind it' }));
    if (!a.runs.length) app.appendChild(el('p', { cls: 'empty', text: a.pipeline_id ? 'No runs in the database for this episode.' : 'A systemic alert: see the affected pipelines above.' }));
    else {
      var tb = el('tbody');
      // Each run an array: run_id, started_at, ended_at, outcome, attempts,
      // duration_ms, records, error (`RUN_FIELDS` in src/report/mod.rs).
      a.runs.forEach(function (r) {
        tb.appendChild(el('tr', null, td(r[0]), td(fmtTime(r[1])), td(fmtTime(r[2])), td(r[3]), td(String(r[4]), 'num'), td(fmtDur(r[5]), 'num'), td(fmtNum(r[6]), 'num'), td(r[7] || '', 'wrap')));
      });
      var h = el('tr');
      ['Run', 'Started', 'Ended', 'Outcome', 'Attempts', 'Duration', 'Records', 'Error'].forEach(function (x) { h.appendChild(el('th', { scope: 'col', text: x })); });
      app.appendChild(tableWrap(el('table', null, el('thead', null, h), tb)));
    }
    app.appendChild(el('h2', { text: 'Notifications' }));
    if (!a.notifications.length) app.appendChild(el('p', { cls: 'empty', text: a.silenced ? 'None: silenced.' : a.inhibited ? 'None: inhibited.' : 'None queued (routed to a receiver that records nothing, or not yet due).' }));
    else {
      var nb = el('tbody');
      a.notifications.forEach(function (n) {
        nb.appendChild(el('tr', null, td(n.receiver + ' (' + n.receiver_type + ')'), td(n.reason), td(n.status), td(fmtTime(n.queued_at)), td(fmtTime(n.sent_at)), td(String(n.attempts), 'num'), td(String(n.retries), 'num'), td(n.last_error || '', 'wrap')));
      });
      var nh = el('tr');
      ['Receiver', 'Reason', 'Status', 'Queued', 'Sent', 'Attempts', 'Retries', 'Last error'].forEach(function (x) { nh.appendChild(el('th', { scope: 'col', text: x })); });
      app.appendChild(tableWrap(el('table', null, el('thead', null, nh), nb)));
    }
  }

  // ---- routing --------------------------------------------------------------
  function route() {
    var app = document.getElementById('app');
    var crumbs = document.getElementById('crumbs');
    app.textContent = '';
    crumbs.textContent = '';
    var h = decodeURIComponent(location.hash.replace(/^#/, ''));
    var m;
    if ((m = /^p\/(.+)$/.exec(h))) {
      var p = byId.get(m[1]);
      crumbs.appendChild(link('#', 'overview'));
      if (p) { crumbs.appendChild(document.createTextNode(' › ')); crumbs.appendChild(link(teamHref(p.team), p.team)); }
      pipelinePage(app, m[1]);
      document.title = m[1] + ' · pipemon';
    } else if ((m = /^team\/(.+)$/.exec(h))) {
      crumbs.appendChild(link('#', 'overview'));
      teamPage(app, m[1]);
      document.title = m[1] + ' · pipemon';
    } else if ((m = /^alert\/(\d+)$/.exec(h))) {
      var a = alertById.get(Number(m[1]));
      crumbs.appendChild(link('#', 'overview'));
      if (a && a.pipeline_id) { crumbs.appendChild(document.createTextNode(' › ')); crumbs.appendChild(link(pipeHref(a.pipeline_id), a.pipeline_id)); }
      alertPage(app, Number(m[1]));
      document.title = 'alert #' + m[1] + ' · pipemon';
    } else {
      overview(app);
      document.title = 'pipemon report';
    }
    window.scrollTo(0, 0);
  }
  document.getElementById('asof').textContent = 'data to ' + fmtTime(D.data_end) + ' · charts from ' + fmtTime(D.window_start) +
    (D.last_evaluation ? ' · evaluated as of ' + fmtTime(D.last_evaluation.as_of) : ' · not evaluated yet') + ' · generated ' + fmtTime(D.generated_at);
  window.addEventListener('hashchange', route);
  route();
  document.documentElement.setAttribute('data-ready', '1');
})();
