// The teacher's page: the class address in large type, then /api/stats
// (polled) as tables per kind of rater, a bar chart and a gallery.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const f3 = (x) => (x === null ? 'n/a' : x.toFixed(3));
  const pct = (x) => (x === null ? 'n/a' : (100 * x).toFixed(1) + '%');
  const SVG = 'http://www.w3.org/2000/svg';
  let last = null; // the latest stats, redrawn when the gallery's group changes
  let chosen = false; // the teacher picked the gallery's group: kept
  let since = null; // when the stats were last read, for a stale page

  function el(tag, props, children) {
    const e = Object.assign(document.createElement(tag), props || {});
    for (const c of children || []) e.append(c);
    return e;
  }

  // Cells are strings or nodes.
  function table(t, head, rows, empty) {
    t.replaceChildren(el('tr', {}, head.map((h) => el('th', { textContent: h }))));
    for (const r of rows) t.append(el('tr', {}, r.map((c) => el('td', {}, [c instanceof Node ? c : String(c)]))));
    if (rows.length === 0) t.append(el('tr', {}, [el('td', { className: 'empty', colSpan: head.length, textContent: empty })]));
  }

  /** "3 min ago" in a <time> whose title is the full local time. */
  function ago(iso) {
    if (!iso) return 'never';
    const t = new Date(iso);
    const s = Math.max(0, (Date.now() - t.getTime()) / 1000);
    const text = s < 10 ? 'just now' : s < 60 ? Math.round(s) + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago'
      : s < 86400 ? Math.round(s / 3600) + ' h ago' : t.toLocaleDateString();
    return el('time', { dateTime: iso, title: t.toLocaleString(), textContent: text });
  }

  function progress(done, total) {
    const p = el('progress', { max: Math.max(1, total), value: done });
    return el('span', {}, [p, done + ' / ' + total]);
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** Horizontal bars: each rater's agreement with the judge (0-100%), students first. */
  function chart(raters) {
    const c = $('chart');
    const rows = raters.filter((r) => r.judgeAgreement !== null);
    const W = 640, left = 170, right = 120, row = 22, top = 22;
    const H = top + Math.max(1, rows.length) * row + 8;
    const x = (v) => left + v * (W - left - right);
    c.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    c.setAttribute('width', W);
    c.setAttribute('height', H);
    c.replaceChildren();
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      c.append(svg('line', { class: 'axis', x1: x(v), x2: x(v), y1: top - 4, y2: H - 6 }));
      c.append(svg('text', { x: x(v), y: 14, 'text-anchor': 'middle' }, Math.round(100 * v) + '%'));
    }
    if (rows.length === 0) c.append(svg('text', { x: left, y: top + 15 }, 'no good/bad labels yet'));
    rows.forEach((r, i) => {
      const y = top + i * row;
      const name = r.rater.length > 24 ? r.rater.slice(0, 23) + '\u2026' : r.rater;
      c.append(svg('text', { x: left - 8, y: y + 15, 'text-anchor': 'end' }, name));
      const bar = svg('rect', { class: r.kind, x: left, y: y + 3, height: row - 6, width: Math.max(1, x(r.judgeAgreement) - left) });
      bar.append(svg('title', {}, r.rater + ': ' + pct(r.judgeAgreement) + ' agreement, kappa ' + f3(r.judgeKappa)));
      c.append(bar);
      c.append(svg('text', { x: x(r.judgeAgreement) + 6, y: y + 15 }, pct(r.judgeAgreement) + '  \u03ba ' + f3(r.judgeKappa)));
    });
  }

  function gallery(items) {
    $('disputed').replaceChildren(...items.map((d) => {
      const who = d.id + ': ' + d.votes.map((v) => v.rater + ' ' + v.label).join(', ');
      const f = el('figure', { title: who }, [
        el('img', { src: '/images/' + encodeURIComponent(d.file), alt: d.prompt, width: 128, height: 128 }),
        el('figcaption', {}, [
          el('div', { textContent: d.prompt }),
          el('div', { className: 'votes' }, [
            el('span', { className: 'good', textContent: d.good + ' good' }), ' \u00b7 ',
            el('span', { className: 'bad', textContent: d.bad + ' bad' }),
            d.skip ? ' \u00b7 ' + d.skip + ' skip' : '',
          ]),
          el('div', { className: 'judge', textContent: 'judge: ' + (d.judgeAligned === null ? 'n/a' : d.judgeAligned ? 'aligned' : 'not aligned') }),
        ]),
      ]);
      f.dataset.id = d.id;
      return f;
    }));
    if (items.length === 0) $('disputed').append(el('p', { className: 'empty', textContent: 'No image has split good/bad votes yet.' }));
  }

  function draw(s) {
    const humans = s.raters.filter((r) => r.kind === 'human');
    const sims = s.raters.filter((r) => r.kind !== 'human');
    $('summary').textContent =
      s.labels + ' labels on ' + s.labelledImages + ' of ' + s.images + ' images by ' + humans.length + ' students and ' +
      sims.length + " simulated raters. Fleiss' kappa " + f3(s.fleissKappa) + ' over ' + s.fleissItems + (s.fleissItems === 1 ? ' image' : ' images') + ' with two or more good/bad labels.';
    const k = (x) => "Fleiss' kappa " + f3(x.fleissKappa) + ' over ' + x.fleissItems + (x.fleissItems === 1 ? ' image' : ' images');
    $('humans-note').textContent = humans.length ? humans.length + ' \u00b7 ' + k(s.kinds.human) : '';
    $('simulated-note').textContent = sims.length ? sims.length + ' \u00b7 ' + k(s.kinds.simulated) : '';
    const byActivity = [...humans].sort((a, b) => (b.lastActivity || '').localeCompare(a.lastActivity || ''));
    table($('humans'), ['student', 'progress', 'good', 'bad', 'skip', 'last activity', 'agreement with judge', 'kappa with judge'],
      byActivity.map((r) => [r.rater, progress(r.labelled, s.images), r.good, r.bad, r.skip, ago(r.lastActivity), pct(r.judgeAgreement), f3(r.judgeKappa)]),
      'No student has labelled yet: they open the address above.');
    table($('simulated'), ['rater', 'labelled', 'good', 'bad', 'skip', 'agreement with judge', 'kappa with judge'],
      sims.map((r) => [r.rater, r.labelled + ' / ' + s.images, r.good, r.bad, r.skip, pct(r.judgeAgreement), f3(r.judgeKappa)]),
      'None (t2i-align label --data DIR adds a simulated panel).');
    chart([...humans, ...sims]);
    table($('pairs'), ['rater A', 'rater B', 'images in common', 'agreement', 'kappa'],
      s.pairs.map((p) => [p.a, p.b, p.common, pct(p.agreement), f3(p.kappa)]), 'Fewer than two raters.');
    gallery(s.disputed[$('disputed-among').value]);
    table($('balance'), ['category', 'images', 'good', 'bad', 'skip', 'good rate', 'judge aligned'],
      Object.entries(s.balance).map(([c, b]) => [c, b.images, b.good, b.bad, b.skip, pct(b.goodRate), pct(b.judgeAligned)]));
  }

  async function refresh() {
    try {
      const res = await fetch('/api/stats');
      const s = await res.json();
      if (!res.ok) throw new Error(s.error || 'HTTP ' + res.status);
      // Students' disputes by default once any student has labelled, else everyone's (until the teacher picks).
      if (!chosen) $('disputed-among').value = s.kinds.human.labels === 0 ? 'all' : 'human';
      last = s;
      since = new Date();
      draw(s);
      $('status').textContent = '';
      $('stale').hidden = true;
      document.body.dataset.loaded = '1';
    } catch (e) {
      $('status').textContent = e.message;
      // Said at the top: the tables below are as they were when last read.
      $('stale').textContent = 'The server does not answer (' + e.message + '): what is shown is from ' + (since ? since.toLocaleTimeString() : 'nothing yet') + '.';
      $('stale').hidden = false;
    }
  }

  fetch('/api/info')
    .then((r) => r.json())
    .then((i) => {
      $('dataset').textContent = i.dataset + ' (' + i.images + ' images)';
      const [first, ...rest] = i.classUrls;
      $('class-url').textContent = first || '(unknown)';
      if (first) $('class-url').href = first;
      $('other-urls').textContent = rest.length ? 'also: ' + rest.join('  ') : '';
      $('local-only').hidden = !i.localOnly;
      document.body.dataset.info = '1';
    })
    .catch((e) => ($('status').textContent = 'cannot load /api/info: ' + e.message));
  $('disputed-among').addEventListener('change', () => ((chosen = true), last && draw(last)));
  refresh();
  setInterval(() => { if ($('auto').checked) refresh(); }, 5000);
})();
