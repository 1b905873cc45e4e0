// Browser tests of the Explain panel ('explain'): a requested what-if path is drawn where its
// trait puts it, coloured by its predictions; the slider emphasises a point; the path follows the
// epoch; errors, robustness curves, the surrogate and paths drawn from Python. The kernel is played
// by the test (tests/browser/explain.html records what the view sends): it answers a request as the
// real one does (dvi_widget/view/explain/panel.py), by setting the tool's synced trait, then
// replying through kernel.js's envelope. Every wait is for a condition, never a fixed time.
// Usage: node tests/browser/explain.test.mjs [screenshot folder]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { assert, datasetAbove, datasetCount, frames, launch, near, pixelAt, pixels, ROOT, runTests, serve } from './harness.mjs';

const SHOTS = process.argv[2] || join(ROOT, 'out');
mkdirSync(SHOTS, { recursive: true });
const { server, url } = await serve();
const browser = await launch();

const KINDS = {
  rotate: { unit: 'degrees', identity: 0, default: [0, 180], steps: 32, description: 'rotation' },
  occlude: { unit: 'pixels', identity: 0, default: [0, 8], steps: 32, description: 'patch' },
  pgd: { unit: 'step', identity: 0, default: [0, 20], steps: 21, description: 'PGD steps' },
};
// a path of 9 points across the frame; predictions change along it (class 0 -> 1 -> 2 -> 3)
const PATH = {
  positions: [[-0.7, -0.2], [-0.55, -0.1], [-0.4, 0.0], [-0.2, 0.1], [0.0, 0.15], [0.2, 0.1], [0.4, 0.0], [0.55, -0.1], [0.7, -0.2]],
  predictions: [0, 0, 0, 1, 1, 2, 2, 3, 3],
};

async function open() {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  const opts = { traits: { panels: ['explain'], transition_ms: 0, landscape_opacity: 0.3 } };
  await page.goto(`${url}/tests/browser/explain.html?opts=${encodeURIComponent(JSON.stringify(opts))}`);
  await datasetAbove(page, '#view', 'drawCount', 0);
  page.errors = errors;
  return page;
}

const sentOf = (page, type) => page.evaluate((t) => window.sent.filter((s) => s.msg.panel === 'explain' && s.msg.type === t).map((s) => s.msg), type);
const waitSent = (page, type, n = 1) => page.waitForFunction(([t, k]) => window.sent.filter((s) => s.msg.panel === 'explain' && s.msg.type === t).length >= k, [type, n], { timeout: 10000 });

/** Reply to request `req` through the envelope ({ panel, reply: id, ... }). */
const reply = (page, req, content = {}) => page.evaluate(([id, c]) => window.reply({ panel: 'explain', reply: id, ...c }, []), [req.id, content]);

/** Set synced trait `name` as the kernel does; `arrays` {name: [dtype, flat values, shape]} become {view, dtype, shape}. */
function setTrait(page, name, value, arrays = {}) {
  return page.evaluate(([n, v, arrs]) => {
    const T = { float32: Float32Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, uint8: Uint8Array };
    const out = { ...v };
    for (const [k, [dtype, values, shape]] of Object.entries(arrs)) {
      out[k] = { view: new DataView(T[dtype].from(values).buffer), dtype, shape };
    }
    window.model.set(n, v === null ? null : out);
  }, [name, value, arrays]);
}

function pathArrays(path, strengths) {
  const S = path.predictions.length;
  return {
    positions: ['float32', path.positions.flat(), [S, 2]],
    predictions: ['uint16', path.predictions, [S]],
    confidence: ['float32', path.predictions.map((_, k) => 0.5 + k / 40), [S]],
    strengths: ['float32', strengths ?? path.predictions.map((_, k) => 20 * k), [S]],
    // the perturbed input at each point: a 4 x 4 grey picture of value 40 + 20 k
    images: ['uint8', path.predictions.flatMap((_, k) => new Array(16).fill(40 + 20 * k)), [S, 4, 4]],
  };
}

