#!/usr/bin/env node
// `npm run notebooks [-- JUPYTER OPTIONS]`: open the kit's notebooks.
//   1. links node_modules/t2i-align to this checkout (what the notebooks
//      import) and registers the TypeScript kernel they name ("tslab") in your
//      Jupyter kernel folder, as absolute paths: this Node and this checkout's
//      tslab, so `jupyter nbconvert --execute notebooks/00_world.ipynb` works
//      from any shell, with or without node_modules/.bin on PATH;
//   2. starts Jupyter (JupyterLab, else the classic Notebook) on notebooks/,
//      passing on what follows `--` (e.g. `npm run notebooks -- --no-browser`).
// `node scripts/notebooks.js --register` does step 1 only (npm test, Docker).
// Jupyter itself comes from your system: on Debian/Ubuntu
// `sudo apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient`.
'use strict';
const { spawnSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
/** The kernel name the notebooks' metadata asks for. */
const KERNEL_NAME = 'tslab';

/** The kernel.json of the kit's TypeScript kernel: absolute paths only, so no PATH is needed to start it. */
function kernelSpec(root = ROOT) {
  let tslab;
  try {
    tslab = path.join(path.dirname(require.resolve('tslab/package.json', { paths: [root] })), 'bin', 'tslab');
  } catch {
    throw new Error(`tslab is not installed in ${root}/node_modules: run \`npm install\` there first`);
  }
  return {
    argv: [process.execPath, tslab, 'kernel', '--config-path', '{connection_file}'],
    display_name: 'TypeScript',
    language: 'typescript',
    metadata: { t2i_align: { root } },
  };
}

/** The python of the `jupyter` on PATH, read from its #! line (undefined when there is none). */
function jupyterPython() {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const file = path.join(dir || '.', 'jupyter');
    try {
      const first = fs.readFileSync(file, 'utf8').split('\n')[0];
      const m = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(first);
      if (m) return path.basename(m[1]) === 'env' ? m[2] : m[1];
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** True when `python` can import every module in `modules`. */
function canImport(python, modules) {
  const r = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** A python that has jupyter_client (and `modules`): the one of `jupyter` on PATH, else python3, else /usr/bin/python3. */
function findPython(modules = []) {
  const seen = new Set();
  for (const p of [jupyterPython(), 'python3', '/usr/bin/python3']) {
    if (!p || seen.has(p)) continue;
    seen.add(p);
    if (canImport(p, ['jupyter_client', ...modules])) return p;
  }
  return undefined;
}

/** Run a python snippet; returns its stdout, trimmed (throws with its stderr on failure). */
function py(python, code) {
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${python} -c ...: ${(r.stderr || String(r.error)).trim().split('\n').pop()}`);
  return r.stdout.trim();
}

/**
 * Write the kernel spec into the user's Jupyter kernel folder (Jupyter's data
 * dir: ~/.local/share/jupyter, or $JUPYTER_DATA_DIR), where it takes
 * precedence over system-wide specs of the same name. Returns the kernel.json
 * path and the argv Jupyter now resolves for the name.
 */
function registerKernel({ root = ROOT, python = findPython() } = {}) {
  if (!python) throw new Error('no Python with Jupyter found (jupyter_client): on Debian/Ubuntu `sudo apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient`, or `pip install notebook`');
  const dataDir = py(python, 'from jupyter_core.paths import jupyter_data_dir; print(jupyter_data_dir())');
  const dir = path.join(dataDir, 'kernels', KERNEL_NAME);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'kernel.json');
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(kernelSpec(root), null, 2) + '\n');
  fs.renameSync(tmp, file);
  const resolved = JSON.parse(py(python, `import json; from jupyter_client.kernelspec import KernelSpecManager as M; s = M().get_kernel_spec(${JSON.stringify(KERNEL_NAME)}); print(json.dumps({"dir": s.resource_dir, "argv": s.argv}))`));
  return { file, python, resolved };
}

/** What the notebooks import: `t2i-align` resolves to this checkout (node_modules/t2i-align, a link) and its dist/ is built. */
function checkKit(root = ROOT) {
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) throw new Error(`the kit is not built (dist/ is missing): run \`npm run build\` in ${root}`);
  const r = spawnSync(process.execPath, [path.join(__dirname, 'link-self.js')], { cwd: root, stdio: 'inherit' });
  if (r.error || r.status !== 0) throw new Error('could not link node_modules/t2i-align to this checkout (scripts/link-self.js)');
}

function main(args) {
  const registerOnly = args[0] === '--register';
  let r;
  try {
    checkKit();
    r = registerKernel();
  } catch (e) {
    process.stderr.write(`npm run notebooks: ${e.message}\n`);
    process.exit(1);
  }
  if (path.resolve(r.resolved.dir) !== path.dirname(r.file)) {
    process.stderr.write(`npm run notebooks: registered ${r.file}, but Jupyter finds the "${KERNEL_NAME}" kernel in ${r.resolved.dir} first (JUPYTER_PATH?): remove that one\n`);
    process.exit(1);
  }
  console.log(`kernel "${KERNEL_NAME}": ${r.file} (${r.resolved.argv.slice(0, 2).join(' ')})`);
  if (registerOnly) return;
  const server = [['jupyterlab', 'jupyterlab'], ['notebook', 'notebook']].find(([mod]) => canImport(r.python, [mod]));
  if (!server) {
    process.stderr.write('npm run notebooks: the kernel is registered (`jupyter nbconvert --to notebook --execute notebooks/00_world.ipynb` works now), but no Jupyter server is installed: on Debian/Ubuntu `sudo apt-get install jupyter-notebook`, or `pip install notebook`\n');
    process.exit(1);
  }
  const notebooks = path.join(ROOT, 'notebooks');
  // Jupyter refuses root without --allow-root: root here is a container or a class VM, so allow it.
  const extra = process.getuid && process.getuid() === 0 && !args.includes('--allow-root') ? ['--allow-root'] : [];
  console.log(`starting ${r.python} -m ${server[1]} ${[...extra, ...args].join(' ')} in ${notebooks}`);
  const child = spawn(r.python, ['-m', server[1], ...extra, ...args], { cwd: notebooks, stdio: 'inherit' });
  // Ctrl+C reaches Jupyter too (same process group), and it asks before it stops: wait for it.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (require.main === module) main(process.argv.slice(2));
module.exports = { KERNEL_NAME, kernelSpec, findPython, registerKernel };
