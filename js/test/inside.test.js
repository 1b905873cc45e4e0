// Unit tests of inside.js's pure helper: the features panel's unit list.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseUnits } from '../src/inside.js';

test('ranges and lists of units, below the layer width, at most 16, no repeats', () => {
  assert.deepEqual(parseUnits('0-3, 7', 10), [0, 1, 2, 3, 7]);
  assert.deepEqual(parseUnits('8-12', 10), [8, 9]);
  assert.deepEqual(parseUnits('0-40', 64), [...Array(16).keys()]);
  assert.deepEqual(parseUnits('3, 3, x, 2', 10), [3, 2]);
  assert.deepEqual(parseUnits('', 10), []);
});
