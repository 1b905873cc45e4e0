// The explore panels in a real JupyterLab 4 with a real kernel.
//   fixture: a notebook that shows panels_fixture.py's widget; a click on the landscape shows the
//            probabilities the kernel computes, a confusion-matrix click selects that cell in the
//            kernel, the hover thumbnail is the sample's image (the kernel prints what it holds).
//   explore: notebooks/explore.ipynb run top to bottom (Run All), then its question answered with
//            the mouse: epoch 3, the Trouser/Dress cell, an image, its history (for screenshots).
// Usage: node jupyter_panels.test.mjs <fixture|explore> <base url> <token> <notebook> [shot dir]
import { join } from 'node:path';
import { idle as kernelIdle, opened, runCell as runCellIn } from './jupyter_page.mjs';
import { assert, clickStill, frames, launch, runTests, settled } from './harness.mjs';

const [mode, base, token, notebook, shots = ''] = process.argv.slice(2);
const browser = await launch();

const idle = (page) => kernelIdle(page, 300000);
const runCell = (page, index, marker = null) => runCellIn(page, index, marker, { ranMs: 60000, outputMs: 120000, idleMs: 300000 });

/** Run the STATE cell and parse what the kernel holds. */
/** The element's box once two looks a few frames apart agree (the page stopped moving it). */
async function stableBox(page, locator, timeout = 15000) {
  const t0 = Date.now();
  let prev = await locator.boundingBox();
  for (;;) {
    await frames(page, 3);
    const now = await locator.boundingBox();
    if (JSON.stringify(now) === JSON.stringify(prev) || Date.now() - t0 > timeout) return now;
    prev = now;
  }
}

async function kernelState(page, index) {
  const cell = await runCell(page, index, 'STATE');
  const text = await cell.locator('.jp-OutputArea').textContent();
  const line = text.split('\n').find((l) => l.includes('STATE'));
  return JSON.parse(line.slice(line.indexOf('STATE') + 5));
}

async function openNotebook() {
  // DVI_E2E_VIEWPORT=900x700 looks at it on a smaller screen (screenshots)
  const [vw, vh] = (process.env.DVI_E2E_VIEWPORT || '1400x1400').split('x').map(Number);
  const page = await browser.newPage({ viewport: { width: vw, height: vh } });
  await page.goto(`${base.replace(/\/$/, '')}/lab/tree/${notebook}?token=${token}`, { timeout: 120000 });
  await page.waitForSelector('.jp-Notebook .jp-Cell', { timeout: 120000 });
  await opened(page, 300000);
  return page;
}

/**
 * Run > Run All Cells, until a cell's prompt shows it was taken ([*] or [n]). A click the page
 * missed while it settled left every cell unrun, and the test then waited five minutes for a
 * widget (seen at 900 x 700 after the other tests of the file, twice in a row).
 */
