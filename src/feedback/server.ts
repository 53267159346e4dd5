/**
 * The labelling web app: a small HTTP server over one dataset folder and its
 * label store. Built on fastify 5 (OpenJS Foundation, actively maintained):
 * it parses JSON bodies with a size limit and content-type check, answers
 * malformed input with 4xx before our code runs. The tests talk to it over a
 * real socket, as the browser does (fastify's `inject` is not used).
 *
 * Pages:  GET /            the labeller with its rubric (static/index.html + app.js + style.css)
 *         GET /stats       the teacher's page: class address, progress, agreement (static/stats.html + stats.js)
 * API:    GET  /api/info                    dataset name and size, the class address(es)
 *         GET  /api/rubric                  the rubric (rubric.ts) with example image paths
 *         GET  /rubric/<name>.png           an example render, made by the world's renderer on first request
 *         GET  /api/next?rater=NAME         next image for this rater (fewest human labels first)
 *         POST /api/labels {rater, image_id, label, request_id}
 *         POST /api/undo   {rater, request_id}
 *         GET  /api/stats                   AgreementStats as JSON (with each rater's last activity)
 *         GET  /api/export.jsonl, /api/export.csv   the raw label history
 *         GET  /images/<file>               a dataset PNG (only files the manifest lists)
 * Every error is JSON {error, code?}: 4xx naming what is wrong (405 with
 * Allow for an API route asked with another method), 500 without internals;
 * a label is acknowledged (2xx) only after its SQLite commit. Writes are
 * idempotent per request_id, an undo that found nothing included; a
 * conflict (409) does not show what the other request stored.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import Fastify, { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { manifestFile, ManifestRecord, readManifest } from '../world/dataset';
import { AgreementStats, agreementStats, recordCategory } from './agreement';
import { formatRows, imageInfo, storeCheck } from './io';
import { judgeRecords } from './label';
import { rubric, rubricImage } from './rubric';
import { checkRaterName, ConflictError, LabelRow, LabelStore, LABELS, REQUEST_ID } from './store';

export interface ServerOptions {
  /** Dataset folder (manifest.jsonl + PNGs). */
  dataDir: string;
  /** Label store file. Default DIR/labels.sqlite. */
  storeFile?: string;
  /** Largest request body in bytes. Default 16 KiB. */
  bodyLimit?: number;
  /** Log requests (fastify's pino logger). Default false. */
  logger?: boolean;
}

export interface LabelServer {
  app: FastifyInstance;
  store: LabelStore;
  /**
   * Addresses students open, the first shown largest on the stats page (set
   * by serveLabels from its listen address). When empty the page shows the
   * address it was itself opened at.
   */
  classUrls: string[];
  /** Stop serving and close the store. */
  close(): Promise<void>;
}

/** A 4xx with a clear message. */
class HttpError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
  }
}

const STATIC_FILES = new Map<string, string>([
  ['app.js', 'text/javascript; charset=utf-8'],
  ['stats.js', 'text/javascript; charset=utf-8'],
  ['style.css', 'text/css; charset=utf-8'],
]);

/** Folder of the hand-written page files: beside this file in src/, or src/feedback/static from dist/. */
function staticDir(): string {
  for (const dir of [path.join(__dirname, 'static'), path.join(__dirname, '..', '..', 'src', 'feedback', 'static')]) {
    if (fs.existsSync(path.join(dir, 'index.html'))) return dir;
  }
  throw new Error(`cannot find the labeller's static files (looked beside ${__dirname})`);
}

