// Large runs: above SAMPLED_ABOVE samples regl-scatterplot is handed only a subset of the points
// (on CPU WebGL every drawn point costs, ~3 us a frame at 1M: an epoch change took 3.2 s), and
// the rest is shown by a density raster (raster.js) under them. Which points are drawn, and the
// lasso's point-in-polygon test over all samples, are pure functions here
// (js/test/sampled.test.js).

/** Runs with more samples than this draw a subset plus a density raster. */
export const SAMPLED_ABOVE = 200000;
/** Points handed to regl-scatterplot in that mode (at 1M on one core: an epoch change ~180 ms with 50k, see README "Large runs"). */
export const DRAW_BUDGET = 40000;

/** A sample's fixed rank in [0, 1): a Weyl sequence, so any rank threshold keeps an even share of
 * every region, and zooming in only adds points (those already drawn stay). */
export const rank = (i) => ((Math.imul(i + 1, 0x9e3779b1) >>> 0) / 4294967296);

/**
 * The samples to draw (ascending, as at full size: later ones on top): the visible ones inside
 * `rect`, the selected first, then the others, each group thinned by rank to what the budget
 * leaves.
 * @param {Float32Array} coords (T, N, 2) flattened
 * @param {number} base offset of the epoch's first x (2 * pos * N)
 * @param {number} N
 * @param {{mask?: Uint8Array|null, selected?: Uint8Array|null, rect?: number[]|null, budget?: number}} o
 *   mask: 1 for samples that may be shown; selected: 1 for selected ones; rect: [x0, x1, y0, y1]
 * @returns {Uint32Array}
 */
export function chooseDrawn(coords, base, N, { mask = null, selected = null, rect = null, budget = DRAW_BUDGET } = {}) {
  const [x0, x1, y0, y1] = rect ?? [-Infinity, Infinity, -Infinity, Infinity];
  const inView = new Uint8Array(N); // 0: out, 1: in view, 2: in view and selected
  let nSel = 0;
  let nOther = 0;
  for (let i = 0; i < N; i++) {
    if (mask && !mask[i]) continue;
    const x = coords[base + 2 * i];
    const y = coords[base + 2 * i + 1];
    if (x < x0 || x > x1 || y < y0 || y > y1) continue;
    if (selected && selected[i]) {
      inView[i] = 2;
      nSel++;
    } else {
      inView[i] = 1;
      nOther++;
    }
  }
  const qSel = nSel > budget ? budget / nSel : 1;
  const left = Math.max(0, budget - Math.min(nSel, budget));
  const qOther = nOther > left ? left / nOther : 1;
  const out = new Uint32Array(Math.min(N, budget + 64)); // rank thinning may overshoot a little
  let n = 0;
  for (let i = 0; i < N && n < out.length; i++) {
    const v = inView[i];
    if (v && rank(i) < (v === 2 ? qSel : qOther)) out[n++] = i;
  }
  return out.subarray(0, n);
}

/**
 * The samples whose point lies inside `polygon` (flat [x0, y0, x1, y1, ...], even-odd rule), over
 * all N samples, for the lasso when only a subset is drawn.
 * @param {Float32Array} coords
 * @param {number} base
 * @param {number} N
 * @param {number[]} polygon
 * @param {Uint8Array|null} mask 1 for samples that may be selected (shown)
 * @returns {Uint32Array} ascending
 */
export function pointsInPolygon(coords, base, N, polygon, mask = null) {
  const m = polygon.length >> 1;
  if (m < 3) return new Uint32Array(0);
  let [bx0, bx1, by0, by1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let k = 0; k < m; k++) {
    bx0 = Math.min(bx0, polygon[2 * k]);
    bx1 = Math.max(bx1, polygon[2 * k]);
    by0 = Math.min(by0, polygon[2 * k + 1]);
    by1 = Math.max(by1, polygon[2 * k + 1]);
  }
  const px = Float64Array.from({ length: m }, (_, k) => polygon[2 * k]);
  const py = Float64Array.from({ length: m }, (_, k) => polygon[2 * k + 1]);
  const hits = [];
  for (let i = 0; i < N; i++) {
    const x = coords[base + 2 * i];
    const y = coords[base + 2 * i + 1];
    if (x < bx0 || x > bx1 || y < by0 || y > by1 || (mask && !mask[i])) continue;
    let inside = false;
    for (let a = 0, b = m - 1; a < m; b = a++) {
      if ((py[a] > y) !== (py[b] > y) && x < ((px[b] - px[a]) * (y - py[a])) / (py[b] - py[a]) + px[a]) inside = !inside;
    }
    if (inside) hits.push(i);
  }
  return Uint32Array.from(hits);
}

/**
 * The selection after a lasso or click on the subset: `plain` replaces it by `hits`; `merge`
 * adds them; `remove` takes them out.
 * @param {Uint32Array} prev ascending
 * @param {Uint32Array} hits ascending
 * @param {'plain'|'merge'|'remove'} mode
 * @returns {Uint32Array} ascending
 */
export function combineSelection(prev, hits, mode) {
  if (mode === 'plain') return hits;
  const out = [];
  let a = 0;
  let b = 0;
  while (a < prev.length || b < hits.length) {
    const p = a < prev.length ? prev[a] : Infinity;
    const h = b < hits.length ? hits[b] : Infinity;
    if (p === h) {
      if (mode === 'merge') out.push(p);
      a++;
      b++;
    } else if (p < h) {
      out.push(p);
      a++;
    } else {
      if (mode === 'merge') out.push(h);
      b++;
    }
  }
  return Uint32Array.from(out);
}
