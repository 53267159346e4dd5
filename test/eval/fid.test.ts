import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Matrix } from 'ml-matrix';
import { Rng } from '../../src/engine/random';
import { CLASSIFIER_DIR, degrade, loadClassifier } from '../../src/eval/classifier';
import { featureStats, fidBetween, frechetDistance, frechetDistanceOfStats } from '../../src/eval/fid';
import { renderPrompt, seenPrompts, unseenPrompts } from '../../src/world';
import { initTestBackend } from '../models/helpers';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tolerance ${tol})`);

test('featureStats: mean and unbiased covariance of a tiny table', () => {
  const s = featureStats({ dim: 2, data: new Float32Array([1, 2, 3, 6, 5, 4]) });
  assert.equal(s.n, 3);
  assert.deepEqual([...s.mean], [3, 4]);
  assert.deepEqual(s.cov.to2DArray(), [[4, 2], [2, 4]]);
});

test('frechetDistanceOfStats: diagonal Gaussians, ||mu_a - mu_b||^2 + sum (sqrt(a_i) - sqrt(b_i))^2', () => {
  const d = frechetDistanceOfStats([0, 0], Matrix.diag([1, 4]), [1, 2], Matrix.diag([4, 9]));
  close(d, 5 + 1 + 1, 1e-10, 'diagonal');
  close(frechetDistanceOfStats([3], new Matrix([[2.25]]), [1], new Matrix([[0.25]])), 4 + 1, 1e-12, '1-d: (m_a - m_b)^2 + (s_a - s_b)^2');
});

test('frechetDistanceOfStats: non-commuting 2x2 covariances, tr sqrt(AB) = sqrt(tr(AB) + 2 sqrt(det A det B))', () => {
  const A = new Matrix([[2, 1], [1, 2]]);
  const B = new Matrix([[1, 0], [0, 3]]);
  // AB = [[2, 3], [1, 6]]: trace 8; det A = det B = 3
  close(frechetDistanceOfStats([0, 0], A, [0, 0], B), 4 + 4 - 2 * Math.sqrt(8 + 2 * 3), 1e-10, '2x2');
});

test('frechetDistanceOfStats: C_b = c^2 C_a in 16-d gives tr(C_a) (1 - c)^2; equal Gaussians give 0', () => {
  const rng = new Rng('fid-spd');
  const L = Matrix.zeros(16, 16);
  for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) L.set(i, j, rng.normal());
  const A = L.mmul(L.transpose()).add(Matrix.eye(16).mul(0.1)); // SPD, far from diagonal
  const mu = Array.from({ length: 16 }, () => rng.normal());
  close(frechetDistanceOfStats(mu, A, mu, A.clone().mul(2.5 ** 2)), A.trace() * 1.5 ** 2, 1e-8 * A.trace(), 'scaled');
  close(frechetDistanceOfStats(mu, A, mu, A), 0, 1e-8 * A.trace(), 'equal');
});

test('frechetDistance: samples of known Gaussians approach the closed form; symmetric; errors name the problem', () => {
  // a ~ N(0, A), b ~ N(m, B) with A = L L^T, B = diag(1, 3, 0.5): 20,000 rows each
  const rng = new Rng('fid-samples');
  const L = [[1, 0, 0], [0.5, 1.2, 0], [-0.3, 0.4, 0.8]];
  const m = [1, -0.5, 0.25];
  const bStd = [1, Math.sqrt(3), Math.sqrt(0.5)];
  const n = 20000;
  const a = new Float64Array(n * 3), b = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    const z = [rng.normal(), rng.normal(), rng.normal()];
    for (let r = 0; r < 3; r++) {
      a[i * 3 + r] = L[r][0] * z[0] + L[r][1] * z[1] + L[r][2] * z[2];
      b[i * 3 + r] = m[r] + bStd[r] * rng.normal();
    }
  }
  const Lm = new Matrix(L);
  const expected = frechetDistanceOfStats([0, 0, 0], Lm.mmul(Lm.transpose()), m, Matrix.diag([1, 3, 0.5]));
  const got = frechetDistance({ dim: 3, data: a }, { dim: 3, data: b });
  close(got, expected, 0.05, 'sampled vs closed form');
  close(frechetDistance({ dim: 3, data: b }, { dim: 3, data: a }), got, 1e-9, 'symmetric');
  assert.throws(() => frechetDistance({ dim: 3, data: a }, { dim: 2, data: new Float64Array(4) }), /3-d and 2-d features/);
  assert.throws(() => frechetDistance({ dim: 3, data: a }, { dim: 3, data: new Float64Array(3) }), /at least 2 feature rows, got 1/);
  assert.throws(() => frechetDistance({ dim: 3, data: new Float64Array(7) }, { dim: 3, data: a }), /7 feature values do not split into rows of 3/);
});

/** `perPrompt` fresh renders of each of 116 seen and unseen prompts, image seeds from `tag`. */
function renders(tag: string, perPrompt: number) {
  const prompts = [...seenPrompts({ perCategory: { combination: 40 } }), ...unseenPrompts({ perCategory: { count: 10, color: 10, background: 10, combination: 30 } })];
  return prompts.flatMap((p, i) => Array.from({ length: perPrompt }, (_, k) => renderPrompt(p.attributes, `fid-test/${tag}/${i}/${k}`).image));
}

test('FID sanity with the shipped classifier: small between independent render sets, rising with noise and with blur', async () => {
  await initTestBackend();
  const classifier = await loadClassifier(CLASSIFIER_DIR);
  try {
    // 1,160 images a set: FID's finite-sample floor (about 17 here, for 128 features) is the "same" value.
    // Every degraded set is the same `test` renders degraded, so the series differ by the degradation alone.
    const reference = renders('reference', 10);
    const test = renders('test', 10);
    const fid = (noise: number, blur: number) =>
      fidBetween(classifier, reference, test.map((im, i) => degrade(im, noise, blur, new Rng(`fid-test/noise/${i}`))));
    const same = fid(0, 0);
    assert.equal(same.nA, 1160);
    assert.equal(same.nB, 1160);
    assert.equal(same.dim, classifier.config.hidden);
    // Noise 10 and blur 0.5 are inside the classifier's training augmentation (noise <= 20, blur <= 0.8 px):
    // there FID rises by only +0.3..1 and +0.6..5 over `same` (7 draws of these sets), within the sets' sampling noise.
    const noise = [20, 40, 80].map((s) => fid(s, 0).fid);
    const blur = [0.75, 1, 1.5].map((s) => fid(0, s).fid);
    const curve = JSON.stringify({ same: same.fid, noise, blur });
    for (const series of [noise, blur]) {
      const all = [same.fid, ...series];
      for (let i = 1; i < all.length; i++) assert.ok(all[i] > all[i - 1], `FID must rise with the degradation: ${curve}`);
    }
    // Measured here: same 16.4; noise 20, 40, 80: 19.5, 66.0, 540; blur 0.75, 1, 1.5: 31.4, 63.6, 213.
    assert.ok(same.fid < 0.3 * noise[1] && same.fid < 0.1 * blur[2], `FID between independent render sets should be small next to heavy degradations: ${curve}`);
  } finally {
    classifier.dispose();
  }
});

test('renderSet: a killed set is finished on rerun, the same files as an uninterrupted one; another set in the folder is refused', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { createHash } = await import('node:crypto');
  const { removedAtExit } = await import('../helpers/temp');
  const { renderSet } = await import('../../src/eval/fid');
  const prompts = seenPrompts().slice(0, 6);
  const opts = { prompts, perPrompt: 2, seed: 4, noise: 8, blur: 0.5 };
  const whole = removedAtExit('t2i-rs-a-');
  assert.equal(renderSet({ ...opts, out: whole }), 12);
  const cut = removedAtExit('t2i-rs-b-');
  renderSet({ ...opts, out: cut });
  // As a kill leaves it: 5 records and a torn sixth line, the rest of the PNGs never written.
  const lines = fs.readFileSync(path.join(cut, 'manifest.jsonl'), 'utf8').split('\n');
  fs.writeFileSync(path.join(cut, 'manifest.jsonl'), lines.slice(0, 5).join('\n') + '\n' + lines[5].slice(0, 20));
  for (const f of fs.readdirSync(cut)) if (f.endsWith('.png') && !lines.slice(0, 5).some((l) => l.includes(`"${f}"`))) fs.rmSync(path.join(cut, f));
  assert.equal(renderSet({ ...opts, out: cut }), 12); // was refused: "manifest.jsonl already exists; choose a new folder"
  const digest = (d: string) => fs.readdirSync(d).sort().map((f) => `${f}:${createHash('sha256').update(fs.readFileSync(path.join(d, f))).digest('hex')}`);
  assert.deepEqual(digest(cut), digest(whole));
  assert.equal(renderSet({ ...opts, out: cut }), 12, 'a finished set asked again');
  assert.deepEqual(digest(cut), digest(whole));
  assert.throws(() => renderSet({ ...opts, seed: 5, out: cut }), /holds another render set \(its image p0-0: seed "4\/0\/0" there, "5\/0\/0" here\): choose a new folder, or the same prompts/);
  assert.throws(() => renderSet({ ...opts, noise: 0, out: cut }), /holds another render set/);
  assert.throws(() => renderSet({ ...opts, size: 48, out: cut }), /holds another render set \(its images are 32x32, not 48\)/);
  assert.deepEqual(digest(cut), digest(whole), 'nothing written by a refused set');
});