const pathValue = (extra) => ({
  index: 5, epoch: 0, kind: 'rotate', unit: 'degrees', first_flip: 60, first_flip_index: 3,
  original_prediction: 0, target: null, reached_index: -1, compute_ms: 12,
  request: { index: 5, kind: 'rotate', strengths: null, target: null, steps: 20, center: null }, ...extra,
});

/** Answer a path request as the kernel does: the trait first, then the reply. */
async function answerPath(page, req, value, arrays) {
  const n = await datasetCount(page, '#view', 'explainPaths');
  await setTrait(page, 'explain_path', value, arrays);
  await reply(page, req, { compute_ms: 12 });
  await datasetAbove(page, '#view', 'explainPaths', n);
  await frames(page);
}

/** Page position of normalised (x, y): the frame is fitted (letterboxed) into the canvas. */
async function toCanvas(page, x, y) {
  const box = await (await page.$('.dvi-canvas')).boundingBox();
  const s = Math.min(box.width, box.height) / 2;
  return [box.width / 2 + x * s, box.height / 2 - y * s];
}

const palette = (page) => page.evaluate(async () => {
  const { markColor } = await import('/js/src/marks.js');
  const hex = (c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16));
  return window.model.get('palette').map((c) => hex(markColor(c)));
});

const select = (page, ids) => page.evaluate((i) => window.model.set('selection', { view: new DataView(Uint32Array.from(i).buffer), dtype: 'uint32', shape: [i.length] }), ids);

async function answerKinds(page) {
  await waitSent(page, 'kinds');
  const [k] = await sentOf(page, 'kinds');
  await reply(page, k, { kinds: KINDS });
  await page.waitForSelector('.dvi-explain-kind option', { state: 'attached' });
}

async function showPath(page) {
  await answerKinds(page);
  await select(page, [5]);
  await page.click('.dvi-explain-show');
  await waitSent(page, 'path');
}

