// Stage 1 on the shipped base model (data/base-model), at a small scale, through
// the real CLI: collect -> label -> serve (one label over HTTP) -> export-labels.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 't2i-align.js');
const env = { ...process.env, T2I_PROGRESS: '0' };
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, cwd: ROOT });

test('collect, label, serve and export-labels work on the shipped base model', async () => {
  assert.ok(fs.existsSync(path.join(ROOT, 'data', 'base-model', 'diffusion', 'checkpoint.json')), 'data/base-model is shipped');
  const dir = removedAtExit('t2i-stage1-');
  const prompts = path.join(dir, 'prompts.txt');
  fs.writeFileSync(prompts, 'two red circles\na circle on the moon\n');
  const data = path.join(dir, 'feedback');

  const collect = run(['collect', '--prompts', prompts, '--per-prompt', '2', '--out', data]);
  assert.equal(collect.status, 0, collect.stderr);
  assert.match(collect.stdout, /4 images generated, 0 already there, 4 in all/);
  const manifest = fs.readFileSync(path.join(data, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(manifest.length, 4);
  for (const r of manifest) assert.ok(fs.statSync(path.join(data, r.file)).size > 100, r.file);
  assert.match(run(['collect', '--prompts', prompts, '--per-prompt', '2', '--out', data]).stdout, /0 images generated, 4 already there/);

  const label = run(['label', '--data', data, '--panel', '3', '--json']);
  assert.equal(label.status, 0, label.stderr);

  const server = spawn(process.execPath, [BIN, 'serve', '--data', data, '--port', '0'], { env, cwd: ROOT });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout.on('data', (b) => {
        out += String(b);
        const m = out.match(/http:\/\/127\.0\.0\.1:\d+/);
        if (m) resolve(m[0]);
      });
      server.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
    });
    const page = await fetch(url + '/');
    assert.equal(page.status, 200);
    const id = manifest[0].id;
    const post = await fetch(url + '/api/labels', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image_id: id, rater: 'tester', label: 'good', request_id: 'request-0001' }),
    });
    assert.equal(post.status, 201, await post.clone().text());
  } finally {
    server.kill('SIGINT');
  }

  const csv = path.join(dir, 'labels.csv');
  const exp = run(['export-labels', '--data', data, '--out', csv]);
  assert.equal(exp.status, 0, exp.stderr);
  const rows = fs.readFileSync(csv, 'utf8').trim().split('\n');
  assert.ok(rows.length >= 1 + 4 * 3 + 1, `${rows.length} rows`); // header, 3 simulated raters x 4 images, 1 human
  assert.ok(rows.some((r) => r.includes('tester')));
});
