// The labeller page: plain browser JavaScript, no build step.
// One image at a time; every label is POSTed with a fresh request id and
// retried with the same id on network errors, so it is stored exactly once.
'use strict';
(function () {
  const KEY = 't2i-align.rater';
  const $ = (id) => document.getElementById(id);
  let rater = localStorage.getItem(KEY);
  let item = null; // the image on screen (null while none is: loading, failed, all done)
  let busy = false;
  // A label counts only after the image has been on screen this long: the second click of a double-click
  // (or a key pressed twice) would otherwise label the next image, unseen.
  const SETTLE_MS = 350;
  let shownAt = 0;
  let uncertain = null; // a label whose request may have been stored (no answer came): its id, reused by a press again
  let uncertainUndo = null; // the same for an undo: its request id
  // What the last action did (a label stored, one refused), said once the next image is on screen, or with why it is not.
  let saved = null;
  let confirmedName = null; // a name like another rater's that the student chose anyway

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

  // While saving, the buttons say so (aria-disabled) but keep their focus: a keyboard user stays where they were.
  function setBusy(b) {
    busy = b;
    document.body.dataset.busy = b ? '1' : '0';
    for (const id of ['good', 'bad', 'skip']) $(id).setAttribute('aria-disabled', b || !item ? 'true' : 'false');
    $('undo').setAttribute('aria-disabled', b ? 'true' : 'false');
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

  let retryPrefer; // the image a failed next() was asked for (an undone one): Try again asks for it again
  async function next(prefer) {
    retryPrefer = prefer;
    setBusy(true);
    try {
      const q = '/api/next?rater=' + encodeURIComponent(rater) + (prefer ? '&prefer=' + encodeURIComponent(prefer) : '');
      const r = await api('GET', q);
      showProgress(r.progress);
      if (r.done) {
        if (saved) setStatus(saved.text, saved.error, saved.thumb);
        $('retry').hidden = true;
        item = null;
        $('labeller').hidden = true;
        $('done').hidden = false;
        document.body.dataset.item = '';
        return;
      }
      $('done').hidden = true;
      $('labeller').hidden = false;
      // The prompt and the image change together, once the image has loaded: never a new prompt over the old image.
      const img = $('image');
      await new Promise((resolve, reject) => {
        img.onload = resolve;
        img.onerror = () => reject(new Error('cannot load the image ' + r.item.id));
        img.src = r.item.image;
      });
      item = r.item;
      $('prompt').textContent = item.prompt;
      $('frame').hidden = false;
      $('retry').hidden = true;
      shownAt = Date.now();
      document.body.dataset.item = item.id;
      if (saved) setStatus(saved.text, saved.error, saved.thumb);
      else if ($('status').classList.contains('error')) setStatus('');
      document.body.dataset.ready = '0';
      const shownItem = item;
      setTimeout(() => item === shownItem && (document.body.dataset.ready = '1'), SETTLE_MS); // what tests wait for
    } catch (e) {
      // Nothing to label on screen: the last image stays labelled once, whatever is pressed.
      item = null;
      document.body.dataset.item = '';
      $('done').hidden = true; // the Try again button is in the labeller, which shows it (also after an undo from the done page)
      $('labeller').hidden = false;
      $('frame').hidden = true;
      $('prompt').textContent = '';
      $('retry').hidden = false;
      setStatus((saved ? saved.text + ', but ' : '') + e.message + '. Press Try again (or r) when the server answers.', true);
    } finally {
      saved = null;
      setBusy(false);
    }
  }

  async function label(value) {
    if (busy || !item || Date.now() - shownAt < SETTLE_MS) return;
    setBusy(true);
    const it = item;
    const done = (value === 'skip' ? 'Skipped ' : 'Saved: ' + value + ' for ') + quote(it.prompt) + ' (' + it.id + ')';
    // A press again of the same label on the same image after a failure is the same request: stored once.
    const id = uncertain && uncertain.image === it.id && uncertain.label === value ? uncertain.id : newId();
    uncertain = { image: it.id, label: value, id };
    try {
      // if_unlabelled: an image this rater has labelled already (in another tab) is refused, not labelled twice.
      await api('POST', '/api/labels', { rater, image_id: it.id, label: value, request_id: id, if_unlabelled: true });
      uncertain = null;
      uncertainUndo = null; // an undo pressed now is of this label, not a retry of one before it
    } catch (e) {
      if (!/cannot reach the server/.test(e.message)) {
        uncertain = null; // an answer came: nothing was stored
        uncertainUndo = null;
      }
      if (/already labelled/.test(e.message)) {
        saved = { text: e.message, error: true }; // another tab labelled it: on to the next image, saying so
        await next();
        return;
      }
      setStatus((uncertain ? 'Perhaps not saved: ' : 'Not saved: ') + value + ' for ' + quote(it.prompt) + '. ' + e.message + '. Press ' + (value === 'skip' ? 'skip' : value) + ' again when the server answers (it is stored once).', true);
      setBusy(false);
      return;
    }
    saved = { text: done, error: false, thumb: it.image };
    await next();
  }

  async function undo() {
    if (busy || Date.now() - shownAt < SETTLE_MS) return; // a double-click undoes one label
    setBusy(true);
    let back = null;
    // An undo whose answer was lost may have been stored: pressed again, it is the same request (undone once).
    const id = uncertainUndo || newId();
    uncertainUndo = id;
    try {
      const r = await api('POST', '/api/undo', { rater, request_id: id });
      uncertainUndo = null;
      back = r.undone;
      saved = back
        ? { text: 'Undone: ' + back.label + ' for ' + (back.prompt ? quote(back.prompt) + ' ' : '') + '(' + back.image_id + '), shown again to label', error: false, thumb: back.image }
        : { text: 'Nothing to undo: you have no labels left to take back', error: false };
      setStatus(saved.text, false, saved.thumb);
    } catch (e) {
      const lost = /cannot reach the server/.test(e.message);
      if (!lost) uncertainUndo = null; // an answer came: nothing was undone
      setStatus(lost ? 'Perhaps not undone: ' + e.message + '. Press undo again when the server answers (it undoes once).' : e.message, true);
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
    const name = $('name-input').value.replace(/\u00a0/g, ' ').trim(); // a non-breaking space (pasted, option-space) is a space
    try {
      // Ask the server whether the name is acceptable before keeping it.
      await api('GET', '/api/next?rater=' + encodeURIComponent(name));
    } catch (e) {
      $('name-error').textContent = e.message;
      return;
    }
    // "Ana" and "ana" are two raters: asked once before a student becomes a second one.
    if (name !== confirmedName) {
      const r = await api('GET', '/api/raters?like=' + encodeURIComponent(name)).catch(() => ({ same: [] }));
      if (r.same.length) {
        confirmedName = name;
        $('name-error').textContent = 'Someone labels as ' + r.same.map(quote).join(', ') + ' already. If that is you, type the name exactly so; to label as ' + quote(name) + ', a new rater, press Start again.';
        return;
      }
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
  $('retry').addEventListener('click', () => !busy && next(retryPrefer));
  $('undo-done').addEventListener('click', undo);

  document.addEventListener('keydown', (ev) => {
    // A held Enter or Space on a focused button repeats its click: one label per press.
    if (ev.repeat && (ev.key === 'Enter' || ev.key === ' ') && ev.target.tagName === 'BUTTON') return void ev.preventDefault();
    if (!rater || !$('name-form').hidden || ev.target.tagName === 'INPUT' || ev.repeat) return;
    const k = ev.key.toLowerCase();
    if ((ev.ctrlKey || ev.metaKey) && k === 'z' && !ev.shiftKey) {
      ev.preventDefault();
      undo();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    // By the key's place on the keyboard too (KeyG, ...), so a Cyrillic or Greek layout works. The down arrow scrolls.
    const byCode = /^[a-z]$/i.test(ev.key) ? undefined : { KeyG: 'g', KeyB: 'b', KeyS: 's', KeyU: 'u', KeyR: 'r' }[ev.code]; // a Latin layout (Dvorak too) by its letters
    const action = { g: 'good', arrowright: 'good', b: 'bad', arrowleft: 'bad', s: 'skip', u: 'undo', r: 'retry' }[k] || { g: 'good', b: 'bad', s: 'skip', u: 'undo', r: 'retry' }[byCode];
    if (!action) return;
    ev.preventDefault();
    if (action === 'undo') undo();
    else if (action === 'retry') !busy && !$('retry').hidden && next(retryPrefer);
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