await runTests([
  ['a requested path is drawn at its trait positions, coloured by its predictions', async () => {
    const page = await open();
    await showPath(page);
    const [req] = await sentOf(page, 'path');
    assert(req.panel === 'explain' && req.id && req.index === 5 && req.epoch === 0 && req.kind === 'rotate', JSON.stringify(req));
    assert(req.start === 0 && req.stop === 180 && req.steps === 32, `range from kinds: ${JSON.stringify(req)}`);
    assert(/computing/.test(await page.textContent('.dvi-explain-status')), 'busy status shown');
    await answerPath(page, req, pathValue(), pathArrays(PATH));
    await page.waitForFunction(() => document.querySelector('.dvi-explain-status').textContent === '');
    await page.locator('.dvi-root').screenshot({ path: join(SHOTS, 'explain-path.png') });
    const cols = await palette(page);
    const px = await pixels(page, '.dvi-canvas');
    const S = PATH.predictions.length;
    for (let k = 0; k < S; k++) {
      const [x, y] = await toCanvas(page, ...PATH.positions[k]);
      const got = pixelAt(px, x, y);
      const want = cols[PATH.predictions[k]];
      assert(near(got, want, 12), `point ${k} at (${x.toFixed(0)}, ${y.toFixed(0)}): ${got} is not class ${PATH.predictions[k]}'s ${want}`);
    }
    // between two points lies the dark line, not a point colour
    const [ax, ay] = await toCanvas(page, (PATH.positions[0][0] + PATH.positions[1][0]) / 2, (PATH.positions[0][1] + PATH.positions[1][1]) / 2);
    assert(near(pixelAt(px, ax, ay), [34, 34, 34], 60), `line between points 0 and 1: ${pixelAt(px, ax, ay)}`);
    const flip = await page.textContent('.dvi-explain-flip');
    assert(/first flip at 60°: zero.*→ one/.test(flip), `flip text: ${flip}`);
    // the path is drawn where the map places it: no note about moving its start
    assert((await page.textContent('.dvi-explain-note')) === '', `path note: ${await page.textContent('.dvi-explain-note')}`);
    // the panel is styled by the widget's stylesheet (anywidget's _css), scoped under .dvi-root
    const display = await page.$eval('.dvi-explain-row', (e) => getComputedStyle(e).display);
    assert(display === 'flex', `widget.css applies: ${display}`);
    assert(await page.evaluate(() => !document.querySelector('.dvi-root style')), 'no CSS injected at runtime');
    // the sample's caption is whole at 900 px (it was cut to "label zero …"): a misclassified
    // sample's label → prediction, in full, beside the index box
    await page.setViewportSize({ width: 900, height: 700 });
    await page.evaluate(() => { document.getElementById('view').style.width = 'auto'; });
    const wrong = await page.evaluate(() => {
      const d = window.model.get('labels');
      const lab = new Uint8Array(d.view.buffer, d.view.byteOffset, d.view.byteLength);
      const p = window.model.get('predictions');
      const pred = new Uint8Array(p.view.buffer, p.view.byteOffset, lab.length); // epoch 0
      const i = lab.findIndex((l, k) => l === 0 && pred[k] !== 0);
      return { i, pred: pred[i] };
    });
    assert(wrong.i >= 0, 'a misclassified sample of class zero');
    await page.fill('input[aria-label="sample index"]', String(wrong.i));
    await page.press('input[aria-label="sample index"]', 'Tab');
    const names = ['zero <b>0</b>', 'one', 'two', 'three'];
    await page.waitForFunction((t) => document.querySelector('.dvi-explain-sample').textContent === t, `label zero <b>0</b> → ${names[wrong.pred]}`, { timeout: 5000 });
    const cap = await page.$eval('.dvi-explain-sample', (e) => {
      const r = e.getBoundingClientRect();
      const box = document.querySelector('.dvi-explain input[aria-label="sample index"]').getBoundingClientRect();
      const panel = document.querySelector('.dvi-explain').getBoundingClientRect();
      return { sw: e.scrollWidth, cw: e.clientWidth, sh: e.scrollHeight, ch: e.clientHeight, right: r.right, panelRight: panel.right, sameLine: Math.abs((r.top + r.bottom) / 2 - (box.top + box.bottom) / 2) < 6, overflow: getComputedStyle(e).textOverflow };
    });
    assert(cap.sw <= cap.cw + 1 && cap.sh <= cap.ch + 1 && cap.right <= cap.panelRight && cap.sameLine && cap.overflow !== 'ellipsis', `the caption is whole and readable: ${JSON.stringify(cap)}`);
    await page.locator('.dvi-explain').screenshot({ path: join(SHOTS, 'explain-caption-900.png') });
    assert(!page.errors.length, page.errors.join('\n'));
    await page.close();
  }],

  ['the slider emphasises the point at its strength; the first flip is marked', async () => {
    const page = await open();
    await showPath(page);
    const [req] = await sentOf(page, 'path');
    await answerPath(page, req, pathValue(), pathArrays(PATH));
    // current point starts at the first flip (index 3)
    assert(await page.inputValue('.dvi-explain-slider') === '3', 'slider starts at the first flip');
    const draws = await datasetCount(page, '#view', 'explainDraws');
    await page.locator('.dvi-explain-slider').fill('7');
    await datasetAbove(page, '#view', 'explainDraws', draws);
    await frames(page);
    await page.locator('.dvi-root').screenshot({ path: join(SHOTS, 'explain-slider.png') });
    const cols = await palette(page);
    const px = await pixels(page, '.dvi-canvas');
    const [x7, y7] = await toCanvas(page, ...PATH.positions[7]);
    const [x1, y1] = await toCanvas(page, ...PATH.positions[1]);
    // 4 px below the centre: inside the current point (radius 7), on a plain one's white rim
    assert(near(pixelAt(px, x7, y7 + 4), cols[3], 12), `current point is large: ${pixelAt(px, x7, y7 + 4)}`);
    assert(!near(pixelAt(px, x1, y1 + 4), cols[0], 40), `a plain point is small: ${pixelAt(px, x1, y1 + 4)}`);
    // the flip diamond (radius 11): its black outline 10 px above the flip point
    const [xf, yf] = await toCanvas(page, ...PATH.positions[3]);
    const top = pixelAt(px, xf, yf - 10);
    assert(top[0] < 90 && top[1] < 90 && top[2] < 90, `diamond outline above the flip point: ${top}`);
    const cur = await page.textContent('.dvi-explain-current');
    assert(/140° → three/.test(cur), `current text: ${cur}`);
    // hovering a path point shows its card
    const box = await (await page.$('.dvi-canvas')).boundingBox();
    await page.mouse.move(box.x + x1, box.y + y1);
    const tip = page.locator('.dvi-path-tip');
    await tip.waitFor({ state: 'visible', timeout: 5000 });
    assert((await tip.textContent()) === 'rotate 20°: zero <b>0</b> (52 %)', `hover card: ${await tip.textContent()}`);
    // ... with the perturbed input at that point (picture 1: grey 60)
    const pic = await page.$eval('.dvi-path-tip canvas', (c) => ({ w: c.width, h: c.height, box: c.getBoundingClientRect().width, px: Array.from(c.getContext('2d').getImageData(1, 1, 1, 1).data) }));
    assert(pic.w === 4 && pic.h === 4 && pic.box >= 60 && JSON.stringify(pic.px) === '[60,60,60,255]', `hover card picture: ${JSON.stringify(pic)}`);
    // the strip of perturbed inputs along the path: every point (9 <= 12), a click moves the slider
    const strip = await page.$$eval('.dvi-explain-frame', (fs) => fs.map((f) => [Number(f.dataset.point), f.querySelector('figcaption').textContent, Array.from(f.querySelector('canvas').getContext('2d').getImageData(0, 0, 1, 1).data)[0]]));
    assert(strip.length === 9 && strip.every(([k, , v], j) => k === j && v === 40 + 20 * k) && strip[3][1] === '60°', `strip: ${JSON.stringify(strip)}`);
    await page.click('.dvi-explain-frame[data-point="5"]');
    assert(await page.inputValue('.dvi-explain-slider') === '5', 'a strip click moves the slider');
    assert(/100° → two/.test(await page.textContent('.dvi-explain-current')), 'current follows the strip click');
    await page.close();
  }],

  ['the path follows the epoch: a new request, the stale path faded until it arrives', async () => {
    const page = await open();
    await showPath(page);
    const [req] = await sentOf(page, 'path');
    await answerPath(page, req, pathValue(), pathArrays(PATH));
    await page.evaluate(() => window.model.set('epoch', 5));
    await waitSent(page, 'path', 2);
    const second = (await sentOf(page, 'path'))[1];
    assert(second.epoch === 5 && second.index === 5 && second.kind === 'rotate', JSON.stringify(second));
    const moved = { positions: PATH.positions.map(([x, y]) => [x, y - 0.4]), predictions: PATH.predictions.map((c) => (c + 1) % 4) };
    await answerPath(page, second, pathValue({ epoch: 5 }), pathArrays(moved));
    await page.locator('.dvi-root').screenshot({ path: join(SHOTS, 'explain-epoch.png') });
    const cols = await palette(page);
    const px = await pixels(page, '.dvi-canvas');
    for (const k of [0, 4, 8]) {
      const [x, y] = await toCanvas(page, ...moved.positions[k]);
      assert(near(pixelAt(px, x, y), cols[moved.predictions[k]], 12), `epoch 5 point ${k}: ${pixelAt(px, x, y)}`);
    }
    // a Clear empties the trait (kept by a saved page) and stops following
    await page.click('.dvi-explain-clear');
    assert(await page.evaluate(() => window.model.get('explain_path')) === null, 'Clear empties explain_path');
    const n = await datasetCount(page, '#view', 'drawCount');
    await page.evaluate(() => window.model.set('epoch', 10));
    await datasetAbove(page, '#view', 'drawCount', n); // the view has drawn (and told the panels) epoch 10
    assert((await sentOf(page, 'path')).length === 2, 'no request after Clear');
    await page.close();
  }],

  ['errors are shown in the panel; without a model the buttons stay disabled', async () => {
    const page = await open();
    await waitSent(page, 'kinds');
    const [k] = await sentOf(page, 'kinds');
    await page.evaluate((id) => window.reply({ panel: 'explain', reply: id, error: 'No model to ask: this view was built from arrays' }, []), k.id);
    await page.waitForFunction(() => /No model to ask/.test(document.querySelector('.dvi-explain-error').textContent));
    await select(page, [5]);
    assert(await page.locator('.dvi-explain-show').isDisabled(), 'Show path disabled without kinds');
    // a panel built later asks again and gets the kinds
    await page.evaluate(() => window.model.set('panels', ['legend', 'explain']));
    await waitSent(page, 'kinds', 2);
    const k2 = (await sentOf(page, 'kinds'))[1];
    await reply(page, k2, { kinds: KINDS });
    await page.waitForFunction(() => !document.querySelector('.dvi-explain-show').disabled);
    await page.click('.dvi-explain-show');
    await waitSent(page, 'path');
    const [req] = await sentOf(page, 'path');
    await page.evaluate((id) => window.reply({ panel: 'explain', reply: id, error: 'epoch 0 of run was recorded from arrays (record_arrays), so there is no model to explain' }, []), req.id);
    await page.waitForFunction(() => /record_arrays/.test(document.querySelector('.dvi-explain-error').textContent));
    assert(!page.errors.length, page.errors.join('\n'));
    await page.close();
  }],

  ['attacks: target and steps are sent; robustness curves; surrogate weights and neighbours', async () => {
    const page = await open();
    await showPath(page);
    const [first] = await sentOf(page, 'path');
    await answerPath(page, first, pathValue(), pathArrays(PATH));
    await page.selectOption('.dvi-explain-kind', 'pgd');
    await page.selectOption('.dvi-explain-target', '2');
    await page.fill('input[aria-label="attack steps"]', '8');
    await page.fill('input[aria-label="attack epsilon"]', '0.1');
    // every control is labelled: the steps and ε boxes by a visible label
    const labels = await page.$$eval('.dvi-explain-path label.dvi-explain-label', (ls) => ls.filter((l) => l.offsetParent).map((l) => l.firstChild.textContent.trim()));
    assert(['perturbation', 'target', 'steps', 'ε'].every((t) => labels.includes(t)), `labels: ${labels}`);
    await page.click('.dvi-explain-show');
    // changing the family re-asked at once; the later changes wait for its answer, then go as one
    await waitSent(page, 'path', 2);
    const asked = (await sentOf(page, 'path'))[1];
    assert(asked.kind === 'pgd', JSON.stringify(asked));
    await frames(page);
    assert((await sentOf(page, 'path')).length === 2, 'one request in flight at a time');
    await answerPath(page, asked, pathValue({ kind: 'pgd', unit: 'step', request: { index: 5, kind: 'pgd', strengths: null, target: null, steps: 20, center: null } }), pathArrays(PATH));
    await waitSent(page, 'path', 3);
    const atk = (await sentOf(page, 'path')).at(-1);
    assert(atk.kind === 'pgd' && atk.target === 2 && atk.steps === 8 && atk.eps === 0.1 && atk.start === undefined, JSON.stringify(atk));
    // robustness of the selection: buffer 0 holds its indices
    await page.click('.dvi-explain-rob');
    await waitSent(page, 'robustness');
    const rob = await page.evaluate(() => {
      const s = window.sent.find((e) => e.msg.type === 'robustness');
      const b = s.buffers[0];
      return { msg: s.msg, sel: Array.from(new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4)) };
    });
    assert(rob.msg.kind === 'rotate' && JSON.stringify(rob.sel) === '[5]', JSON.stringify(rob));
    const S = 5;
    const mean = [];
    for (let k = 0; k < S; k++) mean.push(1 - k / 5, k / 5, 0, 0);
    await setTrait(page, 'explain_robustness', { epoch: 0, kind: 'rotate', of: '1 selected', n_samples: 1, unit: 'degrees' }, {
      strengths: ['float32', [0, 45, 90, 135, 180], [S]], mean_probability: ['float32', mean, [S, 4]],
      flipped: ['float32', [0, 0, 0.5, 1, 1], [S]], accuracy: ['float32', [1, 1, 0.5, 0, 0], [S]],
    });
    await reply(page, rob.msg, { compute_ms: 3 });
    await page.waitForSelector('.dvi-explain-chart polyline');
    const lines = await page.locator('.dvi-explain-chart polyline').count();
    assert(lines === 3, `two classes above 5 % and the flipped share: ${lines} lines`);
    assert(/100 % flipped at 180°/.test(await page.textContent('.dvi-explain-caption')), 'caption');
    const chartW = await page.$eval('.dvi-explain-svg', (e) => e.getBoundingClientRect().width);
    assert(chartW >= 250, `the chart is large enough to read: ${chartW} px`);
    assert(await page.$eval('.dvi-explain-chart', (e) => e.dataset.stale) === 'false', 'fresh curves are not stale');
    // a new selection: the dropdown offers it, and the curves (of the previous one) are marked stale
    await select(page, [5, 6]);
    await page.waitForFunction(() => document.querySelector('.dvi-explain-chart').dataset.stale === 'true', null, { timeout: 5000 });
    assert(await page.$eval('.dvi-explain-of', (e) => e.selectedOptions[0].textContent) === 'the 2 selected', 'dropdown: the 2 selected');
    assert(/stale: the selection changed \(now 2 selected\)/.test(await page.textContent('.dvi-explain-stale')), `stale note: ${await page.textContent('.dvi-explain-stale')}`);
    assert(await page.$eval('.dvi-explain-chart', (e) => Number(getComputedStyle(e).opacity)) < 0.5, 'stale chart faded');
    await page.click('.dvi-explain-rob');
    await waitSent(page, 'robustness', 2);
    const rob2 = (await sentOf(page, 'robustness'))[1];
    await setTrait(page, 'explain_robustness', { epoch: 0, kind: 'rotate', of: '2 selected', n_samples: 2, unit: 'degrees' }, {
      strengths: ['float32', [0, 45, 90, 135, 180], [S]], mean_probability: ['float32', mean, [S, 4]],
      flipped: ['float32', [0, 0.5, 0.5, 1, 1], [S]], accuracy: ['float32', [1, 0.5, 0.5, 0, 0], [S]],
    });
    await reply(page, rob2, { compute_ms: 3 });
    await page.waitForFunction(() => document.querySelector('.dvi-explain-chart').dataset.stale === 'false', null, { timeout: 5000 });
    assert(/of 2 selected/.test(await page.textContent('.dvi-explain-caption')), 'redrawn for the new selection');
    // the explained sample did not follow the lasso: it stays #5, "use #5 …" is not offered
    assert(await page.inputValue('input[aria-label="sample index"]') === '5', 'sample kept');
    // surrogate with a second class
    await page.selectOption('.dvi-explain-second', '3');
    await page.click('.dvi-explain-sur');
    await waitSent(page, 'surrogate');
    const [sur] = await sentOf(page, 'surrogate');
    assert(JSON.stringify(sur.classes) === '[1,3]' && sur.index === 5, JSON.stringify(sur));
    const n = 40;
    const nb = Array.from({ length: n }, (_, k) => [0.3 + 0.01 * (k % 5), -0.6 + 0.01 * Math.floor(k / 5)]);
    const w = Array.from({ length: 2 * 16 }, (_, k) => (k % 16) - 7.5);
    const draws = await datasetCount(page, '#view', 'explainDraws');
    await setTrait(page, 'explain_surrogate', { index: 5, epoch: 0, classes: [1, 3], fidelity: { r2: 0.91, agreement: 0.97 } }, {
      weights: ['float32', w, [2, 4, 4]], positions: ['float32', nb.flat(), [n, 2]],
      predictions: ['uint16', nb.map(() => 2), [n]], proximity: ['float32', nb.map(() => 1), [n]],
      // the sample's own picture: a 4 x 4 ramp 0, 16, ..., 240
      image: ['uint8', Array.from({ length: 16 }, (_, k) => 16 * k), [4, 4]],
    });
    await reply(page, sur, { compute_ms: 5 });
    await page.waitForSelector('.dvi-explain-fidelity');
    const tiles = await page.locator('.dvi-explain-tile figcaption').allTextContents();
    assert(JSON.stringify(tiles) === '["#5","one (pred.)","three"]', `the input's picture, then two weight images: ${tiles}`);
    // the input's tile shows the payload's picture itself (it was a black square): every pixel
    const own = await page.$eval('.dvi-explain-tile canvas.dvi-explain-input', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      return { size: [c.width, c.height], grey: Array.from({ length: d.length / 4 }, (_, p) => d[4 * p]), opaque: d.every((v, k) => k % 4 !== 3 || v === 255) };
    });
    assert(JSON.stringify(own.size) === '[4,4]' && own.opaque && JSON.stringify(own.grey) === JSON.stringify(Array.from({ length: 16 }, (_, k) => 16 * k)), `the input's picture: ${JSON.stringify(own)}`);
    assert(/R² 0\.91, agreement 97 %/.test(await page.textContent('.dvi-explain-fidelity')), 'fidelity');
    await datasetAbove(page, '#view', 'explainDraws', draws);
    await frames(page);
    const cols = await palette(page);
    const px = await pixels(page, '.dvi-canvas');
    const [x, y] = await toCanvas(page, 0.32, -0.58);
    assert(near(pixelAt(px, x, y), cols[2], 30), `neighbours drawn in their class colour: ${pixelAt(px, x, y)}`);
    const wtiles = await page.$$eval('.dvi-explain-tile canvas', (cs) => cs.map((c) => Math.round(c.getBoundingClientRect().width)));
    assert(wtiles.every((w) => w >= 90), `weight images readable: ${wtiles} px`);
    assert(/lowers.*raises/.test(await page.textContent('.dvi-explain-wlegend')) && await page.$('.dvi-explain-wbar'), 'diverging colour legend');
    await page.locator('.dvi-root').screenshot({ path: join(SHOTS, 'explain-panel-sections.png') });
    // Clear erases what it says: the path and the surrogate's neighbours
    const before = await datasetCount(page, '#view', 'explainDraws');
    await page.click('.dvi-explain-clear');
    assert(await page.evaluate(() => window.model.get('explain_surrogate') === null && window.model.get('explain_path') === null), 'Clear empties both traits');
    await datasetAbove(page, '#view', 'explainDraws', before);
    await frames(page);
    const after = await pixels(page, '.dvi-canvas');
    assert(!near(pixelAt(after, x, y), cols[2], 60), `no neighbour crosses after Clear: ${pixelAt(after, x, y)}`);
    assert(!page.errors.length, page.errors.join('\n'));
    await page.close();
  }],

  ['a path drawn from Python is adopted: sample, family, range and following the epoch', async () => {
    const page = await open();
    await answerKinds(page);
    const strengths = PATH.predictions.map((_, k) => 5 * k);
    const n = await datasetCount(page, '#view', 'explainPaths');
    await setTrait(page, 'explain_path', pathValue({ index: 12, request: { index: 12, kind: 'rotate', strengths, target: null, steps: 20, center: null } }), pathArrays(PATH, strengths));
    await datasetAbove(page, '#view', 'explainPaths', n);
    assert(await page.inputValue('input[aria-label="sample index"]') === '12', 'sample adopted');
    assert(await page.inputValue('input[aria-label="last strength"]') === '40', 'range adopted');
    await page.evaluate(() => window.model.set('epoch', 5));
    await waitSent(page, 'path');
    const [req] = await sentOf(page, 'path');
    assert(req.index === 12 && req.epoch === 5 && JSON.stringify(req.strengths) === JSON.stringify(strengths), JSON.stringify(req));
    // a lasso does not change the explained sample; "use" does, and the path follows it
    await answerPath(page, req, pathValue({ index: 12, epoch: 5, request: { index: 12, kind: 'rotate', strengths, target: null, steps: 20, center: null } }), pathArrays(PATH, strengths));
    await select(page, [3, 4]);
    await page.waitForSelector('.dvi-explain-use', { state: 'visible' });
    assert(await page.inputValue('input[aria-label="sample index"]') === '12', 'the lasso left the sample alone');
    assert(await page.textContent('.dvi-explain-use') === 'use #3 (1st of 2 selected)', await page.textContent('.dvi-explain-use'));
    await page.click('.dvi-explain-use');
    await waitSent(page, 'path', 2);
    assert((await sentOf(page, 'path'))[1].index === 3, 'the path of the chosen sample is asked for');
    assert(await page.inputValue('input[aria-label="sample index"]') === '3', 'sample 3 chosen');
    await page.close();
  }],
]);
await browser.close();
server.close();
