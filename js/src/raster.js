// The density raster of a large run (sampled.js): every shown sample of the epoch binned on a
// RASTER_RES^2 grid over the frame [-1, 1]^2, each cell coloured by the mean mark colour of its
// samples (so per class: a cell of one class has that class's mark colour, mixed cells blend)
// with an opacity growing with the log of its count. Landscape draws it over the washed landscape
// and under the points. Pure function (tested in js/test/sampled.test.js).

/** Cells per side: about one screen pixel at the fitted frame of a ~500 px plot. */
export const RASTER_RES = 512;
/** Opacity of the densest cell (the landscape stays visible through the raster). */
export const RASTER_ALPHA = 0.85;
/** Opacity of a cell holding one sample. */
export const RASTER_ALPHA_MIN = 0.25;

/**
 * @param {Float32Array} coords (T, N, 2) flattened
 * @param {number} base offset of the epoch's first x (2 * pos * N)
 * @param {number} N
 * @param {ArrayLike<number>} z each sample's mark category (marks.js), an index into `palette`
 * @param {Uint8Array} palette RGB per category (3 bytes each)
 * @param {{mask?: Uint8Array|null, res?: number, out?: Uint8Array|null}} o mask: 1 for samples shown
 * @returns {Uint8Array} RGBA, res x res, row 0 = the top of the frame (y = 1), as the landscape
 */
export function densityRaster(coords, base, N, z, palette, { mask = null, res = RASTER_RES, out = null } = {}) {
  const sums = new Float32Array(4 * res * res); // r, g, b, count
  for (let i = 0; i < N; i++) {
    if (mask && !mask[i]) continue;
    const x = coords[base + 2 * i];
    const y = coords[base + 2 * i + 1];
    const cx = Math.floor(((x + 1) / 2) * res);
    const cy = Math.floor(((1 - y) / 2) * res);
    if (!(cx >= 0 && cx < res && cy >= 0 && cy < res)) continue; // NaN too
    const c = 4 * (cy * res + cx);
    const p = 3 * z[i];
    sums[c] += palette[p];
    sums[c + 1] += palette[p + 1];
    sums[c + 2] += palette[p + 2];
    sums[c + 3] += 1;
  }
  let most = 0;
  for (let c = 3; c < sums.length; c += 4) most = Math.max(most, sums[c]);
  const rgba = out && out.length === 4 * res * res ? out : new Uint8Array(4 * res * res);
  const scale = most > 1 ? (RASTER_ALPHA - RASTER_ALPHA_MIN) / Math.log(most) : 0;
  for (let c = 0; c < sums.length; c += 4) {
    const n = sums[c + 3];
    if (!n) {
      rgba[c] = rgba[c + 1] = rgba[c + 2] = rgba[c + 3] = 0;
      continue;
    }
    rgba[c] = sums[c] / n;
    rgba[c + 1] = sums[c + 1] / n;
    rgba[c + 2] = sums[c + 2] / n;
    rgba[c + 3] = Math.round(255 * (RASTER_ALPHA_MIN + scale * Math.log(n)));
  }
  return rgba;
}
