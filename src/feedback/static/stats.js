// The statistics page: polls /api/stats and draws three tables.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const f3 = (x) => (x === null ? 'n/a' : x.toFixed(3));
  const pct = (x) => (x === null ? 'n/a' : (100 * x).toFixed(1) + '%');

  function table(el, head, rows) {
    el.replaceChildren();
    const tr = document.createElement('tr');
    for (const h of head) {
      const th = document.createElement('th');
      th.textContent = h;
      tr.appendChild(th);
    }
    el.appendChild(tr);
    for (const r of rows) {
      const row = document.createElement('tr');
      for (const c of r) {
        const td = document.createElement('td');
        td.textContent = String(c);
        row.appendChild(td);
      }
      el.appendChild(row);
    }
  }

  async function refresh() {
    try {
      const res = await fetch('/api/stats');
      const s = await res.json();
      if (!res.ok) throw new Error(s.error || 'HTTP ' + res.status);
      $('summary').textContent =
        s.labels + ' labels on ' + s.labelledImages + ' of ' + s.images + ' images by ' + s.raters.length +
        " raters. Fleiss' kappa " + f3(s.fleissKappa) + ' over ' + s.fleissItems + ' images with two or more good/bad labels.';
      table($('raters'), ['rater', 'kind', 'good', 'bad', 'skip', 'agreement with judge', 'kappa with judge'],
        s.raters.map((r) => [r.rater, r.kind, r.good, r.bad, r.skip, pct(r.judgeAgreement), f3(r.judgeKappa)]));
      table($('pairs'), ['rater A', 'rater B', 'images in common', 'agreement', 'kappa'],
        s.pairs.map((p) => [p.a, p.b, p.common, pct(p.agreement), f3(p.kappa)]));
      table($('balance'), ['category', 'images', 'good', 'bad', 'skip', 'good rate', 'judge aligned'],
        Object.entries(s.balance).map(([c, b]) => [c, b.images, b.good, b.bad, b.skip, pct(b.goodRate), pct(b.judgeAligned)]));
      $('status').textContent = '';
      document.body.dataset.loaded = '1';
    } catch (e) {
      $('status').textContent = e.message;
    }
  }

  fetch('/api/info').then((r) => r.json()).then((i) => ($('dataset').textContent = i.dataset)).catch(() => {});
  refresh();
  setInterval(() => { if ($('auto').checked) refresh(); }, 5000);
})();
