import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { createLabelServer, LabelServer } from '../../src/feedback/server';
import { smallDataset, tempDir } from './helpers';

let s: LabelServer;
let base: string;

before(async () => {
  const dir = smallDataset(12);
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

test('the pages and an image are served', async () => {
  for (const p of ['/', '/stats', '/static/app.js', '/static/style.css']) {
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
  assert.deepEqual(u.json.undone, { image_id: item.id, label: 'good' });
  const n3 = await raw('GET', `/api/next?rater=ann&prefer=${item.id}`);
  assert.equal((n3.json.item as { id: string }).id, item.id);
  const stats = await raw('GET', '/api/stats');
  assert.equal(stats.status, 200);
  assert.equal((stats.json.balance as Record<string, { images: number }>).all.images, 12);
});

test('bad input gets a 4xx with a clear JSON message, and the server keeps serving', async () => {
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
    ['unknown route', raw('GET', '/admin'), 404, /no such page/],
  ];
  for (const [name, p, status, message] of cases) {
    const r = await p;
    assert.equal(r.status, status, `${name}: ${JSON.stringify(r.json)}`);
    assert.match(String(r.json.error), message, name);
  }
  const ok = await raw('GET', '/api/info');
  assert.equal(ok.status, 200);
  assert.equal(ok.json.images, 12);
});
