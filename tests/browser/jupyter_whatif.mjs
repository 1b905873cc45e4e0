// The Explain panel in a real JupyterLab 4 with a real kernel: run the cell that fits a tiny DVI and
// shows the widget, choose a sample in the panel, press "Show path" (repeatedly: the round trip
// kernel compute + transfer + draw is timed by the panel itself, see js/src/explain/path.js), then run the
// cell that prints the kernel's path (normalised drawn positions, predictions) and check that the
// overlay has a point of the right class colour at each of those positions.
// Usage: node jupyter_whatif.mjs <base url> <token> <notebook> <repeats> [screenshot.png]
// Prints one line "RESULT {json}" (round trips and compute times in ms, points checked).
import { markColor } from '../../js/src/marks.js';
import { opened, runCell as runCellIn } from './jupyter_page.mjs';
import { assert, frames, launch, near, pixelAt, pixels, runTests, settled } from './harness.mjs';

const [base, token, notebook, repeatsArg, shot] = process.argv.slice(2);
const REPEATS = Number(repeatsArg || 5);
const SAMPLE = 7;
const browser = await launch();
const t0 = Date.now();
const mark = (what) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);

const runCell = (page, index, marker = null) => runCellIn(page, index, marker, { ranMs: 180000, outputMs: 120000, idleMs: 180000 });

const view = '.dvi-root';
const dataset = (page) => page.locator(view).evaluate((el) => ({ ...el.parentElement.dataset }));

