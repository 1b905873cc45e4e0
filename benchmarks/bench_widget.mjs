// Browser timings of the widget at 60,000 points x 20 epochs (headless chromium, SwiftShader).
//
// Part 1 (fake model, no kernel): first render and epoch change, for each bundle given with
// --bundle (e.g. a build of main next to this one, measured back to back in the same browser) and
// for the default panel set of issue 13 (--panels all) next to the legend alone.
// Part 2 (with a kernel, skipped by --no-kernel): click -> class probabilities shown, and hover ->
// thumbnail shown, against a real Widget in a Python process (tests/browser/kernel_harness.py:
// ipywidgets' comm protocol over HTTP on 127.0.0.1; the latency covers the front end, one HTTP
// round trip and the kernel-side handler with a closed-form inspector, not JupyterLab's websocket
// and ZMQ hops, nor ψ_t of a fitted run, ~1 ms more: benchmarks/bench_inspect.py); then lasso ->
// the kernel's w.selection holding the indices (from the pointer-up, measured on one clock: the
// page's Date.now() and the kernel's time.time()), and the initial payload (the comm_open
// message's bytes and the seconds Widget(vis) took to make it; the page fetches it from the
// harness over HTTP on 127.0.0.1: the state as JSON, each buffer binary).
//
// Run: node benchmarks/bench_widget.mjs [N] [T] [--bundle URL]... [--rounds R] [--no-kernel]
//      [--legend-only] (part 1 without the all-panels set) [--no-clicks] (part 2: the lasso only)
//      [--shot FILE] (a screenshot of part 2's page, the real widget, after its first render)
//      (a bundle URL is a path served from the repository root, default /dvi_widget/static/widget.js)
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { launch, ROOT, serve } from '../tests/browser/harness.mjs';

const args = process.argv.slice(2);
const positional = [];
for (let k = 0; k < args.length; k++) {
  if (args[k] === '--bundle' || args[k] === '--rounds' || args[k] === '--shot') k++;
  else if (!args[k].startsWith('--')) positional.push(args[k]);
}
const N = Number(positional[0] || 60000);
const T = Number(positional[1] || 20);
const bundles = args.flatMap((a, k) => (a === '--bundle' ? [args[k + 1]] : []));
if (!bundles.length) bundles.push('/dvi_widget/static/widget.js');
const ROUNDS = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 1;
const WITH_KERNEL = !args.includes('--no-kernel');
const WITH_CLICKS = !args.includes('--no-clicks');
const SHOT = args.includes('--shot') ? args[args.indexOf('--shot') + 1] : null; // a PNG of the kernel's page
const PANEL_SETS = args.includes('--legend-only') ? [['legend']] : [['legend'], PANELS_ALL];
const PANELS_ALL = ['legend', 'inspect', 'selection', 'sample', 'confusion', 'curves', 'events'];
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const { server, url } = await serve();
const browser = await launch();

/** First render and epoch change (no tween) of one bundle with one panel set. */
async function measureFixture(bundle, panels) {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  page.on('crash', () => console.log('page crashed'));
  page.on('pageerror', (e) => console.log(`page error: ${e}`));
  const opts = { N, T, H: 256, W: 256, nTest: Math.floor(N / 7), traits: { panels } };
  await page.goto(`${url}/tests/browser/fixture.html?bundle=${encodeURIComponent(bundle)}&opts=${encodeURIComponent(JSON.stringify(opts))}`);
  await page.waitForFunction(() => Number(document.querySelector('#view').dataset.drawCount) >= 1, null, { timeout: 120000 });
  const first = await page.evaluate(() => Number(document.querySelector('#view').dataset.firstRenderMs));
  await page.waitForTimeout(3000); // let the view index the other epochs in the background
  // From model.set('epoch') until the frame showing the new epoch is on screen: the draw promise
  // has resolved and one more animation frame has started (the frame has been composited).
  const jump = await page.evaluate(async (T) => {
    const view = document.querySelector('#view');
    window.model.set('transition_ms', 0);
    const epochs = window.model.get('epochs');
    const times = [];
    const parts = [];
    const nextFrame = () => new Promise((r) => requestAnimationFrame(() => r()));
    for (let k = 1; k < Math.max(T, 11); k++) {
      const n = Number(view.dataset.drawCount);
      const t0 = performance.now();
      window.model.set('epoch', epochs[k % T]);
      while (Number(view.dataset.drawCount) <= n) await new Promise((r) => setTimeout(r, 1));
      await nextFrame();
      times.push(performance.now() - t0);
      parts.push([Number(view.dataset.lastBuildMs), Number(view.dataset.lastDrawMs)]);
    }
    return { times, parts };
  }, T);
  await page.close();
  return { first, jump: med(jump.times), n: jump.times.length, build: med(jump.parts.map((p) => p[0])), draw: med(jump.parts.map((p) => p[1])) };
}

