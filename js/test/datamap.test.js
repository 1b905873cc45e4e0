// Unit tests of datamap.js helpers: the lasso's point-in-polygon test and the correctness colours.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { correctnessColor, inside } from '../src/datamap.js';

test('inside: a square, a concave polygon, points on either side', () => {
  const square = [[0, 0], [10, 0], [10, 10], [0, 10]];
  assert.equal(inside(square, 5, 5), true);
  assert.equal(inside(square, 11, 5), false);
  assert.equal(inside(square, -1, -1), false);
  // a U shape: the notch (4..6 wide, from y = 5 up) is outside
  const u = [[0, 0], [10, 0], [10, 10], [6, 10], [6, 5], [4, 5], [4, 10], [0, 10]];
  assert.equal(inside(u, 5, 8), false);
  assert.equal(inside(u, 5, 2), true);
  assert.equal(inside(u, 2, 8), true);
});

test('correctnessColor: red when never right, blue when always, clamped', () => {
  assert.equal(correctnessColor(0), 'rgb(214,39,40)');
  assert.equal(correctnessColor(1), 'rgb(31,119,180)');
  assert.equal(correctnessColor(2), correctnessColor(1));
  assert.equal(correctnessColor(Number.NaN), correctnessColor(0));
});
