// Pure helpers of issue 25's view fixes: click vs drag, search match modes, colour-bar ticks,
// the train/test key's colours, the history strip's epoch labels, the emphasis chips' text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { indicesText, listNames } from '../src/chips.js';
import { niceTicks } from '../src/columns.js';
import { CLICK_PX, isClick } from '../src/inspect.js';
import { splitColors } from '../src/legend.js';
import { epochTicks } from '../src/sample.js';
import { matcher } from '../src/search.js';

test('a press is a click only when the pointer stayed put and drew no lasso', () => {
  assert.equal(isClick({ maxDistance: 0, lassoed: false, shift: false }), true);
  assert.equal(isClick({ maxDistance: CLICK_PX - 0.5, lassoed: false, shift: false }), true);
  // a closed lasso loop ends where it started, but went far meanwhile
  assert.equal(isClick({ maxDistance: 120, lassoed: false, shift: false }), false);
  assert.equal(isClick({ maxDistance: 1, lassoed: true, shift: false }), false);
  assert.equal(isClick({ maxDistance: 0, lassoed: false, shift: true }), false);
});

test('search modes: contains, whole word, exact value, regex', () => {
  const names = ['T-shirt/top', 'Shirt', 'Dress Shirt', 'Ankle boot', 'shirts'];
  const hits = (q, mode) => names.filter(matcher(q, mode));
  assert.deepEqual(hits('Shirt', 'contains'), ['T-shirt/top', 'Shirt', 'Dress Shirt', 'shirts']);
  assert.deepEqual(hits('Shirt', 'word'), ['Shirt', 'Dress Shirt']);
  assert.deepEqual(hits('shirt', 'exact'), ['Shirt']);
  assert.deepEqual(hits('boot', 'word'), ['Ankle boot']);
  assert.deepEqual(hits('^s', 'regex'), ['Shirt', 'shirts']);
  assert.deepEqual(hits('a.b', 'word'), []); // no regex meaning outside regex mode
  assert.throws(() => matcher('[', 'regex'));
});

test('colour-bar ticks are round and include both ends of [0, 1]', () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(niceTicks(0, 100, 6), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(niceTicks(0.13, 0.87), [0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(niceTicks(-3, 7), [-2.5, 0, 2.5, 5]);
  assert.deepEqual(niceTicks(2, 2), [2]);
});

test("the train / test key takes the split's colours only when the column colours the split", () => {
  const split = Uint8Array.from([0, 0, 1, 1, 0]);
  const col = { kind: 'categorical', colors: ['#1f77b4', '#ff7f0e'] };
  // the split column as Widget sends it: categories ['test', 'train']
  assert.deepEqual(splitColors(col, Uint8Array.from([1, 1, 0, 0, 1]), split), ['#ff7f0e', '#1f77b4']);
  assert.deepEqual(splitColors(col, Uint8Array.from([1, 0, 0, 0, 1]), split), [null, '#1f77b4']);
  assert.deepEqual(splitColors({ kind: 'numeric' }, new Float32Array(5), split), [null, null]);
});

test('history strip: epoch labels never overlap, the last epoch is labelled', () => {
  assert.deepEqual(epochTicks(3, 22, 14), [0, 1, 2]);
  const t = epochTicks(50, 6, 14); // 50 epochs in 300 px: every 3rd
  assert.equal(t[0], 0);
  assert.equal(t[t.length - 1], 49);
  for (let k = 1; k < t.length; k++) assert.ok((t[k] - t[k - 1]) * 6 >= 14 + 4, `${t}`);
});

test('chip text: a few names, then how many more; indices as a Python list', () => {
  assert.equal(listNames(['a', 'b']), 'a, b');
  assert.equal(listNames(['a', 'b', 'c', 'd', 'e']), 'a, b, c + 2 more');
  assert.equal(indicesText(Uint32Array.from([3, 7, 10])), '[3, 7, 10]');
  assert.equal(indicesText([]), '[]');
});

test('the toolbar\'s Clear says exactly what it clears: the selection, and what it leaves', async () => {
  const { clearTitle } = await import('../src/toolbar.js');
  assert.equal(clearTitle(1).split('. ')[0], 'clear the selection (1 sample; Esc or a double-click on the plot does the same)');
  assert.match(clearTitle(300), /^clear the selection \(300 samples;/);
  assert.match(clearTitle(0), /^nothing is selected\. Highlights, filters and the split shown stay/);
});