/** Start the Python kernel harness with the 60,000 x 20 bench fixture. */
function startKernel() {
  const python = process.env.PYTHON || join(ROOT, '.venv', 'bin', 'python');
  const proc = spawn(python, [join(ROOT, 'tests', 'browser', 'kernel_harness.py'), '--fixture', 'bench', '--n', String(N), '--t', String(T)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let payload = null;
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      if (String(d).includes('TRACE ')) process.stdout.write(String(d)); // DVI_HARNESS_TRACE=1
      const p = /PAYLOAD (\d+) ([\d.]+)/.exec(String(d));
      if (p) payload = { bytes: Number(p[1]), s: Number(p[2]) };
      const m = /PORT (\d+)/.exec(String(d));
      if (m) resolve({ proc, base: `http://127.0.0.1:${m[1]}`, payload });
    });
    proc.on('exit', (code) => reject(new Error(`kernel harness exited with ${code}`)));
  });
}

/** Click -> probabilities shown, hover -> thumbnail shown (cold: fetched; warm: cached). */
async function measureKernel() {
  const { proc, base, payload } = await startKernel();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    page.on('crash', () => console.log('page crashed'));
    await page.goto(`${base}/tests/browser/kernel.html`);
    await page.waitForFunction(() => Number(document.querySelector('#view').dataset.drawCount) >= 1, null, { timeout: 300000 });
    const first = await page.evaluate(() => Number(document.querySelector('#view').dataset.firstRenderMs));
    const fetched = await page.evaluate(() => window.renderStart);
    await page.waitForTimeout(3000);
    if (SHOT) await page.screenshot({ path: SHOT });
    if (!WITH_CLICKS) {
      const lassos = await measureLasso(page);
      await page.close();
      return { first, fetched, payload, lassos };
    }
    let box = await (await page.$('.dvi-canvas')).boundingBox();
    const s = () => Math.min(box.width, box.height) / 2;
    const X = (x) => box.x + box.width / 2 + x * s();
    const Y = (y) => box.y + box.height / 2 - y * s();
    // spots to click: up to 9 on empty landscape (no point within 8 px) and 9 right on a point
    const spots = await page.evaluate(({ W, H }) => {
      const v = window.model.get('coords');
      // positions of a run over 200k samples travel as uint16 over v.range (codecs.js decodeCoords)
      const c = v.dtype === 'uint16'
        ? Float32Array.from(new Uint16Array(v.view.buffer, v.view.byteOffset, v.view.byteLength / 2),
          (q) => (q === 65535 ? NaN : v.range[0] + (q * (v.range[1] - v.range[0])) / 65534))
        : new Float32Array(v.view.buffer, v.view.byteOffset, v.view.byteLength / 4);
      const [T, Nn] = v.shape;
      const base = 2 * (T - 1) * Nn;
      const s = Math.min(W, H) / 2;
      const empty = [];
      for (let k = 0; k < 21 * 21 && empty.length < 9; k++) {
        const x = -0.97 + 0.097 * ((k * 8) % 21); // a 21 x 21 grid over the frame, visited scattered
        const y = -0.97 + 0.097 * Math.floor(((k * 8) % 441) / 21);
        let near = Infinity;
        for (let i = 0; i < Nn; i++) near = Math.min(near, Math.hypot(c[base + 2 * i] - x, c[base + 2 * i + 1] - y));
        if (near * s > 8) empty.push([x, y]);
      }
      const onPoint = Array.from({ length: 9 }, (_, k) => {
        const i = Math.floor(((k + 0.5) / 9) * Nn);
        return [c[base + 2 * i], c[base + 2 * i + 1]];
      });
      return { empty, onPoint };
    }, { W: box.width, H: box.height });
    const clickAt = async ([x, y]) => {
      await page.evaluate(() => {
        window.clickT0 = null;
        document.querySelector('.dvi-canvas').addEventListener('click', () => { window.clickT0 = performance.now(); }, { capture: true, once: true });
        const pop = document.querySelector('.dvi-popover');
        window.popDone = new Promise((resolve) => {
          const obs = new MutationObserver(() => {
            if (pop.querySelector('.dvi-probs')) {
              obs.disconnect();
              const dom = performance.now();
              requestAnimationFrame(() => resolve({ dom, frame: performance.now() }));
            }
          });
          obs.observe(pop, { childList: true });
        });
      });
      await page.click('.dvi-popover-close').catch(() => {});
      // the pointer rests on the spot first, as a user's does (its hover redraw is done), then clicks
      await page.mouse.move(X(x), Y(y));
      await page.waitForTimeout(400);
      await page.mouse.down();
      await page.mouse.up();
      return page.evaluate(async () => {
        const { dom, frame } = await window.popDone;
        const reply = Number(document.querySelector('#view').dataset.inspectReplyMs);
        return { frame: frame - window.clickT0, dom: dom - window.clickT0, reply };
      });
    };
    const clicks = { empty: [], onPoint: [] };
    for (const kind of ['empty', 'onPoint']) {
      for (const spot of spots[kind]) clicks[kind].push(await clickAt(spot));
      await page.click('.dvi-popover-close').catch(() => {});
      await page.keyboard.press('Escape'); // clear the selection between the series
    }
    await page.click('.dvi-popover-close').catch(() => {});
    await page.click('.dvi-reset'); // the panels below grew (a scrollbar may have narrowed the plot)
    await page.waitForTimeout(500);
    box = await (await page.$('.dvi-canvas')).boundingBox();
    // hovers: 12 samples spread over the frame, each hovered twice (cold, then cached)
    const targets = await page.evaluate(() => {
      const v = window.model.get('coords');
      // positions of a run over 200k samples travel as uint16 over v.range (codecs.js decodeCoords)
      const c = v.dtype === 'uint16'
        ? Float32Array.from(new Uint16Array(v.view.buffer, v.view.byteOffset, v.view.byteLength / 2),
          (q) => (q === 65535 ? NaN : v.range[0] + (q * (v.range[1] - v.range[0])) / 65534))
        : new Float32Array(v.view.buffer, v.view.byteOffset, v.view.byteLength / 4);
      const [T, Nn] = v.shape;
      const pos = T - 1;
      const out = [];
      for (let k = 0; k < 12; k++) {
        const i = Math.floor(((k + 0.5) / 12) * Nn);
        out.push([i, c[2 * (pos * Nn + i)], c[2 * (pos * Nn + i) + 1]]);
      }
      return out;
    });
    const hover = async (x, y) => {
      await page.mouse.move(X(x) + 30, Y(y) + 30);
      await page.waitForTimeout(150);
      await page.evaluate(() => {
        const thumb = document.querySelector('.dvi-thumb');
        window.moveT0 = null;
        window.addEventListener('mousemove', () => { window.moveT0 = performance.now(); }, { capture: true });
        window.thumbDone = new Promise((resolve) => {
          const done = () => {
            const dom = performance.now();
            requestAnimationFrame(() => resolve({ t: performance.now(), dom, i: thumb.dataset.sample }));
          };
          const obs = new MutationObserver(() => {
            if (thumb.dataset.sample && getComputedStyle(document.querySelector('.dvi-tooltip')).display === 'block') {
              obs.disconnect();
              done();
            }
          });
          obs.observe(thumb, { attributes: true });
          obs.observe(document.querySelector('.dvi-tooltip'), { attributes: true, childList: true, subtree: true });
        });
      });
      await page.mouse.move(X(x), Y(y));
      const r = await page.evaluate(async () => {
        const { t, dom, i } = await Promise.race([window.thumbDone, new Promise((res) => setTimeout(() => res({ t: NaN, dom: NaN, i: null }), 5000))]);
        return { ms: t - window.moveT0, dom: dom - window.moveT0, own: dom - Number(document.querySelector('#view').dataset.hoverAt), i };
      });
      return r;
    };
    const cold = [];
    const warm = [];
    for (const [, x, y] of targets) {
      const a = await hover(x, y);
      const b = await hover(x, y);
      if (process.env.BENCH_DEBUG) console.log('hover', x, y, JSON.stringify(a), JSON.stringify(b));
      if (Number.isFinite(a.ms)) cold.push([a.ms, a.dom, a.own]);
      if (Number.isFinite(b.ms)) warm.push([b.ms, b.dom, b.own]);
    }
    await page.keyboard.press('Escape');
    const lassos = await measureLasso(page);
    await page.close();
    return { first, fetched, payload, clicks, cold, warm, lassos };
  } finally {
    proc.stdin.end();
  }
}

