// Arrays <-> binary buffers for the widget comm: the one place the front end (de)serialises them
// (mirror of dvi_widget/view/serialize.py). Traits carry {view, dtype, shape}; panel requests and
// replies (kernel.js) carry plain buffers whose dtype the request type fixes.
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
 * Decode the widget's positions (T, N, 2): float32, or uint16 quantised over value.range
 * (dvi_widget/view/serialize.py: coords_to_json; 65535 codes NaN) for large runs.
 * @param {{dtype: string, shape: number[], range?: number[]}} value
 * @returns {{data: Float32Array, shape: number[], dtype: string}}
 */
export function decodeCoords(value) {
  const a = decodeArray(value);
  if (a.dtype !== 'uint16') return a;
  const [lo, hi] = value.range ?? [-1, 1];
  const step = Math.max(hi - lo, 1e-12) / 65534;
  const q = a.data;
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = q[i] === 65535 ? NaN : lo + q[i] * step;
  return { data: out, shape: a.shape, dtype: 'float32' };
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

/**
 * Whether the host carries the front end's messages to Python as JSON text only: a served Panel
 * app (`pn.panel(w)`, rendered by ipywidgets_bokeh, whose kernel (1.8) reads every message with
 * json.loads, so a message with binary buffers never reaches Python: UnicodeDecodeError on the
 * server). Recognised by its widget manager (ipywidgets_bokeh's WidgetManager: bk_open, bk_recv).
 */
export function textOnlyHost(model) {
  const wm = model?.widget_manager;
  return Boolean(wm && typeof wm.bk_open === 'function' && typeof wm.bk_recv === 'function');
}

/**
 * A serialized array in a form JSON text carries: its bytes as a list of numbers in `view`
 * (Python's array_from_json reads both forms: bytes(view)). Anything else is returned as is.
 */
export function asText(value) {
  if (!isSerialized(value) || Array.isArray(value.view)) return value;
  const dv = asDataView(value.view ?? value.buffer);
  return { view: Array.from(new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength)), dtype: value.dtype, shape: value.shape.slice() };
}

/**
 * A custom message's buffers in a form JSON text carries (text-only hosts, see textOnlyHost):
 * each as a base64 string; the kernel turns `_buffers` back into buffers (Widget._on_front_end_msg).
 */
export function buffersAsText(buffers) {
  return buffers.map((b) => {
    const dv = asDataView(b);
    const bytes = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(bin);
  });
}

/** Decode an index list (uint32 array trait, or null; binary or as asText wrote it) into a plain Uint32Array. */
export function decodeIndices(value) {
  const a = decodeArray(Array.isArray(value?.view) ? { ...value, view: new DataView(Uint8Array.from(value.view).buffer) } : value);
  return a ? Uint32Array.from(a.data) : null;
}

/** A DataView over a buffer the comm delivered (DataView, typed array or ArrayBuffer). */
export function asDataView(b) {
  if (b instanceof DataView) return b;
  if (ArrayBuffer.isView(b)) return new DataView(b.buffer, b.byteOffset, b.byteLength);
  return new DataView(b);
}

/** A typed array of `Type` over a reply buffer (copied when its offset is misaligned). */
export function typed(Type, buffer) {
  const dv = asDataView(buffer);
  if (dv.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(dv.buffer, dv.byteOffset, dv.byteLength / Type.BYTES_PER_ELEMENT);
  return new Type(dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength));
}

const isSerialized = (v) => v && typeof v === 'object' && typeof v.dtype === 'string' && Array.isArray(v.shape)
  && (v.view !== undefined || v.buffer !== undefined);

/**
 * Decode a JSON-like trait value whose arrays (at any depth) are serialized: each
 * {view, dtype, shape} becomes {data, shape, dtype}; everything else is copied as is.
 */
export function decodeTree(value) {
  if (isSerialized(value)) return decodeArray(value);
  if (Array.isArray(value)) return value.map(decodeTree);
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeTree(v)]));
  }
  return value;
}
