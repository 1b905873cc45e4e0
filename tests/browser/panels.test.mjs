// Browser tests of the explore panels against a real Widget in a Python "kernel"
// (kernel_harness.py: ipywidgets' comm protocol over HTTP): what the browser shows is compared with
// what Python computes independently (panels_fixture.py's closed forms, dvi_widget.view.explore).
// Usage: node panels.test.mjs [python] [screenshot dir]
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { assert, clickStill, frames, launch, moveStill, near, pixelAt, pixels, ROOT, runTests, settled, until } from './harness.mjs';

const PYTHON = process.argv[2] || join(ROOT, '.venv', 'bin', 'python');
const SHOTS = process.argv[3] || '';
// Waits for a condition allow 15-30 s: the test command runs two test processes on two cores,
// and a browser page beside a notebook or a Jupyter server answers several times slower.
const browser = await launch();
const kernels = [];

/** Start the harness with a fixture; resolves with its base URL. */
function startKernel(fixture) {
  const proc = spawn(PYTHON, [join(ROOT, 'tests', 'browser', 'kernel_harness.py'), '--fixture', fixture], { stdio: ['pipe', 'pipe', 'pipe'] });
  kernels.push(proc);
  let err = '';
  proc.stderr.on('data', (d) => { err += String(d); });
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      const m = /PORT (\d+)/.exec(String(d));
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
    proc.on('exit', (code) => reject(new Error(`kernel harness exited (${code}):\n${err}`)));
  });
}