/** Lasso (circles about the frame's centre) -> the front end's selection trait, and -> the
 * kernel's w.selection holding the same number of indices. */
async function measureLasso(page) {
  await page.evaluate(() => {
    window.model.set('mouse_mode', 'lasso');
    window.model.save_changes();
  });
  await page.evaluate(() => window.kernelEval([
    'import time',
    'SEL_TIMES = []',
    "w.observe(lambda ch: SEL_TIMES.append((time.time() * 1000, len(w.selection))), 'selection')",
    'result = True'].join('\n')));
  await page.click('.dvi-popover-close').catch(() => {});
  const box = await (await page.$('.dvi-canvas')).boundingBox();
  const s = Math.min(box.width, box.height) / 2;
  const out = [];
  for (const r of [0.45, 0.3, 0.6, 0.35, 0.5]) {
    await page.evaluate(() => {
      window.lassoUp = null;
      window.addEventListener('mouseup', () => { window.lassoUp = { t: Date.now(), p: performance.now() }; }, { capture: true, once: true });
      window.selSet = new Promise((resolve) => {
        const on = () => { window.model.off('change:selection', on); resolve(performance.now()); };
        window.model.on('change:selection', on);
      });
    });
    const pts = Array.from({ length: 25 }, (_, k) => [box.x + box.width / 2 + r * s * Math.cos((k / 24) * 2 * Math.PI),
      box.y + box.height / 2 - r * s * Math.sin((k / 24) * 2 * Math.PI)]);
    await page.mouse.move(...pts[0]);
    await page.mouse.down();
    for (const p of pts.slice(1)) {
      await page.mouse.move(...p, { steps: 2 });
      await page.waitForTimeout(8); // the lasso keeps points at least lassoMinDelay (5 ms) apart
    }
    await page.mouse.up();
    const front = await page.evaluate(async () => {
      const t = await window.selSet;
      const v = window.model.get('selection');
      return { ms: t - window.lassoUp.p, n: v.shape[0], up: window.lassoUp.t };
    });
    let kernel = null;
    const t0 = Date.now();
    while (!kernel && Date.now() - t0 < 60000) {
      const last = await page.evaluate(() => window.kernelEval('result = SEL_TIMES[-1] if SEL_TIMES else None'));
      if (last && last[1] === front.n && last[0] >= front.up) kernel = last[0] - front.up;
      else await page.waitForTimeout(20);
    }
    if (process.env.DVI_HARNESS_TRACE) console.log(`TRACE ${front.up} mouse up (lasso of ${front.n})`);
    out.push({ front: front.ms, kernel, n: front.n });
    await page.waitForTimeout(1000); // the redraw that puts the selected samples first
  }
  return out;
}

