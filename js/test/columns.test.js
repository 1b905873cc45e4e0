// Unit tests of columns.js: the built-in columns from decoded data, metadata columns, text, bins.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeArray } from '../src/codecs.js';
import { buildColumns, columnText, NUMERIC_BINS, numericBin } from '../src/columns.js';

const model = (traits) => ({ get: (k) => traits[k] });
// 3 samples, 2 epochs: labels 0 1 1; predictions epoch 0: 0 0 1, epoch 1: 1 0 1
const d = {
  N: 3,
  labels: Uint8Array.from([0, 1, 1]),
  predictions: Uint8Array.from([0, 0, 1, 1, 0, 1]),
  confidence: { data: Uint8Array.from([255, 51, 102, 0, 255, 128]), dtype: 'uint8' },
};
const traits = {
  class_names: ['cat', 'dog'], palette: ['#ff0000', '#0000ff'],
  columns: [
    { name: 'noisy', kind: 'categorical', codes: encodeArray(Uint8Array.from([1, 0, 1])), categories: ['False', 'True'], colors: ['#999999', '#d62728'] },
    { name: 'loss', kind: 'numeric', values: encodeArray(Float32Array.from([0.5, NaN, 2])), min: 0.5, max: 2 },
  ],
};

test('built-in columns come first, then the metadata ones', () => {
  const cols = buildColumns(d, model(traits));
  assert.deepEqual([...cols.keys()], ['label', 'prediction', 'correct', 'confidence', 'changed', 'noisy', 'loss']);
});

test('per-epoch values: prediction, correctness, confidence, changed', () => {
  const cols = buildColumns(d, model(traits));
  assert.deepEqual(Array.from(cols.get('prediction').values(1)), [1, 0, 1]);
  assert.deepEqual(Array.from(cols.get('correct').values(0)), [0, 1, 0]);
  assert.deepEqual(Array.from(cols.get('correct').values(1)), [1, 1, 0]);
  const conf = Array.from(cols.get('confidence').values(0));
  assert.deepEqual(conf.map((v) => Math.round(v * 100) / 100), [1, 0.2, 0.4]);
  assert.deepEqual(Array.from(cols.get('changed').values(0)), [0, 0, 0]);
  assert.deepEqual(Array.from(cols.get('changed').values(1)), [1, 0, 0]);
});

test('columnText names categories, rounds numbers, leaves missing values empty', () => {
  const cols = buildColumns(d, model(traits));
  assert.equal(columnText(cols.get('label'), 1, 0), 'dog');
  assert.equal(columnText(cols.get('noisy'), 0, 0), 'True');
  assert.equal(columnText(cols.get('loss'), 0, 0), '0.5');
  assert.equal(columnText(cols.get('loss'), 1, 0), '');
});

test('numericBin spans [min, max] over NUMERIC_BINS bins; NaN is -1', () => {
  const col = { min: 0.5, max: 2 };
  assert.equal(numericBin(col, 0.5), 0);
  assert.equal(numericBin(col, 2), NUMERIC_BINS - 1);
  assert.equal(numericBin(col, 1.25), NUMERIC_BINS / 2);
  assert.equal(numericBin(col, 99), NUMERIC_BINS - 1);
  assert.equal(numericBin(col, NaN), -1);
  assert.equal(numericBin({ min: 1, max: 1 }, 1), NUMERIC_BINS / 2);
});

test('a (T, N) metadata column follows the epoch: row pos at epoch position pos', () => {
  const aum = { name: 'aum', kind: 'numeric', values: encodeArray(Float32Array.from([-2, 1, 0.5, -1, 3, 0.25]), [2, 3]), min: -2, max: 3, per_epoch: true };
  const cols = buildColumns(d, model({ ...traits, columns: [aum] }));
  const col = cols.get('aum');
  assert.equal(col.perEpoch, true);
  assert.deepEqual(Array.from(col.values(0)), [-2, 1, 0.5]);
  assert.deepEqual(Array.from(col.values(1)), [-1, 3, 0.25]);
  assert.equal(columnText(col, 1, 1), '3');
  assert.equal(numericBin(col, -2), 0);
});