async function open(fixture = 'full') {
  const base = await startKernel(fixture);
  const page = await browser.newPage({ viewport: { width: 1150, height: 1250 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && !m.text().includes('404') && errors.push(m.text()));
  await page.goto(`${base}/tests/browser/kernel.html`);
  await page.waitForFunction(() => Number(document.querySelector('#view').dataset.drawCount) >= 1, null, { timeout: 60000 });
  page.errors = errors;
  page.py = (code) => page.evaluate((c) => window.kernelEval(c), code);
  return page;
}

/** Screen position of normalised frame coordinates at the initial camera (the frame is square). */
async function toScreen(page, x, y) {
  const box = await (await page.$('.dvi-canvas')).boundingBox();
  const s = Math.min(box.width, box.height) / 2;
  return [box.x + box.width / 2 + x * s, box.y + box.height / 2 - y * s, s];
}

const selection = (page) => page.evaluate(() => {
  const v = window.model.get('selection');
  return v ? Array.from(new Uint32Array(v.view.buffer, v.view.byteOffset, v.shape[0])) : [];
});

async function setEpoch(page, epoch) {
  await page.evaluate((e) => {
    window.model.set('epoch', e);
    window.model.save_changes();
  }, epoch);
  await page.waitForFunction((e) => document.querySelector('#view').dataset.drawnEpoch === String(e), epoch, { timeout: 30000 });
}

async function shot(page, selector, name) {
  if (!SHOTS) return;
  const el = selector ? await page.$(selector) : null;
  if (el) await el.screenshot({ path: join(SHOTS, `${name}.png`) });
  else await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The sample farthest from all others at epoch position t (so a mouse over it finds only it). */
const ISOLATED = (t) => `xy = vis.coords[${t}]
d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
np.fill_diagonal(d, np.inf)
result = int(np.argmax(d.min(axis=1)))`;

await runTests([
  ['click on the landscape: the popover shows the probabilities Python computes there', async () => {
    const page = await open();
    await setEpoch(page, 5);
    // a spot between the clusters (normalised (0.1, 0.3) = (0.2, 0.6) in the frame (-2, 2)^2)
    const [sx, sy, scale] = await toScreen(page, 0.1, 0.3);
    // the pointer arrives first (the camera pans by the distance since its last frame's pointer
    // position, (0, 0) before any move, when a press comes in the same frame as the move)
    await page.mouse.move(sx, sy);
    await frames(page);
    await clickStill(page, sx, sy);
    await page.waitForSelector('.dvi-popover .dvi-probs', { timeout: 30000 });
    const shown = await page.$eval('.dvi-popover .dvi-probs', (e) => JSON.parse(e.dataset.probabilities));
    const clicked = await page.py('result = w.clicked');
    assert(clicked.epoch === 5, `w.clicked epoch ${clicked.epoch}`);
    const px = 4 / (2 * scale); // one screen pixel in frame units
    assert(Math.abs(clicked.x - 0.2) < 1.5 * px && Math.abs(clicked.y - 0.6) < 1.5 * px, `w.clicked at ${clicked.x}, ${clicked.y}`);
    const want = await page.py(`result = fixture.probabilities(np.array([[${clicked.x}, ${clicked.y}]]), 1)[0].tolist()`);
    assert(shown.length === 4 && shown.every((p, c) => Math.abs(p - want[c]) < 1e-6), `shown ${shown} vs Python ${want}`);
    const best = want.indexOf(Math.max(...want));
    const names = ['zero', 'one', 'two', 'three'];
    const pred = await page.textContent('.dvi-popover-pred');
    assert(pred.includes(names[best]) && pred.includes(`${(100 * want[best]).toFixed(1)}%`), `prediction line ${pred}`);
    const barNames = await page.$$eval('.dvi-popover .dvi-bar-label', (els) => els.map((e) => e.textContent));
    assert(barNames[0] === names[best], `top bar ${barNames}`);
    const nearest = await page.$$eval('.dvi-popover .dvi-nrow', (els) => els.map((e) => Number(e.dataset.sample)));
    const nearPy = await page.py(`result = explore.nearest_2d(vis, (${clicked.x}, ${clicked.y}), 5, 5)["sample"].tolist()`);
    assert(same(nearest, nearPy), `nearest ${nearest} vs ${nearPy}`);
    const inspectMs = await page.evaluate(() => document.querySelector('#view').dataset.inspectMs);
    console.log(`     click -> probabilities shown: ${inspectMs} ms (harness round trip)`);
    await shot(page, '.dvi-canvas-wrap', 'panel-inspect');
    // the popover follows the epoch
    await setEpoch(page, 10);
    await page.waitForFunction(() => document.querySelector('.dvi-popover')?.dataset.epoch === '10', null, { timeout: 30000 });
    const at10 = await page.$eval('.dvi-popover .dvi-probs', (e) => JSON.parse(e.dataset.probabilities));
    const want10 = await page.py(`result = fixture.probabilities(np.array([[${clicked.x}, ${clicked.y}]]), 2)[0].tolist()`);
    assert(at10.every((p, c) => Math.abs(p - want10[c]) < 1e-6), 'probabilities at epoch 10');
    // a drag pans and inspects nothing; a click on a point selects it and opens its history
    await page.click('.dvi-popover-close');
    await moveStill(page, sx, sy + 40);
    await page.mouse.down();
    await page.mouse.move(sx + 30, sy + 60, { steps: 5 });
    await page.mouse.up();
    await settled(page); // the pan has ended (and a popover would have opened)
    assert((await page.$eval('.dvi-popover', (e) => e.style.display)) === 'none', 'a drag opened the popover');
    await page.click('.dvi-reset'); // the drag panned: back to the whole frame
    await frames(page);
    await settled(page);
    const target = await page.py(ISOLATED(2));
    const xy = await page.py(`result = (vis.coords[2, ${target}] / 2).tolist()`);
    const [tx, ty] = await toScreen(page, xy[0], xy[1]);
    await page.mouse.move(tx - 2, ty - 2);
    await page.mouse.move(tx, ty, { steps: 2 });
    await page.waitForFunction(() => getComputedStyle(document.querySelector('.dvi-tooltip')).display === 'block', null, { timeout: 15000 });
    await clickStill(page, tx, ty);
    await page.waitForFunction(() => window.model.get('focus_sample') >= 0, null, { timeout: 15000 });
    const k = await until(page, () => page.py('result = [int(w.focus_sample), w.selection.tolist()]'), (v) => v[0] === target && same(v[1], [target]));
    assert(k[0] === target && same(k[1], [target]), `point click: focus ${k[0]}, selection ${k[1]}, expected ${target}`);
    assert((await page.$eval('.dvi-popover', (e) => e.style.display)) === 'block', 'a point click inspects its spot too');
    await page.keyboard.press('Escape');
    assert((await until(page, () => page.$eval('.dvi-popover', (e) => e.style.display), (v) => v === 'none')) === 'none', 'Esc closes the popover');
    // the popover is small beside the plot, and a later selection (here from Python) closes it
    await clickStill(page, sx, sy);
    await page.waitForSelector('.dvi-popover .dvi-probs', { timeout: 30000 });
    const pop = await (await page.$('.dvi-popover')).boundingBox();
    const plot = await (await page.$('.dvi-canvas')).boundingBox();
    assert(pop.width * pop.height < 0.15 * plot.width * plot.height && pop.height <= 0.45 * plot.height + 1, `popover ${pop.width}x${pop.height} over a ${plot.width}x${plot.height} plot`);
    await page.py('w.select([1, 2, 3])');
    assert((await until(page, () => page.$eval('.dvi-popover', (e) => e.style.display), (v) => v === 'none')) === 'none', 'a later selection closes the popover');
    // Lasso mode (the mode button, the touch-pad path): a loop that closes where it started
    // selects what it encloses and is never a click (no popover, w.clicked unchanged)
    const clickedBefore = await page.py('result = w.clicked');
    await page.click('.dvi-mode-lasso');
    // the mode has switched before the loop starts (a drag in pan mode moves the view, and its
    // release on empty ground clears the selection: "0 samples" on a loaded machine)
    await page.waitForFunction(() => document.querySelector('.dvi-mode-lasso').getAttribute('aria-pressed') === 'true', null, { timeout: 15000 });
    await frames(page, 2);
    const [lx, ly, lr] = await toScreen(page, -0.5, -0.5); // class 0 at epoch 10: (-1, -1), radius 0.3
    const loop = Array.from({ length: 25 }, (_, k) => [lx + 0.25 * lr * Math.cos((k / 24) * 2 * Math.PI), ly + 0.25 * lr * Math.sin((k / 24) * 2 * Math.PI)]);
    await moveStill(page, ...loop[0]);
    await page.mouse.down();
    for (const [x, y] of loop.slice(1)) {
      await page.mouse.move(x, y, { steps: 2 });
      await frames(page, 1); // lasso points at least lassoMinDelay apart
    }
    await page.mouse.up();
    const class0 = await page.py('result = np.flatnonzero(vis.labels == 0).tolist()');
    const lassoed = await until(page, () => page.py('result = w.selection.tolist()'), (v) => same(v, class0));
    assert(same(lassoed, class0), `the loop selected ${lassoed.length} samples (${lassoed.slice(0, 4)}), the class has ${class0.length}`);
    await settled(page);
    assert((await page.$eval('.dvi-popover', (e) => e.style.display)) === 'none', 'a closed lasso loop opened the popover');
    assert(same(await page.py('result = w.clicked'), clickedBefore), 'a closed lasso loop set w.clicked');
    assert(same(await selection(page), class0), 'the loop\'s selection stands (not replaced by a clicked point)');
    // zoom in (wheel) over the class boundary x = 0: once the camera settles, one request for the
    // visible part, drawn at screen resolution under the points (issue 25, item 6)
    await page.click('.dvi-reset');
    await settled(page);
    const zDs = (k) => page.evaluate((key) => Number(document.querySelector('#view').dataset[key] || 0), k);
    const zAsked0 = await zDs('landscapeRequests'); // the pan above asked already
    const zCalls0 = await page.py('result = int(getattr(vis.inspector, "landscape_calls", 0))');
    const zShown0 = await zDs('landscapeDetails');
    assert(await page.$eval('.dvi-landscape-detail', (e) => e.style.display) === 'none', 'the whole frame shows the stored raster');
    const [zx, zy] = await toScreen(page, 0, 0.5);
    await page.mouse.move(zx, zy);
    for (let k = 0; k < 4; k++) await page.mouse.wheel(0, -400);
    await page.waitForFunction((n) => Number(document.querySelector('#view').dataset.landscapeDetails || 0) > n, zShown0, { timeout: 15000 });
    await settled(page);
    await frames(page, 3);
    const zAsked = (await zDs('landscapeRequests')) - zAsked0;
    const zCalls = (await page.py('result = int(getattr(vis.inspector, "landscape_calls", 0))')) - zCalls0;
    assert(zAsked >= 1 && zAsked <= 2 && zCalls === zAsked, `one request per settled zoom: ${zAsked} sent, ${zCalls} rendered`);
    const zExt = await page.evaluate(() => JSON.parse(document.querySelector('#view').dataset.landscapeExtent));
    const [zDh, zDw] = (await page.evaluate(() => document.querySelector('#view').dataset.landscapeDetail)).split('x').map(Number);
    // the stored raster has 32 cells over [-1, 1]: the detail has far more over its part
    const zStoredCells = ((zExt[1] - zExt[0]) / 2) * 32;
    assert(zDw >= 6 * zStoredCells, `detail ${zDw} px wide over ${zStoredCells.toFixed(1)} stored cells`);
    assert(zExt[0] < 0 && zExt[1] > 0, `the zoomed part holds the boundary x = 0: ${zExt}`);
    // pixels 3 px either side of the boundary: each class's washed colour, no blend across it
    const zBox = await (await page.$('.dvi-canvas')).boundingBox();
    const zDet = await page.$eval('.dvi-landscape-detail', (e) => ({ left: parseFloat(e.style.left), top: parseFloat(e.style.top), width: parseFloat(e.style.width), height: parseFloat(e.style.height) }));
    const zBx = zDet.left + ((0 - zExt[0]) / (zExt[1] - zExt[0])) * zDet.width;
    const zPx = await pixels(page, '.dvi-canvas');
    const zOpacity = await page.evaluate(() => window.model.get('landscape_opacity'));
    const zPalette = await page.evaluate(() => window.model.get('palette'));
    const zRgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const zWash = (c) => c.map((v) => 255 - zOpacity * (255 - v));
    // a row free of points: scan rows for the two sides' colours
    const zEpochPos = 2;
    const zSideClass = await page.py(`result = [int(fixture.probabilities(np.array([[x, 1.0]]), ${zEpochPos})[0].argmax()) for x in (-0.05, 0.05)]`);
    const zWant = zSideClass.map((c) => zWash(zRgb(zPalette[c])));
    let zRows = 0;
    for (let zY = 10; zY < zBox.height - 10; zY += 7) {
      const zL = pixelAt(zPx, zBx - 3, zY);
      const zR = pixelAt(zPx, zBx + 3, zY);
      if (near(zL, zWant[0], 6) && near(zR, zWant[1], 6)) zRows += 1;
    }
    assert(zRows >= 10, `rows with a sharp boundary at x = 0: ${zRows} (want ${zWant}, boundary at ${zBx.toFixed(1)} px)`);
    await shot(page, '.dvi-canvas-wrap', 'zoomed-landscape');
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['confusion-matrix click selects exactly that cell in the kernel; it follows epoch and split', async () => {
    const page = await open();
    await setEpoch(page, 5);
    const table = await page.$$eval('.dvi-cm td', (tds) => tds.map((td) => Number(td.dataset.count)));
    const py = await page.py('result = np.asarray(w.confusion(5)).reshape(-1).tolist()');
    assert(same(table, py), `matrix ${table} vs w.confusion(5) ${py}`);
    await page.click('.dvi-cm td[data-label="0"][data-prediction="1"]');
    await page.waitForFunction(() => (document.querySelector('.dvi-status')?.textContent || '').includes('selected'), null, { timeout: 15000 });
    const want = await page.py('result = explore.confusion_cell(vis, 0, 1, 5).tolist()');
    const got = await until(page, () => page.py('result = w.selection.tolist()'), (v) => same(v, want));
    assert(want.length > 0 && same(got, want), `kernel selection ${got.length}: ${got.slice(0, 5)} vs cell ${want.slice(0, 5)}`);
    assert(same(await until(page, () => selection(page), (v) => same(v, want)), want), 'front-end selection');
    assert((await page.$$('.dvi-cm td.dvi-active')).length === 1, 'the picked cell is outlined');
    await shot(page, '.dvi-panel-confusion', 'panel-confusion');
    // the test split only: counts change, a cell click selects test samples only
    await page.selectOption('.dvi-show', 'test');
    const pyTest = await page.py('result = np.asarray(w.confusion(5, "test")).reshape(-1).tolist()');
    const testCounts = await until(page, () => page.$$eval('.dvi-cm td', (tds) => tds.map((td) => Number(td.dataset.count))), (v) => same(v, pyTest));
    assert(same(testCounts, pyTest), 'test-split matrix');
    await page.click('.dvi-cm td[data-label="2"][data-prediction="2"]');
    const got2 = await until(page, () => page.py('result = [w.selection.tolist(), w.confusion_cell(2, 2).tolist()]'), (v) => same(v[0], v[1]) && v[0].length > 0);
    assert(same(got2[0], got2[1]) && got2[0].length > 0, 'test-split cell selection');
    await setEpoch(page, 10);
    const at10 = await page.$$eval('.dvi-cm td', (tds) => tds.map((td) => Number(td.dataset.count)));
    assert(same(at10, await page.py('result = np.asarray(w.confusion(10, "test")).reshape(-1).tolist()')), 'matrix follows the epoch');
    // while the points are still moving to the new epoch (a long transition, as in playback),
    // the matrix already shows the epoch the toolbar names, not the one the points come from
    const want0 = await page.py('result = np.asarray(w.confusion(0, "test")).reshape(-1).tolist()');
    const mid = await page.evaluate(() => {
      window.model.set('transition_ms', 4000);
      window.model.set('epoch', 0);
      window.model.save_changes();
      const view = document.querySelector('#view');
      return { drawn: view.dataset.drawnEpoch, counts: [...document.querySelectorAll('.dvi-cm td')].map((td) => Number(td.dataset.count)), head: document.querySelector('.dvi-panel-confusion').textContent };
    });
    assert(mid.drawn === '10', `the transition to epoch 0 had already ended (drawn ${mid.drawn})`);
    assert(same(mid.counts, want0) && mid.head.includes('epoch 0 '), `during the transition the matrix shows epoch 0: ${mid.counts} vs ${want0}; ${mid.head.slice(0, 60)}`);
    await shot(page, null, 'confusion-mid-transition');
    await page.waitForFunction(() => document.querySelector('#view').dataset.drawnEpoch === '0', null, { timeout: 30000 });
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ["hover shows the sample's own image, fetched once and then cached", async () => {
    const page = await open();
    const i = await page.py(ISOLATED(2));
    const xy = await page.py(`result = (vis.coords[2, ${i}] / 2).tolist()`);
    const [hx, hy] = await toScreen(page, xy[0], xy[1]);
    const asked = () => page.evaluate(() => window.model.stats.custom.filter((c) => c.panel === 'thumbnails').length);
    const before = await asked();
    await page.mouse.move(hx - 3, hy - 3);
    await page.mouse.move(hx, hy, { steps: 3 });
    await page.waitForFunction((k) => document.querySelector('.dvi-thumb').dataset.sample === String(k), i, { timeout: 30000 });
    const read = () => page.$eval('.dvi-thumb', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let idx = 0;
      for (let b = 0; b < 16; b++) if (d[4 * ((b >> 3) * c.width + (b & 7))] > 127) idx |= 1 << b;
      const lit = [2, 3, 4, 5, 6, 7].filter((r) => d[4 * r * c.width] > 100);
      return { idx, lit, w: c.width };
    });
    const t = await read();
    const label = await page.py(`result = int(vis.labels[${i}])`);
    assert(t.idx === i && t.w === 8 && same(t.lit, [label + 3]), `thumbnail of #${i}: decoded ${JSON.stringify(t)}`);
    const sent = (await asked()) - before;
    assert(sent >= 1, `the first hover asked the kernel ${sent} times`);
    await page.mouse.move(hx + 80, hy + 80, { steps: 3 });
    const onSample = (k) => { const t = document.querySelector('.dvi-tooltip'); return getComputedStyle(t).display === 'block' && t.textContent.startsWith(`#${k} `); };
    await page.waitForFunction(`!(${onSample})(${i})`, null, { timeout: 15000 }); // left the sample
    await page.mouse.move(hx, hy, { steps: 3 });
    await page.waitForFunction(`(${onSample})(${i})`, null, { timeout: 15000 }); // back on it
    assert((await read()).idx === i, 'cached thumbnail');
    assert((await asked()) - before === sent, 'the second hover asked the kernel again');
    // nothing image-sized in the initial state
    assert((await page.evaluate(() => window.model.get('images'))) === undefined, 'no images in the initial state');
    await shot(page, '.dvi-canvas-wrap', 'hover-thumbnail');
    await page.close();
  }],

  ['selection panel: a page of images, sorting, composition, Grad-CAM, metadata-free', async () => {
    const page = await open();
    await setEpoch(page, 10);
    const layout = () => page.$$eval('.dvi-panels-below > .dvi-panel', (ps) => ps.map((p) => { const r = p.getBoundingClientRect(); return [p.className, Math.round(r.top), Math.round(r.height)]; }));
    const before = await layout();
    await page.py('w.select(np.arange(400))');
    await page.waitForFunction(() => document.querySelectorAll('.dvi-tile').length === 100, null, { timeout: 30000 });
    await page.py('w.focus_sample = 5');
    await page.waitForSelector('.dvi-nn-high .dvi-nrow', { timeout: 30000 });
    // a page of images and a sample's history fill their panels: nothing below the plot moves
    assert(same(await layout(), before), `panels moved: ${JSON.stringify(before)} -> ${JSON.stringify(await layout())}`);
    assert((await page.textContent('.dvi-panel-selection')).includes('1–100 of 400'), 'pager');
    await page.click('.dvi-sel-next');
    const firstOf2 = await page.$eval('.dvi-tile', (t) => Number(t.dataset.sample));
    assert(firstOf2 === 100, `page 2 starts at #100, got ${firstOf2}`);
    await page.py('w.select(np.flatnonzero(vis.labels == 1)[:30])');
    await page.waitForFunction(() => document.querySelectorAll('.dvi-tile').length === 30, null, { timeout: 30000 });
    await page.selectOption('.dvi-sel-sort', 'confidence');
    const order = await page.$$eval('.dvi-tile', (ts) => ts.map((t) => Number(t.dataset.sample)));
    const want = await page.py('idx = np.flatnonzero(vis.labels == 1)[:30]\nc = np.round(np.clip(vis.confidence[2, idx], 0, 1) * 255)\nresult = idx[np.lexsort((idx, c))].tolist()');
    assert(same(order, want), `sorted by confidence: ${order.slice(0, 6)} vs ${want.slice(0, 6)}`);
    const caption = await page.$eval('.dvi-tile span', (s) => s.textContent);
    assert(/^one → (one|two)$/.test(caption), `caption ${caption}`);
    const comp = await page.$eval('.dvi-comp', (e) => [JSON.parse(e.dataset.labels), JSON.parse(e.dataset.predictions)]);
    const compPy = await page.py('c = w.composition()\nresult = [c["label"].tolist(), c["prediction"].tolist()]');
    assert(same(comp, compPy), `composition ${JSON.stringify(comp)} vs ${JSON.stringify(compPy)}`);
    const compBox = await (await page.$('.dvi-comp')).boundingBox();
    assert(compBox && compBox.height > 20, `the composition is visible, not squeezed: ${JSON.stringify(compBox)}`);
    await page.waitForFunction(() => [...document.querySelectorAll('.dvi-tile canvas')].every((c) => c.dataset.sample), null, { timeout: 30000 });
    const tileIdx = await page.$eval('.dvi-tile canvas', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let idx = 0;
      for (let b = 0; b < 16; b++) if (d[4 * ((b >> 3) * c.width + (b & 7))] > 127) idx |= 1 << b;
      return idx;
    });
    assert(tileIdx === order[0], `first tile shows #${tileIdx}, expected #${order[0]}`);
    await page.click('.dvi-sel-gradcam');
    await page.waitForFunction(() => [...document.querySelectorAll('.dvi-tile canvas')].every((c) => c.dataset.gradcam === '1'), null, { timeout: 30000 });
    const warm = await page.$eval('.dvi-tile canvas', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      return [d[0], d[1], d[2]];
    });
    assert(warm[0] > warm[2], `Grad-CAM overlay reddens the hot pixels: ${warm}`);
    await shot(page, '.dvi-panel-selection', 'panel-selection-gradcam');
    await page.click('.dvi-tile');
    assert((await until(page, () => page.py('result = int(w.focus_sample)'), (v) => v === order[0])) === order[0], 'tile click focuses the sample');
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['sample history: strip, flips, trail, both neighbourhoods as Python lists them', async () => {
    const page = await open();
    await setEpoch(page, 5);
    await page.py('w.focus_sample = 5');
    await page.waitForSelector('.dvi-nn-high .dvi-nrow', { timeout: 30000 });
    const cells = await page.$$eval('.dvi-strip rect.dvi-epoch-cell', (r) => r.map((e) => [e.dataset.epoch, e.getAttribute('fill')]));
    assert(cells.length === 3 && cells[1][1] !== cells[0][1] && cells[2][1] === cells[0][1], `strip ${JSON.stringify(cells)}`);
    const flips = await page.$$eval('.dvi-flips li', (li) => li.map((e) => e.textContent));
    assert(same(flips, ['epoch 5: one → two', 'epoch 10: two → one']), `flips: ${flips}`);
    const ticks = await page.$$eval('.dvi-strip text.dvi-strip-epoch', (t) => t.map((e) => e.textContent));
    assert(same(ticks, ['0', '5', '10']), `strip epoch labels ${ticks}`);
    const high = await page.$$eval('.dvi-nn-high .dvi-nrow', (r) => r.map((e) => [Number(e.dataset.sample), e.dataset.separated === 'true']));
    const two = await page.$$eval('.dvi-nn-2d .dvi-nrow', (r) => r.map((e) => Number(e.dataset.sample)));
    const py = await page.py('d = w.neighbors(5, 5, 8)\nh = d[d.space == "high"]\nresult = [[[int(s), bool(f)] for s, f in zip(h["sample"], h["separated"])], d[d.space == "2d"]["sample"].tolist()]');
    assert(same(high, py[0]) && same(two, py[1]), `neighbours ${JSON.stringify([high, two])} vs ${JSON.stringify(py)}`);
    // ⚠ exactly where the view puts the neighbour beyond 3x the sample's own 2-D neighbourhood
    const rule = await page.py('d = w.neighbors(5, 5, 8)\nh = d[d.space == "high"]\nxy = vis.coords[1]\nr = np.sort(np.delete(np.linalg.norm(xy - xy[5], axis=1), 5))[7]\nresult = [bool(v) for v in np.linalg.norm(xy[h["sample"].to_numpy()] - xy[5], axis=1) > 3 * r]');
    const flagged = await page.$$eval('.dvi-nn-high .dvi-nrow', (r) => r.map((e) => Boolean(e.querySelector('.dvi-flag'))));
    assert(same(flagged, rule) && rule.includes(false), `⚠ on ${flagged}, rule ${rule}`);
    assert(same(await page.py('result = w.trail_indices.tolist()'), [5]), 'its trail is drawn');
    await shot(page, '.dvi-panel-sample', 'panel-sample');
    await page.click('.dvi-strip rect.dvi-epoch-cell[data-epoch="0"]');
    assert((await until(page, () => page.py('result = w.epoch'), (v) => v === 0)) === 0, 'strip click jumps to the epoch');
    await page.click('.dvi-nn-2d .dvi-nrow');
    const focus = await until(page, () => page.py('result = [int(w.focus_sample), w.trail_indices.tolist()]'), (v) => v[0] !== 5 && same(v[1], [v[0]]));
    assert(focus[0] !== 5 && same(focus[1], [focus[0]]), `neighbour click: ${JSON.stringify(focus)}`);
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['training curves: current epoch marked, a click jumps there; quality metrics of the epoch; the inside panels follow the slider and a pattern selects its samples', async () => {
    const page = await open();
    await page.waitForSelector('.dvi-curves .u-over', { timeout: 30000 });
    const metrics = await page.$$eval('.dvi-metrics tbody tr', (rows) => rows.map((r) => [...r.children].map((td) => td.textContent)));
    assert(same(metrics[0], ['nn_pv (k=15)', '0.470', '0.440']) && metrics.some((r) => r[0] === 'ppr' && r[2] === '0.930')
      // a measure over all samples spans both columns (not listed under "train")
      && metrics.some((r) => r[0] === 'q_knn' && r.length === 2 && r[1] === '0.910'), `metrics ${JSON.stringify(metrics)}`);
    const over = await (await page.$('.dvi-curves .u-over')).boundingBox();
    await page.mouse.move(over.x + 3, over.y + over.height / 2);
    // hovering shows the values at that epoch (uPlot's live legend)
    const legend = () => page.$$eval('.dvi-curves .u-legend .u-series', (rows) => rows.map((r) => [r.querySelector('.u-label')?.textContent, r.querySelector('.u-value')?.textContent]));
    const values = await until(page, legend, (v) => v.some(([l, x]) => l === 'train loss' && x === '1.200'));
    assert(values.some(([l, x]) => l === 'epoch' && x === '0') && values.some(([l, x]) => l === 'test acc.' && x === '0.500'), `legend on hover ${JSON.stringify(values)}`);
    await clickStill(page, over.x + 3, over.y + over.height / 2);
    await page.waitForFunction(() => window.model.get('epoch') === 0, null, { timeout: 15000 });
    assert((await until(page, () => page.py('result = w.epoch'), (v) => v === 0)) === 0, 'kernel epoch after the chart click');
    const m0 = await page.$$eval('.dvi-metrics tbody tr', (rows) => rows.map((r) => [...r.children].map((td) => td.textContent)));
    assert(same(m0[0], ['nn_pv (k=15)', '0.310', '0.280']), `metrics at epoch 0 ${JSON.stringify(m0[0])}`);
    await shot(page, '.dvi-panel-curves', 'panel-curves');
    // inside the model (issue 22): the distributions panel follows the slider, a click on a chart
    // jumps to that epoch; a click on a neural pattern selects exactly its samples in the kernel
    await page.py('w.show_inside(fixture.FakeInside(vis))');
    await page.waitForFunction(() => document.querySelectorAll('.dvi-dist-chart').length === 3 && document.querySelectorAll('.dvi-pattern').length === 5, null, { timeout: 20000 });
    const marker = () => page.$$eval('.dvi-dist-marker', (ls) => ls.map((l) => l.getAttribute('x1')));
    assert(same(await marker(), ['34.0', '34.0', '34.0']), `markers at epoch 0: ${await marker()}`);
    await setEpoch(page, 10);
    await page.waitForFunction(() => document.querySelector('.dvi-dist-grid').dataset.epoch === '10', null, { timeout: 15000 });
    assert(same(await marker(), ['194.0', '194.0', '194.0']), `markers at epoch 10: ${await marker()}`);
    await page.$eval('.dvi-dist-chart[data-layer="conv2"]', (c) => c.scrollIntoView({ block: 'center' }));
    const chart = await (await page.$('.dvi-dist-chart[data-layer="conv2"]')).boundingBox();
    await clickStill(page, chart.x + (114 / 200) * chart.width, chart.y + chart.height / 2); // x of epoch 5
    assert((await until(page, () => page.py('result = w.epoch'), (v) => v === 5)) === 5, 'a chart click jumps to epoch 5 in the kernel');
    await page.waitForFunction(() => document.querySelector('.dvi-dist-grid').dataset.epoch === '5', null, { timeout: 15000 });
    const flagText = await page.textContent('.dvi-flag');
    assert(flagText.startsWith('vanishing gradient · conv1 · epochs 0, 5'), `flag ${flagText}`);
    assert((await page.$$('.dvi-dist-title.dvi-flagged')).length === 1, 'the flagged layer is marked');
    await page.waitForFunction(() => document.querySelector('.dvi-net-view').dataset.epoch === '5', null, { timeout: 30000 });
    const k = await page.py('_, df = w.inside_source.patterns(5)\nresult = [i for i, u in enumerate(df["units"]) if list(u) == [0, 1, 0]][0]');
    await page.$eval(`.dvi-net-row[data-pattern="${k}"]`, (r) => r.scrollIntoView({ block: 'center' }));
    await page.click(`.dvi-net-row[data-pattern="${k}"]`);
    const want = await page.py('result = [i for i in range(w.n_samples) if i % 10 == 0]');
    const got = await until(page, () => page.py('result = sorted(w.selection.tolist())'), (v) => v.length > 0);
    assert(same(got, want), `pattern click selected ${got.length} (${got.slice(0, 5)}), its samples are ${want.length}`);
    // the kernel's selection reaches the front end by a trait sync: wait for it (it came later
    // than the kernel's answer in one run with two test processes)
    assert(same(await until(page, () => selection(page), (v) => same(v, want)), want), 'the front end shows the kernel\'s selection');
    // the selection recommends the patterns it shares: exactly that one
    await page.waitForFunction((id) => document.querySelector('.dvi-net-view').dataset.recommended === String(id), k, { timeout: 30000 });
    // a path click selects too: the largest pattern (class 0's right predictions)
    const big = await page.py('_, df = w.inside_source.patterns(5)\nresult = [int(df["count"].idxmax()), sorted(int(i) for i in df.iloc[int(df["count"].idxmax())]["samples"])]');
    await page.$eval(`path.dvi-pattern[data-pattern="${big[0]}"]`, (p) => p.dispatchEvent(new MouseEvent('click', { bubbles: true })));
    assert(same(await until(page, () => page.py('result = sorted(w.selection.tolist())'), (v) => v.length === big[1].length), big[1]), 'a path click selects its samples');
    // the features panel computes nothing until asked; "show" brings the kernel's images
    assert((await page.$$('.dvi-feat-canvas')).length === 0, 'no feature images before a click');
    await page.waitForFunction(() => document.querySelectorAll('.dvi-feat-layer option').length === 2, null, { timeout: 30000 });
    await page.selectOption('.dvi-feat-layer', 'conv1');
    await page.fill('.dvi-feat-units', '0-2, 5');
    await page.click('.dvi-feat-go');
    await page.waitForFunction(() => document.querySelector('.dvi-feat-tiles').dataset.count === '4', null, { timeout: 30000 });
    const featPx = await page.$$eval('.dvi-feat-canvas', (cs) => cs.map((c) => c.getContext('2d').getImageData(3, 3, 1, 1).data[0]));
    assert(same(featPx, [25, 45, 65, 125]), `feature pixels ${featPx} (unit u at epoch 5: (u + 1) * 20 + 5)`);
    for (const [wd, ht] of [[1400, 1000], [900, 700]]) {
      await page.setViewportSize({ width: wd, height: ht });
      await frames(page, 3);
      await page.$eval('.dvi-panel-distributions', (p) => p.scrollIntoView({ block: 'start' }));
      await shot(page, null, `inside-${wd}x${ht}`);
      await shot(page, '.dvi-panel-network', `inside-network-${wd}x${ht}`);
      await shot(page, '.dvi-panel-features', `inside-features-${wd}x${ht}`);
    }
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['training events: highlight (off by default) shows as a chip, ✕ and a selection remove it, Python follows', async () => {
    const page = await open();
    await setEpoch(page, 0);
    await page.selectOption('.dvi-ev-kind', 'flip');
    await page.waitForFunction(() => !document.querySelector('.dvi-ev-next').disabled, null, { timeout: 30000 });
    await page.click('.dvi-ev-next');
    await page.waitForFunction(() => window.model.get('epoch') === 5, null, { timeout: 15000 });
    await page.waitForFunction(() => document.querySelector('.dvi-panel-events .dvi-nrow'), null, { timeout: 30000 });
    assert(!(await page.isChecked('.dvi-ev-highlight')) && (await page.py('result = w.highlight_indices')) === null, 'the events highlight is off by default');
    assert((await page.textContent('.dvi-chips')).includes('no emphasis'), 'no chip while nothing is dimmed');
    await page.click('.dvi-ev-highlight');
    const want = await page.py('e = w.events()\nresult = e[(e.epoch == 5) & (e.kind == "flip")]["sample"].tolist()');
    const hl = await until(page, () => page.py('h = w.highlight_indices\nresult = None if h is None else h.tolist()'), (v) => same(v, want));
    assert(same(hl, want) && same(want, [5]), `highlight ${hl} vs events ${want}`);
    await page.waitForSelector('.dvi-chip[data-emphasis="highlight"]');
    const chip = await page.textContent('.dvi-chip[data-emphasis="highlight"]');
    assert(chip.includes('flip events, epoch 0 → 5') && chip.includes('1 sample'), `chip ${chip}`);
    await shot(page, '.dvi-chips', 'chips-events');
    // ✕ removes it, in Python too, and unticks the panel's box
    await page.click('.dvi-chip[data-emphasis="highlight"] .dvi-chip-x');
    assert((await until(page, () => page.py('result = w.highlight_indices'), (v) => v === null)) === null, '✕: Python highlight_indices is None');
    assert(!(await page.isChecked('.dvi-ev-highlight')), '✕ unticks highlight');
    // on again; a selection replaces it (one dimming emphasis at a time)
    await page.click('.dvi-ev-highlight');
    await until(page, () => page.py('h = w.highlight_indices\nresult = None if h is None else h.tolist()'), (v) => same(v, want));
    await page.click('.dvi-ev-select');
    const after = await until(page, () => page.py('h = w.highlight_indices\nresult = [w.selection.tolist(), None if h is None else h.tolist()]'), (v) => same(v, [[5], null]));
    assert(same(after, [[5], null]), `select: selection and highlight ${JSON.stringify(after)}`);
    assert(!(await page.isChecked('.dvi-ev-highlight')) && (await page.$('.dvi-chip[data-emphasis="selection"]')) && !(await page.$('.dvi-chip[data-emphasis="highlight"]')), 'the selection chip replaced the highlight chip');
    await shot(page, '.dvi-panel-events', 'panel-events');
    // from Python: w.highlight() replaces the selection and gets its chip; ✕ clears it in Python
    await page.py('w.highlight([1, 2, 3])');
    await page.waitForSelector('.dvi-chip[data-emphasis="highlight"]');
    assert((await page.textContent('.dvi-chip[data-emphasis="highlight"]')).includes('w.highlight') && (await page.py('result = w.selection.tolist()')).length === 0, 'Python highlight: its chip, the selection gone');
    assert(same(await page.py('result = w.emphases().values.tolist()'), [['highlight_indices', 'dims', 3]]), 'w.emphases()');
    await page.click('.dvi-chip[data-emphasis="highlight"] .dvi-chip-x');
    assert((await until(page, () => page.py('result = w.highlight_indices'), (v) => v === null)) === null, '✕ clears w.highlight');
    assert(page.errors.length === 0, page.errors.join('\n'));
    await shot(page, null, 'panels-all');
    await page.close();
  }],

  ['review queue and data map: a keyboard mark reaches w.review_df(), a lasso in the map is w.selection', async () => {
    const page = await open();
    await page.click('.dvi-sel-queue');
    await page.waitForSelector('.dvi-review-tile', { timeout: 20000 }).catch(async (e) => {
      throw new Error(`${e.message}\nqueue: ${await page.textContent('.dvi-review-box')}\n${page.errors.join('\n')}`);
    });
    await shot(page, '.dvi-panel-selection', 'panel-review-queue');
    const tiles = await page.$$eval('.dvi-review-tile', (t) => t.map((e) => Number(e.dataset.sample)));
    const ranked = await page.py('result = w.label_issues().head(40)["sample"].tolist()');
    assert(same(tiles, ranked), `queue ${tiles.slice(0, 8)} vs w.label_issues() ${ranked.slice(0, 8)}`);
    // every 10th sample is predicted as the next class at every epoch: those rank first
    assert(tiles.slice(0, 10).every((i) => i % 10 === 0), `first tiles ${tiles.slice(0, 10)}`);
    const first = await page.py(`r = w.label_issues().iloc[0]\nresult = [int(r["sample"]), int(r["suggested_label"])]`);
    await page.focus('.dvi-review-list');
    await page.keyboard.press('m'); // mislabeled, corrected to the suggested class
    const df1 = await until(page, () => page.py('result = w.review_df()[["sample", "mark", "corrected_label"]].astype(object).values.tolist()'), (v) => v.length === 1);
    assert(same(df1, [[first[0], 'mislabeled', first[1]]]), `review_df after m: ${JSON.stringify(df1)} (want ${first})`);
    // the cursor moved on: a digit then "m" corrects the next one to that class, "c" marks the third correct
    await page.waitForFunction(() => document.querySelectorAll('.dvi-review-tile')[1]?.classList.contains('dvi-focus'), null, { timeout: 15000 });
    const other = ((await page.py(`result = int(vis.labels[${tiles[1]}])`)) + 2) % 4;
    await page.keyboard.press(String(other));
    await page.keyboard.press('m');
    await until(page, () => page.py('result = len(w.review_df())'), (v) => v === 2);
    await page.waitForFunction(() => document.querySelectorAll('.dvi-review-tile')[2]?.classList.contains('dvi-focus'), null, { timeout: 15000 });
    await page.keyboard.press('c');
    const df = await until(page, () => page.py('result = w.review_df()[["sample", "mark", "corrected_label"]].astype(object).values.tolist()'), (v) => v.length === 3);
    const want = [[tiles[0], 'mislabeled', first[1]], [tiles[1], 'mislabeled', other], [tiles[2], 'correct', null]].sort((a, b) => a[0] - b[0]);
    assert(same(df, want), `review_df ${JSON.stringify(df)} vs ${JSON.stringify(want)}`);
    // the marks are in the run folder (a new Review reads them) and the review column follows
    assert((await page.py('from dvi_widget.data.run.review import Review\nresult = len(Review(w.review.run_path).marks())')) === 3, 'marks saved in the run folder');
    const marked = await page.$$eval('.dvi-review-tile.dvi-review-mislabeled', (t) => t.length);
    assert(marked === 2, `${marked} tiles shown as mislabeled`);
    assert(same(await page.py('result = w.filter_samples("review == \'mislabeled\'").filter_indices.tolist()'), [tiles[0], tiles[1]].sort((a, b) => a - b)), 'filter by the review column');
    // the data map: a lasso around μ < 0.5 selects exactly those training samples in the kernel
    await page.waitForSelector('.dvi-datamap-canvas[data-points]', { timeout: 30000 });
    await page.$eval('.dvi-datamap-canvas', (c) => c.scrollIntoView({ block: 'center' }));
    const box = await (await page.$('.dvi-datamap-canvas')).boundingBox();
    const px = (sx, mu) => [box.x + 34 + (sx / 0.5) * (box.width - 48), box.y + 8 + (1 - mu) * (box.height - 34)];
    const ring = [[-0.02, 0.5], [0.52, 0.5], [0.52, -0.05], [-0.02, -0.05], [-0.02, 0.5]];
    await moveStill(page, ...px(...ring[0]));
    await page.mouse.down();
    for (const p of ring.slice(1)) await page.mouse.move(...px(...p), { steps: 6 });
    await page.mouse.up();
    const wantMap = await page.py('d = w.samples_df()\nresult = d.index[(d.split == "train") & (d.mean_confidence < 0.5)].tolist()');
    const gotMap = await until(page, () => page.py('result = w.selection.tolist()'), (v) => v.length > 0);
    assert(wantMap.length > 10 && same(gotMap, wantMap), `data-map lasso selected ${gotMap.length} (${gotMap.slice(0, 6)}), kernel query ${wantMap.length} (${wantMap.slice(0, 6)})`);
    await shot(page, '.dvi-panel-datamap', 'datamap-lasso');
    // and the reverse: a selection from Python is what the map highlights
    await page.py('w.select([1, 2, 3, 40])');
    await page.waitForFunction(() => document.querySelector('.dvi-datamap-canvas').dataset.selected === '4', null, { timeout: 15000 });
    // it follows the epoch slider: measures up to the shown epoch (sample 5 flips at epoch 5 only)
    await setEpoch(page, 0);
    await page.waitForFunction(() => document.querySelector('.dvi-datamap-canvas').dataset.epoch === '0', null, { timeout: 15000 });
    assert((await page.py('result = float(w.samples_df().loc[5, "variability"])')) === 0, 'one record: no variability yet');
    await setEpoch(page, 10);
    await page.py('w.select([])\nw.filter_samples(None)\nw.color_by = "review"');
    await page.waitForFunction(() => window.model.get('color_by') === 'review', null, { timeout: 15000 });
    for (const [w, hgt] of [[1400, 1000], [900, 700]]) {
      await page.setViewportSize({ width: w, height: hgt });
      await frames(page, 3);
      await shot(page, null, `review-queue-${w}x${hgt}`);
    }
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['no model, no images: the landscape cell answers a click, the panel lists metadata rows', async () => {
    const page = await open('plain');
    // the view settled first (a click during a transition, or before the layout is final,
    // lands elsewhere: seen with two test processes on two cores), and where the spot is now;
    // then click again until the popover answers, at most three times
    for (let attempt = 0; ; attempt++) {
      // the whole frame in view (under load the page was once found panned off the landscape
      // before any gesture: the failing click asked about (-3.5, 2.6), outside the extent)
      await page.click('.dvi-reset');
      await settled(page);
      const [sx, sy] = await toScreen(page, -0.6, -0.6);
      await clickStill(page, sx, sy);
      try {
        await page.waitForSelector('.dvi-popover-pred', { timeout: 10000 });
        break;
      } catch (err) {
        if (attempt === 2) throw err;
      }
    }
    const pred = await page.textContent('.dvi-popover-pred');
    const cell = await page.py('c = w.clicked\nr = w.inspect(c["x"], c["y"])\nresult = [r["prediction_name"], r["source"]]');
    assert(cell[1] === 'landscape' && pred.includes(cell[0]) && pred.includes('landscape cell'), `popover ${pred} vs ${cell}`);
    assert((await page.$$('.dvi-popover .dvi-probs')).length === 0, 'no probability bars without a model');
    await page.py('w.select([0, 1, 2, 3, 4])');
    // wait for the selection to reach the table: rows of an earlier selection may still be
    // there on a loaded machine (seen: sample 360's row read before the new selection landed)
    await page.waitForFunction(() => document.querySelector('.dvi-rows tbody tr:first-child td')?.textContent === '0',
      null, { timeout: 30000 }).catch(() => {});
    const head = await page.$$eval('.dvi-rows th', (t) => t.map((e) => e.textContent));
    const row = await page.$$eval('.dvi-rows tbody tr:first-child td', (t) => t.map((e) => e.textContent));
    assert(same(head, ['#', 'split', 'label', 'prediction', 'confidence', 'noisy', 'source', 'score']), `header ${head}`);
    assert(row[0] === '0' && row[5] === 'True' && row[6] === 'camera', `row ${row}`);
    assert((await page.$$('.dvi-tile')).length === 0 && (await page.$eval('.dvi-thumb', (c) => getComputedStyle(c).display)) === 'none', 'no images');
    assert((await page.textContent('.dvi-panel-events')).includes('need the fitted model'), 'events explain what they need');
    await shot(page, null, 'panels-plain');
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],
]);
for (const k of kernels) k.stdin.end();
await browser.close();
