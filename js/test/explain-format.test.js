// Unit tests of explain/format.js: the Explain panel's wording and weight colours.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flipSentence, fmt, kindLabel, pictureRGBA, smoothWeights, strengthText, stripIndices, unitText, visibleClasses, weightRGBA } from '../src/explain/format.js';

test('numbers with three significant digits, units as suffixes', () => {
  assert.equal(fmt(23.2456), '23.2');
  assert.equal(fmt(180), '180');
  assert.equal(fmt(0.053333), '0.0533');
  assert.equal(fmt(null), '–');
  assert.equal(fmt(NaN), '–');
  assert.equal(unitText('degrees'), '°');
  assert.equal(unitText('step'), '');
  assert.equal(unitText('pixels'), ' pixels');
  assert.equal(strengthText('rotate', 'degrees', 60), '60°');
  assert.equal(strengthText('pgd', 'step', 3), 'step 3');
  assert.equal(kindLabel('pgd'), 'PGD attack');
  assert.equal(kindLabel('translate_x'), 'translate x');
});

const names = ['zero', 'one', 'two'];
const path = (extra) => ({
  kind: 'rotate', unit: 'degrees', original_prediction: 0, first_flip_index: 2, target: null, reached_index: -1,
  strengths: { data: Float32Array.from([0, 30, 60, 90]) }, predictions: { data: Uint16Array.from([0, 0, 1, 1]) }, ...extra,
});

test('the flip sentence: where it flips, or over which range it does not', () => {
  assert.equal(flipSentence(path(), (c) => names[c]), 'first flip at 60°: zero → one');
  assert.equal(flipSentence(path({ first_flip_index: -1 }), (c) => names[c]), 'no flip: zero over all 4 strengths (0° to 90°)');
});

test('a targeted attack says whether it reaches its target', () => {
  const atk = path({ kind: 'pgd', unit: 'step', target: 2, reached_index: -1 });
  assert.equal(flipSentence(atk, (c) => names[c]), 'first flip at step 60: zero → one; does not reach two');
  const hit = path({ kind: 'pgd', unit: 'step', target: 1, reached_index: 2 });
  assert.match(flipSentence(hit, (c) => names[c]), /; reaches one at step 2$/);
});

test('weight colours: white at 0, full red at +lim, full blue at -lim, clipped beyond', () => {
  const rgba = weightRGBA(Float32Array.from([9, 0, 2, -2, -8]), 1, 4, 2);
  assert.deepEqual(Array.from(rgba.slice(0, 4)), [255, 255, 255, 255]);
  assert.deepEqual(Array.from(rgba.slice(4, 8)), [178, 24, 43, 255]);
  assert.deepEqual(Array.from(rgba.slice(8, 12)), [33, 102, 172, 255]);
  assert.deepEqual(Array.from(rgba.slice(12, 16)), [33, 102, 172, 255]);
});

test('visibleClasses keeps the classes that reach the threshold somewhere', () => {
  // S = 2 strengths, C = 3 classes, row-major
  const mean = Float32Array.from([0.9, 0.06, 0.04, 0.5, 0.01, 0.49]);
  assert.deepEqual(visibleClasses(mean, 2, 3, 0.05), [0, 1, 2]);
  assert.deepEqual(visibleClasses(mean, 2, 3, 0.1), [0, 2]);
});

test('a path picture as RGBA: grey repeated in three channels, colour kept, out of range null', () => {
  const grey = { data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), shape: [2, 2, 2] };
  assert.deepEqual(Array.from(pictureRGBA(grey, 1).rgba), [5, 5, 5, 255, 6, 6, 6, 255, 7, 7, 7, 255, 8, 8, 8, 255]);
  const rgb = { data: Uint8Array.from([10, 20, 30, 40, 50, 60]), shape: [2, 1, 1, 3] };
  assert.deepEqual(Array.from(pictureRGBA(rgb, 1).rgba), [40, 50, 60, 255]);
  assert.equal(pictureRGBA(grey, 2), null);
  assert.equal(pictureRGBA(null, 0), null);
});

test('the strip keeps the ends and the first flip, evenly spaced between', () => {
  assert.deepEqual(stripIndices(5, 12), [0, 1, 2, 3, 4]);
  const k = stripIndices(101, 12, [37]);
  assert.equal(k.length, 12);
  assert.ok(k.includes(0) && k.includes(100) && k.includes(37));
  assert.deepEqual(k, [...k].sort((a, b) => a - b));
});

test('smoothed weights keep their sum away from the edges and spread a single spike', () => {
  const w = new Float32Array(49);
  w[24] = 16; // the centre of a 7 x 7 map
  const s = smoothWeights(w, 0, 7, 7, 1);
  assert.equal(s[24], 4); // [1 2 1]/4 twice: 16 * (2/4) * (2/4)
  assert.equal(s[23], 2);
  assert.equal(s[16], 1);
  assert.ok(Math.abs(s.reduce((a, b) => a + b, 0) - 16) < 1e-5);
});
