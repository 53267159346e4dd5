import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { checkEnvironment } from '../../src/cli/env';
import { errorLine } from '../../src/cli/errors';
import { smallDataset } from '../feedback/helpers';
import { runCli, tensorsMade } from './run-in-process';
import { removedAtExit } from '../helpers/temp';

const BIN = path.join(__dirname, '..', '..', 'bin', 't2i-align.js');
/** The CLI as a user runs it (dist/: build first), without any T2I_* variable of the test run unless given. */
const run = (args: string[], env: Record<string, string> = {}) => {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('T2I_')));
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...base, T2I_PROGRESS: '0', ...env } });
};
const tmp = () => removedAtExit('t2i-errors-');

/** One stderr line `t2i-align: ...`, exit status 1, nothing on stdout. */
function oneLine(r: ReturnType<typeof run>, message: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^t2i-align: [^\n]+\n$/, `not one line: ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, message);
}

test('parser errors are one line that says what is allowed; --help stays long', () => {
  oneLine(run(['rendr']), /unknown command "rendr" \(did you mean render\?\); commands: info, vocab, render, .* \(t2i-align --help says what each does\)/);
  oneLine(run(['render', '--prompt', 'a circle']), /^t2i-align: render: --out <file\.png> is required: output PNG \(t2i-align render --help\)/);
  oneLine(run(['render', '--prompt', 'a circle', '--out', 'x.png', '--sed', '3']), /render: unknown option "--sed" \(did you mean --seed\?\); render takes --prompt, --out, --seed, --size, --help/);
  oneLine(run(['render', '--out', 'x.png', '--prompt']), /render: --prompt <text> needs a value/);
  oneLine(run(['render', '--prompt', 'a', 'red', 'circle', '--out', 'x.png']), /render: unexpected arguments "red" "circle": render takes .* \(quote a value with spaces/);
  const help = run(['render', '--help']);
  assert.equal(help.status, 0);
  assert.ok(help.stdout.split('\n').length > 5 && /--prompt <text>/.test(help.stdout));
  // An option left without its value takes the next flag as one: the line names the option that lacks it, not the flag it took.
  oneLine(run(['render', '--prompt', '--out', 'x.png']), /^t2i-align: render: --prompt has no value: it took the next flag, --out, as its value; write --prompt <text> \(e\.g\. "two red circles in the forest"; t2i-align render --help\)\n$/);
  oneLine(run(['eval-base', '--model', '--json']), /^t2i-align: eval-base: --model has no value: it took the next flag, --json, as its value/);
  // help names an unknown command as one; a known one gets its help.
  oneLine(run(['help', 'rendr']), /^t2i-align: help: no command "rendr"; commands: info, vocab, render, .*, worker\n$/);
  const helpRender = run(['help', 'render']);
  assert.equal(helpRender.status, 0);
  assert.equal(helpRender.stdout, help.stdout);
  const helpAll = run(['help']);
  assert.equal(helpAll.status, 0);
  assert.match(helpAll.stdout, /Commands:[\s\S]*render \[options\][\s\S]*help \[command\]/);
});

test('system errors are one line naming the path or address and what to do', async () => {
  const dir = tmp();
  const r = run(['render', '--prompt', 'a circle', '--out', path.join(dir, 'no', 'x.png')]);
  oneLine(r, new RegExp(`cannot write ${path.join(dir, 'no', 'x.png').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: the folder .* does not exist \\(create it first`));
  assert.doesNotMatch(r.stderr, /\.tmp-|ENOENT/);
  // `generate --out /proc/x` once spun forever in Node's recursive mkdir: now it fails at once, before the model loads.
  const prompts = path.join(dir, 'p.txt');
  fs.writeFileSync(prompts, 'a red circle\n');
  oneLine(run(['generate', '--prompts', prompts, '--out', '/proc/x/y']), /cannot make the folder \/proc\/x: \/proc does not exist or cannot hold folders/);
  const made = await tensorsMade(() => assert.rejects(runCli('generate', '--prompts', prompts, '--out', '/proc/x/y'), (e: Error) => /cannot make the folder \/proc\/x/.test(errorLine(e))));
  assert.equal(made, 0, `refused before the model loads (it made ${made} tensors)`);
  // A dataset refused for another source: the one line only (no progress line before it).
  assert.equal(run(['collect', '--prompts', prompts, '--stand-in', '0.1', '--out', path.join(dir, 'ds')]).status, 0);
  oneLine(run(['collect', '--prompts', prompts, '--stand-in', '0.2', '--out', path.join(dir, 'ds')]), /ds\/dataset\.json: this dataset was made with --stand-in 0\.1; this run has --stand-in 0\.2/);
  fs.writeFileSync(path.join(dir, 'file'), '');
  oneLine(run(['render-set', '--out', path.join(dir, 'file')]), /--out .*file is a file, not a folder \(give a folder\)/);

  // A busy port: the address, and what to do.
  const data = smallDataset(2);
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as net.AddressInfo).port;
  try {
    const child = spawn(process.execPath, [BIN, 'serve', '--data', data, '--port', String(port)], { env: { ...process.env, T2I_PROGRESS: '0' } });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    const status = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
      child.on('exit', (code) => (clearTimeout(timer), resolve(code)));
    });
    assert.equal(status, 1);
    assert.equal(stderr, `t2i-align: address 127.0.0.1:${port} is already in use: another server listens there (stop it, pick another --port, or --port 0 for any free one)\n`);
    // No class was served: the label store it made (empty) is not left in the dataset.
    assert.deepEqual(fs.readdirSync(data).filter((f) => f.startsWith('labels.sqlite')), []);
  } finally {
    busy.close();
  }
});

test('errorLine: each system error names the user\'s path (not a temp file) and a way out', () => {
  const sys = (code: string, syscall: string, extra: Record<string, unknown>) => Object.assign(new Error(`${code}: raw`), { code, syscall, ...extra });
  assert.equal(errorLine(sys('EEXIST', 'mkdir', { path: 'out' })), 'out already exists and is not a folder (remove it, or pick another path)');
  assert.equal(errorLine(sys('EACCES', 'open', { path: '/root/x.png.tmp-123-1700000000000' })), 'permission denied: cannot open /root/x.png (pick a path you may read and write, or change its permissions)');
  assert.equal(errorLine(sys('EACCES', 'listen', { address: '0.0.0.0', port: 80 })), 'no permission to listen on 0.0.0.0:80 (ports below 1024 need privileges: pick a port above 1023, or --port 0 for any free one)');
  assert.equal(errorLine(sys('ENOTFOUND', 'getaddrinfo', { hostname: 'nosuchhost' })), 'host nosuchhost is not known (use --host 127.0.0.1, an IP address of this machine, or 0.0.0.0 for the whole LAN)');
  assert.equal(errorLine(sys('ENOENT', 'open', { path: '/nope/in.txt' })), '/nope/in.txt: no such file or folder (check the path)');
  assert.equal(errorLine(sys('ENOTDIR', 'open', { path: 'a.txt/b' })), 'a.txt/b: a part of this path is a file, not a folder (pick another path)');
  assert.equal(errorLine(new Error('first line\nsecond line')), 'first line');
});

test('every command checks the T2I_* variables before it runs: a bad value names the variable, the value and what is allowed', async () => {
  const saved = { ...process.env };
  const withEnv = async (env: Record<string, string>, ...args: string[]) => {
    Object.assign(process.env, env);
    try {
      return await runCli(...args);
    } finally {
      for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
  };
  const dir = tmp();
  const png = path.join(dir, 'x.png');
  await assert.rejects(withEnv({ T2I_BACKEND: 'bogus' }, 'render', '--prompt', 'a circle', '--out', png), /^Error: T2I_BACKEND="bogus" is not a backend; use one of: auto, tensorflow, wasm, cpu$/);
  assert.ok(!fs.existsSync(png), 'nothing ran');
  await assert.rejects(withEnv({ T2I_BACKEND: 'bogus' }, 'vocab'), /T2I_BACKEND="bogus"/);
  await assert.rejects(withEnv({ T2I_NATIVE: 'maybe' }, 'vocab'), /T2I_NATIVE="maybe" is not allowed for the native kernels; use one of: 0, off, false, no, 1, on, true, yes/);
  await assert.rejects(withEnv({ T2I_NATIVE_THREADS: 'lots' }, 'vocab'), /T2I_NATIVE_THREADS="lots" is not allowed .* whole number in 1\.\.1024 \(unset: all cores\)/);
  await assert.rejects(withEnv({ T2I_NATIVE_THREADS: '0' }, 'vocab'), /T2I_NATIVE_THREADS="0"/);
  await assert.rejects(withEnv({ T2I_POOL_SPIN_US: '-5' }, 'vocab'), /T2I_POOL_SPIN_US="-5" is not allowed .* whole number of microseconds in 0\.\.1000000 \(unset: 200\)/);
  await assert.rejects(withEnv({ T2I_PROGRESS: 'quiet' }, 'vocab'), /T2I_PROGRESS="quiet" is not allowed for progress bars; use one of: 0, 1/);
  await assert.rejects(withEnv({ T2I_BAKEND: 'cpu' }, 'vocab'), /T2I_BAKEND is not a variable of t2i-align \(did you mean T2I_BACKEND\? known: T2I_BACKEND, /);
  assert.ok(JSON.parse(await withEnv({ T2I_BACKEND: 'cpu', T2I_NATIVE: 'off', T2I_NATIVE_THREADS: '2', T2I_POOL_SPIN_US: '0', T2I_PROGRESS: '0', T2I_QUICK: '1' }, 'vocab', '--json')).counts);
  assert.doesNotThrow(() => checkEnvironment({ T2I_BACKEND: '', T2I_NATIVE: 'Yes' }), 'empty is the default; case does not matter');
  // Every variable the notebooks, the sources and the scripts read is one the CLI knows (notebook 06's T2I_SWEEPS stopped every command).
  const root = path.join(__dirname, '..', '..');
  const files = [...fs.readdirSync(path.join(root, 'notebooks')).map((f) => path.join('notebooks', f)), ...(fs.readdirSync(path.join(root, 'src'), { recursive: true }) as string[]).map((f) => path.join('src', f)), ...fs.readdirSync(path.join(root, 'scripts')).map((f) => path.join('scripts', f))]
    .filter((f) => /\.(ts|js|ipynb)$/.test(f));
  const read = new Set(files.flatMap((f) => [...fs.readFileSync(path.join(root, f), 'utf8').matchAll(/process\.env\.(T2I_[A-Z_]+)/g)].map((m) => m[1])));
  assert.ok(read.has('T2I_SWEEPS') && read.has('T2I_QUICK'), [...read].join(' '));
  for (const name of read) {
    const unknown = (() => {
      try {
        checkEnvironment({ [name]: '1' });
        return '';
      } catch (e) {
        return /is not a variable of t2i-align/.test((e as Error).message) ? (e as Error).message : ''; // a bad value is another matter
      }
    })();
    assert.equal(unknown, '', `${name} is read but unknown to the CLI`);
  }
  // The same from a shell: one line, exit status 1 (commands that never touch tfjs included).
  oneLine(run(['judge', '--prompt', 'a circle', '--image', png], { T2I_BACKEND: 'bogus' }), /^t2i-align: T2I_BACKEND="bogus" is not a backend/);
  oneLine(run(['vocab'], { T2I_NATIVE_THREADS: '-1' }), /^t2i-align: T2I_NATIVE_THREADS="-1"/);
});

test('inputs once taken without a word: an option that does nothing, the same folder twice, an empty host, a tiny FID, renders as D_model', async () => {
  const dir = tmp();
  const png = path.join(dir, 'a.png');
  assert.equal(run(['render', '--prompt', 'a red circle', '--out', png]).status, 0);
  // judge on one image ignored --out (the verdict is printed, no file written)
  oneLine(run(['judge', '--prompt', 'a red circle', '--image', png, '--out', path.join(dir, 'v.jsonl')]), /--out goes with --manifest \(the verdicts file of a dataset\); the verdict on one image is printed/);
  assert.ok(!fs.existsSync(path.join(dir, 'v.jsonl')));
  // compare of an evaluation with itself: every image a tie
  const ev = path.join(dir, 'ev');
  fs.mkdirSync(ev);
  oneLine(run(['compare', '--a', ev, '--b', `${ev}/`]), /--a and --b name the same evaluation .*: every image would tie/);
  // eval-reward: one set given twice as the same role is one row twice; labels and judge of one folder are two rows
  const data = smallDataset(3);
  await assert.rejects(runCli('eval-reward', '--model', 'data/reward-model', '--judge', data, '--judge', data), /is given twice \(--judge twice\)/);
  // serve on an empty host listened on every address, as 0.0.0.0 would
  await assert.rejects(runCli('serve', '--data', data, '--host', '', '--port', '0'), /--host must be an address to listen on \(127\.0\.0\.1: this computer only; 0\.0\.0\.0: the whole LAN\), got ""/);
  assert.ok(!fs.existsSync(path.join(data, 'labels.sqlite')), 'no store made for a refused serve');
  // an FID on fewer images than features is computed, with a caution
  const few = path.join(dir, 'few.txt');
  fs.writeFileSync(few, 'a red circle\ntwo blue stars\na square in the sea\n');
  const [a, b] = ['a', 'b'].map((s, i) => {
    const out = path.join(dir, `set-${s}`);
    assert.equal(run(['render-set', '--prompts', few, '--per-prompt', '2', '--out', out, '--seed', String(i)]).status, 0);
    return out;
  });
  const fid = run(['fid', '--a', a, '--b', b, '--json']);
  assert.equal(fid.status, 0, fid.stderr);
  const r = JSON.parse(fid.stdout) as { nA: number; dim: number };
  assert.ok(r.nA <= r.dim, `the render set has ${r.nA} images, the features ${r.dim}`);
  assert.match(fid.stderr, /^t2i-align: caution: \d+ images in the smaller set, no more than the \d+ features: this FID mostly measures the sample size/);
  // renders as D_model: a caution naming the folder; collect's images: none
  const { renderedDataCaution } = await import('../../src/finetune');
  const manifest = path.join(data, 'manifest.jsonl');
  fs.writeFileSync(manifest, fs.readFileSync(manifest, 'utf8').replaceAll('"source":"render"', '"source":"pretrain"')); // as collect writes them
  assert.match(renderedDataCaution([data, a]) ?? '', new RegExp(`^${a.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} holds renders \\(render-set\\), not the model's samples`));
  assert.equal(renderedDataCaution([data]), undefined);
  // ... and the CLI prints it before its own answer (here: renders carry no labels for --weights labels)
  const ftOut = path.join(dir, 'ft-on-renders');
  const ft = run(['finetune', '--data', a, '--weights', 'labels', '--out', ftOut]);
  assert.equal(ft.status, 1, ft.stderr);
  const [caution, ...rest] = ft.stderr.trimEnd().split('\n');
  assert.match(caution, /^t2i-align: caution: .*set-a holds renders \(render-set\), not the model's samples/);
  assert.equal(rest.length, 1, ft.stderr);
  assert.ok(!fs.existsSync(ftOut), 'nothing written');
});
