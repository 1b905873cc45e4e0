// Shared browser-test plumbing: a static server over the repository, a headless Debian chromium
// (SwiftShader WebGL), and pixel access to screenshots.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const require = createRequire(join(ROOT, 'js', 'package.json'));
const { chromium } = require('playwright-core');

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const TYPES = { '.html': 'text/html', '.css': 'text/css', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json' };

/** Serve the repository read-only on 127.0.0.1 (random port). */
export function serve() {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const file = join(ROOT, path);
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (!file.startsWith(ROOT) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** Screenshot an element and return its RGBA pixels (decoded by the page itself). */
export async function pixels(page, selector) {
  const el = await page.$(selector);
  const png = await el.screenshot({ type: 'png' });
  const out = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const rgba = ctx.getImageData(0, 0, c.width, c.height).data;
    const url = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.readAsDataURL(new Blob([rgba]));
    });
    return { width: c.width, height: c.height, b64: url.slice(url.indexOf(',') + 1) };
  }, png.toString('base64'));
  return { width: out.width, height: out.height, data: Buffer.from(out.b64, 'base64') };
}

export const pixelAt = (px, x, y) => {
  const k = 4 * (Math.round(y) * px.width + Math.round(x));
  return Array.from(px.data.subarray(k, k + 4));
};

export const near = (a, b, tol = 40) => a.slice(0, 3).every((v, i) => Math.abs(v - b[i]) <= tol);

/** Count pixels within `tol` of a colour. */
export function countColor(px, rgb, tol = 40) {
  let n = 0;
  for (let k = 0; k < px.data.length; k += 4) {
    if (Math.abs(px.data[k] - rgb[0]) <= tol && Math.abs(px.data[k + 1] - rgb[1]) <= tol
      && Math.abs(px.data[k + 2] - rgb[2]) <= tol) n++;
  }
  return n;
}

/** Tiny test runner: named async tests, failures counted, exit code set. */
export async function runTests(tests) {
  let failed = 0;
  // DVI_TEST_ONLY=text runs only the tests whose name contains it (while developing)
  const only = process.env.DVI_TEST_ONLY;
  if (only) tests = tests.filter(([name]) => name.includes(only));
  for (const [name, fn] of tests) {
    const t0 = Date.now();
    try {
      await fn();
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${name}: ${err.stack || err}`);
    }
  }
  console.log(failed ? `${failed} of ${tests.length} failed` : `all ${tests.length} passed`);
  process.exitCode = failed ? 1 : 0;
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

/** Wait until the page has rendered `n` more animation frames (what was drawn is on screen). */
export function frames(page, n = 2) {
  return page.evaluate((k) => new Promise((resolve) => {
    const step = (left) => (left ? requestAnimationFrame(() => step(left - 1)) : resolve());
    step(k);
  }), n);
}

/** Wait until `el.dataset[key]` (a count) of the first element matching `selector` exceeds `than`. */
export function datasetAbove(page, selector, key, than, timeout = 30000) {
  return page.waitForFunction(([s, k, n]) => Number(document.querySelector(s)?.dataset[k] || 0) > n,
    [selector, key, than], { timeout });
}

/** The count `el.dataset[key]` of the first element matching `selector` (0 when unset). */
export const datasetCount = (page, selector, key) =>
  page.evaluate(([s, k]) => Number(document.querySelector(s)?.dataset[k] || 0), [selector, key]);

/**
 * Poll `read()` once per animation frame of `page` until `ok(value)` holds or `timeout` ms pass;
 * returns the last value, for the assertion that follows (which then reports what was seen).
 */
export async function until(page, read, ok, timeout = 10000) {
  const t0 = Date.now();
  let v = await read();
  while (!ok(v) && Date.now() - t0 < timeout) {
    await frames(page, 1);
    v = await read();
  }
  return v;
}

/**
 * Wait until `selector`'s picture stops changing: two screenshots a couple of frames apart are
 * identical (a camera or landscape animation has ended). Start it after the animation began.
 */
export async function settled(page, selector = '.dvi-canvas', timeout = 15000) {
  const el = await page.$(selector);
  const t0 = Date.now();
  let prev = null;
  for (;;) {
    await frames(page, 2);
    const shot = (await el.screenshot({ type: 'png' })).toString('base64');
    if (shot === prev) return;
    if (Date.now() - t0 > timeout) throw new Error(`${selector} still changing after ${timeout} ms`);
    prev = shot;
  }
}

/**
 * Move the mouse to (x, y) and let two frames pass there. The camera inside regl-scatterplot
 * (dom-2d-camera) pans, once a frame while the button is down, by the mouse's travel since its
 * previous frame: a press that follows a long jump within one frame (a loaded machine draws few)
 * pans the view by the whole jump. Seen in CI: a double-click in a corner after a lasso panned
 * the map, and the next lasso selected 70 of 110 samples.
 */
export async function moveStill(page, x, y) {
  await page.mouse.move(x, y);
  await frames(page, 2);
}

/** A click (`dblclick`: a double-click) at (x, y) once the mouse rests there (moveStill). */
export async function clickStill(page, x, y, { dblclick = false, ...options } = {}) {
  await moveStill(page, x, y);
  if (dblclick) await page.mouse.dblclick(x, y, options);
  else await page.mouse.click(x, y, options);
}

/**
 * Wait until the plot has no draw in flight: regl-scatterplot ignores mouse presses and moves
 * while it takes new points (a change of emphasis redraws them), so a lasso begun then would be
 * lost or lose vertices.
 */
export async function drawIdle(page, timeout = 30000) {
  const drawing = () => page.locator('.dvi-root').first().evaluate((el) => Boolean(el.parentElement?.dataset.drawing));
  if (await until(page, drawing, (d) => !d, timeout)) throw new Error(`the plot was still drawing after ${timeout} ms`);
}

/**
 * Drag a closed polygon on the widget's canvas (vertices in the frame's normalised coordinates,
 * [-1, 1], y up), with Shift held when `shift` (a lasso in the default Pan mode). Playwright's CSS
 * selectors pierce shadow roots (marimo, Panel). Straight edges, a frame between moves (the
 * lasso's minimum delay).
 */
export async function drawPolygon(page, polygon, { shift = false } = {}) {
  const canvas = page.locator('.dvi-canvas');
  await canvas.scrollIntoViewIfNeeded();
  await frames(page, 2); // laid out where it scrolled to
  await drawIdle(page);
  const box = await canvas.boundingBox();
  const s = Math.min(box.width, box.height) / 2;
  const P = ([x, y]) => [box.x + box.width / 2 + x * s, box.y + box.height / 2 - y * s];
  const pts = [...polygon, polygon[0]].map(P);
  if (shift) await page.keyboard.down('Shift');
  await moveStill(page, ...pts[0]);
  await page.mouse.down();
  for (let k = 1; k < pts.length; k++) {
    const [x0, y0] = pts[k - 1];
    const [x1, y1] = pts[k];
    const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / 30));
    for (let j = 1; j <= n; j++) {
      await page.mouse.move(x0 + ((x1 - x0) * j) / n, y0 + ((y1 - y0) * j) / n);
      await frames(page, 1);
    }
  }
  await page.mouse.up();
  if (shift) await page.keyboard.up('Shift');
}