const Rater = z.string().superRefine(storeCheck(checkRaterName)).superRefine((v, ctx) => {
  if (/^sim-/.test(v)) ctx.addIssue({ code: 'custom', message: `rater names starting with "sim-" are reserved for simulated raters, got "${v.slice(0, 80)}"` });
}).transform((v) => v.normalize('NFC')); // one rater however the name's accents were typed (the store keeps NFC)
const RequestId = z.string().regex(REQUEST_ID, 'must be 8-200 characters of A-Z a-z 0-9 _ . : / -');
const LabelBody = z.strictObject({
  rater: Rater,
  image_id: z.string().min(1).max(500),
  label: z.enum(LABELS, { message: 'must be one of good, bad, skip' }),
  request_id: RequestId,
  /** true: refuse (409) a label on an image this rater has a live label on (the labeller's page sends it). */
  if_unlabelled: z.boolean().optional(),
});
const UndoBody = z.strictObject({ rater: Rater, request_id: RequestId });

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'request body must be a JSON object');
  }
  const p = schema.safeParse(body);
  if (!p.success) {
    // zod does not report the input itself: a key is missing when the body does not hold it.
    const present = (keys: readonly PropertyKey[]) => {
      let v: unknown = body;
      for (const k of keys) {
        if (v === null || typeof v !== 'object' || !(k in v)) return false;
        v = (v as Record<PropertyKey, unknown>)[k];
      }
      return true;
    };
    const allowed = Object.keys((schema as unknown as { shape?: Record<string, unknown> }).shape ?? {});
    const say = (i: z.core.$ZodIssue) =>
      i.code === 'invalid_type' && !present(i.path) ? 'missing'
      : i.code === 'unrecognized_keys' ? `${i.message}; the fields are ${allowed.join(', ')}`
      : i.message.slice(0, 300);
    throw new HttpError(400, p.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ` : '') + say(i)).join('; '));
  }
  return p.data;
}

/** Where the app serves a dataset image. */
const imageUrl = (r: ManifestRecord): string => `/images/${encodeURIComponent(r.file)}`;

/** FNV-1a hash: a per-rater order of images, so raters starting together see different ones. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Longest path part the router takes (fastify's maxParamLength): a longer one is a 414. */
const MAX_PATH_PART = 100;

/** Build the app (not listening yet). */
export async function createLabelServer(opts: ServerOptions): Promise<LabelServer> {
  const dataDir = path.resolve(opts.dataDir);
  const storeFile = opts.storeFile ?? path.join(dataDir, 'labels.sqlite');
  const pages = staticDir();

  // The manifest is re-read when it changes, so a dataset may grow while served. Read strictly at the start; later,
  // a state it cannot read (a line half appended, a PNG removed by hand) keeps the last good one served, said once
  // on stderr, instead of answering every route with 500 (the image route names a missing file itself).
  let manifest = { key: '', records: [] as ManifestRecord[], byId: new Map<string, ManifestRecord>(), byFile: new Map<string, ManifestRecord>() };
  let unreadable = '';
  const records = (): typeof manifest => {
    let key = 'gone';
    try {
      const st = fs.statSync(manifestFile(dataDir));
      key = `${st.mtimeMs}:${st.size}`;
    } catch (e) {
      // Removed or renamed while served: like a state it cannot read (the stat was outside the try, and every
      // route, saving labels included, answered 500).
      if (!manifest.key) throw e;
      if (unreadable !== key) process.stderr.write(`t2i-align: ${(e as Error).message}; serving the ${manifest.records.length} images read before until it is back\n`);
      unreadable = key;
      return manifest;
    }
    if (key !== manifest.key) {
      let rs: ManifestRecord[];
      try {
        rs = readManifest(dataDir, manifest.key ? { checkFiles: false } : {});
      } catch (e) {
        if (!manifest.key) throw e;
        if (unreadable !== key) process.stderr.write(`t2i-align: ${(e as Error).message}; serving the ${manifest.records.length} images read before until it reads again\n`);
        unreadable = key;
        return manifest;
      }
      manifest = { key, records: rs, byId: new Map(rs.map((r) => [r.id, r])), byFile: new Map(rs.map((r) => [r.file, r])) };
      verdicts = null;
    }
    return manifest;
  };
  let verdicts: Map<string, boolean> | null = null;
  records();
  /** Whether an image's PNG is there; one missing is said once on stderr. */
  const saidMissing = new Set<string>();
  const fileThere = (r: ManifestRecord): boolean => {
    if (fs.existsSync(path.join(dataDir, r.file))) return true;
    if (!saidMissing.has(r.file)) process.stderr.write(`t2i-align: ${path.join(dataDir, r.file)} is in the manifest but missing: not offered for labelling\n`);
    saidMissing.add(r.file);
    return false;
  };

  const store = LabelStore.open(storeFile);
  try {
    store.bindDataset(imageInfo(manifest.records), dataDir);
  } catch (e) {
    store.close();
    throw e;
  }
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? 16 * 1024,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PATH_PART }, // /stats/ is /stats
    // Errors of the router itself (a path that is no valid URL, a name past the router's length) skip
    // setErrorHandler: answered here in the same { error, code } form, naming what is wrong.
    frameworkErrors: (err, req, reply) => {
      const status = err.statusCode ?? 400;
      const message =
        err.code === 'FST_ERR_BAD_URL' ? `the path ${JSON.stringify(req.url.slice(0, 200))} is not a valid URL (a "%" must start an escape like %20)`
        : status === 414 ? `the path's last part is longer than ${MAX_PATH_PART} characters`
        : err.message;
      void (reply as FastifyReply).status(status).send({ error: message, code: err.code });
    },
  });
  app.removeContentTypeParser('text/plain'); // bodies are JSON: text is 415 like any other type, not a 400 about its shape
  // JSON.parse, not fastify's parser: that one calls a body with a "__proto__" key "not valid JSON". Such a key is
  // an own property here (JSON.parse never sets a prototype), and the strict schemas refuse it as an unknown field.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    // The body is read as UTF-8: another charset would fail as "not valid JSON" or as a bad rater name.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1];
    if (charset && !/^utf-?8$/i.test(charset)) return done(new HttpError(415, `charset must be utf-8, got "${charset.slice(0, 50)}"`), undefined);
    if (body === '') return done(new HttpError(400, 'request body is empty: send a JSON object'), undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch (e) {
      done(new HttpError(400, `request body is not valid JSON (${(e as Error).message.slice(0, 200)})`), undefined);
    }
  });
  const server: LabelServer = {
    app,
    store,
    classUrls: [],
    async close() {
      await app.close();
      store.close();
    },
  };

  app.setErrorHandler((err: FastifyError | HttpError | Error, req, reply) => {
    const status = (err as FastifyError).statusCode ?? 500;
    if (status >= 500) req.log.error(err);
    const code = (err as FastifyError).code;
    const message =
      status === 413 ? `request body is larger than ${opts.bodyLimit ?? 16 * 1024} bytes`
      : status === 415 && !(err instanceof HttpError) ? `content-type must be application/json, got "${(req.headers['content-type'] ?? '').slice(0, 100)}"`
      : status >= 500 ? 'internal error (the server logs it with --log)' // a raw message could show the server's paths
      : err.message;
    void reply.status(status).send(code ? { error: message, code } : { error: message });
  });
  app.setNotFoundHandler((req, reply) => {
    // An API route asked with another method is 405 naming the one it takes.
    const api: Record<string, string> = { '/api/labels': 'POST', '/api/undo': 'POST' };
    for (const r of ['info', 'rubric', 'next', 'raters', 'stats', 'export.jsonl', 'export.csv']) api[`/api/${r}`] = 'GET, HEAD';
    // The path as the router reads it: escapes decoded, a trailing slash dropped (ignoreTrailingSlash).
    let route = req.url.split('?')[0];
    try {
      route = decodeURIComponent(route);
    } catch {
      // not a valid escape: the 404 below
    }
    if (route.length > 1) route = route.replace(/\/+$/, '');
    const allow = Object.hasOwn(api, route) ? api[route] : undefined;
    if (allow) return void reply.status(405).header('allow', allow).send({ error: `${req.method} is not allowed on ${route}: use ${allow}` });
    void reply.status(404).send({ error: `no such page: ${req.method} ${req.url.slice(0, 200)}` });
  });

  const page = (name: string) => fs.readFileSync(path.join(pages, name));
  app.get('/', (_req, reply) => reply.type('text/html; charset=utf-8').send(page('index.html')));
  app.get('/stats', (_req, reply) => reply.type('text/html; charset=utf-8').send(page('stats.html')));
  app.get<{ Params: { name: string } }>('/static/:name', (req, reply) => {
    const type = STATIC_FILES.get(req.params.name); // a Map: 'constructor' and the like are no file names
    if (!type) throw new HttpError(404, `no such static file: ${req.params.name.slice(0, 200)}`);
    return reply.type(type).send(page(req.params.name));
  });

  app.get('/api/info', (req) => {
    // Fallback: the address this request came to (only a well-formed host:port is echoed back).
    const host = req.headers.host ?? '';
    const seen = /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$/.test(host) ? [`http://${host}/`] : [];
    const classUrls = server.classUrls.length ? server.classUrls : seen;
    return { dataset: path.basename(dataDir), images: records().records.length, classUrls, localOnly: classUrls.length > 0 && classUrls.every(isLoopbackUrl) };
  });

  app.get('/api/rubric', () => {
    const r = rubric();
    const src = (name: string) => `/rubric/${name}.png`;
    return {
      ...r,
      shapes: r.shapes.map((x) => ({ ...x, example: src(x.example) })),
      notShapes: r.notShapes.map((x) => ({ ...x, example: src(x.example) })),
      places: r.places.map((x) => ({ ...x, example: src(x.example) })),
    };
  });
  app.get<{ Params: { file: string } }>('/rubric/:file', (req, reply) => {
    const m = /^([a-z]+-[a-z]+)\.png$/.exec(req.params.file);
    const png = m ? rubricImage(m[1]) : null;
    if (!png) throw new HttpError(404, `no rubric example "${req.params.file.slice(0, 100)}"; GET /api/rubric lists them`);
    return reply.type('image/png').header('cache-control', 'public, max-age=86400').send(png);
  });

  // Raters whose name is `like` but for case or width ("Ana" for "ana", "Ａna"): the page asks before a student becomes two raters.
  app.get<{ Querystring: { like?: string } }>('/api/raters', (req) => {
    const q = parseBody(z.strictObject({ like: Rater }), { ...req.query });
    const key = (name: string) => name.normalize('NFKC').toLocaleLowerCase();
    return { same: [...store.lastActivity().keys()].filter((r) => r !== q.like && key(r) === key(q.like)).sort() };
  });

  // prefer=ID (after an undo): that image, if the rater has not labelled it.
  app.get<{ Querystring: { rater?: string; prefer?: string } }>('/api/next', (req) => {
    const q = parseBody(z.strictObject({ rater: Rater, prefer: z.string().max(500).optional() }), { ...req.query });
    const rater = q.rater;
    const m = records();
    const mine = store.labelledBy(rater);
    let best: ManifestRecord | null = q.prefer !== undefined && !mine.has(q.prefer) ? (m.byId.get(q.prefer) ?? null) : null;
    if (best && !fileThere(best)) best = null;
    if (!best) {
      const counts = store.countsPerImage((r) => !r.startsWith('sim-')); // humans spread over images; simulated labels do not count
      // An image whose PNG is missing can get no label, so it would stay the least labelled and be every rater's
      // next, for ever (the page cannot load it): passed over for the next best.
      const skip = new Set<string>();
      for (;;) {
        let bestKey: [number, number] = [Infinity, Infinity];
        best = null;
        for (const r of m.records) {
          if (mine.has(r.id) || skip.has(r.id)) continue;
          const key: [number, number] = [counts.get(r.id) ?? 0, hash(`${rater}\u0000${r.id}`)];
          if (key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) (best = r), (bestKey = key);
        }
        if (!best || fileThere(best)) break;
        skip.add(best.id);
      }
    }
    const labelled = m.records.filter((r) => mine.has(r.id)).length;
    const progress = { labelled, total: m.records.length };
    if (!best) return { done: true, progress };
    return {
      done: false,
      progress,
      item: { id: best.id, prompt: best.prompt, category: recordCategory(best), image: imageUrl(best) },
    };
  });

  app.post('/api/labels', async (req, reply) => {
    const b = parseBody(LabelBody, req.body);
    if (!records().byId.has(b.image_id)) throw new HttpError(404, `unknown image id "${b.image_id}"`);
    try {
      const res = store.add({ imageId: b.image_id, rater: b.rater, raterKind: 'human', label: b.label, requestId: b.request_id }, { ifUnlabelled: b.if_unlabelled });
      return reply.status(res.duplicate ? 200 : 201).send({ stored: true, duplicate: res.duplicate, seq: res.row.seq });
    } catch (e) {
      if (e instanceof ConflictError) throw new HttpError(409, e.message);
      throw e;
    }
  });

  app.post('/api/undo', async (req) => {
    const b = parseBody(UndoBody, req.body);
    try {
      const res = store.undo(b.rater, b.request_id);
      if (!res) return { undone: null };
      const taken: LabelRow = store.row(res.row.retracts!)!;
      const rec = records().byId.get(taken.imageId);
      const shown = rec ? { prompt: rec.prompt, image: imageUrl(rec) } : {};
      return { undone: { image_id: taken.imageId, label: taken.label, ...shown }, duplicate: res.duplicate };
    } catch (e) {
      if (e instanceof ConflictError) throw new HttpError(409, e.message);
      throw e;
    }
  });

  app.get('/api/stats', (): AgreementStats => {
    const m = records();
    // An image whose PNG is missing gets no verdict (the judge's column leaves it out) instead of a 500 for the page.
    if (!verdicts) verdicts = new Map([...judgeRecords(dataDir, m.records.filter(fileThere)).entries()].map(([id, v]) => [id, v.aligned]));
    return agreementStats(m.records, store.current(), verdicts, store.lastActivity());
  });

  for (const format of ['jsonl', 'csv'] as const) {
    app.get(`/api/export.${format}`, (_req, reply) =>
      reply
        .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
        .header('content-disposition', `attachment; filename="labels.${format}"`)
        .send(formatRows(store.history(), format, imageInfo(records().records, dataDir))),
    );
  }

  app.get<{ Params: { '*': string } }>('/images/*', (req, reply) => {
    const raw = (req.raw.url ?? '').split('?')[0]; // the path: a query (a cache-buster) is no part of the file name
    const name = req.params['*'];
    if (/%2e|%2f|%5c|%00/i.test(raw) || /(^|\/)\.\.(\/|$)/.test(raw) || name.includes('..') || name.includes('\\') || name.includes('\0')) {
      throw new HttpError(400, 'bad image path: "..", encoded dots and separators (%2e, %2f, %5c), null bytes (%00) and backslashes are not allowed');
    }
    if (name === '' || name.startsWith('/') || path.isAbsolute(name)) throw new HttpError(400, 'bad image path: must be a file name from the manifest');
    const rec = records().byFile.get(name);
    if (!rec) throw new HttpError(404, `no image "${name.slice(0, 200)}" in this dataset`);
    const file = path.join(dataDir, rec.file);
    if (!fs.existsSync(file)) throw new HttpError(404, `image "${name.slice(0, 200)}" is in the manifest but its file is missing from the dataset folder`);
    return reply.type('image/png').header('cache-control', 'private, max-age=3600').send(fs.readFileSync(file));
  });

  return server;
}

