// ndarray <-> {view, dtype, shape} for the widget comm (mirror of dvi_widget/serialize.py).
// Typed arrays are built from the DataView's own byteOffset/byteLength: the buffer a DataView
// sits on may be larger than the view (e.g. a slice of one comm message).

const TYPED = {
  float32: Float32Array,
  float64: Float64Array,
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
};

const DTYPE_OF = new Map(Object.entries(TYPED).map(([k, v]) => [v, k]));

/**
 * Decode a serialized array.
 * @param {{view?: DataView|ArrayBuffer, buffer?: DataView|ArrayBuffer, dtype: string, shape: number[]}|null} value
 * @returns {{data: ArrayBufferView, shape: number[], dtype: string}|null}
 */
export function decodeArray(value) {
  if (value == null) return null;
  const Typed = TYPED[value.dtype];
  if (!Typed) throw new TypeError(`unsupported dtype ${value.dtype}`);
  const raw = value.view ?? value.buffer;
  let buffer;
  let byteOffset = 0;
  let byteLength;
  if (raw instanceof ArrayBuffer) {
    buffer = raw;
    byteLength = raw.byteLength;
  } else if (ArrayBuffer.isView(raw)) {
    buffer = raw.buffer;
    byteOffset = raw.byteOffset;
    byteLength = raw.byteLength;
  } else {
    throw new TypeError('serialized array needs a DataView or ArrayBuffer in "view"');
  }
  const n = byteLength / Typed.BYTES_PER_ELEMENT;
  let data;
  if (byteOffset % Typed.BYTES_PER_ELEMENT === 0) {
    data = new Typed(buffer, byteOffset, n);
  } else {
    // Misaligned view: copy the bytes out (typed arrays require aligned offsets).
    data = new Typed(buffer.slice(byteOffset, byteOffset + byteLength));
  }
  return { data, shape: value.shape.slice(), dtype: value.dtype };
}

/**
 * Encode a typed array for model.set (ipywidgets sends DataViews as binary buffers).
 * @param {ArrayBufferView} data
 * @param {number[]=} shape
 */
export function encodeArray(data, shape) {
  const dtype = DTYPE_OF.get(data.constructor);
  if (!dtype) throw new TypeError(`cannot encode ${data.constructor.name}`);
  return {
    view: new DataView(data.buffer, data.byteOffset, data.byteLength),
    dtype,
    shape: shape ?? [data.length],
  };
}

/** Decode an index list (uint32 array trait, or null) into a plain Uint32Array. */
export function decodeIndices(value) {
  const a = decodeArray(value);
  return a ? Uint32Array.from(a.data) : null;
}