async function runAll(page, attempts = 3) {
  for (let attempt = 1; ; attempt++) {
    await page.click('.lm-MenuBar-itemLabel:text-is("Run")');
    await page.click('.lm-Menu-item:has-text("Run All Cells")');
    try {
      await page.waitForFunction(() => [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')]
        .some((p) => /\[(\*|\d+)\]/.test(p.textContent || '')), null, { timeout: 20000 });
      return;
    } catch (err) {
      if (attempt === attempts) throw new Error(`Run All Cells ran no cell after ${attempts} tries: ${err}`);
      console.log('     Run All Cells: no cell taken within 20 s, chosen again');
      await page.keyboard.press('Escape'); // a menu left open
    }
  }
}

const widgetDrawn = (page) => page.waitForFunction(() => Number(document.querySelector('.dvi-root')?.parentElement?.dataset.drawCount) >= 1, null, { timeout: 300000 });

async function shot(page, locator, name) {
  if (!shots) return;
  await locator.scrollIntoViewIfNeeded();
  await frames(page);
  await locator.screenshot({ path: join(shots, `${name}.png`) });
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const fixtureTest = async () => {
  const page = await openNotebook();
  await runCell(page, 0);
  await widgetDrawn(page);
  const canvas = page.locator('.dvi-canvas');
  await canvas.scrollIntoViewIfNeeded();
  await frames(page);
  await settled(page);
  let box = await canvas.boundingBox();
  const P = (x, y) => {
    const s = Math.min(box.width, box.height) / 2;
    return [box.x + box.width / 2 + x * s, box.y + box.height / 2 - y * s];
  };
  // 1. click between the clusters: the popover's probabilities are the kernel's
  await page.mouse.move(...P(0.1, 0.3)); // first: the camera pans by a move it has not seen a frame of
  await frames(page);
  await clickStill(page, ...P(0.1, 0.3));
  await page.waitForSelector('.dvi-popover .dvi-probs', { timeout: 30000 });
  const shown = await page.$eval('.dvi-popover .dvi-probs', (e) => JSON.parse(e.dataset.probabilities));
  const ms = await page.evaluate(() => document.querySelector('.dvi-root').parentElement.dataset.inspectMs);
  console.log(`     JupyterLab: click -> probabilities shown in ${ms} ms (real kernel round trip)`);
  // the spot marker sits where the mouse clicked: the kernel was asked about that very spot
  const [cx, cy] = P(0.1, 0.3);
  const spot = await page.locator('.dvi-spot').boundingBox();
  const [mx, my] = [spot.x + spot.width / 2, spot.y + spot.height / 2];
  assert(Math.hypot(mx - cx, my - cy) < 3, `spot marker at ${mx}, ${my}; clicked ${cx}, ${cy}`);
  let st = await kernelState(page, 1);
  assert(st.clicked && st.clicked.epoch === 10, `w.clicked ${JSON.stringify(st.clicked)}`);
  assert(shown.every((p, c) => Math.abs(p - st.expected[c]) < 1e-6), `shown ${shown} vs kernel ${st.expected}`);
  // what the model sees there: the kernel's nearest recorded inputs, each tile the sample's own
  // image (the fixture writes a sample's index into its image's first two rows)
  await page.waitForFunction(() => document.querySelector('.dvi-popover .dvi-sees img')?.complete, null, { timeout: 30000 });
  const sees = await page.$eval('.dvi-popover .dvi-sees', (box) => {
    const img = box.querySelector('img');
    const c = document.createElement('canvas');
    [c.width, c.height] = [img.naturalWidth, img.naturalHeight];
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const tiles = [];
    for (let k = 0; k < c.width / 8; k++) {
      let idx = 0;
      for (let b = 0; b < 16; b++) if (d[4 * ((b >> 3) * c.width + 8 * k + (b & 7))] > 127) idx |= 1 << b;
      tiles.push(idx);
    }
    return { indices: JSON.parse(box.dataset.indices), tiles, label: box.textContent };
  });
  assert(same(sees.indices, st.sees) && same(sees.tiles, st.sees), `popover sees ${JSON.stringify(sees)} vs kernel ${st.sees}`);
  assert(sees.label.includes('nearest recorded inputs'), `label: ${sees.label}`);
  // a line from there down across the y = 0 boundary (the fixture's quadrants; the popover sits to
  // the left of the spot, the end is below it): the model's class at
  // each spot changes once, from the clicked spot's class; each tile is the kernel's sample
  await page.click('.dvi-sees-line-btn');
  // running the kernel-state cell may have scrolled the notebook (and a loaded machine renders
  // its output late): where the canvas is once it stays put for a few frames
  box = await stableBox(page, canvas);
  await clickStill(page, ...P(0.1, -0.5));
  await page.waitForFunction(() => document.querySelector('.dvi-popover .dvi-sees-line img')?.complete, null, { timeout: 30000 });
  const line = await page.$eval('.dvi-popover .dvi-sees-line', (box) => {
    const img = box.querySelector('img');
    const c = document.createElement('canvas');
    [c.width, c.height] = [img.naturalWidth, img.naturalHeight];
    c.getContext('2d').drawImage(img, 0, 0);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const tiles = [];
    for (let k = 0; k < c.width / 8; k++) {
      let idx = 0;
      for (let b = 0; b < 16; b++) if (d[4 * ((b >> 3) * c.width + 8 * k + (b & 7))] > 127) idx |= 1 << b;
      tiles.push(idx);
    }
    return { spots: JSON.parse(box.dataset.spotPredictions), indices: JSON.parse(box.dataset.indices), tiles };
  });
  const first = st.expected.indexOf(Math.max(...st.expected));
  const changes = line.spots.filter((c, i) => i > 0 && c !== line.spots[i - 1]).length;
  assert(line.spots.length === 8 && line.spots[0] === first && changes === 1, `line spots ${line.spots} (clicked class ${first})`);
  assert(same(line.tiles, line.indices), `line strip tiles ${line.tiles} vs samples ${line.indices}`);
  await shot(page, page.locator('.dvi-canvas-wrap'), 'jupyterlab-inspect');
  await page.click('.dvi-popover-close');
  // 2. a confusion-matrix cell: the kernel's selection is exactly that cell
  await page.click('.dvi-cm td[data-label="0"][data-prediction="1"]');
  await page.waitForFunction(() => (document.querySelector('.dvi-status')?.textContent || '').includes('selected'), null, { timeout: 10000 });
  st = await kernelState(page, 1);
  assert(st.selection.length > 0 && same(st.selection, st.cell01), `kernel selection ${st.selection} vs cell ${st.cell01}`);
  await page.waitForFunction(() => [...document.querySelectorAll('.dvi-tile canvas')].length > 0
    && [...document.querySelectorAll('.dvi-tile canvas')].every((c) => c.dataset.sample), null, { timeout: 30000 });
  await shot(page, page.locator('.dvi-panel-confusion'), 'jupyterlab-confusion');
  await shot(page, page.locator('.dvi-panel-selection'), 'jupyterlab-selection');
  // 3. hover the isolated sample the kernel named: its own image
  await canvas.scrollIntoViewIfNeeded();
  await frames(page);
  const b2 = await canvas.boundingBox();
  const s2 = Math.min(b2.width, b2.height) / 2;
  const [hx, hy] = [b2.x + b2.width / 2 + st.isolated_xy[0] * s2, b2.y + b2.height / 2 - st.isolated_xy[1] * s2];
  await page.mouse.move(hx - 3, hy - 3);
  await page.mouse.move(hx, hy, { steps: 3 });
  await page.waitForFunction((k) => document.querySelector('.dvi-thumb')?.dataset.sample === String(k), st.isolated, { timeout: 30000 });
  const decoded = await page.$eval('.dvi-thumb', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let idx = 0;
    for (let b = 0; b < 16; b++) if (d[4 * ((b >> 3) * c.width + (b & 7))] > 127) idx |= 1 << b;
    return idx;
  });
  assert(decoded === st.isolated, `hover thumbnail shows #${decoded}, expected #${st.isolated}`);
  await shot(page, page.locator('.dvi-canvas-wrap'), 'jupyterlab-hover');
  // 4. a tile opens the history; the events panel steps to the next flip
  await page.click('.dvi-tile');
  await page.waitForSelector('.dvi-nn-high .dvi-nrow', { timeout: 30000 });
  await page.selectOption('.dvi-ev-kind', 'flip');
  await page.waitForSelector('.dvi-events-strip', { timeout: 30000 });
  await settled(page);
  await shot(page, page.locator('.dvi-root'), 'jupyterlab-panels');
  if (shots) await page.screenshot({ path: join(shots, 'jupyterlab-screen.png') });
  await page.close();
};

const exploreTest = async () => {
  const page = await openNotebook();
  await runAll(page);
  // the widget may be drawn only once near the viewport: bring it there first
  await page.waitForSelector('.dvi-root', { state: 'attached', timeout: 300000 }).catch(async (err) => {
    // what the notebook shows instead: each cell's prompt and the start of its output
    const cells = await page.$$eval('.jp-Notebook .jp-Cell', (cs) => cs.map((c) => `${c.querySelector('.jp-InputPrompt')?.textContent || ''} ${(c.querySelector('.jp-OutputArea')?.textContent || '').slice(0, 300)}`));
    if (shots) await page.screenshot({ path: join(shots, 'explore-no-widget.png') });
    throw new Error(`${err.message}\ncells:\n${cells.join('\n')}\nstatus: ${await page.textContent('#jp-main-statusbar').catch(() => '?')}`);
  });
  await page.locator('.dvi-root').first().scrollIntoViewIfNeeded();
  await widgetDrawn(page);
  await idle(page);
  await page.waitForFunction(() => (document.body.textContent || '').includes('trousers predicted as dresses:'), null, { timeout: 600000 });
  const printed = await page.evaluate(() => {
    const m = /epoch 3: (\d+) trousers predicted as dresses: \[([\d, ]*)\]/.exec(document.body.textContent);
    return m ? m[2].split(',').map(Number) : null;
  });
  assert(printed && printed.length > 0, 'the cells found the confused trousers');
  // now the mouse alone: clear, epoch 3, the Trouser/Dress cell, an image, its history
  const root = page.locator('.dvi-root');
  await root.scrollIntoViewIfNeeded();
  await page.locator('.dvi-clear').click();
  await page.evaluate(() => {
    const s = document.querySelector('.dvi-slider');
    s.value = '2';
    s.dispatchEvent(new Event('input'));
  });
  await page.waitForFunction(() => (document.querySelector('.dvi-epoch')?.textContent || '').startsWith('epoch 3'), null, { timeout: 10000 });
  await page.click('.dvi-cm td[data-label="1"][data-prediction="3"]');
  await page.waitForFunction((n) => document.querySelectorAll('.dvi-tile').length === n, printed.length, { timeout: 30000 });
  const tiles = await page.$$eval('.dvi-tile', (ts) => ts.map((t) => Number(t.dataset.sample)).sort((a, b) => a - b));
  assert(same(tiles, [...printed].sort((a, b) => a - b)), `mouse: ${tiles} vs cells: ${printed}`);
  await page.waitForFunction(() => [...document.querySelectorAll('.dvi-tile canvas')].every((c) => c.dataset.sample), null, { timeout: 30000 });
  await shot(page, page.locator('.dvi-panel-selection'), 'jupyterlab-explore-selection');
  await shot(page, page.locator('.dvi-panel-confusion'), 'jupyterlab-explore-confusion');
  await page.click('.dvi-tile');
  await page.waitForSelector('.dvi-nn-high .dvi-nrow', { timeout: 60000 });
  await shot(page, page.locator('.dvi-panel-sample'), 'jupyterlab-explore-sample');
  await shot(page, page.locator('.dvi-canvas-wrap'), 'jupyterlab-explore-trail');
  const flips = await page.textContent('.dvi-flips');
  console.log(`     mouse: ${tiles.length} trousers as dresses at epoch 3; the first: ${flips}`);
  await page.selectOption('.dvi-ev-kind', 'flip');
  await page.waitForSelector('.dvi-events-strip', { timeout: 120000 });
  // a locator click: scrolled into view and stable first (the panels above may still be laying
  // out their images, which moved a click by coordinates off the canvas on a loaded machine)
  const canvas = page.locator('.dvi-canvas');
  const box = await canvas.boundingBox();
  await canvas.click({ position: { x: box.width * 0.45, y: box.height * 0.4 } });
  await page.waitForSelector('.dvi-popover .dvi-probs', { timeout: 30000 }).catch(async (err) => {
    await shot(page, root, 'jupyterlab-explore-failed');
    throw err;
  });
  const ms = await page.evaluate(() => document.querySelector('.dvi-root').parentElement.dataset.inspectMs);
  console.log(`     JupyterLab (explore, fitted DVI): click -> probabilities shown in ${ms} ms`);
  await frames(page);
  await shot(page, root, 'jupyterlab-explore');
  await shot(page, page.locator('.dvi-canvas-wrap'), 'jupyterlab-explore-inspect');
  await shot(page, page.locator('.dvi-panel-curves'), 'jupyterlab-explore-curves');
  await shot(page, page.locator('.dvi-panel-events'), 'jupyterlab-explore-events');
  // the review queue of the fitted run: the kernel ranks its label issues (every method the run
  // supports, the representation-space neighbours included) and the panel shows them as tiles
  await page.click('.dvi-sel-queue');
  await page.waitForSelector('.dvi-review-tile', { timeout: 120000 });
  const status = await page.textContent('.dvi-review-status');
  assert(/most likely label issues .* \(combined rank\)/.test(status), `review queue: ${status}`);
  await shot(page, page.locator('.dvi-panel-selection'), 'jupyterlab-explore-review');
  await page.close();
};

await runTests([[`JupyterLab ${mode}: panels against the real kernel`, mode === 'explore' ? exploreTest : fixtureTest]]);
await browser.close();