const LOOPBACK = /^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//;
/** True for an address only this computer can open (127.x, localhost, [::1]). */
export function isLoopbackUrl(url: string): boolean {
  return LOOPBACK.test(url);
}

/**
 * The addresses students open for a server listening on host:port: on a
 * wildcard host (0.0.0.0, ::) every non-internal IPv4 address of this
 * machine, then 127.0.0.1; else the host itself.
 */
export function classUrlsFor(host: string, port: number): string[] {
  if (host === '0.0.0.0' || host === '::') {
    const lan = Object.values(os.networkInterfaces())
      .flat()
      .filter((a): a is os.NetworkInterfaceInfo => !!a && a.family === 'IPv4' && !a.internal)
      .map((a) => `http://${a.address}:${port}/`);
    return [...lan, `http://127.0.0.1:${port}/`];
  }
  return [`http://${host.includes(':') ? `[${host}]` : host}:${port}/`];
}

/** Build the app and listen on host:port; resolves to the server and its address (its classUrls set). */
export async function serveLabels(opts: ServerOptions & { host: string; port: number }): Promise<LabelServer & { url: string }> {
  const storeFile = opts.storeFile ?? path.join(path.resolve(opts.dataDir), 'labels.sqlite');
  const made = !fs.existsSync(storeFile);
  const s = await createLabelServer(opts);
  let url: string;
  try {
    url = await s.app.listen({ host: opts.host, port: opts.port });
  } catch (e) {
    // No class was served: a store this call made (still empty) goes with it, not left in the dataset.
    await s.close();
    if (made) for (const f of [storeFile, `${storeFile}-wal`, `${storeFile}-shm`]) fs.rmSync(f, { force: true });
    throw e;
  }
  // the port it listens on (URL.port is '' for 80, which read as port 0)
  s.classUrls = classUrlsFor(opts.host, (s.app.server.address() as AddressInfo).port);
  return Object.assign(s, { url });
}