try {
  const rows = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const bundle of bundles) {
      for (const panels of PANEL_SETS) {
        const res = await measureFixture(bundle, panels);
        rows.push({ bundle, panels: panels.length > 1 ? 'all' : 'legend', ...res });
        console.log(`${bundle} [panels: ${panels.length > 1 ? 'all' : 'legend'}] first render ${res.first.toFixed(0)} ms, `
          + `EPOCH CHANGE (no tween) median ${res.jump.toFixed(0)} ms over ${res.n} (N=${N}, T=${T}; of it building the points ${res.build.toFixed(0)} ms, regl-scatterplot's draw ${res.draw.toFixed(0)} ms)`);
      }
    }
  }
  if (ROUNDS > 1) {
    console.log('medians over rounds:');
    for (const bundle of bundles) {
      for (const p of PANEL_SETS.map((ps) => (ps.length > 1 ? 'all' : 'legend'))) {
        const sel = rows.filter((r) => r.bundle === bundle && r.panels === p);
        console.log(`  ${bundle} [${p}]: first render ${med(sel.map((r) => r.first)).toFixed(0)} ms, epoch change ${med(sel.map((r) => r.jump)).toFixed(0)} ms`);
      }
    }
  }
  if (WITH_KERNEL) {
    const k = await measureKernel();
    const fmt = (a) => `median ${med(a).toFixed(0)} ms (min ${Math.min(...a).toFixed(0)}, max ${Math.max(...a).toFixed(0)}, n=${a.length})`;
    console.log(`with the kernel harness (N=${N}, T=${T}, all panels): first render ${k.first.toFixed(0)} ms`);
    if (k.payload) {
      console.log(`INITIAL PAYLOAD (N=${N}, T=${T}): ${k.payload.bytes} bytes (${(k.payload.bytes / 2 ** 20).toFixed(1)} MiB), made by Widget(vis) in ${k.payload.s.toFixed(1)} s; `
        + `fetched and decoded by the page in ${(k.fetched / 1000).toFixed(1)} s (HTTP on 127.0.0.1: JSON state, binary buffers)`);
    }
    const ls = k.lassos.filter((l) => l.kernel !== null);
    console.log(`LASSO -> kernel's w.selection holds the indices (from the pointer-up): ${fmt(ls.map((l) => l.kernel))}; `
      + `-> the front end's selection trait: ${fmt(k.lassos.map((l) => l.front))} (selections of ${k.lassos.map((l) => l.n).join(', ')} samples)`);
    for (const [kind, label] of k.clicks ? [['empty', 'on the empty landscape'], ['onPoint', 'on a point (it is selected too)']] : []) {
      const c = k.clicks[kind];
      if (!c.length) continue;
      console.log(`CLICK ${label} -> probabilities shown (next frame): ${fmt(c.map((v) => v.frame))}`);
      console.log(`   click -> kernel reply handled: ${fmt(c.map((v) => v.reply))}; -> bars in the DOM: ${fmt(c.map((v) => v.dom))}`);
    }
    if (k.cold) console.log(`HOVER -> thumbnail shown, first hover of a sample (fetched; next frame): ${fmt(k.cold.map((v) => v[0]))}`);
    if (k.cold) console.log(`   mousemove -> thumbnail drawn in the DOM: ${fmt(k.cold.map((v) => v[1]))}; from the hover event: ${fmt(k.cold.map((v) => v[2]))}`);
    if (k.warm) console.log(`HOVER -> thumbnail shown, after the first fetch (cached; next frame): ${fmt(k.warm.map((v) => v[0]))}`);
    if (k.warm) console.log(`   mousemove -> thumbnail drawn in the DOM: ${fmt(k.warm.map((v) => v[1]))}; from the hover event: ${fmt(k.warm.map((v) => v[2]))}`);
    console.log('   (a frame at this N on SwiftShader: the epoch change above; a hover or a click that selects a point '
      + 'makes regl-scatterplot redraw every point before the frame is shown)');
  }
} finally {
  await browser.close();
  server.close();
}
