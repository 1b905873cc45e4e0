// Browser tests of the explain panel ('whatif', issue 14): a requested what-if path is drawn where
// its payload puts it, coloured by its predictions; the slider emphasises a point; the path follows
// the epoch; errors, robustness curves, the surrogate and paths drawn from Python. The kernel is
// played by the test: tests/browser/whatif.html records what the view sends and delivers replies.
// Usage: node tests/browser/whatif.test.mjs [screenshot folder]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { assert, launch, near, pixelAt, pixels, ROOT, runTests, serve } from './harness.mjs';

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
  const opts = { traits: { panels: ['whatif'], transition_ms: 0, landscape_opacity: 0.3 } };
  await page.goto(`${url}/tests/browser/whatif.html?opts=${encodeURIComponent(JSON.stringify(opts))}`);
  await page.waitForFunction(() => Number(document.querySelector('#view').dataset.drawCount) >= 1, null, { timeout: 30000 });
  page.errors = errors;
  return page;
}

const sentOf = (page, type) => page.evaluate((t) => window.sent.filter((s) => s.msg.type === t).map((s) => s.msg), type);
const waitSent = (page, type, n = 1) => page.waitForFunction(([t, k]) => window.sent.filter((s) => s.msg.type === t).length >= k, [type, n], { timeout: 10000 });

/** Deliver a kernel message; `arrays` {name: [dtype, flat values, shape]} become binary buffers. */
function reply(page, msg, arrays = {}) {
  return page.evaluate(([m, arrs]) => {
    const T = { float32: Float32Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array };
    const spec = {};
    const buffers = [];
    for (const [name, [dtype, values, shape]] of Object.entries(arrs)) {
      const a = T[dtype].from(values);
      spec[name] = { dtype, shape, buffer: buffers.length };
      buffers.push(new DataView(a.buffer));
    }
    window.reply({ panel: 'whatif', ...m, arrays: spec }, buffers);
  }, [msg, arrays]);
}

function pathArrays(path, strengths) {
  const S = path.predictions.length;
  return {
    positions: ['float32', path.positions.flat(), [S, 2]],
    raw: ['float32', path.positions.flat(), [S, 2]],
    predictions: ['uint16', path.predictions, [S]],
    confidence: ['float32', path.predictions.map((_, k) => 0.5 + k / 40), [S]],
    strengths: ['float32', strengths ?? path.predictions.map((_, k) => 20 * k), [S]],
  };
}

const pathMsg = (extra) => ({
  type: 'path', index: 5, epoch: 0, kind: 'rotate', unit: 'degrees', first_flip: 60, first_flip_index: 3,
  original_prediction: 0, target: null, reached_index: -1, anchor: 0.02, compute_ms: 12,
  request: { index: 5, kind: 'rotate', strengths: null, target: null, steps: 20, center: null }, ...extra,
});

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

async function showPath(page) {
  await waitSent(page, 'hello');
  await reply(page, { type: 'kinds', kinds: KINDS });
  await page.evaluate(() => window.model.set('selection', { view: new DataView(Uint32Array.from([5]).buffer), dtype: 'uint32', shape: [1] }));
  await page.click('.dvi-whatif-show');
  await waitSent(page, 'path');
}

async function drawn(page, n) {
  await page.waitForFunction((k) => Number(document.querySelector('#view').dataset.whatifPaths || 0) >= k, n, { timeout: 10000 });
  await page.waitForTimeout(100);
}

