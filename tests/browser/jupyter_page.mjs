// Driving a notebook page of JupyterLab 4 or Jupyter Notebook 7 (shared by the jupyter*.mjs tests).

/** Wait until the kernel is idle (JupyterLab's status bar or Notebook 7's execution indicator). */
export const idle = (page, timeout = 120000) => page.waitForFunction(() => {
  const lab = document.querySelector('#jp-main-statusbar')?.textContent || '';
  const nb7 = document.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status');
  return /\|\s*Idle/.test(lab) || nb7 === 'idle';
}, null, { timeout });

/**
 * Run cell `index` (Shift+Enter in its editor) and wait until its output contains `marker`.
 * JupyterLab marks a cell it takes at once (its prompt turns to [*]); a Shift+Enter the page
 * missed (the editor was not focused yet) shows no change within `takenMs` and is retried then —
 * not after the whole `ranMs`, which made one missed key cost three minutes of a test.
 */
export async function runCell(page, index, marker = null, { ranMs = 60000, outputMs = 120000, idleMs = 120000, takenMs = 10000 } = {}) {
  const cell = page.locator('.jp-Notebook .jp-Cell').nth(index);
  const before = await cell.locator('.jp-InputPrompt').textContent();
  for (let attempt = 0; attempt < 4; attempt++) {
    await cell.locator('.jp-InputArea-editor').click();
    await page.keyboard.press('Shift+Enter');
    try {
      // taken: the prompt changed at all ([*] while queued or running, or already [n])
      await page.waitForFunction(([i, prev]) => (document.querySelectorAll('.jp-Notebook .jp-Cell')[i]
        ?.querySelector('.jp-InputPrompt')?.textContent || '') !== prev, [index, before], { timeout: takenMs });
    } catch (err) {
      if (attempt === 3) throw new Error(`cell ${index} never ran: ${err}`);
      await idle(page, idleMs);
      // taken late after all (it ran while we waited for the kernel): never run it twice
      const now = await cell.locator('.jp-InputPrompt').textContent();
      if (now !== before && /\[\d+\]/.test(now)) break;
      console.log(`cell ${index}: Shift+Enter not taken within ${takenMs} ms, pressed again`);
      continue;
    }
    await page.waitForFunction((i) => /\[\d+\]/.test(document.querySelectorAll('.jp-Notebook .jp-Cell')[i]
      ?.querySelector('.jp-InputPrompt')?.textContent || ''), index, { timeout: ranMs });
    break;
  }
  if (marker) {
    await page.waitForFunction(([i, m]) => (document.querySelectorAll('.jp-Notebook .jp-Cell')[i]
      ?.querySelector('.jp-OutputArea')?.textContent || '').includes(m), [index, marker], { timeout: outputMs });
  }
  return cell;
}

/**
 * Wait until the notebook page can take a Shift+Enter: kernel idle, first cell's editor built. A
 * "Select Kernel" dialog, which JupyterLab may open at any time while the page settles, is
 * accepted (the notebook's own kernel) whenever it shows up. Several can queue (a Run All chosen
 * again while the kernel was being replaced opened a second one behind the first): with
 * `noWaitAfter` the handler does not wait for "the" dialog to go, which left the second one open
 * for the whole action timeout; the next action's check finds it and runs the handler again.
 */
export async function opened(page, timeout = 120000) {
  await page.addLocatorHandler(page.locator('.jp-Dialog:has-text("Select Kernel")').first(),
    async (dialog) => {
      await dialog.locator('.jp-mod-accept').click();
      await dialog.waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
    }, { noWaitAfter: true });
  await idle(page, timeout);
  await page.waitForSelector('.jp-Notebook .jp-Cell .jp-InputArea-editor .cm-content', { state: 'attached', timeout });
}
