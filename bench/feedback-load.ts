/**
 * Load test of the labelling server: R simulated browsers label at once
 * (GET /api/next, POST /api/labels, now and then a retried POST with the same
 * request id), against a server in a child process. Checks that every
 * acknowledged label is stored exactly once; with --kill-after K the server
 * is SIGKILLed after K acknowledgements and the store is reopened to check
 * that no acknowledged label was lost.
 *
 *   node --import tsx bench/feedback-load.ts                     # 20 raters, 5000 labels
 *   node --import tsx bench/feedback-load.ts --raters 5 --labels 500 --kill-after 200
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LabelStore } from '../src/feedback/store';
import { serveLabels } from '../src/feedback/server';
import { Dataset, MANIFEST } from '../src/world/dataset';
import { seenPrompts } from '../src/world/promptSets';
import { renderPrompt } from '../src/world/render';

export interface LoadOptions {
  /** Simulated browsers labelling at once. */
  raters: number;
  /** Labels posted in total (split evenly over raters). */
  labels: number;
  /** SIGKILL the server after this many acknowledged labels (omit: run to the end). */
  killAfter?: number;
  /** Fraction of POSTs sent twice with the same request id (a client retry). */
  retryRate?: number;
  /** Dataset folder to use (default: a fresh one rendered in a temp folder). */
  dataDir?: string;
}

export interface LoadResult {
  raters: number;
  /** Labels acknowledged by the server (2xx). */
  acked: number;
  /** Rows in the store afterwards (fresh labels only: duplicates are not rows). */
  stored: number;
  /** Acknowledged request ids missing from the store (must be 0). */
  lost: number;
  /** Request ids stored more than once (must be 0). */
  duplicated: number;
  /** Retried POSTs the server recognised as duplicates. */
  retriesRecognised: number;
  killed: boolean;
  seconds: number;
  labelsPerSecond: number;
  /** POST /api/labels latency, ms. */
  latency: { p50: number; p95: number; p99: number; max: number };
}

/** A dataset with at least `n` images (seen prompts, rendered). */
export function loadDataset(n: number, dir = fs.mkdtempSync(path.join(os.tmpdir(), 't2i-load-'))): string {
  const ds = Dataset.create(dir);
  const prompts = seenPrompts();
  for (let i = 0; i < n; i++) {
    const p = prompts[i % prompts.length];
    ds.add({ id: `load-${i}`, prompt: p.prompt, attributes: p.attributes, seed: i, source: 'render', extras: { category: p.category } }, renderPrompt(p.attributes, i).image);
  }
  return dir;
}

/** Start `serve` in a child process; resolves with its URL. */
function startServer(dataDir: string, storeFile: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--serve', dataDir, storeFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^listening (\S+)$/m.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${err}`)));
  });
}

const quantile = (xs: number[], q: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] : NaN);

/** Run the load test (see the file comment). */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const perRater = Math.ceil(opts.labels / opts.raters);
  const dataDir = opts.dataDir ?? loadDataset(perRater);
  const storeFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2i-load-store-')), 'labels.sqlite');
  const { child, url } = await startServer(dataDir, storeFile);
  const acked = new Set<string>();
  const latencies: number[] = [];
  let retriesRecognised = 0;
  let killed = false;
  const retryRate = opts.retryRate ?? 0.05;
  const t0 = performance.now();

  const postLabel = async (body: object): Promise<{ duplicate: boolean }> => {
    const t = performance.now();
    const res = await fetch(`${url}/api/labels`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await res.json()) as { duplicate?: boolean; error?: string };
    if (!res.ok) throw new Error(`POST /api/labels ${res.status}: ${json.error}`);
    latencies.push(performance.now() - t);
    return { duplicate: !!json.duplicate };
  };

  const rater = async (r: number): Promise<void> => {
    const name = `rater ${r}`;
    const quota = Math.floor(opts.labels / opts.raters) + (r < opts.labels % opts.raters ? 1 : 0);
    for (let k = 0; k < quota; k++) {
      const next = await fetch(`${url}/api/next?rater=${encodeURIComponent(name)}`);
      const n = (await next.json()) as { done: boolean; item?: { id: string } };
      if (!next.ok) throw new Error(`GET /api/next ${next.status}`);
      if (n.done) throw new Error(`${name} ran out of images after ${k} labels`);
      const body = { rater: name, image_id: n.item!.id, label: ['good', 'bad', 'skip'][(r + k) % 3], request_id: `load-${r}-${k}-${process.pid}`, if_unlabelled: true }; // as the page sends it
      await postLabel(body);
      acked.add(body.request_id);
      if (Math.random() < retryRate && (await postLabel(body)).duplicate) retriesRecognised++;
      if (opts.killAfter !== undefined && !killed && acked.size >= opts.killAfter) {
        killed = true;
        child.kill('SIGKILL');
      }
    }
  };

  await Promise.all(
    Array.from({ length: opts.raters }, (_, r) =>
      rater(r).catch((e: unknown) => {
        if (!killed) throw e; // after the kill, failed requests are expected
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  if (!killed) child.kill('SIGTERM');
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));

  const store = LabelStore.open(storeFile);
  const rows = store.history();
  store.close();
  fs.rmSync(path.dirname(storeFile), { recursive: true, force: true });
  const stored = new Map<string, number>();
  for (const row of rows) stored.set(row.requestId, (stored.get(row.requestId) ?? 0) + 1);
  latencies.sort((a, b) => a - b);
  return {
    raters: opts.raters,
    acked: acked.size,
    stored: rows.length,
    lost: [...acked].filter((id) => !stored.has(id)).length,
    duplicated: [...stored.values()].filter((c) => c > 1).length,
    retriesRecognised,
    killed,
    seconds,
    labelsPerSecond: acked.size / seconds,
    latency: { p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), p99: quantile(latencies, 0.99), max: latencies[latencies.length - 1] ?? NaN },
  };
}

function arg(name: string, fallback?: number): number | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got "${process.argv[i + 1]}"`);
  return v;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--serve') {
    const s = await serveLabels({ dataDir: process.argv[3], storeFile: process.argv[4], host: '127.0.0.1', port: 0 });
    process.stdout.write(`listening ${s.url}\n`);
    process.once('SIGTERM', () => void s.close().then(() => process.exit(0)));
    return;
  }
  const raters = arg('--raters', 20)!;
  const labels = arg('--labels', 5000)!;
  const killAfter = arg('--kill-after');
  const t = performance.now();
  const dataDir = loadDataset(Math.ceil(labels / raters));
  console.log(`dataset: ${Math.ceil(labels / raters)} images in ${((performance.now() - t) / 1000).toFixed(1)} s (${path.join(dataDir, MANIFEST)})`);
  const r = await runLoad({ raters, labels, killAfter, dataDir });
  console.log(JSON.stringify(r, null, 2));
  const ok = r.lost === 0 && r.duplicated === 0 && (r.killed || r.stored === labels);
  console.log(ok ? 'OK: every acknowledged label stored exactly once' : 'FAIL');
  fs.rmSync(dataDir, { recursive: true, force: true });
  if (!ok) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