await runTests([
  ['a requested path is drawn at its payload positions, coloured by its predictions', async () => {
    const page = await open();
    await showPath(page);
    const [req] = await sentOf(page, 'path');
    assert(req.panel === 'whatif' && req.index === 5 && req.epoch === 0 && req.kind === 'rotate', JSON.stringify(req));
    assert(req.start === 0 && req.stop === 180 && req.steps === 32, `range from kinds: ${JSON.stringify(req)}`);
    assert(/computing/.test(await page.textContent('.dvi-whatif-status')), 'busy status shown');
    await reply(page, pathMsg({ rid: req.rid }), pathArrays(PATH));
    await drawn(page, 1);
    await page.locator('.dvi-root').screenshot({ path: join(SHOTS, 'whatif-path.png') });
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
    const flip = await page.textContent('.dvi-whatif-flip');
    assert(/first flip at 60°: zero.*→ one/.test(flip), `flip text: ${flip}`);
    assert(/start moved 1\.0 %/.test(await page.textContent('.dvi-whatif-note')), 'anchor note');
    assert(!page.errors.length, page.errors.join('\n'));
    await page.close();
  }],

  ['the slider emphasises the point at its strength; the first flip is marked', async () => {
    const page = await open();
    await showPath(page);
    const [req] = await sentOf(page, 'path');
    await reply(page, pathMsg({ rid: req.rid }), pathArrays(PATH));
    await drawn(page, 1);
    // current point starts at the first flip (index 3)
    assert(await page.inputValue('.dvi-whatif-slider') === '3', 'slider starts at the first flip');
    await page.locator('.dvi-whatif-slider').fill('7');
    await page.waitForTimeout(100);
    await page.locator('.dvi-root').screenshot({ path: join(SHOTS, 'whatif-slider.png') });
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
    const cur = await page.textContent('.dvi-whatif-current');
    assert(/140° → three/.test(cur), `current text: ${cur}`);
    // hovering a path point shows its card
    const box = await (await page.$('.dvi-canvas')).boundingBox();
    await page.mouse.move(box.x + x1, box.y + y1);
    await page.waitForTimeout(150);
    const tip = page.locator('.dvi-path-tip');
    assert(await tip.isVisible(), 'hover card shown');
    assert((await tip.textContent()) === 'rotate 20°: zero <b>0</b> (52 %)', `hover card: ${await tip.textContent()}`);
    await page.close();
  }],

  ['the path follows the epoch: a new request, the stale path faded until it arrives', async () => {
    const page = await open();
    await showPath(page);
    const [req] = await sentOf(page, 'path');
    await reply(page, pathMsg({ rid: req.rid }), pathArrays(PATH));
    await drawn(page, 1);
    await page.evaluate(() => window.model.set('epoch', 5));
    await waitSent(page, 'path', 2);
    const second = (await sentOf(page, 'path'))[1];
    assert(second.epoch === 5 && second.index === 5 && second.start === 0 && second.stop === 180, JSON.stringify(second));
    const moved = { positions: PATH.positions.map(([x, y]) => [x, y - 0.4]), predictions: PATH.predictions.map((c) => (c + 1) % 4) };
    await reply(page, pathMsg({ rid: second.rid, epoch: 5 }), pathArrays(moved));
    await drawn(page, 2);
    await page.locator('.dvi-root').screenshot({ path: join(SHOTS, 'whatif-epoch.png') });
    const cols = await palette(page);
    const px = await pixels(page, '.dvi-canvas');
    for (const k of [0, 4, 8]) {
      const [x, y] = await toCanvas(page, ...moved.positions[k]);
      assert(near(pixelAt(px, x, y), cols[moved.predictions[k]], 12), `epoch 5 point ${k}: ${pixelAt(px, x, y)}`);
    }
    // a Clear stops following
    await page.click('.dvi-whatif-clear');
    await page.evaluate(() => window.model.set('epoch', 10));
    await page.waitForTimeout(400);
    assert((await sentOf(page, 'path')).length === 2, 'no request after Clear');
    await page.close();
  }],

  ['errors are shown in the panel; without a model the buttons stay disabled', async () => {
    const page = await open();
    await waitSent(page, 'hello');
    await reply(page, { type: 'error', request: 'hello', message: 'No model to ask: this view was built from arrays' });
    assert(/No model to ask/.test(await page.textContent('.dvi-whatif-error')), 'error shown');
    await page.evaluate(() => window.model.set('selection', { view: new DataView(Uint32Array.from([5]).buffer), dtype: 'uint32', shape: [1] }));
    assert(await page.locator('.dvi-whatif-show').isDisabled(), 'Show path disabled without kinds');
    await reply(page, { type: 'kinds', kinds: KINDS });
    assert(!(await page.locator('.dvi-whatif-show').isDisabled()), 'enabled once kinds arrive');
    await page.click('.dvi-whatif-show');
    await waitSent(page, 'path');
    const [req] = await sentOf(page, 'path');
    await reply(page, { type: 'error', request: 'path', rid: req.rid, message: 'epoch 0 of run was recorded from arrays (record_arrays), so there is no model to explain' });
    assert(/record_arrays/.test(await page.textContent('.dvi-whatif-error')), 'path error shown');
    assert(!page.errors.length, page.errors.join('\n'));
    await page.close();
  }],

  ['attacks: target and steps are sent; robustness curves; surrogate weights and neighbours', async () => {
    const page = await open();
    await showPath(page);
    const [first] = await sentOf(page, 'path');
    await reply(page, pathMsg({ rid: first.rid }), pathArrays(PATH));
    await drawn(page, 1);
    await page.selectOption('.dvi-whatif-kind', 'pgd');
    await page.selectOption('.dvi-whatif-target', '2');
    await page.fill('input[aria-label="attack steps"]', '8');
    await page.click('.dvi-whatif-show');
    // changing the family re-asked at once; the later changes wait for its answer, then go as one
    await waitSent(page, 'path', 2);
    const asked = (await sentOf(page, 'path'))[1];
    assert(asked.kind === 'pgd', JSON.stringify(asked));
    await page.waitForTimeout(200);
    assert((await sentOf(page, 'path')).length === 2, 'one request in flight at a time');
    await reply(page, pathMsg({ rid: asked.rid, kind: 'pgd', unit: 'step' }), pathArrays(PATH));
    await waitSent(page, 'path', 3);
    const atk = (await sentOf(page, 'path')).at(-1);
    assert(atk.kind === 'pgd' && atk.target === 2 && atk.steps === 8 && atk.start === undefined, JSON.stringify(atk));
    // robustness of the selection
    await page.click('.dvi-whatif-section:nth-of-type(2) > summary');
    await page.click('.dvi-whatif-rob');
    await waitSent(page, 'robustness');
    const rob = await page.evaluate(() => {
      const s = window.sent.find((e) => e.msg.type === 'robustness');
      const a = s.msg.arrays.selection;
      return { msg: s.msg, sel: Array.from(new Uint32Array(s.buffers[a.buffer])) };
    });
    assert(rob.msg.kind === 'rotate' && JSON.stringify(rob.sel) === '[5]', JSON.stringify(rob));
    const S = 5;
    const mean = [];
    for (let k = 0; k < S; k++) mean.push(1 - k / 5, k / 5, 0, 0);
    await reply(page, { type: 'robustness', rid: rob.msg.rid, epoch: 0, kind: 'rotate', of: '1 selected', n_samples: 1 }, {
      strengths: ['float32', [0, 45, 90, 135, 180], [S]], mean_probability: ['float32', mean, [S, 4]],
      flipped: ['float32', [0, 0, 0.5, 1, 1], [S]], accuracy: ['float32', [1, 1, 0.5, 0, 0], [S]],
    });
    const lines = await page.locator('.dvi-whatif-chart polyline').count();
    assert(lines === 3, `two classes above 5 % and the flipped share: ${lines} lines`);
    assert(/100 % flipped at 180°/.test(await page.textContent('.dvi-whatif-caption')), 'caption');
    // surrogate with a second class
    await page.click('.dvi-whatif-section:nth-of-type(3) > summary');
    await page.selectOption('.dvi-whatif-second', '3');
    await page.click('.dvi-whatif-sur');
    await waitSent(page, 'surrogate');
    const [sur] = await sentOf(page, 'surrogate');
    assert(JSON.stringify(sur.classes) === '[1,3]' && sur.index === 5, JSON.stringify(sur));
    const n = 40;
    const nb = Array.from({ length: n }, (_, k) => [0.3 + 0.01 * (k % 5), -0.6 + 0.01 * Math.floor(k / 5)]);
    const w = Array.from({ length: 2 * 16 }, (_, k) => (k % 16) - 7.5);
    await reply(page, { type: 'surrogate', rid: sur.rid, index: 5, epoch: 0, classes: [1, 3], fidelity: { r2: 0.91, agreement: 0.97 } }, {
      weights: ['float32', w, [2, 4, 4]], positions: ['float32', nb.flat(), [n, 2]],
      predictions: ['uint16', nb.map(() => 2), [n]], proximity: ['float32', nb.map(() => 1), [n]],
    });
    const tiles = await page.locator('.dvi-whatif-tile figcaption').allTextContents();
    assert(JSON.stringify(tiles) === '["#5","one (pred.)","three"]', `the input's thumbnail, then two weight images: ${tiles}`);
    assert(/R² 0\.91, agreement 97 %/.test(await page.textContent('.dvi-whatif-fidelity')), 'fidelity');
    await page.waitForTimeout(100);
    const cols = await palette(page);
    const px = await pixels(page, '.dvi-canvas');
    const [x, y] = await toCanvas(page, 0.32, -0.58);
    assert(near(pixelAt(px, x, y), cols[2], 30), `neighbours drawn in their class colour: ${pixelAt(px, x, y)}`);
    await page.locator('.dvi-root').screenshot({ path: join(SHOTS, 'whatif-panel-sections.png') });
    assert(!page.errors.length, page.errors.join('\n'));
    await page.close();
  }],

  ['a path drawn from Python is adopted: sample, family, range and following the epoch', async () => {
    const page = await open();
    await waitSent(page, 'hello');
    await reply(page, { type: 'kinds', kinds: KINDS });
    const strengths = PATH.predictions.map((_, k) => 5 * k);
    await reply(page, pathMsg({ rid: null, index: 12, request: { index: 12, kind: 'rotate', strengths, target: null, steps: 20, center: null } }), pathArrays(PATH, strengths));
    await drawn(page, 1);
    assert(await page.inputValue('input[aria-label="sample index"]') === '12', 'sample adopted');
    await page.evaluate(() => window.model.set('epoch', 5));
    await waitSent(page, 'path');
    const [req] = await sentOf(page, 'path');
    assert(req.index === 12 && req.epoch === 5 && JSON.stringify(req.strengths) === JSON.stringify(strengths), JSON.stringify(req));
    await page.close();
  }],
]);
await browser.close();
server.close();
