// drift-script view: renders the run's units and tables from the JSON blob. Text reaches the
// page only through textContent (answers are model output). State lives in the URL fragment
// (#agent=…&user=…&setting=…&turn=…&min=…&max=…), read at load and on every change.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('data').textContent);
  var units = data.units;
  var $ = function (id) { return document.getElementById(id); };
  var EAGER = 3;          // units drawn at once; the rest when scrolled to
  var TABLE_ROWS = 100;   // rows of a kind's table shown before "show all"

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return '–';
    if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3);
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }
  function colour(s) {
    var c = Math.max(0, Math.min(1, s));
    return 'hsl(' + Math.round(c * 120) + ',70%,88%)';
  }
  function uniq(values, numeric) {
    var seen = {}, out = [];
    values.forEach(function (v) {
      if (v === null || v === undefined) return;
      var k = String(v);
      if (!seen[k]) { seen[k] = true; out.push(v); }
    });
    return out.sort(numeric ? function (a, b) { return a - b; }
                            : function (a, b) { return String(a).localeCompare(String(b)); });
  }
  function fill(select, values) {
    values.forEach(function (v) {
      var o = el('option', null, v);
      o.value = String(v);
      select.appendChild(o);
    });
  }

  var turns = [];
  units.forEach(function (u) {
    u.turns.forEach(function (t) { if (typeof t.turn === 'number') turns.push(t.turn); });
    u.probes.forEach(function (p) { if (typeof p.turn === 'number') turns.push(p.turn); });
  });
  fill($('f-agent'), uniq(units.map(function (u) { return u.agent; })));
  fill($('f-user'), uniq(units.map(function (u) { return u.user; })));
  var settings = uniq(units.map(function (u) { return u.setting; }));
  fill($('f-setting'), settings);
  if (!settings.length) $('l-setting').style.display = 'none';
  fill($('f-turn'), uniq(turns, true));

  function number(text) {
    if (text === null || text === '') return null;
    var n = parseFloat(text);
    return isNaN(n) ? null : n;
  }
  function readState() {
    var p = new URLSearchParams(location.hash.slice(1));
    return {
      agent: p.get('agent') || '', user: p.get('user') || '', setting: p.get('setting') || '',
      turn: p.get('turn') || '', min: number(p.get('min')), max: number(p.get('max'))
    };
  }
  function showState(st) {
    ['agent', 'user', 'setting', 'turn'].forEach(function (k) {
      var s = $('f-' + k);
      if (st[k] && !Array.prototype.some.call(s.options, function (o) { return o.value === st[k]; })) {
        var o = el('option', null, st[k] + ' (not in this run)');
        o.value = st[k];
        s.appendChild(o);
      }
      s.value = st[k];
    });
    $('f-min').value = st.min === null ? '' : st.min;
    $('f-max').value = st.max === null ? '' : st.max;
  }
  function writeState() {
    var p = new URLSearchParams();
    ['agent', 'user', 'setting', 'turn', 'min', 'max'].forEach(function (k) {
      var v = $('f-' + k).value;
      if (v !== '') p.set(k, v);
    });
    location.hash = p.toString();
  }

  function ranged(st) { return st.min !== null || st.max !== null; }
  function scoreIn(st, s) {
    if (!ranged(st)) return true;
    if (typeof s !== 'number') return false;
    return s >= (st.min === null ? -Infinity : st.min) && s <= (st.max === null ? Infinity : st.max);
  }
  function turnIn(st, t) { return st.turn === '' || String(t) === st.turn; }
  function probeShown(st, p) { return turnIn(st, p.turn) && scoreIn(st, p.score); }
  function unitShown(st, u) {
    if (st.agent && u.agent !== st.agent) return false;
    if (st.user && u.user !== st.user) return false;
    if (st.setting && u.setting !== st.setting) return false;
    if (ranged(st)) return u.probes.some(function (p) { return probeShown(st, p); });
    if (st.turn) {
      return u.turns.some(function (t) { return turnIn(st, t.turn); }) ||
             u.probes.some(function (p) { return turnIn(st, p.turn); });
    }
    return true;
  }

  function tags(box, extra) {
    Object.keys(extra || {}).forEach(function (k) { box.appendChild(el('span', 'tag', k + ' ' + fmt(extra[k]))); });
  }

  function answerBox(u, p) {
    var scored = typeof p.score === 'number';
    var a = el('div', 'answer' + (scored ? '' : ' none'));
    a.id = 'a-' + u.index + '-' + p.turn + '-' + p.run;
    if (scored) a.style.background = colour(p.score);
    a.setAttribute('data-score', scored ? String(p.score) : '');
    a.setAttribute('data-turn', String(p.turn));
    var meta = el('span', 'meta', 'run ' + fmt(p.run) + ' · score ' + fmt(p.score) +
                  (p.user_score !== null && p.user_score !== undefined ? ' · user persona ' + fmt(p.user_score) : ''));
    tags(meta, p.extra);
    a.appendChild(meta);
    a.appendChild(document.createTextNode(p.answer));
    return a;
  }

  function drawBody(u, st) {
    var body = u.body;
    body.textContent = '';
    var rows = u.turns.slice();
    var hasFirst = rows.some(function (t) { return t.turn === 1; });
    if (u.topic && !hasFirst) rows.unshift({ turn: 1, speaker: 'user', text: u.topic, extra: {}, topic: true });
    var probesByTurn = {};
    u.probes.forEach(function (p) { (probesByTurn[p.turn] = probesByTurn[p.turn] || []).push(p); });
    var placed = {};
    rows.forEach(function (t) { placed[t.turn] = true; });
    Object.keys(probesByTurn).forEach(function (k) {
      if (!placed[k]) rows.push({ turn: probesByTurn[k][0].turn, speaker: null, text: null, extra: {} });
    });
    rows.sort(function (a, b) { return (a.turn || 0) - (b.turn || 0); });
    var count = 0;
    rows.forEach(function (t, i) {
      if (!turnIn(st, t.turn)) return;
      var row = el('div', 'row');
      if (!rows[i + 1] || rows[i + 1].turn !== t.turn) row.id = 'u' + u.index + '-t' + t.turn;
      if (t.speaker) {
        var who = t.speaker === 'agent' ? 'agent' : 'user';
        var b = el('div', 'bubble ' + who);
        var persona = who === 'agent' ? u.agent : u.user;
        var meta = el('span', 'meta', 'turn ' + fmt(t.turn) + ' · ' + t.speaker +
                      (persona ? ' (' + persona + ')' : '') + (t.topic ? ' · topic' : ''));
        tags(meta, t.extra);
        b.appendChild(meta);
        b.appendChild(document.createTextNode(t.text));
        row.appendChild(b);
      } else {
        row.appendChild(el('div', 'empty', 'turn ' + fmt(t.turn) + ': no turn record'));
      }
      var last = !rows[i + 1] || rows[i + 1].turn !== t.turn;
      var probes = last ? (probesByTurn[t.turn] || []).filter(function (p) { return probeShown(st, p); }) : [];
      var col = el('div', 'answers');
      if (probes.length) {
        col.appendChild(el('span', 'meta', 'probe answers after turn ' + fmt(t.turn)));
        probes.forEach(function (p) { col.appendChild(answerBox(u, p)); });
      }
      row.appendChild(col);
      body.appendChild(row);
      count++;
    });
    if (!count) body.appendChild(el('p', 'empty', 'nothing here matches the filters'));
    u.drawn = true;
  }

  var observer = 'IntersectionObserver' in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (!e.isIntersecting) return;
      var u = units[+e.target.getAttribute('data-index')];
      observer.unobserve(e.target);
      if (!u.drawn) drawBody(u, state);
    });
  }, { rootMargin: '800px 0px' }) : null;

  var state = readState();
  function render() {
    state = readState();
    showState(state);
    var box = $('units');
    box.textContent = '';
    if (observer) observer.disconnect();
    var shown = 0;
    units.forEach(function (u, i) {
      u.index = i;
      u.drawn = false;
      if (!unitShown(state, u)) return;
      var sec = el('section', 'unit');
      sec.id = 'u' + i;
      sec.setAttribute('data-index', String(i));
      sec.setAttribute('data-agent', u.agent || '');
      sec.setAttribute('data-user', u.user || '');
      var h = el('h3');
      h.appendChild(el('span', null, (u.pair !== null && u.pair !== undefined ? 'pair ' + fmt(u.pair) : 'unit ' + u.key) +
                       (u.setting ? ' · ' + u.setting : '')));
      if (u.agent) h.appendChild(el('span', 'chip agent', 'agent: ' + u.agent));
      if (u.user) h.appendChild(el('span', 'chip user', 'user: ' + u.user));
      var scores = u.probes.map(function (p) { return p.score; }).filter(function (s) { return typeof s === 'number'; });
      if (scores.length) {
        var m = scores.reduce(function (a, b) { return a + b; }, 0) / scores.length;
        var chip = el('span', 'chip', 'mean score ' + m.toFixed(3) + ' over ' + scores.length);
        chip.style.background = colour(m);
        h.appendChild(chip);
      }
      if (u.topic) h.appendChild(el('span', 'topic', u.topic));
      h.addEventListener('click', function () {
        sec.classList.toggle('collapsed');
        if (!u.drawn) drawBody(u, state);
      });
      sec.appendChild(h);
      u.body = el('div', 'body');
      sec.appendChild(u.body);
      box.appendChild(sec);
      if (shown < EAGER || !observer) drawBody(u, state);
      else observer.observe(sec);
      shown++;
    });
    $('shown').textContent = shown + ' of ' + units.length + ' unit(s)';
    if (!units.length) box.appendChild(el('p', 'empty', 'This run has no conversation or probe records.'));
    else if (!shown) box.appendChild(el('p', 'empty', 'No unit matches the filters.'));
  }

  function drawTables() {
    var box = $('tables');
    data.tables.forEach(function (t) {
      box.appendChild(el('h2', null, 'Records of kind "' + t.kind + '" (' + t.rows.length + ')'));
      var table = el('table', 'records');
      table.setAttribute('data-kind', t.kind);
      var head = el('tr');
      t.columns.forEach(function (c) { head.appendChild(el('th', null, c)); });
      table.appendChild(el('thead')).appendChild(head);
      var tbody = table.appendChild(el('tbody'));
      function rows(from, to) {
        t.rows.slice(from, to).forEach(function (r) {
          var tr = el('tr');
          r.forEach(function (v) { tr.appendChild(el('td')).appendChild(el('div', null, fmt(v))); });
          tbody.appendChild(tr);
        });
      }
      rows(0, TABLE_ROWS);
      box.appendChild(table);
      if (t.rows.length > TABLE_ROWS) {
        var more = el('button', null, 'show all ' + t.rows.length + ' rows');
        more.addEventListener('click', function () { rows(TABLE_ROWS, t.rows.length); more.remove(); });
        box.appendChild(more);
      }
    });
  }

  ['f-agent', 'f-user', 'f-setting', 'f-turn', 'f-min', 'f-max'].forEach(function (id) {
    $(id).addEventListener('change', writeState);
  });
  $('f-reset').addEventListener('click', function (e) { e.preventDefault(); location.hash = ''; });
  window.addEventListener('hashchange', function () {
    render();
    $('browse').scrollIntoView();
  });
  render();
  drawTables();
  document.body.setAttribute('data-render-ms', String(Math.round(performance.now())));
  document.body.setAttribute('data-ready', '1');
})();
