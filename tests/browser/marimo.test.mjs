// End to end in marimo (`marimo run --headless`, the app view: it runs every cell when the page
// opens; `marimo edit` mounts the widget the same way but costs a "run all" and 7 s more): the
// widget shown through mo.ui.anywidget(w), which mounts it in a shadow root (<marimo-anywidget>)
// with the widget's stylesheet inside.
//   1. the stylesheet applies inside the shadow root (toolbar and plot laid out);
//   2. the kernel protocol's custom messages work both ways: the focused sample's Sample history
//      asks the kernel for its neighbours (model.send) and shows the kernel's answer;
//   3. a lasso drawn on the canvas reaches Python: the downstream cell, re-run by marimo when the
//      widget's value changes, prints exactly the samples inside the drawn polygon;
//   4. keys pressed in the widget are the widget's ('b': box mode, Esc: clear, also in Python) and
//      go no further: a keydown listener on document (where marimo's hotkeys listen) sees none of
//      them; a key the widget does not use passes.
// Usage: node marimo.test.mjs <url> <cases json> [shot dir]
//   cases: {"button": {"polygon": [[x, y], ...], "expected": [i, ...]} (normalised, y up),
//           "neighbours": [the 8 nearest samples to sample 0 in 2-D, nearest first]}
import { assert, drawPolygon, launch, runTests } from './harness.mjs';

const [url, casesJson, shotDir] = process.argv.slice(2);
const cases = JSON.parse(casesJson);
const browser = await launch();

/** The downstream cell's output after SELECTED (the kernel's w.selection), or null. Read with
 * textContent, which (unlike Playwright's has-text) does not look into the widget's shadow root. */
const printed = () => {
  const out = [...document.querySelectorAll('.output-area')].find((e) => e.textContent.includes('SELECTED'));
  return out ? out.textContent.slice(out.textContent.indexOf('SELECTED') + 'SELECTED'.length).trim() : null;
};

/** Wait until Python printed `expected` (marimo re-runs the cell when the widget's value changes),
 * and return what it printed then (or at the timeout). */
async function waitSelection(page, expected) {
  const t0 = Date.now();
  await page.waitForFunction(([f, w]) => {
    const text = (0, eval)(f)(); // Python's json.dumps spaces its items: compare the parsed lists
    try { return text !== null && JSON.stringify(JSON.parse(text)) === w; } catch { return false; }
  }, [printed.toString(), JSON.stringify(expected)], { timeout: 30000 }).catch(() => {});
  if (process.env.DVI_DEBUG) console.log('waitSelection', expected.length, Date.now() - t0);
  return JSON.parse((await page.evaluate(printed)) ?? 'null');
}


const status = (page) => page.locator('.dvi-status').textContent();

