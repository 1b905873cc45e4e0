// Browser timings of the widget at 60,000 points x 20 epochs (headless chromium, SwiftShader).
// Run: node benchmarks/bench_widget.mjs [N] [T]
import { launch, serve } from '../tests/browser/harness.mjs';

const N = Number(process.argv[2] || 60000);
const T = Number(process.argv[3] || 20);
const { server, url } = await serve();
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  const opts = { N, T, H: 256, W: 256, nTest: Math.floor(N / 7) };
  await page.goto(`${url}/tests/browser/fixture.html?opts=${encodeURIComponent(JSON.stringify(opts))}`);
  await page.waitForFunction(() => Number(document.querySelector('#view').dataset.drawCount) >= 1, null, { timeout: 120000 });
  const first = await page.evaluate(() => ({ firstRenderMs: Number(document.querySelector('#view').dataset.firstRenderMs), dataMs: window.dataMs }));
  console.log(`first render after data arrival: ${first.firstRenderMs.toFixed(0)} ms (N=${N}, T=${T}; fixture data built in ${first.dataMs.toFixed(0)} ms)`);

  await page.waitForTimeout(3000); // let the view index the other epochs in the background
  // Epoch change without tween: from model.set('epoch') until the frame showing the new epoch is on
  // screen, i.e. the draw promise has resolved (regl-scatterplot rendered and copied the frame) and
  // one more animation frame has started (the rendered frame has been composited).
  const jump = await page.evaluate(async (T) => {
    const view = document.querySelector('#view');
    window.model.set('transition_ms', 0);
    const epochs = window.model.get('epochs');
    const times = [];
    const builds = [];
    const draws = [];
    const nextFrame = () => new Promise((r) => requestAnimationFrame(() => r()));
    for (let k = 1; k < Math.max(T, 11); k++) {
      const n = Number(view.dataset.drawCount);
      const t0 = performance.now();
      window.model.set('epoch', epochs[k % T]);
      while (Number(view.dataset.drawCount) <= n) await new Promise((r) => setTimeout(r, 1));
      await nextFrame();
      times.push(performance.now() - t0);
      builds.push(Number(view.dataset.lastBuildMs));
      draws.push(Number(view.dataset.lastDrawMs));
    }
    const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    return { n: times.length, median: med(times), min: Math.min(...times), max: Math.max(...times), build: med(builds), draw: med(draws) };
  }, T);
  console.log(`EPOCH CHANGE (no tween): median ${jump.median.toFixed(0)} ms over ${jump.n} changes `
    + `(min ${jump.min.toFixed(0)}, max ${jump.max.toFixed(0)}; median points build ${jump.build} ms, `
    + `draw() until rendered ${jump.draw} ms)`);

  // epoch change with the default 400 ms tween: frames rendered during the transition
  const tween = await page.evaluate(async () => {
    const view = document.querySelector('#view');
    window.model.set('transition_ms', 400);
    const n = Number(view.dataset.drawCount);
    const frames = [];
    let last = performance.now();
    let stop = false;
    const tick = () => {
      const now = performance.now();
      frames.push(now - last);
      last = now;
      if (!stop) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    const t0 = performance.now();
    window.model.set('epoch', window.model.get('epochs')[0]);
    while (Number(view.dataset.drawCount) <= n) await new Promise((r) => setTimeout(r, 1));
    stop = true;
    frames.sort((a, b) => a - b);
    return { total: performance.now() - t0, frames: frames.length, medianFrame: frames[Math.floor(frames.length / 2)] };
  });
  console.log(`epoch change (400 ms tween): done after ${tween.total.toFixed(0)} ms, ${tween.frames} frames, median frame ${tween.medianFrame.toFixed(0)} ms`);

  // lasso -> model.set(selection) in the browser (the comm and Python side: bench_widget.py)
  await page.click('.dvi-mode-box');
  const box = await (await page.$('.dvi-canvas-wrap')).boundingBox();
  const s = box.height / 2;
  const X = (x) => box.x + box.width / 2 + x * s;
  const Y = (y) => box.y + box.height / 2 - y * s;
  await page.evaluate(() => {
    window.model.on('change:selection', () => { window.selectedAt = performance.now(); });
  });
  await page.mouse.move(X(-0.9), Y(0.9));
  await page.mouse.down();
  await page.mouse.move(X(-0.1), Y(0.9), { steps: 4 });
  await page.mouse.move(X(-0.1), Y(0.1), { steps: 4 });
  const tUp = await page.evaluate(() => performance.now());
  await page.mouse.up();
  await page.waitForFunction(() => window.selectedAt !== undefined, null, { timeout: 30000 });
  const sel = await page.evaluate((tUp) => ({ ms: window.selectedAt - tUp, n: window.model.get('selection').shape[0] }), tUp);
  console.log(`box select of ${sel.n} points -> model.set(selection): ${sel.ms.toFixed(0)} ms after mouse up`);
} finally {
  await browser.close();
  server.close();
}
