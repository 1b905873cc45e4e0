// End to end in a served Panel app (`panel serve`, tests/view/test_panel_browser.py): the widget shown
// through pn.panel(w), an IPyWidget pane rendered by ipywidgets_bokeh inside Bokeh's shadow roots,
// with the anywidget front-end module loaded from the (stand-in) CDN.
//   1. the widget is drawn and styled inside the pane (toolbar a flex row, the plot 420 px high);
//   2. the kernel protocol's custom messages work both ways: the focused sample's Sample history
//      asks the kernel for its neighbours (model.send, JSON only) and shows the kernel's answer;
//   3. a shift+drag lasso in Pan mode reaches Python: the app writes every change of w.selection
//      to a file (one JSON list a line), whose last line must be the polygon's samples;
//   4. keys pressed in the widget are the widget's: 'b' switches to box mode, Esc clears the
//      selection, in Python too.
// Usage: node panel.test.mjs <url> <cases json> <selection file> [shot dir]
//   cases: {"shift": {"polygon": [[x, y], ...], "expected": [i, ...]}, ... (normalised, y up),
//           "neighbours": [the 8 nearest samples to sample 0 in 2-D, nearest first]}
import { existsSync, readFileSync } from 'node:fs';
import { assert, drawPolygon, launch, runTests } from './harness.mjs';

const [url, casesJson, selectionFile, shotDir] = process.argv.slice(2);
const cases = JSON.parse(casesJson);
const browser = await launch();

/** Python's w.selection, as the app last wrote it (null before its first change). */
function pythonSelection() {
  if (!existsSync(selectionFile)) return null;
  const lines = readFileSync(selectionFile, 'utf8').trim().split('\n').filter(Boolean);
  return lines.length ? JSON.parse(lines[lines.length - 1]) : null;
}

/** Wait until Python's selection is `expected` (or `timeout` ms pass); return what it is then. */
async function waitPython(expected, timeout = 20000) {
  const t0 = Date.now();
  let got = pythonSelection();
  while (JSON.stringify(got) !== JSON.stringify(expected) && Date.now() - t0 < timeout) {
    await new Promise((r) => setTimeout(r, 100));
    got = pythonSelection();
  }
  return got;
}

/** The first element matching `sel` in the document or any open shadow root below it (Bokeh
 * renders each model in a shadow root of its own). Passed to the page as text. */
const DEEP = `(sel) => {
  const walk = (root) => {
    const hit = root.querySelector(sel);
    if (hit) return hit;
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) {
        const found = walk(el.shadowRoot);
        if (found) return found;
      }
    }
    return null;
  };
  return walk(document);
}`;

const deep = (page, fn, arg) => page.evaluate(([d, f, a]) => (0, eval)(f)((0, eval)(d), a), [DEEP, fn.toString(), arg]);
const waitDeep = (page, fn, arg, timeout = 20000) => page.waitForFunction(([d, f, a]) => (0, eval)(f)((0, eval)(d), a), [DEEP, fn.toString(), arg], { timeout });