await runTests([
  ['marimo: the widget in a shadow root, styled; kernel messages both ways; a lasso reaches Python; keys stay in the widget', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const t0 = Date.now();
    const lap = (what) => process.env.DVI_DEBUG && console.log(`${what}: ${Date.now() - t0} ms`);
    try {
      // the server starts while this browser does (test_browser.py starts both at once)
      for (let up = false; !up;) {
        up = await fetch(url).then((r) => r.ok, () => false);
        if (!up && Date.now() - t0 > 60000) throw new Error(`marimo did not answer at ${url} within 60 s`);
        if (!up) await new Promise((r) => setTimeout(r, 100));
      }
      lap('server');
      await page.goto(url, { timeout: 60000 });
      lap('page');
      // Playwright's CSS selectors pierce open shadow roots
      await page.waitForFunction(() => {
        const host = document.querySelector('marimo-anywidget');
        return Number(host?.shadowRoot?.querySelector('.dvi-root')?.parentElement?.dataset.drawCount) >= 1;
      }, null, { timeout: 60000 });
      lap('drawn');
      const where = await page.evaluate(() => {
        const host = document.querySelector('marimo-anywidget');
        const root = host.shadowRoot.querySelector('.dvi-root');
        const wrap = root.querySelector('.dvi-canvas-wrap').getBoundingClientRect();
        const toolbar = getComputedStyle(root.querySelector('.dvi-row-main'));
        return { inShadow: root.getRootNode() instanceof ShadowRoot, inDocument: !!document.querySelector('.dvi-root'), w: wrap.width, h: wrap.height, display: toolbar.display };
      });
      assert(where.inShadow && !where.inDocument, `marimo mounts the widget in a shadow root: ${JSON.stringify(where)}`);
      // widget.css applies there: the toolbar row is a flex row, the plot has its height (420 px)
      assert(where.display === 'flex' && where.w > 300 && Math.abs(where.h - 420) <= 2, `styles inside the shadow root: ${JSON.stringify(where)}`);
      assert(JSON.stringify(await waitSelection(page, [])) === '[]', 'nothing selected at first');
      if (shotDir) await page.screenshot({ path: `${shotDir}/marimo_1400x1000.png` });

      // 2. the kernel protocol: sample 0's neighbours as the kernel answered (data-epoch is set on
      // the list's holder only from a reply; without a kernel the panel would list 2-D neighbours it found itself)
      await page.waitForFunction(() => document.querySelector('marimo-anywidget').shadowRoot.querySelector('.dvi-panel-sample [data-epoch="0"] > .dvi-nn'), null, { timeout: 20000 });
      const nn = await page.evaluate(() => [...document.querySelector('marimo-anywidget').shadowRoot.querySelectorAll('.dvi-nn .dvi-nn-2d .dvi-nrow')].map((r) => Number(r.dataset.sample)));
      assert(JSON.stringify(nn) === JSON.stringify(cases.neighbours), `the kernel's neighbours of sample 0: ${nn}, expected ${cases.neighbours}`);
      lap('kernel protocol');

      // 3. Lasso button, then a drag: the kernel's w.selection holds the polygon's samples
      lap('checked');
      await page.locator('.dvi-mode-lasso').click();
      await drawPolygon(page, cases.button.polygon);
      lap('lasso drawn');
      await page.waitForFunction((n) => {
        const host = document.querySelector('marimo-anywidget');
        return host.shadowRoot.querySelector('.dvi-status')?.textContent === `${n} selected`;
      }, cases.button.expected.length, { timeout: 20000 });
      const got = await waitSelection(page, cases.button.expected);
      assert(JSON.stringify(got) === JSON.stringify(cases.button.expected),
        `lasso: Python has ${got.length} samples, the polygon holds ${cases.button.expected.length}: extra ${got.filter((i) => !cases.button.expected.includes(i)).slice(0, 10)}, missing ${cases.button.expected.filter((i) => !got.includes(i)).slice(0, 10)}`);
      lap('selection in Python');
      if (shotDir) await page.screenshot({ path: `${shotDir}/marimo_lasso_1400x1000.png` });

      // 4. keys: the host page's listeners on document (marimo's hotkeys) see none of the widget's
      await page.evaluate(() => {
        window.hostSaw = [];
        document.addEventListener('keydown', (e) => window.hostSaw.push(e.key));
      });
      await page.locator('.dvi-canvas-wrap').click({ position: { x: 3, y: 3 } });
      await page.keyboard.press('b');
      await page.waitForFunction(() => document.querySelector('marimo-anywidget').shadowRoot.querySelector('.dvi-mode-box.dvi-on'), null, { timeout: 10000 });
      await page.keyboard.press('Escape');
      await page.waitForFunction(() => document.querySelector('marimo-anywidget').shadowRoot.querySelector('.dvi-status')?.textContent === '', null, { timeout: 10000 });
      const cleared = await waitSelection(page, []);
      assert(JSON.stringify(cleared) === '[]', `Esc cleared the selection in Python too: ${cleared.length}`);
      assert(JSON.stringify(await page.evaluate(() => window.hostSaw)) === '[]', `the host saw ${await page.evaluate(() => window.hostSaw)}`);
      // a key the widget does not use goes on to the host
      await page.keyboard.press('q');
      assert(JSON.stringify(await page.evaluate(() => window.hostSaw)) === '["q"]', `q reaches the host: ${await page.evaluate(() => window.hostSaw)}`);
      if (shotDir) {
        await page.setViewportSize({ width: 900, height: 700 });
        await page.locator('marimo-anywidget').scrollIntoViewIfNeeded();
        await page.waitForFunction(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true)))));
        await page.screenshot({ path: `${shotDir}/marimo_900x700.png` });
      }
      lap('keys');
      assert(errors.length === 0, errors.join('\n'));
    } catch (err) {
      if (shotDir) await page.screenshot({ path: `${shotDir}/marimo_failure.png` }).catch(() => {});
      throw err;
    }
    await page.close();
  }],
]);
await browser.close();
