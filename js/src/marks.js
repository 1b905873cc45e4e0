// How samples become regl-scatterplot points, and what each mark looks like.
//   x, y : normalised coordinates in [-1, 1] (the shared extent of all epochs)
//   z    : colour category = k (category or colour bin of the colour-by column) + K if
//          misclassified (darker shade); 2K = dimmed (not highlighted); 2K + 1 = missing value
//   w    : size/opacity category = 2 * (split is not "train") + misclassified
//
// Readability: the landscape is shown washed toward white (landscape_opacity) and marks are drawn
// in their category colour with L* capped at MARK_LIGHTNESS, so a point never has the colour of the
// region under it (the landscape uses the same palette).
import { capLightness, darken, viridis } from './colors.js';
import { NUMERIC_BINS, numericBin } from './columns.js';

/** Highest CIE L* of a mark (lighter palette colours are darkened to it, hue kept). */
export const MARK_LIGHTNESS = 55;
/** Misclassified marks: this fraction of the mark's L*. */
export const MISCLASSIFIED_DARKEN = 0.6;
export const DIMMED_COLOR = '#c9c9c9';
export const MISSING_COLOR = '#6f6f6f';
/** Size factors by w category: train, train misclassified, test, test misclassified. */
export const SIZE_FACTORS = [1, 1.5, 0.75, 1.25];
/** Opacity by w category, multiplied by the point_opacity trait. */
export const OPACITY_FACTORS = [1, 1, 0.8, 0.9];

/** The category colours of a column (numeric columns: one per colour bin). */
export function categoryColors(col) {
  if (col.kind === 'numeric') {
    return Array.from({ length: NUMERIC_BINS }, (_, k) => viridis(0.9 * ((k + 0.5) / NUMERIC_BINS)));
  }
  return col.colors;
}

/** What a mark of category colour `hex` is drawn with: normal and misclassified shade. */
export function markColor(hex, misclassified = false) {
  const c = capLightness(hex, MARK_LIGHTNESS);
  return misclassified ? darken(c, MISCLASSIFIED_DARKEN) : c;
}

/** Point colours of a column: marks, darker marks, dimmed, missing (indexed by z). */
export function pointColors(col) {
  const base = categoryColors(col);
  return [...base.map((c) => markColor(c)), ...base.map((c) => markColor(c, true)), DIMMED_COLOR, MISSING_COLOR];
}

export const pointSizes = (size) => SIZE_FACTORS.map((f) => size * f);
export const pointOpacities = (opacity) => OPACITY_FACTORS.map((f) => Math.max(0.02, Math.min(1, f * opacity)));

/** Number of colour categories K of a column. */
export const categoryCount = (col) => (col.kind === 'numeric' ? NUMERIC_BINS : col.categories.length);

/**
 * The z (colour category, see the top of this file) of each sample at epoch `pos`, as a function
 * of the sample's index.
 * @param {object} d decoded data (labels, predictions, N)
 * @param {number} pos epoch position
 * @param {{column: object, markMisclassified: boolean, emphasis: Uint8Array|null}} opts
 *   emphasis: 1 for samples drawn normally, 0 for dimmed ones (null: all normal)
 */
function markZ(d, pos, opts) {
  const base = pos * d.N;
  const { labels, predictions } = d;
  const col = opts.column;
  const K = categoryCount(col);
  const values = col.values(pos);
  const numeric = col.kind === 'numeric';
  const mark = opts.markMisclassified;
  const emphasis = opts.emphasis;
  return (i) => {
    if (emphasis && !emphasis[i]) return 2 * K;
    const k = numeric ? numericBin(col, values[i]) : values[i];
    const wrong = mark && predictions[base + i] !== labels[i] ? 1 : 0;
    return k < 0 ? 2 * K + 1 : k + wrong * K;
  };
}

/** Every sample's z at epoch `pos` (the density raster of a large run colours by it). */
export function markCategories(d, pos, opts, out = null) {
  const z = out && out.length === d.N ? out : new Uint16Array(d.N);
  const zOf = markZ(d, pos, opts);
  for (let i = 0; i < d.N; i++) z[i] = zOf(i);
  return z;
}

/**
 * Build the points of one epoch as regl-scatterplot's array-oriented points, [x, y, z, w] each.
 *
 * Array-oriented points are used as given, while column-oriented ones ({x, y, z, w}) are turned
 * into N fresh arrays on every draw; refilling `out` in place avoids that allocation per epoch.
 * @param {object} d decoded data (coords, labels, predictions, splitCodes, N)
 * @param {number} pos epoch position
 * @param {{column: object, markMisclassified: boolean, emphasis: Uint8Array|null,
 *   indices?: Uint32Array|null}} opts see markZ; indices: only these samples (a large run's drawn
 *   subset, sampled.js), point k being sample indices[k]
 * @param {number[][]|null} out points of an earlier call, refilled when given
 * @returns {number[][]}
 */
export function buildPoints(d, pos, opts, out = null) {
  const idx = opts.indices ?? null;
  const n = idx ? idx.length : d.N;
  const points = out && out.length === n ? out : Array.from({ length: n }, () => [0, 0, 0, 0]);
  const base = pos * d.N;
  const { coords, labels, predictions, splitCodes } = d;
  const mark = opts.markMisclassified;
  const zOf = markZ(d, pos, opts);
  for (let k = 0; k < n; k++) {
    const i = idx ? idx[k] : k;
    const p = points[k];
    const wrong = mark && predictions[base + i] !== labels[i] ? 1 : 0;
    p[0] = coords[2 * (base + i)];
    p[1] = coords[2 * (base + i) + 1];
    p[2] = zOf(i);
    p[3] = 2 * (splitCodes[i] > 0 ? 1 : 0) + wrong;
  }
  return points;
}
