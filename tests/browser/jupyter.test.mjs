// End to end in a real JupyterLab 4 or Jupyter Notebook 7: open a notebook, run the cell that shows
// the widget, draw a lasso in the browser the way a user does, run the cell that prints
// selection_df() and compare the kernel's rows with the samples inside the drawn polygon.
//   1. shift+drag in the default Pan mode, no button pressed (the notebook must not swallow it)
//   2. the Lasso button, then a plain drag
// plus: keys pressed in the widget do not reach the notebook ('b' would insert a cell).
// Usage: node jupyter.test.mjs <lab|notebook> <base url> <token> <notebook> <cases json> [shot.png]
//   cases: {"shift": {"polygon": [[x, y], ...], "expected": [i, ...]}, "button": {...}}
//   polygon vertices in the frame's normalised coordinates ([-1, 1], y up)
import { idle as kernelIdle, runCell as runCellIn } from './jupyter_page.mjs';
import { assert, clickStill, drawPolygon, launch, runTests, settled } from './harness.mjs';

const [app, base, token, notebook, casesJson, shot] = process.argv.slice(2);
const cases = JSON.parse(casesJson);
const browser = await launch();
let failShot = async () => {};

const idle = (page) => kernelIdle(page, 120000);
const runCell = (page, index, marker = null) => runCellIn(page, index, marker, { ranMs: 30000, outputMs: 60000 });

async function kernelSelection(page) {
  const cell = await runCell(page, 1, 'SELECTED');
  const text = await cell.locator('.jp-OutputArea').textContent();
  const line = text.split('\n').find((l) => l.includes('SELECTED'));
  return JSON.parse(line.slice(line.indexOf('SELECTED') + 'SELECTED'.length).trim());
}


/** Wait for the status to read "n selected" ('' for none); a timeout says what it read instead. */
async function statusIs(page, n) {
  const want = n ? `${n} selected` : '';
  try {
    await page.waitForFunction((w) => (document.querySelector('.dvi-status')?.textContent || '') === w, want, { timeout: 20000 });
  } catch (err) {
    const got = await page.evaluate(() => document.querySelector('.dvi-status')?.textContent ?? '(no status)');
    const mode = await page.evaluate(() => document.querySelector('.dvi-toolbar .dvi-on')?.className ?? '');
    throw new Error(`status "${got}" after 20 s, expected "${want}" (mode button: ${mode}): ${err.message}`);
  }
}

await runTests([
  [`${app}: shift+drag lasso and Lasso-button lasso -> selection_df() in the kernel`, async () => {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
    failShot = async () => shot && page.screenshot({ path: shot }).catch(() => {});
    try {
      const path = app === 'lab' ? `lab/tree/${notebook}` : `notebooks/${notebook}`;
      await page.goto(`${base.replace(/\/$/, '')}/${path}?token=${token}`, { timeout: 120000 });
      await page.waitForSelector('.jp-Notebook .jp-Cell', { timeout: 120000 });
      await idle(page);
      await page.waitForTimeout(1000);
      await runCell(page, 0);
      await page.waitForFunction(() => Number(document.querySelector('.dvi-root')?.parentElement?.dataset.drawCount) >= 1, null, { timeout: 120000 });

      // 1. shift+drag in Pan mode
      assert((await page.locator('.dvi-mode-pan.dvi-on').count()) === 1, 'starts in Pan mode');
      await drawPolygon(page, cases.shift.polygon, { shift: true });
      await statusIs(page, cases.shift.expected.length);
      let got = await kernelSelection(page);
      assert(JSON.stringify(got) === JSON.stringify(cases.shift.expected),
        `shift+drag: kernel has ${got.length} rows, the polygon holds ${cases.shift.expected.length}: `
        + `extra ${got.filter((i) => !cases.shift.expected.includes(i)).slice(0, 10)}, missing ${cases.shift.expected.filter((i) => !got.includes(i)).slice(0, 10)}`);

      // 2. the Lasso button, then a plain drag (a double-click clears the selection first). Both
      //    lassos come before the zoom, so that they are drawn on the view the polygons were
      //    computed for, with no animated reset in between
      await page.locator('.dvi-canvas').scrollIntoViewIfNeeded(); // running the cell scrolled
      await page.waitForTimeout(300);
      const corner = await page.locator('.dvi-canvas').boundingBox();
      await clickStill(page, corner.x + 4, corner.y + 4, { dblclick: true });
      await statusIs(page, 0);
      await page.click('.dvi-mode-lasso');
      await drawPolygon(page, cases.button.polygon, { shift: false });
      await statusIs(page, cases.button.expected.length);
      got = await kernelSelection(page);
      assert(JSON.stringify(got) === JSON.stringify(cases.button.expected),
        `Lasso button: kernel has ${got.length} rows, the polygon holds ${cases.button.expected.length}`);

      // 3. keys inside the widget stay there: 'b' is box mode, not "insert a cell below"
      await page.locator('.dvi-canvas-wrap').click({ position: { x: 3, y: 3 } });
      const nCells = await page.locator('.jp-Notebook .jp-Cell').count();
      await page.keyboard.press('b');
      await page.waitForTimeout(300);
      assert((await page.locator('.dvi-mode-box.dvi-on').count()) === 1, "'b' switched to box mode");
      assert((await page.locator('.jp-Notebook .jp-Cell').count()) === nCells, "'b' reached the notebook and inserted a cell");

      // Esc clears the selection; the wheel zooms the plot and does not scroll the notebook
      await page.keyboard.press('Escape');
      await statusIs(page, 0);
      const scrolls = () => page.locator('.dvi-canvas').evaluate((el) => {
        let sum = 0;
        for (let e = el; e; e = e.parentElement) sum += e.scrollTop;
        return sum;
      });
      const before = await page.locator('.dvi-canvas').screenshot(); // scrolls it into view
      const c = await page.locator('.dvi-canvas').boundingBox();
      const top0 = await scrolls();
      await page.mouse.move(c.x + c.width / 2, c.y + c.height / 2);
      await page.mouse.wheel(0, -400);
      // a loaded machine can take seconds to draw the zoomed frame: poll, do not sleep once
      let zoomed = false;
      for (let i = 0; i < 40 && !zoomed; i++) {
        await page.waitForTimeout(250);
        zoomed = !before.equals(await page.locator('.dvi-canvas').screenshot());
      }
      assert((await scrolls()) === top0, 'the wheel scrolled the notebook');
      assert(zoomed, 'the wheel did not zoom');
      if (shot) {
        // back to Pan mode and the whole map for the picture (the reset is animated: let it
        // finish), then the shift+drag lasso
        await page.click('.dvi-mode-pan');
        await page.keyboard.press('r');
        await page.waitForTimeout(300);
        await settled(page, '.dvi-canvas', 30000);
        await drawPolygon(page, cases.shift.polygon, { shift: true });
        await page.locator('.dvi-root').evaluate((e) => e.scrollIntoView({ block: 'start' }));
        await page.waitForTimeout(500);
        await page.screenshot({ path: shot });
      }
    } catch (err) {
      await failShot();
      throw err;
    }
    await page.close();
  }],
]);
await browser.close();
