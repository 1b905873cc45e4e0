// Browser tests of what a user sees and does: the frame fitted into any plot shape,
// the landscape cross-fading with the points, readable selection, zoom and reset, the legend,
// colour by any column, search, shortcuts, and gestures that reach the plot even when the page
// around the widget reacts to shift+mousedown as JupyterLab's notebook does.
import { readFile } from 'node:fs/promises';
import { center, LAND_COLORS } from './fixture.mjs';
import { markColor } from '../../js/src/marks.js';
import { assert, clickStill, countColor, frames, launch, moveStill, near, pixelAt, pixels, runTests, serve, settled, until } from './harness.mjs';

const { server, url } = await serve();
const browser = await launch();

const washed = (rgb, opacity = 0.45) => rgb.map((c) => 255 - opacity * (255 - c));
const LAND = LAND_COLORS.map((c) => washed(c));
const CLASS2 = Array.from({ length: 100 }, (_, k) => 4 * k + 2);

async function open(opts = {}, { width = 900, height = 600, viewWidth = 700, permissions = [] } = {}) {
  const page = await browser.newPage({ viewport: { width, height }, permissions });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${url}/tests/browser/fixture.html?opts=${encodeURIComponent(JSON.stringify(opts))}`);
  await page.evaluate((w) => { document.querySelector('#view').style.width = `${w}px`; }, viewWidth);
  await page.waitForFunction(() => Number(document.querySelector('#view').dataset.drawCount) >= 1, null, { timeout: 30000 });
  await frames(page);
  page.errors = errors;
  return page;
}

const drawCount = (page) => page.evaluate(() => Number(document.querySelector('#view').dataset.drawCount));
const waitDraw = async (page, n) => {
  await page.waitForFunction((k) => Number(document.querySelector('#view').dataset.drawCount) > k, n, { timeout: 30000 });
  await frames(page);
};
const setTrait = async (page, k, v) => {
  const n = await drawCount(page);
  await page.evaluate(([key, val]) => window.model.set(key, val), [k, v]);
  return n;
};
const indices = (ids) => ({ view: new DataView(Uint32Array.from(ids).buffer), dtype: 'uint32', shape: [ids.length] });
const selection = (page) => page.evaluate(() => {
  const v = window.model.get('selection');
  return v ? Array.from(new Uint32Array(v.view.buffer, v.view.byteOffset, v.shape[0])) : [];
});

/** Page position of normalised (x, y) with the frame fitted (letterboxed) into the canvas. */
async function toPage(page, x, y) {
  const box = await (await page.$('.dvi-canvas')).boundingBox();
  const s = Math.min(box.width, box.height) / 2;
  return [box.x + box.width / 2 + x * s, box.y + box.height / 2 - y * s];
}

/** Bounding box (canvas pixels) of everything coloured (not white, not the grey border). */
function inkBox(px) {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
  for (let y = 0; y < px.height; y++) {
    for (let x = 0; x < px.width; x++) {
      const k = 4 * (y * px.width + x);
      const [r, g, b] = [px.data[k], px.data[k + 1], px.data[k + 2]];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 30) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  return { x0, y0, x1, y1, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

async function lassoCircle(page, cx, cy, r, { shift = false } = {}) {
  const pts = [];
  for (let k = 0; k <= 24; k++) {
    const a = (k / 24) * 2 * Math.PI;
    pts.push(await toPage(page, cx + r * Math.cos(a), cy + r * Math.sin(a)));
  }
  if (shift) await page.keyboard.down('Shift');
  await moveStill(page, pts[0][0], pts[0][1]);
  await page.mouse.down();
  for (const [x, y] of pts.slice(1)) {
    await page.mouse.move(x, y, { steps: 2 });
    await frames(page, 1); // the lasso keeps points at least lassoMinDelay (5 ms) apart
  }
  await page.mouse.up();
  if (shift) await page.keyboard.up('Shift');
}

const FASHION = ['T-shirt/top', 'Shirt', 'Ankle boot', 'Coat'];
const rgbOf = (css) => css.match(/\d+/g).slice(0, 3).map(Number);
const hexRgb = (hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
const box = (page, sel) => page.$eval(sel, (e) => { const r = e.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
/** Elements matching `sel` whose text does not fit (cut, or an ellipsis). */
const cut = (page, sel) => page.$$eval(sel, (els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1 || e.textContent.includes('…')).map((e) => e.textContent));

const tests = [
  ['a large run (max_points 10k of 40k samples, as 1M runs with the default 200k): a subset of points over a density raster; the lasso selects every sample inside it', async () => {
    const N = 40000;
    const page = await open({ N, T: 2, spread: 0.15, traits: { panels: ['legend'], transition_ms: 0, max_points: 10000 } });
    const drawn = await page.evaluate(() => Number(document.querySelector('#view').dataset.drawnPoints));
    assert(drawn > 7500 && drawn <= 10064, `a subset is drawn: ${drawn}`);
    // the density raster covers the clusters: around class 0's centre hardly a landscape pixel
    const [cx, cy] = await toPage(page, ...center(0, 0));
    const box = await (await page.$('.dvi-canvas')).boundingBox();
    const px = await pixels(page, '.dvi-canvas');
    let bare = 0;
    for (let dy = -10; dy <= 10; dy++) {
      for (let dx = -10; dx <= 10; dx++) {
        if (near(pixelAt(px, cx - box.x + dx, cy - box.y + dy), LAND[0], 12)) bare++;
      }
    }
    assert(bare < 20, `landscape pixels left at a dense cluster: ${bare} of 441`);
    await setTrait(page, 'mouse_mode', 'lasso');
    const [x0, y0] = center(1, 0);
    await lassoCircle(page, x0, y0, 0.25);
    await until(page, () => selection(page), (s) => s.length > 0, 30000);
    const sel = new Set(await selection(page));
    const coords = await page.evaluate(() => {
      const v = window.model.get('coords');
      return Array.from(new Float32Array(v.view.buffer, v.view.byteOffset, 2 * v.shape[1]));
    });
    let inner = 0;
    let missed = 0;
    let outer = 0;
    for (let i = 0; i < N; i++) {
      const r = Math.hypot(coords[2 * i] - x0, coords[2 * i + 1] - y0);
      if (r < 0.24) {
        inner++;
        if (!sel.has(i)) missed++;
      } else if (r > 0.26 && sel.has(i)) outer++;
    }
    // a quarter of the drawn points are this class's: selecting more than half as many samples
    // as are drawn in all means undrawn samples were selected too
    assert(inner > drawn / 2 && missed === 0 && outer === 0, `selected ${sel.size}: inside ${inner}, missed ${missed}, outside ${outer}, drawn ${drawn}`);
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],
  ['issue 25 at 900x700: class labels move with the epoch, full captions and headers, exact search, chips, split key, ticks, copy', async () => {
    const page = await open({ names: FASHION, splitColumn: true, traits: { panels: ['legend', 'selection', 'confusion'], class_labels: true, transition_ms: 0 } },
      { width: 900, height: 700, viewWidth: 880, permissions: ['clipboard-read', 'clipboard-write'] });
    // class labels: each class's name at its cluster (the densest region), following the epoch
    const labels = () => page.$$eval('.dvi-cluster-label', (els) => els.map((e) => {
      const r = e.getBoundingClientRect();
      return { text: e.textContent, x: Number(e.dataset.x), y: Number(e.dataset.y), cx: r.x + r.width / 2, cy: r.y + r.height / 2, shown: e.style.display !== 'none' };
    }));
    for (const [epoch, t] of [[0, 0], [5, 1]]) {
      if (epoch) {
        const n = await setTrait(page, 'epoch', epoch);
        await waitDraw(page, n);
      }
      await page.waitForFunction((e) => document.querySelector('#view').dataset.clusterEpoch === String(e), epoch);
      const ls = await labels();
      assert(JSON.stringify(ls.map((l) => l.text)) === JSON.stringify(FASHION) && ls.every((l) => l.shown), `labels ${JSON.stringify(ls)}`);
      for (let c = 0; c < 4; c++) {
        const [x, y] = center(c, t);
        const [px, py] = await toPage(page, x, y);
        assert(Math.hypot(ls[c].x - x, ls[c].y - y) < 0.06, `epoch ${epoch}: ${FASHION[c]} label at (${ls[c].x}, ${ls[c].y}), its cluster at (${x}, ${y})`);
        assert(Math.hypot(ls[c].cx - px, ls[c].cy - py) < 15, `epoch ${epoch}: ${FASHION[c]} drawn at ${ls[c].cx}, ${ls[c].cy}, cluster at ${px}, ${py}`);
      }
    }
    await page.click('.dvi-contours-toggle');
    await page.waitForFunction(() => Number(document.querySelector('.dvi-contours').dataset.segments) > 0);
    assert((await page.evaluate(() => window.model.get('density_contours'))) === true, 'contours toggle sets the trait');
    // search: "Shirt" as a substring also finds T-shirt/top; as an exact class only Shirt
    const plotTop = (await box(page, '.dvi-canvas-wrap')).y;
    await page.selectOption('.dvi-search-field', 'label');
    await page.fill('.dvi-search', 'Shirt');
    assert((await page.textContent('.dvi-matches')) === '200 matches', `contains: ${await page.textContent('.dvi-matches')}`);
    await page.selectOption('.dvi-search-mode', 'exact');
    assert((await page.textContent('.dvi-matches')) === '100 matches', `exact: ${await page.textContent('.dvi-matches')}`);
    await page.selectOption('.dvi-search-mode', 'word');
    assert((await page.textContent('.dvi-matches')) === '100 matches', `whole word: ${await page.textContent('.dvi-matches')}`);
    await page.press('.dvi-search', 'Enter');
    const class1 = Array.from({ length: 100 }, (_, k) => 4 * k + 1);
    assert(JSON.stringify(await until(page, () => selection(page), (s) => s.length === 100)) === JSON.stringify(class1), 'Enter selects exactly the class Shirt');
    assert((await cut(page, '.dvi-matches')).length === 0, 'search status fits');
    // chips: the selection's chip; a legend highlight replaces it (one dimming at a time); ✕
    await page.waitForSelector('.dvi-chip[data-emphasis="selection"]');
    assert((await page.textContent('.dvi-chip[data-emphasis="selection"] .dvi-chip-count')) === '100 selected', 'selection chip count');
    await page.click('.dvi-legend-row[data-k="2"]');
    await page.waitForSelector('.dvi-chip[data-emphasis="legend-highlight"]');
    assert((await selection(page)).length === 0 && !(await page.$('.dvi-chip[data-emphasis="selection"]')), 'the highlight replaced the selection');
    const chip = await page.textContent('.dvi-chip[data-emphasis="legend-highlight"]');
    assert(chip.includes('highlight: label = Ankle boot') && chip.includes('100 samples'), `chip ${chip}`);
    await page.click('.dvi-chip[data-emphasis="legend-highlight"] .dvi-chip-x');
    await page.waitForFunction(() => window.model.get('highlight_categories').length === 0);
    assert((await page.textContent('.dvi-chips')).includes('no emphasis'), 'no chip left');
    // shift-click filters without selecting the legend's text; its chip says what is hidden
    await page.click('.dvi-legend-row[data-k="0"]', { modifiers: ['Shift'] });
    assert(JSON.stringify(await page.evaluate(() => window.model.get('filter_categories'))) === '[0]', 'shift-click filters');
    assert((await page.evaluate(() => window.getSelection().toString())) === '', `text selected: ${await page.evaluate(() => window.getSelection().toString())}`);
    assert((await page.textContent('.dvi-chip[data-emphasis="legend-filter"]')).includes('filter: label = T-shirt/top'), 'filter chip');
    await page.click('.dvi-chip[data-emphasis="legend-filter"] .dvi-chip-x');
    await page.waitForFunction(() => window.model.get('filter_categories').length === 0);
    assert((await box(page, '.dvi-canvas-wrap')).y === plotTop, 'chips come and go without moving the plot');
    // full captions and confusion headers at 900 px
    const wrong = Array.from({ length: 40 }, (_, k) => 10 * k);
    await page.evaluate((ids) => window.model.set('selection', { view: new DataView(Uint32Array.from(ids).buffer), dtype: 'uint32', shape: [ids.length] }), wrong);
    await page.waitForFunction(() => document.querySelectorAll('.dvi-tile').length === 40);
    const first = await page.$eval('.dvi-tile[data-sample="0"] span', (e) => e.textContent);
    assert(first === 'T-shirt/top → Shirt', `caption ${first}`);
    assert((await cut(page, '.dvi-tile span')).length === 0, `cut captions: ${await cut(page, '.dvi-tile span')}`);
    const heads = await page.$$eval('.dvi-cm th', (t) => t.map((e) => e.textContent).filter(Boolean));
    assert(JSON.stringify(heads) === JSON.stringify([...FASHION, ...FASHION]), `headers ${heads}`);
    assert((await cut(page, '.dvi-cm th')).length === 0, `cut headers: ${await cut(page, '.dvi-cm th')}`);
    // one click copies the indices; without a clipboard they are shown to copy by hand
    await page.evaluate((ids) => window.model.set('selection', { view: new DataView(Uint32Array.from(ids).buffer), dtype: 'uint32', shape: [ids.length] }), [3, 7, 10]);
    await page.click('.dvi-chip[data-emphasis="selection"] .dvi-copy-indices');
    await page.waitForFunction(() => document.querySelector('.dvi-chips').dataset.copied);
    assert((await page.evaluate(() => navigator.clipboard.readText())) === '[3, 7, 10]', 'clipboard');
    await page.evaluate(() => {
      Object.defineProperty(navigator, 'clipboard', { value: { writeText: () => Promise.reject(new Error('denied')) } });
      document.execCommand = () => false;
    });
    await page.click('.dvi-chip[data-emphasis="selection"] .dvi-copy-indices');
    await page.waitForFunction(() => document.querySelector('.dvi-chips').dataset.copied === 'failed');
    assert((await page.$eval('.dvi-chip-manual', (e) => [e.style.display, e.value].join('|'))) === '|[3, 7, 10]', 'fallback shows the indices');
    // colour by split: the train / test key in the colours the points are drawn in
    let n = await setTrait(page, 'color_by', 'split');
    await waitDraw(page, n);
    const key = async (k) => rgbOf(await page.$eval(`.dvi-legend-marks [data-key="${k}"] .dvi-dot`, (e) => getComputedStyle(e).backgroundColor));
    const want = { train: hexRgb(markColor('#ff7f0e')), test: hexRgb(markColor('#1f77b4')) };
    for (const k of ['train', 'test']) assert(near(await key(k), want[k], 1), `${k} key ${await key(k)} vs ${want[k]}`);
    const list = rgbOf(await page.$eval('.dvi-legend-row[data-k="1"] .dvi-dot', (e) => getComputedStyle(e).backgroundColor));
    assert(near(list, want.train, 1), 'the key and the legend entry "train" agree');
    assert(countColor(await pixels(page, '.dvi-canvas'), want.train, 6) > 100, 'train points are drawn in the key colour');
    // a numeric colour bar has round intermediate ticks
    n = await setTrait(page, 'color_by', 'confidence');
    await waitDraw(page, n);
    const ticks = await page.$$eval('.dvi-colorbar-ticks span', (t) => t.map((e) => [e.textContent, e.getBoundingClientRect().x]));
    assert(JSON.stringify(ticks.map((t) => t[0])) === '["0","0.25","0.5","0.75","1"]' && ticks.every((t, k) => !k || t[1] > ticks[k - 1][1]), `ticks ${JSON.stringify(ticks)}`);
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['the square frame is letterboxed, never cropped (700x900 and 1800x600)', async () => {
    for (const [vw, hgt] of [[700, 900], [1800, 600]]) {
      const page = await open({ traits: { height: hgt, landscape_opacity: 1 } }, { width: vw + 100, height: hgt + 200, viewWidth: vw });
      let n = await drawCount(page);
      await page.evaluate(() => window.model.set('filter_indices', { view: new DataView(new ArrayBuffer(0)), dtype: 'uint32', shape: [0] }));
      await waitDraw(page, n);
      const px = await pixels(page, '.dvi-canvas');
      const box = inkBox(px);
      const side = Math.min(px.width, px.height);
      assert(Math.abs(box.w - side) <= 3 && Math.abs(box.h - side) <= 3, `${vw}x${hgt}: frame ${box.w}x${box.h} px in a ${px.width}x${px.height} plot, want ${side}x${side}`);
      // all four quadrants (the frame's corners) are on screen
      const inset = 4;
      const corners = [[box.x0 + inset, box.y0 + inset], [box.x1 - inset, box.y0 + inset], [box.x0 + inset, box.y1 - inset]];
      corners.forEach(([x, y], q) => assert(near(pixelAt(px, x, y), LAND_COLORS[q], 12), `${vw}x${hgt}: corner ${q} ${pixelAt(px, x, y)}`));
      // a new height from Python: fitted again
      const h0 = (await (await page.$('.dvi-canvas')).boundingBox()).height;
      await page.evaluate((v) => window.model.set('height', v), hgt === 900 ? 300 : 900);
      await page.waitForFunction((h) => document.querySelector('.dvi-canvas').getBoundingClientRect().height !== h, h0);
      await settled(page);
      const px2 = await pixels(page, '.dvi-canvas');
      const box2 = inkBox(px2);
      const side2 = Math.min(px2.width, px2.height);
      assert(Math.abs(box2.w - side2) <= 3 && Math.abs(box2.h - side2) <= 3, `${vw}x${hgt} -> height changed: frame ${box2.w}x${box2.h} in ${px2.width}x${px2.height}`);
      assert(page.errors.length === 0, page.errors.join('\n'));
      await page.close();
    }
  }],

  ['during a transition the landscape is a blend of the two epochs', async () => {
    const page = await open({ traits: { transition_ms: 4000 } });
    const [x, y] = await toPage(page, -0.85, 0.85);
    const box = await (await page.$('.dvi-canvas')).boundingBox();
    const t0 = Date.now();
    const [a, b] = [LAND[0], LAND[1]];
    const n = await drawCount(page);
    await page.evaluate(() => window.model.set('epoch', 5));
    // a frame inside the cross-fade: between 10 % and 90 % of the way from a to b
    const along = (c) => [0, 1, 2].reduce((acc, k) => acc + (c[k] - a[k]) * (b[k] - a[k]), 0)
      / [0, 1, 2].reduce((acc, k) => acc + (b[k] - a[k]) ** 2, 0);
    const mid = await until(page, async () => pixelAt(await pixels(page, '.dvi-canvas'), x - box.x, y - box.y),
      (c) => along(c) > 0.1 && along(c) < 0.9, 4000);
    const elapsed = Date.now() - t0;
    // the colour lies on the segment between the epochs' colours, away from both ends
    const p = [0, 1, 2].reduce((acc, k) => acc + (mid[k] - a[k]) * (b[k] - a[k]), 0)
      / [0, 1, 2].reduce((acc, k) => acc + (b[k] - a[k]) ** 2, 0);
    const off = Math.max(...[0, 1, 2].map((k) => Math.abs(mid[k] - (a[k] + p * (b[k] - a[k])))));
    assert(p > 0.1 && p < 0.9 && off < 12, `after ${elapsed} ms of 4000: pixel ${mid}, blend ${p.toFixed(2)} of ${a} -> ${b}, off the line by ${off.toFixed(1)}`);
    await waitDraw(page, n); // the transition's draw resolved
    await settled(page);
    const end = pixelAt(await pixels(page, '.dvi-canvas'), x - box.x, y - box.y);
    assert(near(end, b, 10), `after the transition ${end} vs ${b}`);
    await page.close();
  }],

  ['playback at 4 epochs/s advances 4 epochs per second', async () => {
    const page = await open({ T: 12, N: 200, traits: { speed: 4 } });
    const rate = await page.evaluate(async () => {
      const times = [];
      window.model.on('change:epoch', () => times.push(performance.now()));
      // 12 epoch changes: 11 intervals, 2.75 s at 4 epochs/s
      const done = new Promise((resolve) => window.model.on('change:epoch', () => times.length >= 12 && resolve()));
      window.model.set('playing', true);
      await done;
      window.model.set('playing', false);
      return (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000);
    });
    assert(Math.abs(rate - 4) < 0.4, `measured ${rate.toFixed(2)} epochs/s at speed 4`);
    await page.close();
  }],

  ['a selection is drawn emphasised, the rest dimmed; zoom to it and reset', async () => {
    const page = await open();
    const mark0 = [0x1f, 0x77, 0xb4];
    const before = await pixels(page, '.dvi-canvas');
    const class0Before = countColor(before, mark0, 25);
    await page.evaluate((ids) => window.model.set('selection', { view: new DataView(Uint32Array.from(ids).buffer), dtype: 'uint32', shape: [ids.length] }), CLASS2);
    await page.waitForFunction(() => document.querySelector('.dvi-status').textContent === '100 selected');
    await settled(page);
    const after = await pixels(page, '.dvi-canvas');
    // selected points changed: pixels around the class-2 cluster differ
    const box = await (await page.$('.dvi-canvas')).boundingBox();
    const [cx, cy] = await toPage(page, ...center(2, 0));
    let changed = 0;
    for (let dy = -40; dy <= 40; dy++) {
      for (let dx = -40; dx <= 40; dx++) {
        const p = pixelAt(before, cx - box.x + dx, cy - box.y + dy);
        const q = pixelAt(after, cx - box.x + dx, cy - box.y + dy);
        if (Math.max(...[0, 1, 2].map((k) => Math.abs(p[k] - q[k]))) > 30) changed += 1;
      }
    }
    assert(changed > 300, `pixels of the selected cluster that changed: ${changed}`);
    const class0After = countColor(after, mark0, 25);
    assert(class0After < 0.2 * class0Before, `unselected class 0 dimmed: ${class0After} vs ${class0Before} pixels`);
    assert((await page.textContent('.dvi-status')) === '100 selected', 'count shown');
    // w.to_png(scale=2) (issue 23): the kernel's message is answered with a PNG of exactly what
    // is on screen, at twice the resolution: each screen pixel matches its 2x2 block
    await page.evaluate(() => window.model.emit({ type: 'snapshot', id: 'png-1', scale: 2 }));
    await page.waitForFunction(() => window.model.sent.some((m) => m?.type === 'snapshot' && m.reply === 'png-1'), null, { timeout: 30000 });
    const shot = await page.evaluate(async () => {
      const k = window.model.sent.findIndex((m) => m?.type === 'snapshot' && m.reply === 'png-1');
      const bytes = window.model.sentBuffers[k][0];
      const img = new Image();
      img.src = URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));
      await img.decode();
      const c = document.createElement('canvas');
      [c.width, c.height] = [img.width, img.height];
      c.getContext('2d').drawImage(img, 0, 0);
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const url = await new Promise((resolve) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.readAsDataURL(new Blob([d]));
      });
      return { msg: window.model.sent[k], width: img.width, height: img.height, b64: url.slice(url.indexOf(',') + 1) };
    });
    assert(shot.msg.width === 2 * after.width && shot.msg.height === 2 * after.height && shot.width === shot.msg.width,
      `snapshot ${shot.width}x${shot.height} (said ${shot.msg.width}x${shot.msg.height}) for a ${after.width}x${after.height} plot`);
    const big = { width: shot.width, data: Buffer.from(shot.b64, 'base64') };
    let differ = 0;
    for (let y = 0; y < after.height; y += 2) {
      for (let x = 0; x < after.width; x += 2) {
        if (!near(pixelAt(big, 2 * x + 1, 2 * y + 1), pixelAt(after, x, y), 60)) differ += 1;
      }
    }
    const sampled = Math.ceil(after.width / 2) * Math.ceil(after.height / 2);
    assert(differ < 0.03 * sampled, `snapshot vs screen: ${differ} of ${sampled} pixels differ`);
    // the camera button downloads the same picture
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('.dvi-camera')]);
    const epoch = await page.evaluate(() => window.model.get('epoch'));
    assert(download.suggestedFilename() === `dvi-epoch-${epoch}.png`, `download ${download.suggestedFilename()}`);
    const file = await readFile(await download.path());
    assert(file.subarray(1, 4).toString() === 'PNG' && file.readUInt32BE(16) === 2 * after.width, `downloaded ${file.length} bytes, width ${file.readUInt32BE(16)}`);
    // zoom to the selection: the selected cluster fills the plot, the others leave it
    const clusterWidth = async () => {
      const px = await pixels(page, '.dvi-canvas');
      let n = 0;
      for (let k = 0; k < px.data.length; k += 4) if (px.data[k + 1] > px.data[k] + 40 && px.data[k + 1] > px.data[k + 2] + 40 && px.data[k + 1] < 200) n++;
      return n; // dark green (class 2 mark) pixels
    };
    const green0 = await clusterWidth();
    await page.click('.dvi-zoom-sel');
    const green1 = await until(page, clusterWidth, (g) => g > 4 * green0);
    await settled(page);
    assert(green1 > 4 * green0, `zoomed: class-2 pixels ${green0} -> ${green1}`);
    await page.click('.dvi-canvas-wrap', { position: { x: 5, y: 5 } }); // focus (a click on empty space)
    await page.waitForFunction(() => document.activeElement === document.querySelector('.dvi-root'));
    await page.evaluate((ids) => window.model.set('selection', { view: new DataView(Uint32Array.from(ids).buffer), dtype: 'uint32', shape: [ids.length] }), CLASS2);
    await page.keyboard.press('r');
    const green2 = await until(page, clusterWidth, (g) => Math.abs(g - green0) < 0.25 * green0);
    await settled(page);
    assert(Math.abs(green2 - green0) < 0.25 * green0, `reset: class-2 pixels ${green2} vs ${green0} before zooming`);
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['legend: counts per class for the shown split, click highlights, shift-click filters', async () => {
    const page = await open();
    const counts = () => page.$$eval('.dvi-legend-list .dvi-count', (els) => els.map((e) => Number(e.textContent)));
    assert(JSON.stringify(await counts()) === '[100,100,100,100]', `counts ${await counts()}`);
    let n = await setTrait(page, 'show', 'test');
    await waitDraw(page, n);
    assert(JSON.stringify(await counts()) === '[25,25,25,25]', `test counts ${await counts()}`);
    n = await setTrait(page, 'show', 'both');
    await waitDraw(page, n);
    // swatches look like the marks: the dot colour is a colour the plot draws
    const dot = await page.$eval('.dvi-legend-row[data-k="0"] .dvi-dot', (e) => getComputedStyle(e).backgroundColor);
    const rgb = dot.match(/\d+/g).slice(0, 3).map(Number);
    assert(countColor(await pixels(page, '.dvi-canvas'), rgb, 6) > 100, `swatch colour ${dot} is drawn in the plot`);
    n = await drawCount(page);
    await page.click('.dvi-legend-row[data-k="1"]');
    await waitDraw(page, n);
    assert(JSON.stringify(await page.evaluate(() => window.model.get('highlight_categories'))) === '[1]', 'click highlights class 1');
    assert(countColor(await pixels(page, '.dvi-canvas'), rgb, 6) < 20, 'class 0 dimmed while class 1 is highlighted');
    n = await drawCount(page);
    await page.click('.dvi-legend-row[data-k="2"]', { modifiers: ['Shift'] });
    await waitDraw(page, n);
    assert(JSON.stringify(await page.evaluate(() => window.model.get('filter_categories'))) === '[2]', 'shift-click filters to class 2');
    await page.click('.dvi-mode-box');
    const [x0, y0] = await toPage(page, -0.95, 0.95);
    const [x1, y1] = await toPage(page, 0.95, -0.95);
    await moveStill(page, x0, y0);
    await page.mouse.down();
    for (let k = 1; k <= 8; k++) {
      await page.mouse.move(x0 + ((x1 - x0) * k) / 8, y0 + ((y1 - y0) * k) / 8);
    }
    await frames(page, 1);
    await page.mouse.up();
    await until(page, () => selection(page), (sel) => sel.length > 0);
    assert(JSON.stringify(await selection(page)) === JSON.stringify(CLASS2), `a box over everything selects the filtered class only: ${(await selection(page)).length}`);
    await page.click('.dvi-legend-clear');
    await page.waitForFunction(() => window.model.get('filter_categories').length + window.model.get('highlight_categories').length === 0);
    assert((await page.evaluate(() => window.model.get('filter_categories').length + window.model.get('highlight_categories').length)) === 0, 'show all clears');
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['colour by a metadata column, a numeric column (colour bar) and "prediction changed"', async () => {
    const page = await open();
    await page.evaluate(() => window.model.set('highlight_categories', [1]));
    let n = await setTrait(page, 'color_by', 'noisy');
    await waitDraw(page, n);
    assert((await page.evaluate(() => window.model.get('highlight_categories').length)) === 0, 'a new column clears the legend highlight');
    const rows = await page.$$eval('.dvi-legend-list .dvi-legend-row', (els) => els.map((e) => e.textContent));
    assert(JSON.stringify(rows) === '["False320","True80"]', `noisy legend ${rows}`);
    const red = countColor(await pixels(page, '.dvi-canvas'), [0xb0, 0x1f, 0x20], 40);
    assert(red > 100, `noisy samples drawn red: ${red} px`);
    n = await setTrait(page, 'color_by', 'score');
    await waitDraw(page, n);
    assert(await page.$eval('.dvi-colorbar', (e) => getComputedStyle(e).display !== 'none'), 'numeric column: colour bar');
    assert((await page.textContent('.dvi-colorbar-count')) === '400 shown, 1 missing', await page.textContent('.dvi-colorbar-count'));
    n = await setTrait(page, 'color_by', 'changed');
    await waitDraw(page, n);
    n = await setTrait(page, 'epoch', 5);
    await waitDraw(page, n);
    const changed = await page.$$eval('.dvi-legend-list .dvi-count', (els) => els.map((e) => Number(e.textContent)));
    assert(JSON.stringify(changed) === '[400,0]', `fixture predictions never change: ${changed}`);
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['search by class name, index, metadata value and regex; Enter selects; Clear closes the card', async () => {
    const page = await open();
    const search = async (text, field = 'all', regex = false) => {
      await page.selectOption('.dvi-search-field', field);
      await page.selectOption('.dvi-search-mode', regex ? 'regex' : 'contains');
      await page.fill('.dvi-search', text);
      return page.textContent('.dvi-matches');
    };
    assert((await search('two')) === '100 matches', 'class name');
    await page.press('.dvi-search', 'Enter');
    await until(page, () => selection(page), (sel) => sel.length === CLASS2.length);
    assert(JSON.stringify(await selection(page)) === JSON.stringify(CLASS2), 'Enter selects the matches');
    assert((await search('^t', 'label', true)) === '200 matches', 'regex over labels: two, three');
    assert((await search('10-19, 3', 'index')) === '11 matches', 'index list and range');
    assert((await search('True', 'noisy')) === '80 matches', 'metadata value');
    assert((await search('[', 'all', true)) === 'bad pattern', 'bad regex is reported');
    await search('5', 'index');
    await page.press('.dvi-search', 'Enter');
    await page.waitForFunction(() => getComputedStyle(document.querySelector('.dvi-tooltip')).display === 'block', null, { timeout: 5000 });
    assert((await page.textContent('.dvi-tooltip')).startsWith('#5 '), 'one match: its card is shown');
    // Clear says exactly what it clears: the selection, not the highlights or filters (their chips)
    const clearTip = await page.getAttribute('.dvi-clear', 'title');
    assert(clearTip.startsWith('clear the selection (1 sample;') && /chip above the plot, ✕ removes it/.test(clearTip), `Clear's tooltip: ${clearTip}`);
    await page.click('.dvi-clear');
    await until(page, () => selection(page), (sel) => sel.length === 0);
    assert((await selection(page)).length === 0, 'Clear empties the selection');
    assert((await page.getAttribute('.dvi-clear', 'title')).startsWith('nothing is selected'), 'Clear\'s tooltip once nothing is selected');
    assert(await page.$eval('.dvi-tooltip', (e) => getComputedStyle(e).display === 'none'), 'Clear closes the card');
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['shift+drag lassos in pan mode although the page swallows shift-drags (jupyterlab#8543)', async () => {
    const page = await open();
    // what JupyterLab's notebook does on shift+mousedown: start a cell-range selection and stop
    // the following mousemoves in the capture phase
    await page.evaluate(() => {
      window.notebookSaw = 0;
      document.addEventListener('mousedown', (e) => {
        if (!e.shiftKey) return;
        window.notebookSaw += 1;
        const swallow = (ev) => { ev.preventDefault(); ev.stopPropagation(); };
        document.addEventListener('mousemove', swallow, true);
        document.addEventListener('mouseup', () => document.removeEventListener('mousemove', swallow, true), { once: true, capture: true });
      });
    });
    assert((await page.evaluate(() => window.model.get('mouse_mode'))) === 'pan', 'pan mode');
    await lassoCircle(page, ...center(2, 0), 0.2, { shift: true });
    await until(page, () => selection(page), (sel) => sel.length > 0);
    assert(JSON.stringify(await selection(page)) === JSON.stringify(CLASS2), `shift+drag selected ${(await selection(page)).length}`);
    assert((await page.evaluate(() => window.notebookSaw)) === 0, 'the mousedown stopped at the widget');
    // double-click clears
    const [x, y] = await toPage(page, 0, 0);
    await clickStill(page, x, y, { dblclick: true });
    await until(page, () => selection(page), (sel) => sel.length === 0);
    assert((await selection(page)).length === 0, 'double-click clears the selection');
    await page.close();
  }],

  ['keyboard shortcuts act when the widget has the focus and go no further', async () => {
    const page = await open();
    await page.evaluate(() => {
      window.pageKeys = [];
      document.addEventListener('keydown', (e) => window.pageKeys.push(e.key), true);
    });
    await page.keyboard.press('b');
    assert((await page.evaluate(() => window.model.get('mouse_mode'))) === 'pan', 'no focus: no shortcut');
    await page.click('.dvi-canvas-wrap', { position: { x: 5, y: 5 } });
    await page.evaluate(() => { window.pageKeys = []; });
    await page.keyboard.press('b');
    assert((await page.evaluate(() => window.model.get('mouse_mode'))) === 'box', 'b: box mode');
    await page.keyboard.press('ArrowRight');
    assert((await page.evaluate(() => window.model.get('epoch'))) === 5, '→: next epoch');
    await page.keyboard.press('End');
    assert((await page.evaluate(() => window.model.get('epoch'))) === 10, 'End: last epoch');
    await page.keyboard.press('?');
    assert(await page.$eval('.dvi-help', (e) => getComputedStyle(e).display === 'block'), '?: help');
    const help = await page.textContent('.dvi-help');
    assert(help.includes('shift + drag') && help.includes('zoom to the selection'), 'help lists gestures and shortcuts');
    await page.keyboard.press('Escape');
    assert(await page.$eval('.dvi-help', (e) => getComputedStyle(e).display === 'none'), 'Esc closes help');
    await page.evaluate(() => window.model.set('selection', { view: new DataView(new Uint32Array([1, 2]).buffer), dtype: 'uint32', shape: [2] }));
    await page.keyboard.press('Escape');
    await until(page, () => selection(page), (sel) => sel.length === 0);
    assert((await selection(page)).length === 0, 'Esc clears the selection');
    await page.keyboard.press('l');
    assert((await page.evaluate(() => window.model.get('mouse_mode'))) === 'lasso', 'l: lasso mode');
    const seen = await page.evaluate(() => window.pageKeys);
    assert(seen.length === 0, `keys reached the page: ${seen}`);
    await page.close();
  }],

  ['in a shadow root (marimo, Panel): shortcuts reach the widget and not the host (the lasso: an open bug)', async () => {
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${url}/tests/browser/fixture.html?shadow=1`);
    await page.waitForFunction(() => document.querySelector('#view').shadowRoot?.querySelector('.dvi-canvas'), null, { timeout: 30000 });
    await page.waitForFunction(() => window.model.get('epochs') && document.querySelector('#view').shadowRoot.querySelector('.dvi-status'));
    await frames(page, 4);
    // the stylesheet applies inside the shadow root: the toolbar is laid out, the plot is sized
    const wrap = await page.evaluate(() => { const r = document.querySelector('#view').shadowRoot.querySelector('.dvi-canvas-wrap').getBoundingClientRect(); return { w: r.width, h: r.height }; });
    assert(wrap.w > 300 && wrap.h > 300, `plot ${JSON.stringify(wrap)}`);
    // the host page's own shortcuts (as marimo's hotkeys listen on document)
    await page.evaluate(() => {
      window.hostSaw = [];
      document.addEventListener('keydown', (e) => window.hostSaw.push(e.key));
    });
    const canvas = await page.evaluateHandle(() => document.querySelector('#view').shadowRoot.querySelector('.dvi-canvas'));
    const box = await canvas.boundingBox();
    await clickStill(page, box.x + 5, box.y + 5); // focus the widget (empty space)
    await page.keyboard.press('l');
    await page.waitForFunction(() => window.model.get('mouse_mode') === 'lasso');
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => window.model.get('epoch') === window.model.get('epochs')[1]);
    await settled(page); // the epoch's transition has ended: the lasso below is drawn on epoch 1
    assert(JSON.stringify(await page.evaluate(() => window.hostSaw)) === '[]', `the host saw ${await page.evaluate(() => window.hostSaw)}`);
    // a key the widget does not use goes on to the host
    await page.keyboard.press('q');
    assert(JSON.stringify(await page.evaluate(() => window.hostSaw)) === '["q"]', 'q reaches the host');
    // OPEN BUG (issue 23 item 6): a lasso in a shadow root selected nothing in 2 of 6 runs when
    // drawn before the transition ended, in 1 of 46 after it (main-thread jank added or not), and
    // never in the marimo test (tests/browser/marimo.test.mjs, same mount); until it is found,
    // the lasso is not asserted here (the keyboard above is)
    assert(errors.length === 0, errors.join('\n'));
    await page.close();
  }],

  ['landscape_opacity 0 hides the landscape; collapsing the side panel refits the frame', async () => {
    const page = await open();
    const [x, y] = await toPage(page, -0.85, 0.85);
    const box = await (await page.$('.dvi-canvas')).boundingBox();
    const at = async () => pixelAt(await pixels(page, '.dvi-canvas'), x - box.x, y - box.y);
    await page.evaluate(() => window.model.set('landscape_opacity', 0));
    assert(near(await until(page, at, (c) => near(c, [255, 255, 255], 3)), [255, 255, 255], 3), 'opacity 0: white');
    await page.evaluate(() => window.model.set('landscape_opacity', 1));
    assert(near(await until(page, at, (c) => near(c, LAND_COLORS[0], 8)), LAND_COLORS[0], 8), 'opacity 1: the landscape as computed');
    const w0 = box.width;
    await page.click('.dvi-panels-toggle');
    await page.waitForFunction((w) => document.querySelector('.dvi-canvas').getBoundingClientRect().width > w + 100, w0);
    await settled(page);
    const w1 = (await (await page.$('.dvi-canvas')).boundingBox()).width;
    assert(w1 > w0 + 100, `plot grows when the panels collapse: ${w0} -> ${w1}`);
    assert(await page.$eval('.dvi-legend', (e) => e.offsetParent === null), 'legend hidden');
    const px = await pixels(page, '.dvi-canvas');
    const ink = inkBox(px);
    assert(Math.abs(ink.h - Math.min(px.width, px.height)) <= 3, `frame still fits: ${ink.w}x${ink.h} in ${px.width}x${px.height}`);
    await page.close();
  }],

  ['a narrow view puts the side column under the plot, which takes the whole width', async () => {
    const page = await open({}, { viewWidth: 480 });
    const boxes = () => page.evaluate(() => {
      const r = (s) => { const b = document.querySelector(s).getBoundingClientRect(); return { x: b.x, y: b.y, w: b.width, h: b.height }; };
      return { root: r('.dvi-root'), plot: r('.dvi-canvas-wrap'), legend: r('.dvi-legend'), toggle: document.querySelector('.dvi-panels-toggle').textContent };
    });
    await page.waitForFunction(() => document.querySelector('.dvi-root').classList.contains('dvi-narrow'));
    await frames(page, 3);
    let b = await boxes();
    assert(b.plot.w >= b.root.w - 2, `plot ${b.plot.w} px of the view's ${b.root.w}`);
    assert(b.legend.y >= b.plot.y + b.plot.h && b.legend.h > 20, `legend under the plot: ${JSON.stringify(b)}`);
    assert(b.toggle === '▾', `toggle ${b.toggle}`);
    // the toolbar wraps: every control inside the view, the epoch label not under its neighbour
    const toolbarFits = async () => {
      const toolbar = await page.evaluate(() => {
        const right = document.querySelector('.dvi-root').getBoundingClientRect().right;
        const out = [...document.querySelectorAll('.dvi-toolbar button, .dvi-toolbar select, .dvi-toolbar input')]
          .filter((e) => e.offsetParent && e.getBoundingClientRect().right > right + 1)
          .map((e) => e.textContent || e.className);
        const ep = document.querySelector('.dvi-epoch');
        let next = ep.nextElementSibling;
        while (next && !next.offsetParent) next = next.nextElementSibling; // the next one shown
        const [a, n] = [ep.getBoundingClientRect(), next.getBoundingClientRect()];
        return { out, overlap: n.top < a.bottom - 1 && n.left < a.left + ep.scrollWidth - 1 };
      });
      assert(toolbar.out.length === 0, `controls past the view's right edge: ${toolbar.out}`);
      assert(!toolbar.overlap, 'the epoch label runs under the next control');
    };
    await toolbarFits();
    // the frame is fitted into the wider plot
    const px = await pixels(page, '.dvi-canvas');
    const ink = inkBox(px);
    assert(Math.abs(ink.h - Math.min(px.width, px.height)) <= 3, `frame fits: ${ink.w}x${ink.h} in ${px.width}x${px.height}`);
    // collapsing hides the legend and keeps the plot's width; widening brings the column back beside it
    await page.click('.dvi-panels-toggle');
    await page.waitForFunction(() => document.querySelector('.dvi-legend').offsetParent === null);
    assert((await boxes()).toggle === '▸', 'collapsed toggle');
    await page.click('.dvi-panels-toggle');
    // just wide enough for the column beside the plot, too narrow for the toolbar on one line
    await page.evaluate(() => { document.querySelector('#view').style.width = '620px'; });
    await page.waitForFunction(() => !document.querySelector('.dvi-root').classList.contains('dvi-narrow'));
    await toolbarFits();
    await page.evaluate(() => { document.querySelector('#view').style.width = '800px'; });
    await page.waitForFunction(() => !document.querySelector('.dvi-root').classList.contains('dvi-narrow'));
    await frames(page, 3);
    b = await boxes();
    assert(b.legend.x >= b.plot.x + b.plot.w && b.legend.y < b.plot.y + b.plot.h / 2, `legend beside the plot: ${JSON.stringify(b)}`);
    assert(b.toggle === '⟩', `toggle ${b.toggle}`);
    assert(page.errors.length === 0, page.errors.join('\n'));
    await page.close();
  }],

  ['many classes: the legend scrolls and can be searched', async () => {
    const page = await open();
    await page.evaluate(async () => {
      const widget = (await import('/dvi_widget/static/widget.js')).default;
      const { makeState, makeModel } = await import('/tests/browser/fixture.mjs');
      const st = makeState({ N: 600 });
      const C = 64;
      st.class_names = Array.from({ length: C }, (_, c) => `class ${c}`);
      st.palette = Array.from({ length: C }, (_, c) => `#${((c * 2654435761) >>> 8 & 0xffffff).toString(16).padStart(6, '0')}`);
      const lab = new Uint8Array(600).map((_, i) => i % C);
      st.labels = { view: new DataView(lab.buffer), dtype: 'uint8', shape: [600] };
      const el = document.createElement('div');
      el.id = 'many';
      el.style.width = '700px';
      document.body.appendChild(el);
      widget.render({ model: makeModel(st), el });
    });
    await page.waitForFunction(() => Number(document.querySelector('#many').dataset.drawCount) >= 1, null, { timeout: 30000 });
    const list = await page.$eval('#many .dvi-legend-list', (e) => ({ scroll: e.scrollHeight, client: e.clientHeight, rows: e.children.length }));
    assert(list.rows === 64 && list.scroll > list.client + 100, `legend list scrolls: ${JSON.stringify(list)}`);
    assert(await page.$eval('#many .dvi-legend-search', (e) => getComputedStyle(e).display !== 'none'), 'search box shown');
    await page.fill('#many .dvi-legend-search', 'class 4');
    const shown = await page.$$eval('#many .dvi-legend-row[data-k]', (els) => els.filter((e) => e.style.display !== 'none').map((e) => e.querySelector('.dvi-legend-name').textContent));
    assert(JSON.stringify(shown) === JSON.stringify(['class 4', ...Array.from({ length: 10 }, (_, k) => `class 4${k}`)]), `search: ${shown}`);
    await page.close();
  }],
];

try {
  await runTests(tests);
} finally {
  await browser.close();
  server.close();
}
