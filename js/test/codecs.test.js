// Unit tests of codecs.js: arrays <-> {view, dtype, shape} as the comm carries them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asDataView, asText, buffersAsText, decodeArray, decodeCoords, decodeIndices, decodeTree, encodeArray, textOnlyHost, typed } from '../src/codecs.js';

test('encode then decode gives the same values, dtype and shape', () => {
  const a = Float32Array.from([1.5, -2, 3.25, 4, 5, 6]);
  const enc = encodeArray(a, [3, 2]);
  assert.equal(enc.dtype, 'float32');
  assert.deepEqual(enc.shape, [3, 2]);
  assert.ok(enc.view instanceof DataView);
  const dec = decodeArray(enc);
  assert.deepEqual(Array.from(dec.data), [1.5, -2, 3.25, 4, 5, 6]);
  assert.deepEqual(dec.shape, [3, 2]);
  assert.equal(encodeArray(Uint16Array.from([7])).dtype, 'uint16');
});

test('a view into a larger buffer reads only its own bytes, misaligned views are copied', () => {
  const bytes = new Uint8Array(13);
  new DataView(bytes.buffer).setUint32(1, 0xdeadbeef, true);
  new DataView(bytes.buffer).setUint32(5, 7, true);
  const dec = decodeArray({ view: new DataView(bytes.buffer, 1, 8), dtype: 'uint32', shape: [2] });
  assert.deepEqual(Array.from(dec.data), [0xdeadbeef, 7]);
  const aligned = decodeArray({ buffer: new DataView(bytes.buffer, 4, 4), dtype: 'uint8', shape: [4] });
  assert.equal(aligned.data.buffer, bytes.buffer); // no copy when aligned
  assert.equal(typed(Uint32Array, new DataView(bytes.buffer, 5, 4))[0], 7);
});

test('unknown dtypes and missing buffers are refused; null stays null', () => {
  assert.throws(() => decodeArray({ view: new DataView(new ArrayBuffer(8)), dtype: 'int64', shape: [1] }), /unsupported dtype int64/);
  assert.throws(() => decodeArray({ view: [1, 2], dtype: 'uint8', shape: [2] }), /DataView or ArrayBuffer/);
  assert.throws(() => encodeArray([1, 2]), /cannot encode Array/);
  assert.equal(decodeArray(null), null);
  assert.equal(decodeIndices(null), null);
  assert.deepEqual(Array.from(decodeIndices(encodeArray(Uint32Array.from([4, 2])))), [4, 2]);
});

test('decodeTree decodes arrays at any depth and copies everything else', () => {
  const tree = {
    epoch: 3, kind: 'rotate', request: { strengths: [0, 10], target: null },
    positions: encodeArray(Float32Array.from([0.5, -0.5]), [1, 2]),
    list: [encodeArray(Uint8Array.from([9]))],
  };
  const out = decodeTree(tree);
  assert.equal(out.epoch, 3);
  assert.deepEqual(out.request, { strengths: [0, 10], target: null });
  assert.deepEqual(Array.from(out.positions.data), [0.5, -0.5]);
  assert.deepEqual(out.positions.shape, [1, 2]);
  assert.equal(out.list[0].data[0], 9);
  assert.equal(decodeTree(null), null);
});

test('asDataView wraps typed arrays and ArrayBuffers without copying', () => {
  const a = Uint16Array.from([1, 2, 3]).subarray(1);
  const dv = asDataView(a);
  assert.equal(dv.byteOffset, 2);
  assert.equal(dv.getUint16(0, true), 2);
  assert.equal(asDataView(dv), dv);
  assert.equal(asDataView(new ArrayBuffer(4)).byteLength, 4);
});

test('text-only hosts: a serialized array as a byte list, buffers as base64, both read back', () => {
  const sel = encodeArray(new Uint32Array([3, 7, 70000]));
  const text = JSON.parse(JSON.stringify(asText(sel)));
  assert.deepEqual(Array.from(decodeIndices(text)), [3, 7, 70000]);
  assert.deepEqual(text.shape, [3]);
  const bytes = new Uint8Array(70000).map((_, i) => (i * 31) % 256);
  const [b64] = buffersAsText([new DataView(bytes.buffer)]);
  assert.deepEqual(new Uint8Array(Buffer.from(b64, 'base64')), bytes);
  assert.equal(textOnlyHost({ widget_manager: { bk_open() {}, bk_recv() {} } }), true);
  assert.equal(textOnlyHost({ widget_manager: {} }), false);
});

test('positions: float32 pass through, uint16 are spread over their range, 65535 is NaN', () => {
  const f = encodeArray(Float32Array.from([0.5, -0.25]), [1, 1, 2]);
  assert.deepEqual(Array.from(decodeCoords(f).data), [0.5, -0.25]);
  const q = { ...encodeArray(Uint16Array.from([0, 65534, 32767, 65535]), [1, 2, 2]), range: [-1.5, 2.5] };
  const dec = decodeCoords(q);
  assert.equal(dec.dtype, 'float32');
  assert.deepEqual(dec.shape, [1, 2, 2]);
  assert.ok(dec.data instanceof Float32Array);
  assert.equal(dec.data[0], -1.5);
  assert.ok(Math.abs(dec.data[1] - 2.5) < 1e-6);
  assert.ok(Math.abs(dec.data[2] - 0.49997) < 1e-4);
  assert.ok(Number.isNaN(dec.data[3]));
});