await runTests([['JupyterLab: Show path draws the kernel\'s path; round trip timed', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(`${base.replace(/\/$/, '')}/lab/tree/${notebook}?token=${token}`, { timeout: 120000 });
    await page.waitForSelector('.jp-Notebook .jp-Cell', { timeout: 120000 });
    await opened(page, 180000);
    mark('notebook opened');
    await runCell(page, 0);
    mark('setup cell ran');
    await page.waitForFunction(() => document.querySelectorAll('.dvi-explain-kind option').length > 0, null, { timeout: 240000 });
    mark('explain panel ready');
    await page.locator(view).evaluate((e) => e.scrollIntoView({ block: 'start' }));
    const sample = page.locator('.dvi-explain input[aria-label="sample index"]');
    await sample.fill(String(SAMPLE));
    await sample.press('Tab'); // commit: the change event
    await page.waitForFunction(() => !document.querySelector('.dvi-explain-show').disabled, null, { timeout: 10000 });

    const roundTrips = [];
    const computes = [];
    for (let r = 0; r < REPEATS; r++) {
      const before = Number((await dataset(page)).pathRoundTrips || 0);
      await page.click('.dvi-explain-show');
      await page.waitForFunction(([k]) => Number(document.querySelector('.dvi-root').parentElement.dataset.pathRoundTrips || 0) > k, [before], { timeout: 60000 });
      const ds = await dataset(page);
      roundTrips.push(Number(ds.pathRoundTripMs));
      computes.push(Number(ds.pathComputeMs));
      await frames(page);
    }
    mark('paths shown');
    await page.mouse.move(2, 2); // no hover card over the plot
    const cell = await runCell(page, 1, 'PATH');
    const text = await cell.locator('.jp-OutputArea').textContent();
    const line = text.split('\n').find((l) => l.includes('PATH'));
    const kernel = JSON.parse(line.slice(line.indexOf('PATH') + 4).trim());
    await page.locator(view).evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await frames(page);
    await settled(page);

    // every path point far enough from the others (not covered) and from the first-flip diamond
    const canvas = page.locator('.dvi-canvas');
    const box = await canvas.boundingBox();
    const px = await pixels(page, '.dvi-canvas');
    const s = Math.min(box.width, box.height) / 2;
    const P = ([x, y]) => [box.width / 2 + x * s, box.height / 2 - y * s];
    const pts = kernel.positions.map(P);
    const colors = kernel.palette.map((c) => markColor(c)).map((c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16)));
    const flip = kernel.first_flip_index;
    let checked = 0;
    const bad = [];
    pts.forEach(([x, y], k) => {
      const clear = pts.every(([u, v], j) => j === k || Math.hypot(u - x, v - y) > 10)
        && (flip < 0 || k === flip || Math.hypot(pts[flip][0] - x, pts[flip][1] - y) > 14);
      if (!clear || x < 2 || y < 2 || x > px.width - 3 || y > px.height - 3) return;
      checked++;
      const got = pixelAt(px, x, y);
      if (!near(got, colors[kernel.predictions[k]], 16)) bad.push(`point ${k} (${x.toFixed(0)}, ${y.toFixed(0)}): ${got.slice(0, 3)} is not class ${kernel.predictions[k]}`);
    });
    assert(checked >= 3, `only ${checked} isolated path points to check`); // one map: same-class points lie close
    assert(!bad.length, bad.join('; '));
    assert(new Set(kernel.predictions).size >= 2, 'the path crosses at least one boundary (colours change)');
    // robustness curves of a class and the local surrogate, from the same kernel
    // the perturbed inputs (issue 25 item 3): a strip along the path, and the hover card's picture
    const strip = await page.$$eval('.dvi-explain-frame canvas', (cs) => cs.map((c) => c.width));
    assert(strip.length >= 3 && strip.every((w) => w === 8), `strip of 8 x 8 pictures: ${strip}`);
    const [hx, hy] = pts[pts.length - 1];
    await page.mouse.move(box.x + hx, box.y + hy);
    await page.waitForSelector('.dvi-path-tip canvas', { state: 'visible', timeout: 5000 });
    await page.mouse.move(2, 2);
    await page.selectOption('.dvi-explain-of', '9');
    await page.click('.dvi-explain-rob');
    await page.waitForSelector('.dvi-explain-chart polyline', { timeout: 60000 });
    const caption = await page.textContent('.dvi-explain-caption');
    assert(caption.includes(`rotate of class ${kernel.class_names[9]}`), `robustness caption: ${caption}`);
    if (shot) await page.locator('.dvi-explain-chart').screenshot({ path: shot.replace(/\.png$/, '-robustness.png') });
    await page.selectOption('.dvi-explain-second', '4');
    await page.click('.dvi-explain-sur');
    await page.waitForSelector('.dvi-explain-tile canvas', { timeout: 60000 });
    const fid = await page.textContent('.dvi-explain-fidelity');
    assert(/fidelity: R² [\d.]+, agreement \d+ % on 500 neighbours/.test(fid), `fidelity: ${fid}`);
    const tiles = await page.locator('.dvi-explain-tile figcaption').allTextContents();
    const names = kernel.class_names;
    assert(JSON.stringify(tiles) === JSON.stringify([`#${SAMPLE}`, `${names[kernel.predictions[0]]} (pred.)`, names[4]]), `tiles: the input, the predicted class, class 4: ${tiles}`);
    // the sample's own picture is its digit as the strip shows it, not a black square (issue 25)
    const own = await page.$eval('.dvi-explain-tile canvas.dvi-explain-input', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const grey = Array.from({ length: d.length / 4 }, (_, p) => d[4 * p]);
      const mean = grey.reduce((a, v) => a + v, 0) / grey.length;
      return { size: [c.width, c.height], max: Math.max(...grey), std: Math.sqrt(grey.reduce((a, v) => a + (v - mean) ** 2, 0) / grey.length) };
    });
    assert(JSON.stringify(own.size) === '[8,8]' && own.max >= 200 && own.std > 40, `sample ${SAMPLE}'s picture: ${JSON.stringify(own)}`);
    await page.locator('.dvi-panels-body').evaluate((e) => { e.scrollTop = e.scrollHeight; });
    await page.locator(view).evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await frames(page);
    if (shot) {
      await page.screenshot({ path: shot });
      await page.locator(view).screenshot({ path: shot.replace(/\.png$/, '-widget.png') });
    }
    assert(!errors.length, errors.join('\n'));
    const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    console.log(`RESULT ${JSON.stringify({ roundTrips, computes, medianRoundTrip: med(roundTrips), medianCompute: med(computes), checked, points: pts.length, firstFlip: kernel.first_flip })}`);
  } catch (err) {
    if (shot) await page.screenshot({ path: shot.replace(/\.png$/, '-failure.png') }).catch(() => {});
    throw err;
  }
  await page.close();
}]]);
await browser.close();
