// scripts/shape-decision.ts: bad arguments are one clear line and write nothing (a full run samples hundreds of images: not a unit test).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';
import { tinyModelFolder } from '../models/helpers';

const ROOT = path.join(__dirname, '..', '..');

test('shape-decision: a bad category, guidance, sampler variant, start step or model is one line, exit status 1, nothing written', async () => {
  const out = path.join(removedAtExit('sd-'), 'out');
  const plain = await tinyModelFolder('sd-plain-'); // not self-conditioned (the shipped model is)
  for (const [args, message] of [
    [['--category', 'size'], /--category must be one of count, color, background, combination, got 'size'/],
    [['--guidance', ''], /--guidance needs a number >= 0, got ''/],
    [['--guidance-at', '5:700:400'], /--guidance-at must be G:LO:HI \(a scale, then timesteps 0 <= LO <= HI\), got '5:700:400'/],
    [['--guidance-at', 'x:400:700'], /--guidance-at needs a number >= 0, got 'x'/],
    [['--from', '3,50'], /--from takes sampling steps in 0..49, got '50'/],
    [['--per-category', '0'], /--per-category must be an integer in 1\.\.100000, got "0"/],
    [['--steps', '0'], /--steps must be an integer in 1\.\.100000, got "0"/],
    [['--eta', '2'], /--eta needs a number in 0..1, got '2'/],
    [['--eps-scale', '0'], /--eps-scale must be L or L:THI \(L > 0, THI a timestep\), got '0'/],
    [['--eps-scale', '1.01:'], /--eps-scale must be L or L:THI \(L > 0, THI a timestep\), got '1.01:'/],
    [['--eps-scale', '1.01:x'], /--eps-scale must be L or L:THI \(L > 0, THI a timestep\), got '1.01:x'/],
    [['--negative-object', 'dog'], /--negative-object must be one of circle, .*, got 'dog'/],
    [['--negative-count', '0'], /--negative-count must be a whole number other than 0, got '0'/],
    [['--negative-count', '1.5'], /--negative-count must be a whole number other than 0, got '1.5'/],
    [['--steps', '20'], /--from takes sampling steps in 0..19, got '49'/],
    [['--model', '/nonexistent'], /no diffusion checkpoint in \/nonexistent/],
    [['--model', plain, '--zero-estimates'], /--zero-estimates: .*sd-plain-.*\/diffusion is not self-conditioned \(its unet.selfCondition is false\)/],
  ] as const) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'shape-decision.ts'), ...args, '--out', out], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!fs.existsSync(out), 'nothing written');
  }
});