await runTests([
  ['panel serve: pn.panel(w) drawn and styled; kernel messages both ways; a shift+drag lasso reaches Python; keys act on the widget', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    const consoleLines = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // the pane's loader reports a module it could not load on the console only: stop waiting then
    let failLoad;
    const loadFailed = new Promise((_, reject) => { failLoad = reject; });
    loadFailed.catch(() => {});
    page.on('console', (m) => {
      consoleLines.push(`${m.type()}: ${m.text()}`);
      if (m.type() === 'error' && /Failed to fetch|Could not load|not found in module/.test(m.text())) failLoad(new Error(m.text()));
    });
    const t0 = Date.now();
    const lap = (what) => process.env.DVI_DEBUG && console.log(`${what}: ${Date.now() - t0} ms`);
    try {
      // the server starts while this browser does (test_panel_browser.py starts both at once)
      for (let up = false; !up;) {
        up = await fetch(url).then((r) => r.ok, () => false);
        if (!up && Date.now() - t0 > 60000) throw new Error(`panel did not answer at ${url} within 60 s`);
        if (!up) await new Promise((r) => setTimeout(r, 100));
      }
      lap('server');
      await page.goto(url, { timeout: 60000 });
      lap('page');
      await Promise.race([loadFailed,
        waitDeep(page, (q) => Number(q('.dvi-root')?.parentElement?.dataset.drawCount) >= 1, null, 60000)]);
      lap('drawn');

      // 1. where and how the widget is mounted, and that its stylesheet applies there
      const where = await deep(page, (q) => {
        const root = q('.dvi-root');
        const wrap = root.querySelector('.dvi-canvas-wrap').getBoundingClientRect();
        const toolbar = getComputedStyle(root.querySelector('.dvi-row-main'));
        return { inShadow: root.getRootNode() instanceof ShadowRoot, w: wrap.width, h: wrap.height, display: toolbar.display };
      });
      assert(where.display === 'flex' && where.w > 300 && Math.abs(where.h - 420) <= 2, `styles in the pane: ${JSON.stringify(where)}`);
      assert((await page.locator('.dvi-mode-pan.dvi-on').count()) === 1, 'starts in Pan mode');
      if (shotDir) await page.screenshot({ path: `${shotDir}/panel_1400x1000.png` });

      // 2. the kernel protocol: sample 0's neighbours as the kernel answered (data-epoch is set on
      // the list's holder only from a reply)
      await waitDeep(page, (q) => q('.dvi-panel-sample [data-epoch="0"] > .dvi-nn'), null, 20000);
      const nn = await page.locator('.dvi-nn .dvi-nn-2d .dvi-nrow').evaluateAll((rows) => rows.map((r) => Number(r.dataset.sample)));
      assert(JSON.stringify(nn) === JSON.stringify(cases.neighbours), `the kernel's neighbours of sample 0: ${nn}, expected ${cases.neighbours}`);
      lap('kernel protocol');

      // 3. shift+drag in Pan mode: the status line, then Python's w.selection
      await drawPolygon(page, cases.shift.polygon, { shift: true });
      lap('lasso drawn');
      await waitDeep(page, (q, n) => q('.dvi-status')?.textContent === `${n} selected`, cases.shift.expected.length);
      const expected = cases.shift.expected;
      const got = await waitPython(expected);
      lap('selection in Python');
      if (shotDir) await page.screenshot({ path: `${shotDir}/panel_lasso_1400x1000.png` });
      assert(JSON.stringify(got) === JSON.stringify(expected),
        `lasso: Python has ${got === null ? 'no change of w.selection' : `${got.length} samples`}, the polygon holds ${expected.length}`
        + (got ? `: extra ${got.filter((i) => !expected.includes(i)).slice(0, 10)}, missing ${expected.filter((i) => !got.includes(i)).slice(0, 10)}` : ''));

      // 4. keys: 'b' is box mode, Esc clears the selection (in Python too)
      await page.locator('.dvi-canvas-wrap').click({ position: { x: 3, y: 3 } });
      await page.keyboard.press('b');
      await page.locator('.dvi-mode-box.dvi-on').waitFor({ timeout: 10000 });
      await page.keyboard.press('Escape');
      await waitDeep(page, (q) => q('.dvi-status')?.textContent === '', null, 10000);
      const cleared = await waitPython([]);
      assert(JSON.stringify(cleared) === '[]', `Esc cleared the selection in Python too: ${cleared?.length}`);
      lap('keys');
      assert(errors.length === 0, errors.join('\n'));
    } catch (err) {
      if (shotDir) await page.screenshot({ path: `${shotDir}/panel_failure.png` }).catch(() => {});
      console.log(consoleLines.join('\n'));
      throw err;
    }
    if (process.env.DVI_DEBUG) console.log(consoleLines.join('\n'));
    await page.close();
  }],
]);
await browser.close();
