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

  function setStatus(text, isError) {
    $('status').textContent = text || '';
    $('status').className = isError ? 'error' : '';
  }

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
      setStatus('');
    } catch (e) {
      setStatus(e.message, true);
    } finally {
      setBusy(false);
    }
  }

  async function label(value) {
    if (busy || !item) return;
    setBusy(true);
    try {
      await api('POST', '/api/labels', { rater, image_id: item.id, label: value, request_id: newId() });
      setStatus('saved "' + value + '" for ' + item.id);
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
      setStatus(back ? 'undone: "' + back.label + '" for ' + back.image_id : 'nothing to undo');
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

  api('GET', '/api/info')
    .then((i) => ($('dataset').textContent = i.dataset + ' (' + i.images + ' images)'))
    .catch(() => {});
  if (rater) start();
  else askName();
})();
