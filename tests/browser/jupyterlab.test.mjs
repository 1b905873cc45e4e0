// End to end in a real JupyterLab: open a notebook, run the cell that shows the widget, box-select a
// cluster in the browser, run the cell that prints selection_df() and read the kernel's answer.
// Usage: node jupyterlab.test.mjs <lab base url> <token> <notebook name> <expected indices json> [screenshot.png]
import { assert, launch, runTests } from './harness.mjs';

const [base, token, notebook, expectedJson, shot] = process.argv.slice(2);
const expected = JSON.parse(expectedJson);
const browser = await launch();
let failShot = async () => {};

const kernelIdle = (page) =>
  page.waitForFunction(() => /\|\s*Idle/.test(document.querySelector('.jp-StatusBar-Widget, #jp-main-statusbar')?.textContent || document.body.textContent), null, { timeout: 120000 });

/** Run cell `index` (Shift+Enter in its editor) and wait until the kernel has started it. */
async function runCell(page, index) {
  const cell = page.locator('.jp-Notebook .jp-Cell').nth(index);
  for (let attempt = 0; attempt < 3; attempt++) {
    await cell.locator('.jp-InputArea-editor').click();
    await page.keyboard.press('Shift+Enter');
    try {
      await cell.locator('.jp-InputPrompt').filter({ hasText: /\[(\d+|\*)\]/ }).waitFor({ timeout: 15000 });
      return;
    } catch {
      await kernelIdle(page);
    }
  }
  throw new Error(`cell ${index} never ran`);
}

const withShot = (fn) => async () => {
  try {
    await fn();
  } catch (err) {
    await failShot();
    throw err;
  }
};

await runTests([
  ['JupyterLab: lasso in the browser -> selection_df() in the kernel', withShot(async () => {
    const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    const url = `${base.replace(/\/$/, '')}/lab/tree/${notebook}?token=${token}`;
    page.on('close', () => {});
    failShot = async () => shot && page.screenshot({ path: shot }).catch(() => {});
    await page.goto(url, { timeout: 120000 });
    await page.waitForSelector('.jp-Notebook .jp-Cell', { timeout: 120000 });
    // wait for the kernel to be idle before running
    await kernelIdle(page);
    await page.waitForTimeout(500);
    await runCell(page, 0);
    await page.waitForFunction(() => Number(document.querySelector('.dvi-root')?.parentElement?.dataset.drawCount) >= 1, null, { timeout: 120000 });
    const wrap = page.locator('.dvi-canvas-wrap');
    await wrap.scrollIntoViewIfNeeded();
    await page.waitForTimeout(500);
    const box = await wrap.boundingBox();
    const s = box.height / 2;
    const X = (x) => box.x + box.width / 2 + x * s;
    const Y = (y) => box.y + box.height / 2 - y * s;
    // the cell set mouse_mode="box": drag a rectangle around the cluster at (0.5, -0.5)
    await page.mouse.move(X(0.25), Y(-0.25));
    await page.mouse.down();
    await page.mouse.move(X(0.75), Y(-0.25), { steps: 5 });
    await page.mouse.move(X(0.75), Y(-0.75), { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction((n) => (document.querySelector('.dvi-status')?.textContent || '').startsWith(`${n} selected`), expected.length, { timeout: 20000 });
    await runCell(page, 1);
    const out = page.locator('.jp-Notebook .jp-Cell').nth(1).locator('.jp-OutputArea-output');
    await out.first().waitFor({ timeout: 60000 });
    await page.waitForFunction(() => {
      const cells = document.querySelectorAll('.jp-Notebook .jp-Cell');
      return (cells[1]?.querySelector('.jp-OutputArea-output')?.textContent || '').includes('SELECTED');
    }, null, { timeout: 60000 });
    const text = await out.first().textContent();
    const line = text.split('\n').find((l) => l.startsWith('SELECTED'));
    const got = JSON.parse(line.slice('SELECTED'.length));
    assert(JSON.stringify(got) === JSON.stringify(expected), `kernel saw ${got.length} rows: ${got.slice(0, 10)}; expected ${expected.length}`);
    await page.close();
  })],
]);
await browser.close();
