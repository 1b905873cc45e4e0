// Can a person see every sample over the landscape? Measured from pixels of a save_html page.
//
// Measure: for each drawn sample, the CIE L* of the pixel at its marker centre
// (points shown) against the median L* of a ring around it (radius 0.85 to 1.35 of the largest
// mark size plus 2 px) on the same view with every point hidden (filter_indices = []), i.e. the
// background the mark sits on. A sample is readable when |ΔL*| >= MIN_DELTA_L. 15 L* units is a
// clearly visible lightness step for a mark a few pixels wide (the just-noticeable difference of
// large patches is ~1-2; small marks need several times more).
//
// Usage: node visibility.mjs PAGE.html [--min 0.95] [--shot out.png]
// Prints one JSON line {readable, train, test, perClass, ...}; with --min, exits 1 when the
// readable share of train or of test samples is below it.
import { pathToFileURL } from 'node:url';
import { frames, launch, pixels, settled } from './harness.mjs';

export const MIN_DELTA_L = 15;

const args = process.argv.slice(2);
const page0 = args[0];
const opt = (name) => {
  const k = args.indexOf(name);
  return k >= 0 ? args[k + 1] : null;
};
const minShare = opt('--min') === null ? null : Number(opt('--min'));
const shot = opt('--shot');

const lightness = (r, g, b) => {
  const lin = (c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const Y = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  return Y > 216 / 24389 ? 116 * Math.cbrt(Y) - 16 : (24389 / 27) * Y;
};
const Lat = (px, x, y) => {
  const k = 4 * (y * px.width + x);
  return lightness(px.data[k], px.data[k + 1], px.data[k + 2]);
};

const browser = await launch();
let code = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  await page.goto(pathToFileURL(page0).href);
  const drawn = () => page.evaluate(() => Number(document.querySelector('#dvi-root').dataset.drawCount || 0));
  await page.waitForFunction(() => Number(document.querySelector('#dvi-root').dataset.drawCount) >= 1, null, { timeout: 60000 });
  await settled(page);
  // default settings: a page saved with a selection or a highlight dims the other samples
  await page.evaluate(() => {
    const m = window.dviModel;
    const empty = { view: new DataView(new ArrayBuffer(0)), dtype: 'uint32', shape: [0] };
    if (m.get('selection')?.shape?.[0]) m.set('selection', empty);
    if (m.get('highlight_indices')) m.set('highlight_indices', null);
    if (m.get('filter_indices')) m.set('filter_indices', null);
  });
  await frames(page);
  await settled(page);
  if (shot) await page.screenshot({ path: shot });
  const shown = await pixels(page, '.dvi-canvas');
  const info = await page.evaluate(() => {
    const m = window.dviModel;
    const c = m.get('coords');
    const [T, N] = c.shape;
    const coords = new Float32Array(c.view.buffer, c.view.byteOffset, T * N * 2);
    const pos = m.get('epochs').indexOf(m.get('epoch'));
    const sc = m.get('split_codes');
    const split = new Uint8Array(sc.view.buffer, sc.view.byteOffset, N);
    const lb = m.get('labels');
    const labels = lb.dtype === 'uint8' ? new Uint8Array(lb.view.buffer, lb.view.byteOffset, N) : new Uint16Array(lb.view.buffer, lb.view.byteOffset, N);
    const xy = Array.from(coords.subarray(2 * pos * N, 2 * (pos + 1) * N));
    return { N, xy, split: Array.from(split), labels: Array.from(labels), names: m.get('class_names'), size: m.get('point_size') };
  });
  const n0 = await drawn();
  await page.evaluate(() => window.dviModel.set('filter_indices', { view: new DataView(new ArrayBuffer(0)), dtype: 'uint32', shape: [0] }));
  await page.waitForFunction((n) => Number(document.querySelector('#dvi-root').dataset.drawCount) > n, n0, { timeout: 30000 });
  await settled(page);
  const hidden = await pixels(page, '.dvi-canvas');
  const { width: W, height: H } = shown;
  const s = Math.min(W, H) / 2;
  const r1 = (info.size * 1.7) * 0.85 + 2;
  const r2 = (info.size * 1.7) * 1.35 + 2;
  const ring = [];
  for (let dy = -Math.ceil(r2); dy <= Math.ceil(r2); dy++) {
    for (let dx = -Math.ceil(r2); dx <= Math.ceil(r2); dx++) {
      const d = Math.hypot(dx, dy);
      if (d >= r1 && d <= r2) ring.push([dx, dy]);
    }
  }
  const stats = { all: [0, 0], train: [0, 0], test: [0, 0] };
  const perClass = info.names.map(() => [0, 0]);
  const deltas = [];
  for (let i = 0; i < info.N; i++) {
    const x = Math.round(W / 2 + info.xy[2 * i] * s);
    const y = Math.round(H / 2 - info.xy[2 * i + 1] * s);
    if (x < 0 || y < 0 || x >= W || y >= H) continue;
    const bg = [];
    for (const [dx, dy] of ring) {
      const u = x + dx;
      const v = y + dy;
      if (u >= 0 && v >= 0 && u < W && v < H) bg.push(Lat(hidden, u, v));
    }
    bg.sort((a, b) => a - b);
    const delta = Math.abs(Lat(shown, x, y) - bg[Math.floor(bg.length / 2)]);
    deltas.push(delta);
    const ok = delta >= MIN_DELTA_L ? 1 : 0;
    const split = info.split[i] === 0 ? 'train' : 'test';
    for (const k of ['all', split]) {
      stats[k][0] += ok;
      stats[k][1] += 1;
    }
    perClass[info.labels[i]][0] += ok;
    perClass[info.labels[i]][1] += 1;
  }
  deltas.sort((a, b) => a - b);
  const share = ([a, b]) => (b ? Math.round((1000 * a) / b) / 1000 : null);
  const out = {
    measure: `|ΔL*| marker centre vs median ring background >= ${MIN_DELTA_L}`,
    readable: share(stats.all),
    train: share(stats.train),
    test: share(stats.test),
    n: stats.all[1],
    medianDeltaL: Math.round(deltas[Math.floor(deltas.length / 2)] * 10) / 10,
    perClass: Object.fromEntries(info.names.map((n, k) => [n, `${perClass[k][0]}/${perClass[k][1]}`])),
  };
  console.log(JSON.stringify(out));
  if (minShare !== null && (out.train < minShare || out.test < minShare)) code = 1;
} finally {
  await browser.close();
}
process.exitCode = code;
