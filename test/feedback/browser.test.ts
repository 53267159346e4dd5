// The labeller in a real browser: Debian's Chromium driven by playwright-core.
// Needs the system package `chromium` (apt-get install chromium); without it
// this test fails and says so (it never skips silently).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Browser, chromium, Page } from 'playwright-core';
import { createLabelServer, LabelServer } from '../../src/feedback/server';
import { smallDataset, tempDir } from './helpers';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.join(__dirname, '..', '..');
const N = 8;

let server: LabelServer;
let base: string;
let browser: Browser;

before(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing (${CHROMIUM}): the browser tests need Debian's Chromium. Install it with: sudo apt-get install chromium`);
  }
  server = await createLabelServer({ dataDir: smallDataset(N), storeFile: path.join(tempDir('browser'), 'labels.sqlite') });
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
  await page.waitForFunction((p) => document.body.dataset.busy === '0' && document.body.dataset.item !== p, prev ?? '__none__', { timeout: 10000 });
  return page.evaluate(() => document.body.dataset.item ?? '');
}

const current = (rater: string) => Object.fromEntries(server.store.current({ rater }).map((r) => [r.imageId, r.label]));

async function startRater(name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 900, height: 860 } });
  const page = await context.newPage();
  await page.goto(base + '/');
  await page.fill('#name-input', name);
  await page.click('#name-form button[type=submit]');
  return page;
}

test('label by keyboard, undo, reload resumes, screenshot; then two raters at once', async () => {
  const page = await startRater('alice');
  const a = await nextItem(page, undefined);
  await page.keyboard.press('g');
  const b = await nextItem(page, a);
  await page.keyboard.press('ArrowLeft');
  const c = await nextItem(page, b);
  await page.keyboard.press('s');
  const d = await nextItem(page, c);
  assert.deepEqual(current('alice'), { [a]: 'good', [b]: 'bad', [c]: 'skip' });

  await page.keyboard.press('u'); // undo the skip: c comes back
  assert.equal(await nextItem(page, d), c);
  await page.keyboard.press('Control+z'); // undo the bad: b comes back
  assert.equal(await nextItem(page, c), b);
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
  const rendering = await page.$eval('#image', (img) => getComputedStyle(img).imageRendering);
  assert.equal(rendering, 'pixelated');

  // The test artifact; the README's copy in docs/ is refreshed only on request (T2I_UPDATE_DOCS=1), so a test run leaves the tree clean.
  const shots = [path.join(ROOT, 'results', 'screenshots', 'labeller.png')];
  if (process.env.T2I_UPDATE_DOCS === '1') shots.push(path.join(ROOT, 'docs', 'labeller.png'));
  for (const file of shots) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await page.screenshot({ path: file });
  }

  // Two raters at once, each in their own browser context, until both are done.
  const bob = await startRater('bob');
  const label = async (p: Page, keys: string[]) => {
    let item = await nextItem(p, undefined);
    for (let k = 0; ; k++) {
      await p.keyboard.press(keys[k % keys.length]);
      await p.waitForFunction((prev) => document.body.dataset.busy === '0' && document.body.dataset.item !== prev, item, { timeout: 10000 });
      item = await p.evaluate(() => document.body.dataset.item ?? '');
      if (item === '') return;
    }
  };
  await Promise.all([label(page, ['g', 'b']), label(bob, ['b', 's', 'g'])]);
  for (const rater of ['alice', 'bob']) {
    assert.equal(Object.keys(current(rater)).length, N, `${rater} labelled every image once`);
    const rows = server.store.history({ rater }).filter((r) => r.label !== 'retract');
    assert.equal(rows.length, rater === 'alice' ? N + 2 : N, `${rater}: no image was shown (and labelled) twice`);
  }
  assert.equal(await page.isVisible('#done'), true);
  assert.match(await bob.textContent('#progress-done') ?? '', /^8 \/ 8/);

  const stats = await bob.context().newPage();
  await stats.goto(base + '/stats');
  await stats.waitForFunction(() => document.body.dataset.loaded === '1');
  const raters = await stats.textContent('#raters');
  assert.match(raters ?? '', /alice/);
  assert.match(raters ?? '', /bob/);
  assert.match((await stats.textContent('#balance')) ?? '', /combination|count|color|background/);
});
