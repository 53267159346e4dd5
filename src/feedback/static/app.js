// The labeller page: plain browser JavaScript, no build step.
// One image at a time; every label is POSTed with a fresh request id and
// retried with the same id on network errors, so it is stored exactly once.
'use strict';
(function () {
  const KEY = 't2i-align.rater';
  const $ = (id) => document.getElementById(id);
  let rater = localStorage.getItem(KEY);
  let item = null; // the image on screen
  let busy = false;

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // crypto.randomUUID needs a secure context; plain http on a LAN is not one.
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  // The confirmation line: what was just done, with a thumbnail of its image.
  // It stays until the next action; `flash` replays a short highlight.
  let shown = 0;
  function setStatus(text, isError, thumb) {
    const el = $('status');
    $('status-text').textContent = text || '';
    $('status-thumb').hidden = !thumb;
    if (thumb) $('status-thumb').src = thumb;
    el.className = isError ? 'error' : text ? 'ok' : '';
    el.dataset.n = String(++shown);
    if (text) {
      el.classList.remove('flash');
      void el.offsetWidth; // restart the animation
      el.classList.add('flash');
    }
  }

  const quote = (prompt) => '\u201c' + prompt + '\u201d';

  function setBusy(b) {
    busy = b;
    document.body.dataset.busy = b ? '1' : '0';
    for (const id of ['good', 'bad', 'skip', 'undo']) $(id).disabled = b;
  }

  // fetch JSON; network errors and 5xx are retried (same body, so the same request id).
  async function api(method, url, body) {
    let wait = 200;
    for (let attempt = 1; ; attempt++) {
      let res;
      try {
        res = await fetch(url, {
          method,
          headers: body ? { 'content-type': 'application/json' } : {},
          body: body ? JSON.stringify(body) : undefined,
        });
      } catch (e) {
        if (attempt >= 6) throw new Error('cannot reach the server (' + e.message + ')');
        setStatus('server not reachable, retrying...', true);
        await new Promise((r) => setTimeout(r, wait));
        wait *= 2;
        continue;
      }
      const json = await res.json().catch(() => ({ error: 'bad response from server (' + res.status + ')' }));
      if (res.status >= 500 && attempt < 6) {
        await new Promise((r) => setTimeout(r, wait));
        wait *= 2;
        continue;
      }
      if (!res.ok) throw new Error(json.error || 'HTTP ' + res.status);
      return json;
    }
  }

  function showProgress(p) {
    const text = p.labelled + ' / ' + p.total + ' labelled by you';
    $('progress').textContent = text;
    $('progress-done').textContent = text;
    $('bar').max = Math.max(1, p.total);
    $('bar').value = p.labelled;
  }

  async function next(prefer) {
    setBusy(true);
    try {
      const q = '/api/next?rater=' + encodeURIComponent(rater) + (prefer ? '&prefer=' + encodeURIComponent(prefer) : '');
      const r = await api('GET', q);
      showProgress(r.progress);
      if (r.done) {
        item = null;
        $('labeller').hidden = true;
        $('done').hidden = false;
        document.body.dataset.item = '';
        return;
      }
      $('done').hidden = true;
      $('labeller').hidden = false;
      item = r.item;
      $('prompt').textContent = item.prompt;
      const img = $('image');
      await new Promise((resolve) => {
        img.onload = img.onerror = resolve;
        img.src = item.image;
      });
      document.body.dataset.item = item.id;
      if ($('status').classList.contains('error')) setStatus('');
    } catch (e) {
      setStatus(e.message, true);
    } finally {
      setBusy(false);
    }
  }

  async function label(value) {
    if (busy || !item) return;
    setBusy(true);
    const it = item;
    try {
      await api('POST', '/api/labels', { rater, image_id: it.id, label: value, request_id: newId() });
      setStatus((value === 'skip' ? 'Skipped ' : 'Saved: ' + value + ' for ') + quote(it.prompt) + ' (' + it.id + ')', false, it.image);
    } catch (e) {
      setStatus(e.message, true);
      setBusy(false);
      return;
    }
    await next();
  }

  async function undo() {
    if (busy) return;
    setBusy(true);
    let back = null;
    try {
      const r = await api('POST', '/api/undo', { rater, request_id: newId() });
      back = r.undone;
      if (back) setStatus('Undone: ' + back.label + ' for ' + (back.prompt ? quote(back.prompt) + ' ' : '') + '(' + back.image_id + '), shown again to label', false, back.image);
      else setStatus('Nothing to undo: you have no labels left to take back');
    } catch (e) {
      setStatus(e.message, true);
      setBusy(false);
      return;
    }
    await next(back ? back.image_id : undefined);
  }

  function start() {
    $('name-form').hidden = true;
    $('who').hidden = false;
    $('rater-name').textContent = rater;
    setStatus('Labelling as ' + rater);
    next();
  }

  function askName(message) {
    $('labeller').hidden = true;
    $('done').hidden = true;
    $('who').hidden = true;
    $('name-form').hidden = false;
    $('name-error').textContent = message || '';
    $('name-input').value = rater || '';
    $('name-input').focus();
  }

  $('name-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = $('name-input').value.trim();
    try {
      // Ask the server whether the name is acceptable before keeping it.
      await api('GET', '/api/next?rater=' + encodeURIComponent(name));
    } catch (e) {
      $('name-error').textContent = e.message;
      return;
    }
    rater = name;
    localStorage.setItem(KEY, rater);
    start();
  });
  $('change-rater').addEventListener('click', () => askName());
  $('good').addEventListener('click', () => label('good'));
  $('bad').addEventListener('click', () => label('bad'));
  $('skip').addEventListener('click', () => label('skip'));
  $('undo').addEventListener('click', undo);
  $('undo-done').addEventListener('click', undo);

  document.addEventListener('keydown', (ev) => {
    if (!rater || !$('name-form').hidden || ev.target.tagName === 'INPUT' || ev.repeat) return;
    const k = ev.key.toLowerCase();
    if ((ev.ctrlKey || ev.metaKey) && k === 'z') {
      ev.preventDefault();
      undo();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const action = { g: 'good', arrowright: 'good', b: 'bad', arrowleft: 'bad', s: 'skip', arrowdown: 'skip', u: 'undo' }[k];
    if (!action) return;
    ev.preventDefault();
    if (action === 'undo') undo();
    else label(action);
  });

  // The rubric: rules, example renders (served by the kit's renderer) and color swatches.
  function el(tag, props, children) {
    const e = Object.assign(document.createElement(tag), props || {});
    for (const c of children || []) e.append(c);
    return e;
  }
  function example(src, caption) {
    return el('figure', {}, [el('img', { src, alt: caption, width: 64, height: 64 }), el('figcaption', { textContent: caption })]);
  }
  function swatch(hex, title) {
    const s = el('span', { className: 'swatch', title: title || hex });
    s.style.background = hex;
    return s;
  }
  async function loadRubric() {
    const r = await api('GET', '/api/rubric');
    $('rubric-summary').textContent = r.summary;
    $('rubric-rules').replaceChildren(...r.rules.flatMap((x) => [el('dt', { textContent: x.attribute }), el('dd', { textContent: x.text })]));
    $('rubric-shapes').replaceChildren(...r.shapes.map((x) => example(x.example, x.object)));
    $('rubric-not-shapes').replaceChildren(...r.notShapes.map((x) => example(x.example, x.caption)));
    $('rubric-colors').replaceChildren(...r.colors.map((x) => el('span', { className: 'color' }, [swatch(x.hex, x.hex + ' = rgb(' + x.rgb.join(', ') + ')'), x.color])));
    $('rubric-places').replaceChildren(...r.places.map((x) => {
      const f = example(x.example, x.phrase || 'no place named');
      f.querySelector('figcaption').append(el('span', { className: 'palette' }, x.palette.map((h) => swatch(h))));
      return f;
    }));
    document.body.dataset.rubric = '1';
  }
  const RUBRIC_KEY = 't2i-align.rubric';
  $('rubric').open = localStorage.getItem(RUBRIC_KEY) !== 'closed';
  $('rubric').addEventListener('toggle', () => localStorage.setItem(RUBRIC_KEY, $('rubric').open ? 'open' : 'closed'));
  loadRubric().catch((e) => ($('rubric-error').textContent = 'cannot load the rubric: ' + e.message));

  api('GET', '/api/info')
    .then((i) => ($('dataset').textContent = i.dataset + ' (' + i.images + ' images)'))
    .catch(() => {});
  if (rater) start();
  else askName();
})();
