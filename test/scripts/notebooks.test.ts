import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';

const ROOT = path.join(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nb = require(path.join(ROOT, 'scripts', 'notebooks.js')) as {
  KERNEL_NAME: string;
  kernelSpec(root?: string): { argv: string[]; display_name: string; language: string };
  findPython(modules?: string[]): string | undefined;
  registerKernel(opts: { root?: string; python?: string }): { file: string; python: string; resolved: { dir: string; argv: string[] } };
};

test('the kernel spec names this Node and this checkout\'s tslab by absolute paths (no PATH needed)', () => {
  const spec = nb.kernelSpec();
  assert.equal(nb.KERNEL_NAME, 'tslab', 'the name the notebooks\' metadata asks for');
  assert.ok(path.isAbsolute(spec.argv[0]) && fs.existsSync(spec.argv[0]), spec.argv[0]);
  assert.equal(spec.argv[0], process.execPath);
  assert.ok(path.isAbsolute(spec.argv[1]) && fs.existsSync(spec.argv[1]), spec.argv[1]);
  assert.equal(spec.argv[1], path.join(ROOT, 'node_modules', 'tslab', 'bin', 'tslab'));
  assert.deepEqual(spec.argv.slice(2), ['kernel', '--config-path', '{connection_file}']);
  assert.equal(spec.language, 'typescript');
});

test('registered in the user\'s kernel folder, Jupyter resolves "tslab" to it and runs TypeScript from a plain shell', () => {
  const python = nb.findPython();
  assert.ok(python, 'no Python with jupyter_client (npm test installs python3-nbclient and python3-ipykernel)');
  const dataDir = removedAtExit('t2i-jupyter-');
  const saved = process.env.JUPYTER_DATA_DIR;
  process.env.JUPYTER_DATA_DIR = dataDir;
  try {
    const r = nb.registerKernel({ python });
    assert.equal(r.file, path.join(dataDir, 'kernels', 'tslab', 'kernel.json'));
    const written = JSON.parse(fs.readFileSync(r.file, 'utf8'));
    assert.ok(path.isAbsolute(written.argv[0]) && fs.existsSync(written.argv[0]));
    assert.equal(path.resolve(r.resolved.dir), path.dirname(r.file), 'the user\'s spec wins over system-wide ones of the same name');
    assert.deepEqual(r.resolved.argv, written.argv);

    // A plain shell: no node_modules/.bin (nor this Node's folder) on PATH.
    const code = [
      'from jupyter_client.manager import start_new_kernel',
      'km, kc = start_new_kernel(kernel_name="tslab", cwd=' + JSON.stringify(path.join(ROOT, 'notebooks')) + ')',
      'out = []',
      'kc.execute_interactive("const xs: number[] = [1, 2, 3]; xs.reduce((a, b) => a + b, 0)", timeout=120, output_hook=lambda m: out.append(m["content"].get("text") or m["content"].get("data", {}).get("text/plain", "")))', // tslab prints a cell's value as a stream
      'kc.stop_channels(); km.shutdown_kernel(now=True)',
      'print("".join(out))',
    ].join('\n');
    const run = spawnSync(python!, ['-c', code], { encoding: 'utf8', timeout: 150_000, env: { HOME: os.homedir(), PATH: '/usr/bin:/bin', JUPYTER_DATA_DIR: dataDir } });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), '6');
  } finally {
    if (saved === undefined) delete process.env.JUPYTER_DATA_DIR;
    else process.env.JUPYTER_DATA_DIR = saved;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
