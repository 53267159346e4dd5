// The labeller in a real browser: Debian's Chromium driven by playwright-core.
// Needs the system package `chromium` (apt-get install chromium); without it
// this test fails and says so (it never skips silently).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Browser, chromium, Page } from 'playwright-core';
import { labelWithPanel } from '../../src/feedback/label';
import { panelFromSpec } from '../../src/feedback/panel';
import { createLabelServer, LabelServer } from '../../src/feedback/server';
import { COLORS, OBJECT_COLORS } from '../../src/world/vocab';
import { smallDataset, tempDir } from './helpers';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.join(__dirname, '..', '..');
const N = 8;

let server: LabelServer;
let base: string;
let browser: Browser;
let dataDir: string;

before(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing (${CHROMIUM}): the browser tests need Debian's Chromium. Install it with: sudo apt-get install chromium`);
  }
  dataDir = smallDataset(N);
  server = await createLabelServer({ dataDir, storeFile: path.join(tempDir('browser'), 'labels.sqlite') });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  // launch() gives every run a fresh temporary profile (Playwright's own --user-data-dir).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Wait until the page shows an image other than `prev` and is ready for a key. */
async function nextItem(page: Page, prev: string | undefined): Promise<string> {
  // ready: the image has been on screen long enough for a label to count (a double-click's second click does not)
  await page.waitForFunction((p) => document.body.dataset.busy === '0' && document.body.dataset.item !== p && (document.body.dataset.item === '' || document.body.dataset.ready === '1'), prev ?? '__none__', { timeout: 10000 });
  return page.evaluate(() => document.body.dataset.item ?? '');
}

const current = (rater: string) => Object.fromEntries(server.store.current({ rater }).map((r) => [r.imageId, r.label]));

/** The test artifact in results/screenshots; the README's copy in docs/ only on request (T2I_UPDATE_DOCS=1), so a test run leaves the tree clean. */
async function screenshot(name: string, shoot: (file: string) => Promise<unknown>): Promise<void> {
  const files = [path.join(ROOT, 'results', 'screenshots', name)];
  if (process.env.T2I_UPDATE_DOCS === '1') files.push(path.join(ROOT, 'docs', name));
  for (const file of files) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await shoot(file);
  }
}

/** The confirmation line's text once it has changed from `prev` (every action sets it anew). */
async function statusAfter(page: Page, prev: string): Promise<string> {
  await page.waitForFunction((n) => document.getElementById('status')!.dataset.n !== n, prev, { timeout: 10000 });
  return (await page.textContent('#status-text')) ?? '';
}
const statusN = (page: Page) => page.$eval('#status', (e) => (e as HTMLElement).dataset.n ?? '');

/** Every <img> matching `selector` has loaded (naturalWidth > 0) and is drawn with sharp pixels. */
async function imagesLoaded(page: Page, selector: string): Promise<number> {
  await page.waitForFunction((sel) => Array.from(document.querySelectorAll<HTMLImageElement>(sel)).every((i) => i.complete), selector, { timeout: 10000 });
  const imgs = await page.$$eval(selector, (els) => els.map((e) => ({ w: (e as HTMLImageElement).naturalWidth, r: getComputedStyle(e).imageRendering, src: (e as HTMLImageElement).src })));
  for (const i of imgs) {
    assert.ok(i.w > 0, `${i.src} did not load`);
    assert.equal(i.r, 'pixelated', `${i.src} is not drawn with sharp pixels`);
  }
  return imgs.length;
}

async function startRater(name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(base + '/');
  await page.fill('#name-input', name);
  await page.click('#name-form button[type=submit]');
  return page;
}

