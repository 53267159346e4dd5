import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { classUrlsFor, createLabelServer, LabelServer } from '../../src/feedback/server';
import { decodePng } from '../../src/world/image';
import { readManifest } from '../../src/world/dataset';
import { OBJECT_COLORS } from '../../src/world/vocab';
import { smallDataset, tempDir } from './helpers';

let s: LabelServer;
let base: string;
let dir: string;

before(async () => {
  dir = smallDataset(12);
  s = await createLabelServer({ dataDir: dir, storeFile: path.join(tempDir('srv'), 'labels.sqlite'), bodyLimit: 4096 });
  base = await s.app.listen({ host: '127.0.0.1', port: 0 });
});
after(() => s.close());

/** A raw HTTP request (no URL normalisation by a client library). */
function raw(method: string, url: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; json: { error?: string; [k: string]: unknown } }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: url, headers: body !== undefined ? { 'content-type': 'application/json', ...headers } : headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json = {};
        try {
          json = JSON.parse(text);
        } catch {
          json = { text };
        }
        resolve({ status: res.statusCode!, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const post = (url: string, body: unknown) => raw('POST', url, JSON.stringify(body));

/**
 * `f` with a server of its own on a small dataset of its own (which `f` may damage), and what the server says on
 * stderr collected in `said` (not printed).
 */
async function servingOwnDataset(name: string, f: (own: string, url: string, said: string[]) => Promise<void>): Promise<void> {
  const own = smallDataset(4);
  const server = await createLabelServer({ dataDir: own, storeFile: path.join(tempDir(name), 'labels.sqlite') });
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const write = process.stderr.write.bind(process.stderr);
  const said: string[] = [];
  process.stderr.write = ((t: string | Uint8Array, ...rest: unknown[]) => (typeof t === 'string' ? (said.push(t), true) : (write as (...a: unknown[]) => boolean)(t, ...rest))) as typeof process.stderr.write;
  try {
    await f(own, url, said);
  } finally {
    process.stderr.write = write;
    await server.close();
  }
}

test('the pages and an image are served', async () => {
  for (const p of ['/', '/stats', '/stats/', '/static/app.js', '/static/stats.js', '/static/style.css']) {
    const r = await fetch(base + p);
    assert.equal(r.status, 200, p);
  }
  const r = await fetch(`${base}/images/img-0.png`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'image/png');
});

test('label, next skips labelled images, duplicate POST is stored once, undo brings the image back', async () => {
  const n1 = await raw('GET', '/api/next?rater=ann');
  assert.equal(n1.status, 200);
  const item = n1.json.item as { id: string; image: string };
  const body = { rater: 'ann', image_id: item.id, label: 'good', request_id: 'req-ann-0001' };
  assert.equal((await post('/api/labels', body)).status, 201);
  const dup = await post('/api/labels', body);
  assert.equal(dup.status, 200);
  assert.equal(dup.json.duplicate, true);
  assert.equal(s.store.history({ rater: 'ann' }).length, 1);
  const n2 = await raw('GET', '/api/next?rater=ann');
  assert.notEqual((n2.json.item as { id: string }).id, item.id);
  assert.deepEqual(n2.json.progress, { labelled: 1, total: 12 });
  const u = await post('/api/undo', { rater: 'ann', request_id: 'undo-ann-0001' });
  assert.deepEqual(u.json.undone, { image_id: item.id, label: 'good', prompt: (n1.json.item as { prompt: string }).prompt, image: item.image });
  const n3 = await raw('GET', `/api/next?rater=ann&prefer=${item.id}`);
  assert.equal((n3.json.item as { id: string }).id, item.id);
  const stats = await raw('GET', '/api/stats');
  assert.equal(stats.status, 200);
  assert.equal((stats.json.balance as Record<string, { images: number }>).all.images, 12);
});

test('bad input gets a 4xx with a clear JSON message, and the server keeps serving', async () => {
  // The router's own errors come in the same form, naming what is wrong (they came as fastify's "Bad Request").
  const badUrl = await raw('GET', '/images/%');
  assert.equal(badUrl.status, 400);
  assert.match(badUrl.json.error!, /the path "\/images\/%" is not a valid URL \(a "%" must start an escape like %20\)/);
  const long = await raw('GET', `/static/${'a'.repeat(150)}`);
  assert.equal(long.status, 414);
  assert.match(long.json.error!, /the path's last part is longer than 100 characters/);
  const cases: Array<[string, Promise<{ status: number; json: { error?: string } }>, number, RegExp]> = [
    ['malformed JSON', raw('POST', '/api/labels', '{"rater": "ann",'), 400, /JSON/i],
    ['JSON that is not an object', raw('POST', '/api/labels', '[1,2]'), 400, /JSON object/],
    ['not JSON content type', raw('POST', '/api/labels', 'rater=ann', { 'content-type': 'application/x-www-form-urlencoded' }), 415, /content-type must be application\/json/],
    ['unknown image id', post('/api/labels', { rater: 'ann', image_id: 'nope', label: 'good', request_id: 'req-x-00001' }), 404, /unknown image id "nope"/],
    ['label not good/bad/skip', post('/api/labels', { rater: 'ann', image_id: 'img-0', label: 'great', request_id: 'req-x-00002' }), 400, /label: must be one of good, bad, skip/],
    ['missing rater', post('/api/labels', { image_id: 'img-0', label: 'good', request_id: 'req-x-00003' }), 400, /rater: missing/],
    ['empty rater', post('/api/labels', { rater: '', image_id: 'img-0', label: 'good', request_id: 'req-x-00004' }), 400, /rater name/],
    ['reserved rater', post('/api/labels', { rater: 'sim-r0', image_id: 'img-0', label: 'good', request_id: 'req-x-00005' }), 400, /reserved/],
    ['missing request id', post('/api/labels', { rater: 'ann', image_id: 'img-0', label: 'good' }), 400, /request_id: missing/],
    ['bad request id: named once', post('/api/labels', { rater: 'ann', image_id: 'img-0', label: 'good', request_id: 'x y' }), 400, /^request_id: must be 8-200 characters of A-Z a-z 0-9 _ \. : \/ -$/],
    ['image id of the wrong type: named as such, not as missing', post('/api/labels', { rater: 'ann', image_id: 5, label: 'good', request_id: 'req-x-00008' }), 400, /^image_id: (?!missing).*expected string/],
    ['if_unlabelled not a boolean', post('/api/labels', { rater: 'ann', image_id: 'img-0', label: 'good', request_id: 'req-x-00013', if_unlabelled: 'yes' }), 400, /^if_unlabelled: .*boolean/],
    ['unknown field', post('/api/labels', { rater: 'ann', image_id: 'img-0', label: 'good', request_id: 'req-x-00006', extra: 1 }), 400, /extra/],
    ['oversized body', post('/api/labels', { rater: 'ann', image_id: 'img-0', label: 'good', request_id: 'req-x-00007', pad: 'x'.repeat(10000) }), 413, /larger than 4096 bytes/],
    ['request id reused for another label', post('/api/labels', { rater: 'ann', image_id: 'img-1', label: 'bad', request_id: 'req-ann-0001' }), 409, /already used/],
    ['next without rater', raw('GET', '/api/next'), 400, /rater: missing/],
    ['traversal ../', raw('GET', '/images/../manifest.jsonl'), 400, /bad image path/],
    ['traversal ../../ to /etc', raw('GET', '/images/../../../../etc/passwd'), 400, /bad image path/],
    ['encoded traversal %2e%2e', raw('GET', '/images/%2e%2e/%2e%2e/etc/passwd'), 400, /bad image path/],
    ['encoded slash', raw('GET', '/images/..%2fmanifest.jsonl'), 400, /bad image path/],
    ['absolute path', raw('GET', '/images//etc/passwd'), 400, /bad image path/],
    ['backslash', raw('GET', '/images/..\\manifest.jsonl'), 400, /bad image path/],
    ['file not in the manifest', raw('GET', '/images/labels.sqlite'), 404, /no image "labels.sqlite"/],
    ['unknown static file', raw('GET', '/static/server.ts'), 404, /no such static file/],
    ['unknown rubric example', raw('GET', '/rubric/shape-oval.png'), 404, /no rubric example "shape-oval.png"; GET \/api\/rubric lists them/],
    ['rubric example, not .png', raw('GET', '/rubric/shape-circle.jpg'), 404, /no rubric example/],
    ['rubric traversal', raw('GET', '/rubric/..%2fserver.ts'), 404, /no rubric example/],
    ['rubric name with odd characters', raw('GET', '/rubric/SHAPE-circle%00.png'), 404, /no rubric example/],
    ['rubric without a name', raw('GET', '/rubric/'), 404, /no (such page|rubric example)/],
    ['unknown route', raw('GET', '/admin'), 404, /no such page/],
    // From an HTTP fuzz review (2026-12-06): each of these was a 500 with the server's path, a 400 about the body's shape, or a 404.
    ['static name inherited by every object', raw('GET', '/static/constructor'), 404, /no such static file: constructor/],
    ['text body', raw('POST', '/api/labels', '{"rater":"ann"}', { 'content-type': 'text/plain' }), 415, /content-type must be application\/json, got "text\/plain"/],
    ['GET on a POST route', raw('GET', '/api/labels'), 405, /GET is not allowed on \/api\/labels: use POST/],
    ['DELETE on a GET route', raw('DELETE', '/api/stats'), 405, /use GET, HEAD/],
    ['unknown field names the fields', post('/api/labels', { rater: 'ann', image_id: 'img-0', label: 'good', request_id: 'req-x-00009', extra: 1 }), 400, /the fields are rater, image_id, label, request_id/],
    ['a "__proto__" field: named as an unknown field, not called "not valid JSON"', raw('POST', '/api/labels', '{"rater":"ann","image_id":"img-0","label":"good","request_id":"req-x-00011","__proto__":{"label":"bad"}}'), 400, /unrecognized key.*"__proto__".*the fields are rater/i],
    ['a "constructor" field, the same', raw('POST', '/api/undo', '{"rater":"ann","request_id":"req-x-00012","constructor":{"prototype":{}}}'), 400, /"constructor".*the fields are rater, request_id/i],
    ['an empty JSON body', raw('POST', '/api/labels', '', { 'content-type': 'application/json' }), 400, /request body is empty: send a JSON object/],
    ['malformed JSON says so, with where', raw('POST', '/api/labels', '{"rater": "ann",'), 400, /^request body is not valid JSON \(.+\)$/],
    // From a review of 2026-12-07: a 404 for a method error, a 400 blaming the path for its query, the charset ignored.
    ['DELETE with a trailing slash is a method error', raw('DELETE', '/api/labels/'), 405, /DELETE is not allowed on \/api\/labels: use POST/],
    ['GET on a percent-encoded POST route', raw('GET', '/api/label%73'), 405, /GET is not allowed on \/api\/labels: use POST/],
    ['a null byte is named', raw('GET', '/images/img-0%00.png'), 400, /null bytes \(%00\)/],
    ['a body in another charset', raw('POST', '/api/labels', '{"rater":"ann"}', { 'content-type': 'application/json; charset=utf-16' }), 415, /^charset must be utf-8, got "utf-16"$/],
    ['a very long rater name is not echoed whole', post('/api/labels', { rater: `x${'y'.repeat(3000)}`, image_id: 'img-0', label: 'good', request_id: 'req-x-00010' }), 400, /^rater: rater name must be .{0,250}\.\.\."$/],
  ];
  for (const [name, p, status, message] of cases) {
    const r = await p;
    assert.equal(r.status, status, `${name}: ${JSON.stringify(r.json)}`);
    assert.match(String(r.json.error), message, name);
  }
  const ok = await raw('GET', '/api/info');
  assert.equal(ok.status, 200);
  assert.equal(ok.json.images, 12);
  for (const url of ['/images/img-0.png?v=%2e', '/images/img-0.png?from=/../']) assert.equal((await raw('GET', url)).status, 200, `${url}: a query is no part of the path`);
  assert.equal((await raw('POST', '/api/labels', '{"rater":"ann"}', { 'content-type': 'application/json; charset=UTF-8' })).status, 400, 'utf-8 named is read (then refused for the missing fields)');
  // An image file removed while the server runs: a 404 that says so, not a 500.
  const last = readManifest(dir).at(-1)!;
  fs.renameSync(path.join(dir, last.file), path.join(dir, `${last.file}.moved`));
  try {
    const gone = await raw('GET', `/images/${last.file}`);
    assert.equal(gone.status, 404);
    assert.match(String(gone.json.error), /is in the manifest but its file is missing/);
  } finally {
    fs.renameSync(path.join(dir, `${last.file}.moved`), path.join(dir, last.file));
  }
});

test('GET /api/rubric: rules, example renders served as 32x32 PNGs, swatches from the vocabulary', async () => {
  const r = await raw('GET', '/api/rubric');
  assert.equal(r.status, 200);
  const rubric = r.json as unknown as {
    rules: Array<{ attribute: string }>;
    shapes: Array<{ object: string; example: string }>;
    notShapes: Array<{ kind: string; example: string }>;
    colors: Array<{ color: keyof typeof OBJECT_COLORS; rgb: number[]; hex: string }>;
    places: Array<{ place: string; example: string }>;
  };
  assert.deepEqual(rubric.rules.map((x) => x.attribute), ['count', 'shape', 'color', 'place']);
  for (const c of rubric.colors) assert.deepEqual(c.rgb, OBJECT_COLORS[c.color]);
  const examples = [...rubric.shapes, ...rubric.notShapes, ...rubric.places].map((x) => x.example);
  assert.equal(examples.length, 6 + 6 + 6);
  for (const src of examples) {
    assert.match(src, /^\/rubric\/[a-z]+-[a-z]+\.png$/);
    const res = await fetch(base + src);
    assert.equal(res.status, 200, src);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const img = decodePng(new Uint8Array(await res.arrayBuffer()));
    assert.deepEqual([img.width, img.height], [32, 32], src);
  }
});

test('GET /api/info: the class address from the listen address, else from the Host header', async () => {
  const seen = await raw('GET', '/api/info');
  assert.deepEqual(seen.json.classUrls, [`${base}/`]);
  assert.equal(seen.json.localOnly, true);
  const odd = await raw('GET', '/api/info', undefined, { host: 'x y<z>' });
  assert.equal(odd.status, 200);
  assert.deepEqual(odd.json.classUrls, [], 'a malformed Host header is not echoed back');
  s.classUrls = ['http://192.168.1.20:8080/', 'http://127.0.0.1:8080/'];
  try {
    const set = await raw('GET', '/api/info');
    assert.deepEqual(set.json.classUrls, s.classUrls);
    assert.equal(set.json.localOnly, false);
  } finally {
    s.classUrls = [];
  }
  assert.deepEqual(classUrlsFor('127.0.0.1', 8080), ['http://127.0.0.1:8080/']);
  assert.deepEqual(classUrlsFor('::1', 80), ['http://[::1]:80/']);
  const all = classUrlsFor('0.0.0.0', 8080);
  assert.equal(all.at(-1), 'http://127.0.0.1:8080/', 'a wildcard host lists the LAN addresses, then loopback');
  for (const u of all) assert.match(u, /^http:\/\/\d+\.\d+\.\d+\.\d+:8080\/$/);
});

test('GET /api/stats: last activity per rater, humans and simulated apart, disputed images', async () => {
  const first = await raw('GET', '/api/next?rater=zed');
  const id = (first.json.item as { id: string }).id;
  assert.equal((await post('/api/labels', { rater: 'zed', image_id: id, label: 'bad', request_id: 'req-zed-0001' })).status, 201);
  assert.equal((await post('/api/labels', { rater: 'yan', image_id: id, label: 'good', request_id: 'req-yan-0001' })).status, 201);
  s.store.add({ imageId: id, rater: 'sim-x', raterKind: 'simulated', label: 'good', requestId: 'sim-x-req-0001' });
  const r = await raw('GET', '/api/stats');
  assert.equal(r.status, 200);
  const stats = r.json as unknown as {
    raters: Array<{ rater: string; kind: string; labelled: number; lastActivity: string | null }>;
    kinds: { human: { raters: number }; simulated: { raters: number } };
    disputed: { human: Array<{ id: string; good: number; bad: number }>; all: Array<{ id: string; good: number; bad: number }> };
  };
  const zed = stats.raters.find((x) => x.rater === 'zed')!;
  assert.equal(zed.kind, 'human');
  assert.equal(zed.labelled, 1);
  assert.ok(zed.lastActivity && Math.abs(Date.parse(zed.lastActivity) - Date.now()) < 10 * 60_000, `recent ISO time, got ${zed.lastActivity}`);
  assert.equal(stats.raters.find((x) => x.rater === 'sim-x')!.kind, 'simulated');
  assert.equal(stats.kinds.simulated.raters, 1);
  assert.ok(stats.disputed.human.some((d) => d.id === id && d.good === 1 && d.bad === 1));
  assert.ok(stats.disputed.all.some((d) => d.id === id && d.good === 2 && d.bad === 1));
});

test('an undo that found nothing keeps its request id: retried after a new label it still undoes nothing; another rater cannot take the id', async () => {
  const none = await post('/api/undo', { rater: 'newcomer', request_id: 'undo-newcomer-0001' });
  assert.deepEqual([none.status, none.json.undone], [200, null]);
  const lab = await post('/api/labels', { rater: 'newcomer', image_id: 'img-2', label: 'good', request_id: 'lab-first-000001' });
  assert.equal(lab.status, 201);
  const retry = await post('/api/undo', { rater: 'newcomer', request_id: 'undo-newcomer-0001' });
  assert.deepEqual([retry.status, retry.json.undone], [200, null], 'the retry of an empty undo took back the new label before');
  assert.equal(s.store.current().filter((l) => l.rater === 'newcomer').length, 1);
  const other = await post('/api/undo', { rater: 'ann', request_id: 'undo-newcomer-0001' });
  assert.equal(other.status, 409);
  const asLabel = await post('/api/labels', { rater: 'newcomer', image_id: 'img-3', label: 'bad', request_id: 'undo-newcomer-0001' });
  assert.equal(asLabel.status, 409);
  // A conflict does not show what another request stored.
  const taken = await post('/api/labels', { rater: 'bob', image_id: 'img-4', label: 'bad', request_id: 'lab-first-000001' });
  assert.equal(taken.status, 409);
  assert.doesNotMatch(String(taken.json.error), /newcomer|good|img-2/);
});

test("rater names: apostrophes and vowel signs are letters' company; one name however its accents were typed", async () => {
  for (const [name, id] of [["O'Brien", 'img-5'], ['अनिल', 'img-6']] as const) {
    const r = await post('/api/labels', { rater: name, image_id: id, label: 'good', request_id: `lab-${id}-names-01` });
    assert.equal(r.status, 201, `${name}: ${JSON.stringify(r.json)}`);
  }
  const composed = 'Jos\u00e9', decomposed = 'Jose\u0301';
  assert.equal((await post('/api/labels', { rater: decomposed, image_id: 'img-7', label: 'good', request_id: 'lab-jose-000001' })).status, 201);
  assert.equal((await post('/api/labels', { rater: composed, image_id: 'img-8', label: 'bad', request_id: 'lab-jose-000002' })).status, 201);
  assert.deepEqual([...new Set(s.store.current().filter((l) => l.rater.startsWith('Jos')).map((l) => l.rater))], [composed]);
});

test('GET /api/raters?like=NAME: the raters whose name is it but for case or width, so a student does not become two', async () => {
  for (const [name, id] of [['Olga', 'req-olga-0001'], ['olga', 'req-olga-0002']] as const) assert.equal((await post('/api/labels', { rater: name, image_id: 'img-1', label: 'good', request_id: id })).status, 201);
  assert.deepEqual((await raw('GET', '/api/raters?like=OLGA')).json, { same: ['Olga', 'olga'] });
  assert.deepEqual((await raw('GET', `/api/raters?like=${encodeURIComponent('Ｏlga')}`)).json, { same: ['Olga', 'olga'] }, 'a full-width letter too');
  assert.deepEqual((await raw('GET', '/api/raters?like=olga')).json, { same: ['Olga'] }, 'the name itself is not listed');
  assert.deepEqual((await raw('GET', '/api/raters?like=nobody')).json, { same: [] });
  assert.equal((await raw('GET', '/api/raters')).status, 400);
  assert.equal((await raw('POST', '/api/raters', '{}')).status, 405);
});

test('an image whose PNG is missing is passed over by /api/next (it can get no label, so it was every rater\'s next, for ever); the manifest removed while serving keeps the last one served, labels saved', async () => {
  await servingOwnDataset('srv-missing', async (own, url, said) => {
    const next = async (rater: string, prefer = '') => ((await (await fetch(`${url}/api/next?rater=${rater}${prefer}`)).json()) as { item?: { id: string } }).item?.id;
    const first = (await next('ann'))!;
    fs.renameSync(path.join(own, `${first}.png`), path.join(own, `${first}.png.moved`));
    for (const rater of ['ann', 'bob', 'cy']) assert.notEqual(await next(rater), first, rater);
    assert.notEqual(await next('ann', `&prefer=${first}`), first, 'nor when preferred');
    assert.equal(said.filter((t) => t.includes(`${first}.png is in the manifest but missing: not offered for labelling`)).length, 1, 'said once');
    // The manifest renamed away: served from memory, a label still saved (was 500 on every route).
    fs.renameSync(path.join(own, 'manifest.jsonl'), path.join(own, 'manifest.moved'));
    const other = await next('dan');
    assert.ok(other, 'an image for dan');
    const saved = await fetch(`${url}/api/labels`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rater: 'dan', image_id: other, label: 'good', request_id: 'dan-000001' }) });
    assert.equal(saved.status, 201, await saved.clone().text());
    assert.equal((await fetch(`${url}/api/info`)).status, 200);
    assert.match(said.join(''), /manifest\.jsonl: no manifest .*; serving the 4 images read before until it is back/);
    fs.renameSync(path.join(own, 'manifest.moved'), path.join(own, 'manifest.jsonl'));
    assert.equal((await fetch(`${url}/api/stats`)).status, 200);
  });
});

test('a manifest it cannot read while serving (a line half appended, a PNG removed) keeps the last good one served, not 500 everywhere', async () => {
  await servingOwnDataset('srv-torn', async (own, url, said) => {
    const manifest = path.join(own, 'manifest.jsonl');
    fs.appendFileSync(manifest, '{"id":"img-9","prompt":"a cir');
    for (const p of ['/api/next?rater=ann', '/api/stats', '/images/img-0.png']) assert.equal((await fetch(url + p)).status, 200, p);
    assert.match(said.join(''), /manifest\.jsonl:5: not valid JSON \(truncated last line\?\); serving the 4 images read before until it reads again/);
    // The line completed (its image missing): read again; the image route names the missing file itself.
    fs.appendFileSync(manifest, 'cle","attributes":{"count":1,"object":"circle"},"seed":"t/9","source":"render","extras":{"category":"count"},"file":"img-9.png"}\n');
    assert.equal((await fetch(`${url}/api/info`)).status, 200);
    const missing = await fetch(`${url}/images/img-9.png`);
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /in the manifest but its file is missing/);
  });
});
