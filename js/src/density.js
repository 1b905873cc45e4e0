// Per-class point density on a grid over the view's square frame [-1, 1]^2: where each class's
// label goes (its densest cell) and its density contours (marching squares). Pure functions,
// unit-tested in js/test/density.test.js. (d3-contour does the same; the widget ships no d3, and
// this is ~100 lines.)

/** Grid cells per side over the frame [-1, 1]. */
export const GRID = 64;
/** Gaussian smoothing of the counts, in cells. */
export const SIGMA = 1.5;
/** Contour levels, as shares of each class's highest density. */
export const LEVELS = [0.25, 0.6];

function kernel(sigma) {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return { k, r };
}

/** Separable Gaussian blur of a G x G grid (zero outside), in place. */
export function blur(grid, G, sigma = SIGMA) {
  const { k, r } = kernel(sigma);
  const tmp = new Float32Array(G * G);
  for (let y = 0; y < G; y++) {
    for (let x = 0; x < G; x++) {
      let v = 0;
      for (let d = -r; d <= r; d++) {
        const xx = x + d;
        if (xx >= 0 && xx < G) v += k[d + r] * grid[y * G + xx];
      }
      tmp[y * G + x] = v;
    }
  }
  for (let y = 0; y < G; y++) {
    for (let x = 0; x < G; x++) {
      let v = 0;
      for (let d = -r; d <= r; d++) {
        const yy = y + d;
        if (yy >= 0 && yy < G) v += k[d + r] * tmp[yy * G + x];
      }
      grid[y * G + x] = v;
    }
  }
  return grid;
}

/** Cell of a normalised coordinate v in [-1, 1] (clamped). */
const cell = (v, G) => Math.max(0, Math.min(G - 1, Math.floor(((v + 1) / 2) * G)));
/** Normalised coordinate of the centre of cell index c. */
export const cellCenter = (c, G = GRID) => ((c + 0.5) / G) * 2 - 1;

/**
 * Smoothed density of each group: grids[g] is a Float32Array G*G (row y = 0 at the bottom, y up)
 * scaled to a maximum of 1, or null for a group with no sample.
 * @param {Float32Array} xy x, y of N samples (normalised)
 * @param {ArrayLike<number>} group group id (class) of each sample, in [0, groups)
 * @param {number} groups number of groups
 * @param {Uint8Array|null} mask only samples with mask[i] (null: all)
 */
export function densities(xy, group, groups, mask = null, G = GRID, sigma = SIGMA) {
  const grids = Array.from({ length: groups }, () => null);
  const n = group.length;
  for (let i = 0; i < n; i++) {
    if (mask && !mask[i]) continue;
    const g = group[i];
    if (g >= groups) continue;
    if (!grids[g]) grids[g] = new Float32Array(G * G);
    grids[g][cell(xy[2 * i + 1], G) * G + cell(xy[2 * i], G)] += 1;
  }
  for (const grid of grids) {
    if (!grid) continue;
    blur(grid, G, sigma);
    let max = 0;
    for (const v of grid) if (v > max) max = v;
    if (max > 0) for (let k = 0; k < grid.length; k++) grid[k] /= max;
  }
  return grids;
}

/** Normalised [x, y] of a grid's densest cell (the first in row order on ties). */
export function peak(grid, G = GRID) {
  let best = 0;
  for (let k = 1; k < grid.length; k++) if (grid[k] > grid[best]) best = k;
  return [cellCenter(best % G, G), cellCenter(Math.floor(best / G), G)];
}

/**
 * Marching squares over the lattice of cell centres: the line segments where `grid` crosses
 * `level`, as a flat array [x0, y0, x1, y1, ...] in normalised coordinates. Saddles are resolved
 * by the square's mean value.
 */
export function isolines(grid, level, G = GRID) {
  const out = [];
  const at = (x, y) => grid[y * G + x];
  const lerp = (a, b) => (a === b ? 0.5 : (level - a) / (b - a));
  for (let y = 0; y < G - 1; y++) {
    for (let x = 0; x < G - 1; x++) {
      const v00 = at(x, y);
      const v10 = at(x + 1, y);
      const v01 = at(x, y + 1);
      const v11 = at(x + 1, y + 1);
      const a00 = v00 >= level;
      const a10 = v10 >= level;
      const a01 = v01 >= level;
      const a11 = v11 >= level;
      if (a00 === a10 && a10 === a01 && a01 === a11) continue;
      // crossings on the bottom, right, top, left edges (lattice units), null where none
      const e = [
        a00 !== a10 ? [x + lerp(v00, v10), y] : null,
        a10 !== a11 ? [x + 1, y + lerp(v10, v11)] : null,
        a01 !== a11 ? [x + lerp(v01, v11), y + 1] : null,
        a00 !== a01 ? [x, y + lerp(v00, v01)] : null,
      ];
      let pairs;
      if (e.every(Boolean)) {
        const centre = (v00 + v10 + v01 + v11) / 4 >= level;
        const pairsA = [[0, 1], [2, 3]];
        const pairsB = [[0, 3], [1, 2]];
        pairs = a00 ? (centre ? pairsA : pairsB) : (centre ? pairsB : pairsA);
      } else {
        const has = [0, 1, 2, 3].filter((k) => e[k]);
        pairs = [has];
      }
      for (const [p, q] of pairs) {
        out.push(cellCenter(e[p][0], G), cellCenter(e[p][1], G), cellCenter(e[q][0], G), cellCenter(e[q][1], G));
      }
    }
  }
  return out;
}