test('label by keyboard with a confirmation of every action and undo, reload resumes, screenshot; then two raters at once', async () => {
  const page = await startRater('alice');
  const a = await nextItem(page, undefined);
  const prompt = (id: string) => fs.readFileSync(path.join(dataDir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.id === id).prompt;
  assert.equal(await page.getAttribute('#status', 'aria-live'), 'polite');
  let n = await statusN(page);
  await page.keyboard.press('g');
  assert.equal(await statusAfter(page, n), `Saved: good for \u201c${prompt(a)}\u201d (${a})`);
  const b = await nextItem(page, a);
  n = await statusN(page);
  await page.keyboard.press('ArrowLeft');
  assert.equal(await statusAfter(page, n), `Saved: bad for \u201c${prompt(b)}\u201d (${b})`);
  const c = await nextItem(page, b);
  n = await statusN(page);
  await page.keyboard.press('s');
  assert.equal(await statusAfter(page, n), `Skipped \u201c${prompt(c)}\u201d (${c})`);
  const d = await nextItem(page, c);
  assert.deepEqual(current('alice'), { [a]: 'good', [b]: 'bad', [c]: 'skip' });
  assert.equal(await page.isVisible('#status-thumb'), true, 'the confirmation shows the image it is about');

  n = await statusN(page);
  await page.keyboard.press('u'); // undo the skip: c comes back
  assert.equal(await statusAfter(page, n), `Undone: skip for \u201c${prompt(c)}\u201d (${c}), shown again to label`);
  assert.equal(await nextItem(page, d), c);
  n = await statusN(page);
  await page.keyboard.press('Control+z'); // undo the bad: b comes back
  assert.equal(await statusAfter(page, n), `Undone: bad for \u201c${prompt(b)}\u201d (${b}), shown again to label`);
  assert.equal(await nextItem(page, c), b);
  assert.match(await page.textContent('#status-text') ?? '', /^Undone: bad/, 'the confirmation stays after the next image loads');
  assert.deepEqual(current('alice'), { [a]: 'good' });
  await page.keyboard.press('ArrowRight');
  const e = await nextItem(page, b);
  assert.deepEqual(current('alice'), { [a]: 'good', [b]: 'good' });
  assert.equal(server.store.history({ rater: 'alice' }).length, 6, 'three labels, two undos, one new label: all kept');

  await page.reload();
  const f = await nextItem(page, undefined);
  assert.ok(![a, b].includes(f), 'a labelled image is not shown again after a reload');
  assert.equal(f, e, 'the reload resumes at the image the rater had open');
  assert.match(await page.textContent('#progress') ?? '', /^2 \/ 8 labelled by you$/);
  assert.equal(await page.textContent('#rater-name'), 'alice', 'the name is kept in localStorage');
  await imagesLoaded(page, '#image');
  const size = await page.$eval('#image', (img) => img.getBoundingClientRect().width);
  assert.ok(size >= 8 * 32, `the 32x32 image is shown upscaled, got ${size} px wide`);

  // The rubric beside the image: rules, example renders of the world's renderer, a swatch per color.
  await page.waitForFunction(() => document.body.dataset.rubric === '1', undefined, { timeout: 10000 });
  assert.equal(await page.$eval('#rubric', (d) => (d as HTMLDetailsElement).open), true);
  assert.match(await page.textContent('#rubric-rules') ?? '', /count.*shape.*color.*place/s);
  assert.match(await page.textContent('#rubric-not-shapes') ?? '', /an oval is not a circle/);
  assert.equal(await imagesLoaded(page, '#rubric-shapes img'), 6);
  assert.equal(await imagesLoaded(page, '#rubric-not-shapes img'), 6);
  assert.equal(await imagesLoaded(page, '#rubric-places img'), 6);
  const swatches = await page.$$eval('#rubric-colors .color', (els) => els.map((e) => [e.textContent, getComputedStyle(e.querySelector('.swatch')!).backgroundColor]));
  assert.deepEqual(swatches, COLORS.map((c) => [c, `rgb(${OBJECT_COLORS[c].join(', ')})`]));

  n = await statusN(page);
  await page.keyboard.press('g');
  await statusAfter(page, n);
  await nextItem(page, f);
  await screenshot('labeller.png', (file) => page.screenshot({ path: file }));
  await screenshot('rubric.png', (file) => page.locator('aside').screenshot({ path: file }));
  n = await statusN(page);
  await page.keyboard.press('u');
  assert.match(await statusAfter(page, n), /^Undone: good for/);
  assert.equal(await nextItem(page, undefined), f);

  // Two raters at once, each in their own browser context, until both are done.
  const bob = await startRater('bob');
  const label = async (p: Page, keys: string[]) => {
    let item = await nextItem(p, undefined);
    for (let k = 0; ; k++) {
      await p.keyboard.press(keys[k % keys.length]);
      item = await nextItem(p, item);
      if (item === '') return;
    }
  };
  await Promise.all([label(page, ['g', 'b']), label(bob, ['b', 's', 'g'])]);
  for (const rater of ['alice', 'bob']) {
    assert.equal(Object.keys(current(rater)).length, N, `${rater} labelled every image once`);
    const rows = server.store.history({ rater }).filter((r) => r.label !== 'retract');
    assert.equal(rows.length, rater === 'alice' ? N + 3 : N, `${rater}: no image was shown (and labelled) twice (alice: three labels undone)`);
  }
  assert.equal(await page.isVisible('#done'), true);
  assert.match(await bob.textContent('#progress-done') ?? '', /^8 \/ 8/);

  // A third and fourth student (labels stored directly, some minutes ago) and a simulated panel.
  const manifest = fs.readFileSync(path.join(dataDir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).id as string);
  const ago = (min: number) => new Date(Date.now() - min * 60_000).toISOString();
  manifest.slice(0, 5).forEach((id, i) => server.store.add({ imageId: id, rater: 'carol', raterKind: 'human', label: i % 2 ? 'bad' : 'good', time: ago(12 - i) }));
  manifest.slice(0, 2).forEach((id) => server.store.add({ imageId: id, rater: 'dan', raterKind: 'human', label: 'bad', time: ago(40) }));
  labelWithPanel(dataDir, server.store, panelFromSpec('flip=0.25x3', 7));

  const statsContext = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const stats = await statsContext.newPage();
  await stats.goto(base + '/stats');
  await stats.waitForFunction(() => document.body.dataset.loaded === '1' && document.body.dataset.info === '1', undefined, { timeout: 10000 });

  // The class address in large type.
  assert.equal(await stats.textContent('#class-url'), `${base}/`);
  const fontPx = await stats.$eval('#class-url', (e) => parseFloat(getComputedStyle(e).fontSize));
  assert.ok(fontPx >= 32, `the class address is in large type, got ${fontPx}px`);
  assert.equal(await stats.isVisible('#local-only'), true, 'a loopback address warns that only this computer can open it');

  // Students and simulated raters in separate tables, students with progress and last activity.
  const rows = (id: string) => stats.$$eval(`#${id} tr`, (trs) => trs.slice(1).map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')));
  const humans = await rows('humans');
  assert.deepEqual(humans.map((r) => r[0]).sort(), ['alice', 'bob', 'carol', 'dan']);
  const simulated = await rows('simulated');
  assert.equal(simulated.length, 3);
  for (const r of simulated) assert.match(r[0], /^sim-/);
  const progress = await stats.$$eval('#humans progress', (ps) => ps.map((p) => [(p as HTMLProgressElement).value, (p as HTMLProgressElement).max]));
  assert.deepEqual(progress.map((p) => p[1]), [N, N, N, N]);
  const byName = Object.fromEntries(humans.map((r) => [r[0], r]));
  assert.equal(byName.alice[1], `${N} / ${N}`);
  assert.equal(byName.carol[1], `5 / ${N}`);
  assert.match(byName.alice[5], /just now|s ago/);
  assert.match(byName.carol[5], /^(8|9) min ago$/);
  assert.match(byName.dan[5], /^(40|41) min ago$/);
  assert.equal(await stats.$$eval('#humans time', (ts) => ts.filter((t) => !Number.isNaN(Date.parse(t.getAttribute('datetime') ?? ''))).length), 4);

  // Agreement as a chart: one bar per rater with good/bad labels, students and simulated in their own colors.
  const bars = await stats.$$eval('#chart rect', (rs) => rs.map((r) => [r.getAttribute('class'), Number(r.getAttribute('width'))]));
  assert.equal(bars.length, 7);
  assert.deepEqual(bars.map((b) => b[0]), ['human', 'human', 'human', 'human', 'simulated', 'simulated', 'simulated']);
  for (const [, w] of bars) assert.ok((w as number) > 0);

  // The most disputed images among students, as an upscaled gallery with prompt and votes.
  assert.equal(await stats.inputValue('#disputed-among'), 'human');
  const figures = await stats.$$eval('#disputed figure', (fs) => fs.map((f) => [(f as HTMLElement).dataset.id ?? '', f.textContent ?? '']));
  assert.ok(figures.length >= 1, 'carol and dan disagree with alice or bob on some image');
  for (const [id, text] of figures) {
    assert.match(id, /^img-\d+$/);
    assert.ok(text.startsWith(prompt(id)), `the caption starts with the prompt: ${text}`);
    assert.match(text, /\d+ good · \d+ bad( · \d+ skip)?judge: (aligned|not aligned)$/);
  }
  assert.equal(await imagesLoaded(stats, '#disputed img'), figures.length);
  const thumb = await stats.$eval('#disputed img', (img) => img.getBoundingClientRect().width);
  assert.ok(thumb >= 4 * 32, `gallery images are upscaled, got ${thumb} px`);
  await stats.selectOption('#disputed-among', 'all');
  assert.ok((await stats.$$eval('#disputed figure', (fs) => fs.length)) >= figures.length);
  await stats.selectOption('#disputed-among', 'human');

  assert.match((await stats.textContent('#balance')) ?? '', /combination|count|color|background/);
  await screenshot('stats.png', (file) => stats.screenshot({ path: file, fullPage: true }));
  // The server away: a banner at the top says the tables are as last read (they were silently stale).
  assert.equal(await stats.isVisible('#stale'), false);
  await stats.route('**/api/stats', (r) => r.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"internal error"}' }));
  await stats.waitForFunction(() => !document.getElementById('stale')!.hidden, undefined, { timeout: 12000 });
  assert.match((await stats.textContent('#stale')) ?? '', /^The server does not answer \(internal error\): what is shown is from \d/);
  await stats.unroute('**/api/stats');
  await stats.waitForFunction(() => document.getElementById('stale')!.hidden, undefined, { timeout: 12000 });
});

test('a double-click labels one image; a next image that cannot load leaves nothing to label until Try again; a second tab cannot label an image twice', async () => {
  const page = await startRater('erin');
  const a = await nextItem(page, undefined);
  await page.dblclick('#good'); // the second click lands on the next image within milliseconds
  const b = await nextItem(page, a);
  await page.waitForTimeout(400);
  assert.deepEqual(server.store.history({ rater: 'erin' }).map((r) => [r.imageId, r.label]), [[a, 'good']], 'one click of the two labelled');

  // The label is stored, the next image cannot be had: nothing is on screen to label, and a key labels nothing.
  await page.route('**/api/next*', (r) => r.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"no such page"}' }));
  let n = await statusN(page);
  await page.keyboard.press('b');
  assert.match(await statusAfter(page, n), new RegExp(`^Saved: bad for .*\\(${b}\\), but no such page\\. Press Try again \\(or r\\) when the server answers\\.$`));
  assert.equal(await page.isVisible('#retry'), true);
  assert.equal(await page.isVisible('#image'), false);
  await page.keyboard.press('g');
  await page.waitForTimeout(400);
  assert.equal(server.store.history({ rater: 'erin' }).length, 2, 'a key pressed after the failure labelled nothing');
  await page.unroute('**/api/next*');
  await page.click('#retry');
  const c = await nextItem(page, '');
  assert.ok(![a, b].includes(c));
  assert.equal(await page.isVisible('#retry'), false);

  // The same rater in a second tab is shown the same image; once one tab labels it, the other's label is refused.
  const tab = await page.context().newPage();
  await tab.goto(base + '/');
  assert.equal(await nextItem(tab, undefined), c);
  await page.keyboard.press('g');
  await nextItem(page, c);
  n = await statusN(tab);
  await tab.keyboard.press('b');
  assert.match(await statusAfter(tab, n), /^erin already labelled image .* \(in another tab\?\); it was not labelled again/);
  assert.notEqual(await nextItem(tab, c), c, 'the tab moves on');
  assert.equal(current('erin')[c], 'good');
});

test('a held Enter on a focused button labels one image; an undo whose next image cannot load says what it undid, and Try again shows that image; a double undo undoes one', async () => {
  const page = await startRater('fay');
  const a = await nextItem(page, undefined);
  await page.focus('#good');
  for (let i = 0; i < 4; i++) {
    await page.keyboard.down('Enter'); // the second and later are repeats, as a held key sends them
    await page.waitForTimeout(450); // longer than an image takes to count
  }
  await page.keyboard.up('Enter');
  const b = await nextItem(page, a);
  await page.waitForTimeout(500);
  assert.deepEqual(server.store.history({ rater: 'fay' }).map((r) => r.imageId), [a], 'one label for one press');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'good', 'focus stays on the button');

  // A Latin layout is read by its letters: Dvorak's "i" sits where QWERTY's "g" does, and labels nothing.
  await page.keyboard.press('i');
  await page.waitForTimeout(300);
  assert.equal(server.store.history({ rater: 'fay' }).length, 1);

  await page.route('**/api/next*', (r) => r.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"no such page"}' }));
  const n = await statusN(page);
  await page.keyboard.press('u');
  assert.match(await statusAfter(page, n), new RegExp(`^Undone: good for .*\\(${a}\\), shown again to label`));
  await page.waitForFunction(() => !document.getElementById('retry')!.hidden, undefined, { timeout: 10000 });
  assert.match((await page.textContent('#status-text')) ?? '', /^Undone: good for .*, but no such page\. Press Try again/);
  await page.unroute('**/api/next*');
  await page.keyboard.press('r');
  assert.equal(await nextItem(page, ''), a, 'Try again shows the undone image');
  assert.notEqual(a, b);

  // Two undos within a double-click's time undo one label.
  await page.keyboard.press('g');
  await nextItem(page, a);
  await page.dblclick('#undo');
  await page.waitForTimeout(600);
  assert.equal(server.store.history({ rater: 'fay' }).filter((r) => r.label === 'retract').length, 2, 'the first undo and one of the two');

  // An undo that reached the server but whose answer was lost, pressed again: the same request, one label undone.
  await page.keyboard.press('g');
  const c = await nextItem(page, a);
  await page.keyboard.press('b');
  await nextItem(page, c);
  const retracts = () => server.store.history({ rater: 'fay' }).filter((r) => r.label === 'retract').length;
  const before = retracts();
  await page.route('**/api/undo', async (r) => {
    await r.fetch(); // stored on the server...
    await r.abort('failed'); // ...and the answer lost
  });
  await page.keyboard.press('u');
  // Six tries with back-off (about 6 s) and six server round trips: 20 s ran out once under the full suite's load.
  await page.waitForFunction(() => /Perhaps not undone: cannot reach the server/.test(document.getElementById('status-text')!.textContent ?? ''), undefined, { timeout: 60000 });
  assert.equal(retracts(), before + 1, 'the retries were one request');
  await page.unroute('**/api/undo');
  await page.waitForTimeout(500);
  await page.keyboard.press('u');
  await page.waitForFunction(() => /^Undone: /.test(document.getElementById('status-text')!.textContent ?? ''), undefined, { timeout: 10000 });
  assert.equal(retracts(), before + 1, 'pressed again after the lost answer: still one undo');
});

test('a name that differs from a rater\'s only by case is asked about once, then taken as a new rater', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(base + '/');
  await page.fill('#name-input', 'Erin'); // "erin" labelled above
  await page.click('#name-form button[type=submit]');
  await page.waitForFunction(() => (document.getElementById('name-error')!.textContent ?? '') !== '', undefined, { timeout: 10000 });
  assert.match((await page.textContent('#name-error')) ?? '', /^Someone labels as \u201cerin\u201d already\. If that is you, type the name exactly so; to label as \u201cErin\u201d, a new rater, press Start again\.$/);
  assert.equal(await page.isVisible('#labeller'), false);
  await page.click('#name-form button[type=submit]');
  await nextItem(page, undefined);
  assert.equal(await page.textContent('#rater-name'), 'Erin');
});
