// How samples become regl-scatterplot points.
//   x, y : normalised coordinates in [-1, 1] (the shared extent of all epochs)
//   z    : colour category = class id (label or prediction) + C if misclassified; 2C = dimmed
//   w    : size/opacity category = 2 * (split is not "train") + misclassified

/** "#rrggbb" -> [r, g, b] in 0..255 */
export function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

const toHex = (rgb) => `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, '0')).join('')}`;

/** Point colours: palette, then a darker palette for misclassified samples, then dimmed grey. */
export function pointColors(palette) {
  const base = palette.map((h) => h.toLowerCase());
  const dark = palette.map((h) => toHex(hexToRgb(h).map((c) => c * 0.45)));
  return [...base, ...dark, '#c8c8c8'];
}

/** Sizes and opacities indexed by the w category. */
export function pointSizes(size) {
  return [size, size * 1.7, size * 0.9, size * 1.5];
}
export const POINT_OPACITIES = [0.9, 1.0, 0.45, 0.75];

/**
 * Build the points of one epoch as regl-scatterplot's array-oriented points, [x, y, z, w] each.
 *
 * Array-oriented points are used as given, while column-oriented ones ({x, y, z, w}) are turned
 * into N fresh arrays on every draw; refilling `out` in place avoids that allocation per epoch.
 * @param {object} d decoded data (coords, labels, predictions, splitCodes, N, C)
 * @param {number} pos epoch position
 * @param {{colorBy: string, markMisclassified: boolean, highlight: Set<number>|null}} opts
 * @param {number[][]|null} out points of an earlier call, refilled when given
 * @returns {number[][]}
 */
export function buildPoints(d, pos, opts, out = null) {
  const { N, C } = d;
  const points = out && out.length === N ? out : Array.from({ length: N }, () => [0, 0, 0, 0]);
  const base = pos * N;
  const coords = d.coords;
  const byPred = opts.colorBy === 'prediction';
  for (let i = 0; i < N; i++) {
    const p = points[i];
    const label = d.labels[i];
    const pred = d.predictions[base + i];
    const wrong = opts.markMisclassified && pred !== label ? 1 : 0;
    p[0] = coords[2 * (base + i)];
    p[1] = coords[2 * (base + i) + 1];
    p[2] = opts.highlight && !opts.highlight.has(i) ? 2 * C : (byPred ? pred : label) + wrong * C;
    p[3] = 2 * (d.splitCodes[i] > 0 ? 1 : 0) + wrong;
  }
  return points;
}
