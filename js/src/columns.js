// What points can be coloured, filtered and searched by: the built-in columns (label, prediction,
// correctness, confidence, "prediction changed") and the metadata columns the kernel sends.
//
// A column is { name, title, kind: 'categorical'|'numeric', perEpoch, categories, colors, min, max,
// values(pos) }: values(pos) gives one number per sample at epoch position pos (a category code,
// or the value itself for numeric columns; NaN = missing). A metadata column sent as (T, N) (the
// training dynamics: aum, forgetting, ...) is per epoch, its row pos the value up to that epoch.
// Codes and values are cached per epoch.
import { decodeArray } from './codecs.js';

/** Number of colour steps a numeric column is binned into. */
export const NUMERIC_BINS = 32;

const CORRECT_COLORS = ['#5b6f95', '#d62728'];
const CHANGED_COLORS = ['#8a8a8a', '#e8590c'];
/** Review marks, code 0 first (dvi_widget.view.review.REVIEW_CATEGORIES). */
export const REVIEW_CATEGORIES = ['unmarked', 'mislabeled', 'correct', 'unsure'];
const REVIEW_COLORS = ['#b8b8b8', '#d62728', '#2ca02c', '#ff9f1c'];

function cached(perEpoch, compute) {
  const cache = new Map();
  return (pos) => {
    const key = perEpoch ? pos : 0;
    let v = cache.get(key);
    if (!v) {
      v = compute(pos);
      if (cache.size > 64) cache.delete(cache.keys().next().value);
      cache.set(key, v);
    }
    return v;
  };
}

/**
 * All columns of the model's data, built-ins first.
 * @param {object} d decoded data (N, labels, predictions, confidence, ...)
 * @param {object} model anywidget model (class_names, palette, columns)
 * @returns {Map<string, object>}
 */
export function buildColumns(d, model) {
  const { N } = d;
  const names = model.get('class_names').map(String);
  const palette = model.get('palette');
  const predAt = (pos) => d.predictions.subarray(pos * N, (pos + 1) * N);
  const cols = [
    {
      name: 'label', title: 'label', kind: 'categorical', perEpoch: false,
      categories: names, colors: palette, values: () => d.labels,
    },
    {
      name: 'prediction', title: 'prediction', kind: 'categorical', perEpoch: true,
      categories: names, colors: palette, values: predAt,
    },
    {
      name: 'correct', title: 'correctness', kind: 'categorical', perEpoch: true,
      categories: ['correct', 'misclassified'], colors: CORRECT_COLORS,
      values: cached(true, (pos) => {
        const p = predAt(pos);
        const out = new Uint8Array(N);
        for (let i = 0; i < N; i++) out[i] = p[i] !== d.labels[i] ? 1 : 0;
        return out;
      }),
    },
    {
      name: 'confidence', title: 'confidence', kind: 'numeric', perEpoch: true, min: 0, max: 1,
      values: cached(true, (pos) => {
        const c = d.confidence;
        const out = new Float32Array(N);
        const scale = c.dtype === 'uint8' ? 1 / 255 : 1;
        for (let i = 0; i < N; i++) out[i] = c.data[pos * N + i] * scale;
        return out;
      }),
    },
    {
      name: 'changed', title: 'prediction changed', kind: 'categorical', perEpoch: true,
      categories: ['unchanged', 'changed since previous epoch'], colors: CHANGED_COLORS,
      values: cached(true, (pos) => {
        const out = new Uint8Array(N);
        if (pos === 0) return out;
        const a = predAt(pos - 1);
        const b = predAt(pos);
        for (let i = 0; i < N; i++) out[i] = a[i] !== b[i] ? 1 : 0;
        return out;
      }),
    },
  ];
  for (const c of model.get('columns') || []) {
    if (c.kind === 'categorical') {
      const codes = decodeArray(c.codes).data;
      cols.push({
        name: c.name, title: c.name, kind: 'categorical', perEpoch: false,
        categories: c.categories.map(String), colors: c.colors, values: () => codes,
      });
    } else {
      // a per-epoch column (training dynamics) is (T, N): row pos is its value at that epoch
      const { data, shape } = decodeArray(c.values);
      const perEpoch = shape.length === 2;
      const rows = perEpoch ? shape[0] : 1;
      cols.push({
        name: c.name, title: c.name, kind: 'numeric', perEpoch, min: c.min, max: c.max,
        values: perEpoch ? (pos) => {
          const r = Math.min(pos, rows - 1);
          return data.subarray(r * N, (r + 1) * N);
        } : () => data,
      });
    }
  }
  if (model.get('review_marks')) {
    // review marks (dvi_widget/view/review.py): read live, so a mark recolours at once
    let seen = null;
    let codes = null;
    cols.push({
      name: 'review', title: 'review', kind: 'categorical', perEpoch: false,
      categories: REVIEW_CATEGORIES, colors: REVIEW_COLORS,
      values: () => {
        const v = model.get('review_marks');
        if (v !== seen) {
          seen = v;
          codes = v ? decodeArray(v).data : new Uint8Array(N);
        }
        return codes;
      },
    });
  }
  return new Map(cols.map((c) => [c.name, c]));
}

/** Text of sample i in a column at epoch position pos (for search and hover). */
export function columnText(col, i, pos) {
  const v = col.values(pos)[i];
  if (col.kind === 'categorical') return col.categories[v] ?? String(v);
  return Number.isNaN(v) ? '' : String(Math.round(v * 1000) / 1000);
}

/** Colour bin of a numeric value (NaN -> -1). */
export function numericBin(col, v) {
  if (Number.isNaN(v)) return -1;
  const span = col.max - col.min;
  const t = span > 0 ? (v - col.min) / span : 0.5;
  return Math.max(0, Math.min(NUMERIC_BINS - 1, Math.floor(t * NUMERIC_BINS)));
}

/**
 * About `count` evenly spaced round values (steps of 1, 2, 2.5 or 5 times a power of ten) from
 * `min` to `max`, both ends included when they are round: [0, 1] -> 0, 0.25, 0.5, 0.75, 1.
 */
export function niceTicks(min, max, count = 5) {
  if (!(Number.isFinite(min) && Number.isFinite(max)) || max <= min) return Number.isFinite(min) ? [min] : [];
  const raw = (max - min) / Math.max(1, count - 1);
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * p).find((s) => s >= raw * 0.999);
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  const out = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toFixed(digits)));
  return out;
}
