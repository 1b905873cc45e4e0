// Browser tests of the real bundle with a fake model: render, epoch change, playback, lasso,
// two views in sync, cleanup, and the save_html page (path given as argv[2], optional).
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { center, LAND_COLORS } from './fixture.mjs';
import { assert, clickStill, countColor, frames, launch, moveStill, near, pixelAt, pixels, runTests, serve, settled } from './harness.mjs';

const { server, url } = await serve();
const browser = await launch();

async function openFixture(opts = {}, query = '') {
  const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${url}/tests/browser/fixture.html?opts=${encodeURIComponent(JSON.stringify(opts))}${query}`);
  await page.waitForFunction(() => Number(document.querySelector('#view').dataset.drawCount) >= 1, null, { timeout: 30000 });
  page.errors = errors;
  return page;
}

/** Screen position (relative to the canvas) of data point (x, y) in [-1,1] at the initial camera. */
async function toScreen(page, x, y) {
  const box = await (await page.$('.dvi-canvas-wrap')).boundingBox();
  const s = box.height / 2;
  return [box.x + box.width / 2 + x * s, box.y + box.height / 2 - y * s, box];
}

/** Drag a selection box of half-width r around data point (x, y); resolves with the selected ids. */
async function boxSelect(page, x, y, r) {
  await page.evaluate(() => { window.selectionBefore = window.model.get('selection'); });
  const [x0, y0] = await toScreen(page, x - r, y + r);
  const [x1, y1] = await toScreen(page, x + r, y - r);
  await moveStill(page, x0, y0);
  await page.mouse.down();
  await page.mouse.move(x1, y0, { steps: 4 });
  await page.mouse.move(x1, y1, { steps: 4 });
  await page.mouse.up();
  await page.waitForFunction(() => window.model.get('selection') !== window.selectionBefore, null, { timeout: 5000 });
  return page.evaluate(() => {
    const v = window.model.get('selection');
    return Array.from(new Uint32Array(v.view.buffer, v.view.byteOffset, v.shape[0]));
  });
}

/** The landscape colour as shown: washed toward white at landscape_opacity (fixture: 0.45). */
const washed = (rgb, opacity = 0.45) => rgb.map((c) => 255 - opacity * (255 - c));
const LAND = LAND_COLORS.map((c) => washed(c));

const waitDraws = (page, n) =>
  page.waitForFunction((k) => Number(document.querySelector('#view').dataset.drawCount) >= k, n, { timeout: 30000 });

const tests = [
  ['render() draws the landscape and the points', async () => {
    const page = await openFixture();
    await frames(page);
    const px = await pixels(page, '.dvi-canvas-wrap');
    // landscape quadrants, sampled between clusters (epoch position 0)
    const s = px.height / 2;
    const at = (x, y) => pixelAt(px, px.width / 2 + x * s, px.height / 2 - y * s);
    assert(near(at(-0.85, 0.85), LAND[0], 12), `top-left landscape ${at(-0.85, 0.85)}`);
    assert(near(at(0.85, 0.85), LAND[1], 12), `top-right landscape ${at(0.85, 0.85)}`);
    assert(near(at(-0.85, -0.85), LAND[2], 12), `bottom-left landscape ${at(-0.85, -0.85)}`);
    // points of class 0 (#1f77b4) at their cluster centre
    const [cx, cy] = center(0, 0);
    const c0 = at(cx, cy);
    assert(near(c0, [0x1f, 0x77, 0xb4], 70) || near(c0, [14, 54, 81], 70), `class-0 cluster pixel ${c0}`);
    const blue = countColor(px, [0x1f, 0x77, 0xb4], 30);
    assert(blue > 50, `too few class-0 pixels: ${blue}`);
    // legend text is escaped, not HTML
    const legend = await page.textContent('.dvi-legend');
    assert(legend.includes('zero <b>0</b>'), 'legend shows raw class name text');
    assert((await page.$$('.dvi-legend b')).length === 0, 'legend must not parse HTML');
    // on a dark host (JupyterLab Dark, VS Code) the widget stays a light card with dark text
    const look = await page.evaluate(() => {
      document.body.style.background = '#111';
      document.body.style.color = '#eee';
      const root = document.querySelector('.dvi-root');
      const label = root.querySelector('.dvi-legend');
      return [getComputedStyle(root).backgroundColor, getComputedStyle(label).color];
    });
    assert(look[0] === 'rgb(255, 255, 255)', `widget background on a dark page: ${look[0]}`);
    assert(look[1] !== 'rgb(238, 238, 238)', `legend text takes the dark page's colour: ${look[1]}`);
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['epoch change moves points and swaps the landscape', async () => {
    const page = await openFixture({}, '');
    await frames(page);
    const before = await pixels(page, '.dvi-canvas-wrap');
    await page.evaluate(() => window.model.set('epoch', 5));
    await waitDraws(page, 2);
    await settled(page, '.dvi-canvas-wrap');
    const drawn = await page.evaluate(() => document.querySelector('#view').dataset.drawnEpoch);
    assert(drawn === '5', `drawn epoch ${drawn}`);
    const after = await pixels(page, '.dvi-canvas-wrap');
    const s = after.height / 2;
    const at = (px, x, y) => pixelAt(px, px.width / 2 + x * s, px.height / 2 - y * s);
    assert(near(at(after, -0.85, 0.85), LAND[1], 12), `landscape after ${at(after, -0.85, 0.85)}`);
    const [x1, y1] = center(0, 1);
    const c1 = at(after, x1, y1);
    assert(near(c1, [0x1f, 0x77, 0xb4], 70) || near(c1, [14, 54, 81], 40), `class 0 moved to ${center(0, 1)}: ${c1}`);
    const [x0, y0] = center(0, 0);
    assert(!near(at(after, x0, y0), [0x1f, 0x77, 0xb4], 30), 'class 0 left its old place');
    const label = await page.textContent('.dvi-epoch');
    assert(label.startsWith('epoch 5'), `epoch label ${label}`);
    const ms = await page.evaluate(() => document.querySelector('#view').dataset.lastDrawMs);
    console.log(`     epoch change draw: ${ms} ms`);
    await page.close();
  }],

  ['play advances the epoch and the slider drives the model', async () => {
    const page = await openFixture();
    await page.click('.dvi-play');
    await page.waitForFunction(() => window.model.get('epoch') !== 0, null, { timeout: 5000 });
    await page.click('.dvi-play');
    assert((await page.evaluate(() => window.model.get('playing'))) === false, 'pause');
    await page.$eval('.dvi-slider', (s) => {
      s.value = '2';
      s.dispatchEvent(new Event('input'));
    });
    assert((await page.evaluate(() => window.model.get('epoch'))) === 10, 'slider sets epoch 10');
    await page.close();
  }],

  ['lasso selects the enclosed cluster and sends uint32 indices', async () => {
    const page = await openFixture();
    await page.click('.dvi-mode-lasso');
    const [cx, cy] = center(2, 0);
    const pts = [];
    for (let k = 0; k <= 24; k++) {
      const a = (k / 24) * 2 * Math.PI;
      pts.push(await toScreen(page, cx + 0.2 * Math.cos(a), cy + 0.2 * Math.sin(a)));
    }
    await moveStill(page, pts[0][0], pts[0][1]);
    await page.mouse.down();
    for (const [x, y] of pts.slice(1)) {
      await page.mouse.move(x, y, { steps: 2 });
      await frames(page, 1); // the lasso keeps points at least lassoMinDelay (5 ms) apart
    }
    await page.mouse.up();
    await page.waitForFunction(() => window.model.get('selection') !== null, null, { timeout: 5000 });
    const sel = await page.evaluate(() => {
      const v = window.model.get('selection');
      return { dtype: v.dtype, shape: v.shape, ids: Array.from(new Uint32Array(v.view.buffer, v.view.byteOffset, v.shape[0])) };
    });
    const expected = Array.from({ length: 100 }, (_, k) => 4 * k + 2);
    assert(sel.dtype === 'uint32', `dtype ${sel.dtype}`);
    assert(JSON.stringify(sel.ids) === JSON.stringify(expected), `selected ${sel.ids.length}: ${sel.ids.slice(0, 8)}`);
    // Python replaces the selection: the view follows without echoing back
    const nSaved = await page.evaluate(() => window.model.saved.length);
    await page.evaluate(() => window.model.set('selection', { view: new DataView(new Uint32Array([1, 5]).buffer), dtype: 'uint32', shape: [2] }));
    await page.waitForFunction(() => document.querySelector('.dvi-status').textContent.includes('2 selected'));
    await frames(page);
    assert((await page.evaluate(() => window.model.saved.length)) === nSaved, 'no echo of a Python-set selection');
    assert((await page.textContent('.dvi-status')).includes('2 selected'), 'status shows 2 selected');
    await page.close();
  }],

  ['after epoch changes, box select finds the moved points and respects the split filter', async () => {
    const page = await openFixture();
    // the other epochs' spatial indices are built while idle
    await page.waitForFunction(() => Number(document.querySelector('#view').dataset.indexedEpochs) >= window.model.get('epochs').length);
    await page.click('.dvi-mode-box');
    await page.evaluate(() => window.model.set('epoch', 5));
    await waitDraws(page, 2);
    const moved = await boxSelect(page, ...center(2, 1), 0.2);
    const class2 = Array.from({ length: 100 }, (_, k) => 4 * k + 2);
    assert(JSON.stringify(moved) === JSON.stringify(class2), `epoch 5 selected ${moved.length}: ${moved.slice(0, 8)}`);
    // the split filter, set once, must survive the next epoch change
    await page.click('.dvi-clear');
    await page.evaluate(() => window.model.set('show', 'test'));
    await waitDraws(page, 3);
    await page.evaluate(() => window.model.set('epoch', 10));
    await waitDraws(page, 4);
    const testOnly = await boxSelect(page, ...center(2, 2), 0.2);
    const test2 = class2.filter((i) => i >= 300); // fixture: the last quarter is the test split
    assert(JSON.stringify(testOnly) === JSON.stringify(test2), `epoch 10, test only: ${testOnly.length}: ${testOnly.slice(0, 8)}`);
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['hover tooltip, show split, highlight and trails', async () => {
    const page = await openFixture();
    await frames(page);
    const [hx, hy] = await toScreen(page, ...center(1, 0));
    await page.mouse.move(hx - 3, hy - 3);
    await page.mouse.move(hx, hy, { steps: 3 });
    await page.waitForFunction(() => getComputedStyle(document.querySelector('.dvi-tooltip')).display === 'block', null, { timeout: 5000 });
    const tip = await page.textContent('.dvi-tooltip');
    // the thumbnail is fetched from the (fake) kernel on first hover, then drawn
    await page.waitForFunction(() => document.querySelector('.dvi-thumb').dataset.sample !== undefined && document.querySelector('.dvi-thumb').dataset.sample !== '', null, { timeout: 5000 });
    const thumb = await page.$eval('.dvi-thumb', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const rowLit = (r) => d[4 * (r * c.width + 3)];
      return { w: c.width, h: c.height, shown: getComputedStyle(c).display, lit: [0, 1, 2, 3, 4, 5, 6, 7].filter((r) => rowLit(r) === 255) };
    });
    assert(thumb.w === 8 && thumb.shown === 'block' && JSON.stringify(thumb.lit) === '[2]', `thumbnail ${JSON.stringify(thumb)}`);
    assert(/^#\d+ \((train|test)\)\nlabel: one\nprediction: \S+.*\nconfidence: 0\.\d{3}$/s.test(tip), `tooltip ${JSON.stringify(tip)}`);
    await page.mouse.move(5, 5);
    // points = pixels that are neither landscape nor the white margin
    const pointPixels = (px) => px.width * px.height
      - [...LAND, [255, 255, 255]].reduce((a, c) => a + countColor(px, c, 12), 0);
    const full = countColor(await pixels(page, '.dvi-canvas-wrap'), [0x1f, 0x77, 0xb4], 30);
    const allPoints = pointPixels(await pixels(page, '.dvi-canvas-wrap'));
    let n = Number(await page.evaluate(() => document.querySelector('#view').dataset.drawCount));
    await page.selectOption('.dvi-show', 'test');
    assert((await page.evaluate(() => window.model.get('show'))) === 'test', 'select sets show');
    await waitDraws(page, ++n);
    await frames(page);
    const testOnly = pointPixels(await pixels(page, '.dvi-canvas-wrap'));
    await page.evaluate(() => window.model.set('filter_indices', { view: new DataView(new ArrayBuffer(0)), dtype: 'uint32', shape: [0] }));
    await waitDraws(page, ++n);
    await frames(page);
    const none = pointPixels(await pixels(page, '.dvi-canvas-wrap'));
    assert(allPoints - none > 1000, `points visible: ${allPoints} vs empty filter ${none}`);
    assert(testOnly - none < 0.8 * (allPoints - none) && testOnly - none > 50,
      `test split only: ${testOnly - none} vs ${allPoints - none} point pixels`);
    n = Number(await page.evaluate(() => document.querySelector('#view').dataset.drawCount));
    await page.evaluate(() => {
      window.model.set('filter_indices', null);
      window.model.set('show', 'both');
      const ids = Uint32Array.from({ length: 100 }, (_, k) => 4 * k + 1); // class 1 only
      window.model.set('highlight_indices', { view: new DataView(ids.buffer), dtype: 'uint32', shape: [100] });
    });
    await waitDraws(page, n + 1);
    await settled(page, '.dvi-canvas-wrap');
    const dimmed = countColor(await pixels(page, '.dvi-canvas-wrap'), [0x1f, 0x77, 0xb4], 30);
    assert(dimmed < full * 0.1, `class 0 dimmed by highlight: ${dimmed} vs ${full}`);
    await page.evaluate(() => {
      const ids = new Uint32Array([0, 1, 2]);
      window.model.set('trail_indices', { view: new DataView(ids.buffer), dtype: 'uint32', shape: [3] });
    });
    const inked = await page.evaluate(() => {
      const c = document.querySelector('.dvi-trails');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let k = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) k++;
      return k;
    });
    assert(inked > 200, `trail overlay pixels: ${inked}`);
    await page.close();
  }],

  ['two views share one model, and cleanup releases everything', async () => {
    const page = await openFixture();
    const result = await page.evaluate(async () => {
      const widget = (await import('/dvi_widget/static/widget.js')).default;
      const el2 = document.createElement('div');
      el2.style.width = '500px';
      document.body.appendChild(el2);
      const listenersBefore = window.model.listenerCount();
      const cleanup2 = widget.render({ model: window.model, el: el2 });
      const drawn = (el, test) => new Promise((resolve) => {
        const check = () => (test(el.dataset) ? resolve() : requestAnimationFrame(check));
        check();
      });
      await drawn(el2, (ds) => Number(ds.drawCount) >= 1); // the second view's first draw
      window.model.set('epoch', 10);
      await Promise.all([document.querySelector('#view'), el2].map((el) => drawn(el, (ds) => ds.drawnEpoch === '10')));
      const bothAt10 = [document.querySelector('#view'), el2].map((e) => e.dataset.drawnEpoch);
      cleanup2();
      const listenersAfter = window.model.listenerCount();
      window.cleanup();
      return { bothAt10, listenersBefore, listenersAfter, left: window.model.listenerCount(), children: el2.children.length };
    });
    assert(result.bothAt10.every((e) => e === '10'), `views in sync: ${result.bothAt10}`);
    assert(result.listenersAfter === result.listenersBefore, `listeners leaked: ${JSON.stringify(result)}`);
    assert(result.left === 0 && result.children === 0, `cleanup left ${JSON.stringify(result)}`);
    await page.close();
  }],
];

const htmlPath = process.argv[2];
if (htmlPath) {
  tests.push(['save_html page renders offline without a kernel', async () => {
    const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const t0 = Date.now();
    await page.goto(pathToFileURL(htmlPath).href);
    const t1 = Date.now();
    await page.waitForFunction(() => Number(document.querySelector('#dvi-root').dataset.drawCount) >= 1, null, { timeout: 30000 });
    console.log(`     save_html page: load ${t1 - t0} ms, first draw after ${Date.now() - t1} ms`);
    await frames(page);
    const px = await pixels(page, '.dvi-canvas-wrap');
    const white = countColor(px, [255, 255, 255], 8);
    assert(white < px.width * px.height * 0.98, 'page shows something besides white');
    const external = requests.filter((u) => /^https?:/.test(u));
    assert(external.length === 0, `network requests: ${external}`);
    assert(errors.length === 0, errors.join('\n'));
    const display = await page.$eval('.dvi-root', (e) => getComputedStyle(e).display);
    assert(display === 'flex', `the page inlines the widget's stylesheet: .dvi-root is ${display}`);
    // a faithful subset of the widget (issue 25, item 4): no "null" anywhere
    const text = await page.evaluate(() => document.body.innerText);
    assert(!/\bnull\b/.test(text), `the page shows "null": ${text.slice(Math.max(0, text.indexOf('null') - 80), text.indexOf('null') + 40)}`);
    // the embedded thumbnails: the focused sample's history shows its picture (top half = 7)
    await page.waitForFunction(() => document.querySelector('.dvi-sample-head canvas')?.dataset.sample === '7', null, { timeout: 10000 });
    const thumb = await page.$eval('.dvi-sample-head canvas', (c) => Array.from(c.getContext('2d').getImageData(1, 1, 1, 1).data));
    assert(thumb[0] === 7, `sample 7's thumbnail: ${thumb}`);
    const tiles = await page.$$eval('.dvi-panel-selection .dvi-tile canvas', (cs) => cs.length);
    assert(tiles === 3, `the selection's three thumbnails: ${tiles}`);
    // a click on the landscape: the saved cell's class and confidence, no kernel needed
    const wrap = await (await page.$('.dvi-canvas-wrap')).boundingBox();
    const s = Math.min(wrap.width, wrap.height) / 2;
    for (const [x, name, conf] of [[-0.9, 'cat', '80.0%'], [0.9, 'dog', '60.0%']]) {
      const at = [wrap.x + wrap.width / 2 + x * s, wrap.y + wrap.height / 2 - 0.95 * s];
      await page.mouse.move(...at); // first (the camera pans by a move it has not seen a frame of)
      await frames(page);
      await clickStill(page, ...at);
      await page.waitForFunction(() => document.querySelector('.dvi-popover-pred'), null, { timeout: 5000 });
      const pred = await page.textContent('.dvi-popover-pred');
      assert(pred.includes(name) && pred.includes(conf) && /landscape cell/.test(pred), `popover at x=${x}: ${pred}`);
      const pop = await page.textContent('.dvi-popover');
      assert(!/running kernel/.test(pop), `popover: ${pop}`);
      await page.click('.dvi-popover-close');
    }
    // the Explain panel shows the saved path, and none of the controls that need a kernel
    const ctl = await page.$$eval('.dvi-panel-explain .dvi-panel-body button, .dvi-panel-explain select, .dvi-panel-explain input[type=number]', (els) => els.filter((e) => e.offsetParent).map((e) => e.textContent || e.getAttribute('aria-label')));
    assert(ctl.length === 0, `kernel-only controls shown: ${ctl}`);
    const frames6 = await page.$$eval('.dvi-explain-frame canvas', (cs) => cs.map((c) => c.getContext('2d').getImageData(0, 0, 1, 1).data[0]));
    assert(JSON.stringify(frames6) === '[40,70,100,130,160,190]', `the saved path's pictures: ${frames6}`);
    assert(/first flip at 60°: cat → dog/.test(await page.textContent('.dvi-explain-flip')), 'the saved path is described');
    assert(!(await page.isVisible('.dvi-explain-robustness')) && !(await page.isVisible('.dvi-explain-surrogate')), 'empty tools are left out');
    // what needs a kernel is absent, not broken: no text about one, no Grad-CAM button, no
    // Training events panel, and no control shown disabled (the page's model had both)
    const shown = await page.evaluate(() => document.body.innerText);
    assert(!/kernel/i.test(shown), `the page mentions a kernel: ${shown.slice(Math.max(0, shown.search(/kernel/i) - 80), shown.search(/kernel/i) + 40)}`);
    assert(await page.$('.dvi-sel-gradcam') && !(await page.isVisible('.dvi-sel-gradcam')), 'no Grad-CAM button');
    assert(!(await page.$('.dvi-panel-events')) && !/Training events/.test(shown), 'no Training events panel');
    const disabled = await page.$$eval('.dvi-root button, .dvi-root select, .dvi-root input', (els) => els.filter((e) => e.disabled && e.offsetParent).map((e) => e.className || e.textContent || e.getAttribute('aria-label')));
    assert(disabled.length === 0, `disabled controls shown: ${disabled}`);
    await page.screenshot({ path: new URL('../../out/shots/saved-page-900.png', import.meta.url).pathname, fullPage: true });
    // the record button (issue 23 item 3): the playback, first epoch to last, downloaded as WebM
    const epochs = await page.evaluate(() => window.dviModel.get('epochs'));
    await page.evaluate(() => {
      window.recordedEpochs = [];
      window.dviModel.on('change:epoch', (e) => window.recordedEpochs.push(e));
    });
    const [video] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.click('.dvi-record')]);
    assert(video.suggestedFilename() === 'dvi-playback.webm', `download ${video.suggestedFilename()}`);
    const webm = await readFile(await video.path());
    const rec = await page.$eval('#dvi-root', (e) => ({ type: e.dataset.recordType, bytes: Number(e.dataset.recordBytes) }));
    assert(/^video\/webm/.test(rec.type) && rec.bytes === webm.length && webm.length > 1000, `recorded ${JSON.stringify(rec)}, downloaded ${webm.length} bytes`);
    assert(webm.readUInt32BE(0) === 0x1a45dfa3, 'the download is a WebM (EBML) file');
    const played = await page.evaluate(() => window.recordedEpochs);
    assert(JSON.stringify(played.slice(-epochs.length)) === JSON.stringify(epochs), `played ${played} while recording (epochs ${epochs})`);
    assert(await page.$eval('.dvi-record', (b) => b.getAttribute('aria-pressed') === 'false' && b.textContent.includes('REC')), 'the button is back to REC');
    await writeFile(`${htmlPath}.webm`, webm); // the pytest side decodes it (PyAV)
    assert(errors.length === 0, errors.join('\n'));
    await page.evaluate(() => window.dviModel.set('epoch', window.dviModel.get('epochs')[0]));
    await page.close();
  }]);
}

try {
  await runTests(tests);
} finally {
  await browser.close();
  server.close();
}
