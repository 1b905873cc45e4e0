// A large run's drawn subset, lasso and selection arithmetic (sampled.js), and its density raster
// (raster.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RASTER_ALPHA, RASTER_ALPHA_MIN, densityRaster } from '../src/raster.js';
import { chooseDrawn, combineSelection, pointsInPolygon, rank } from '../src/sampled.js';

/** N samples on a regular grid over [-1, 1]^2 (epoch 0 only). */
function grid(side) {
  const coords = new Float32Array(2 * side * side);
  for (let i = 0; i < side * side; i++) {
    coords[2 * i] = -1 + (2 * ((i % side) + 0.5)) / side;
    coords[2 * i + 1] = -1 + (2 * (Math.floor(i / side) + 0.5)) / side;
  }
  return coords;
}

test('ranks are spread evenly over [0, 1)', () => {
  const bins = new Array(10).fill(0);
  for (let i = 0; i < 100000; i++) bins[Math.floor(rank(i) * 10)]++;
  for (const b of bins) assert.ok(Math.abs(b - 10000) < 200, `bins ${bins}`);
});

test('the subset keeps the budget, only shown samples, and grows when zooming in', () => {
  const side = 300;
  const N = side * side;
  const coords = grid(side);
  const mask = new Uint8Array(N).map((_, i) => (i % 3 ? 1 : 0));
  const all = chooseDrawn(coords, 0, N, { mask, budget: 5000 });
  assert.ok(all.length > 4800 && all.length <= 5064, `${all.length}`);
  assert.ok(all.every((i, k) => mask[i] && (k === 0 || i > all[k - 1])), 'shown samples, ascending');
  const rect = [-0.5, 0, -0.5, 0];
  const zoomed = chooseDrawn(coords, 0, N, { mask, budget: 5000, rect });
  const inRect = (i) => coords[2 * i] >= -0.5 && coords[2 * i] <= 0 && coords[2 * i + 1] >= -0.5 && coords[2 * i + 1] <= 0;
  assert.ok(zoomed.every(inRect), 'only samples in view');
  const zoomedSet = new Set(zoomed);
  assert.ok(all.filter(inRect).every((i) => zoomedSet.has(i)), 'the points drawn before stay drawn');
  // everything in view fits the budget: all of it drawn
  const small = chooseDrawn(coords, 0, N, { budget: 5000, rect: [-0.1, 0.1, -0.1, 0.1] });
  assert.equal(small.length, Array.from({ length: N }, (_, i) => i).filter((i) => Math.abs(coords[2 * i]) <= 0.1 && Math.abs(coords[2 * i + 1]) <= 0.1).length);
});

test('selected samples are drawn first', () => {
  const side = 200;
  const N = side * side;
  const coords = grid(side);
  const selected = new Uint8Array(N);
  for (let i = 0; i < 3000; i++) selected[i * 7] = 1;
  const drawn = new Set(chooseDrawn(coords, 0, N, { selected, budget: 4000 }));
  for (let i = 0; i < 3000; i++) assert.ok(drawn.has(i * 7));
  assert.ok(drawn.size > 3900 && drawn.size <= 4064, `${drawn.size}`);
});

test('the lasso tests every sample against the polygon (even-odd), shown ones only', () => {
  const side = 100;
  const N = side * side;
  const coords = grid(side);
  const square = [-0.5, -0.5, 0.5, -0.5, 0.5, 0.5, -0.5, 0.5];
  const hits = pointsInPolygon(coords, 0, N, square);
  assert.equal(hits.length, 50 * 50);
  const tri = [0, 0, 1, 0, 0, 1]; // x, y > 0 and x + y < 1
  const expect = [];
  for (let i = 0; i < N; i++) {
    const x = coords[2 * i];
    const y = coords[2 * i + 1];
    if (x > 0 && y > 0 && x + y < 1) expect.push(i);
  }
  assert.deepEqual(Array.from(pointsInPolygon(coords, 0, N, tri)), expect);
  const mask = new Uint8Array(N).fill(1);
  mask[hits[0]] = 0;
  assert.equal(pointsInPolygon(coords, 0, N, square, mask).length, 50 * 50 - 1);
  // the second epoch's coordinates: offset by the base
  const two = new Float32Array(2 * N * 2);
  two.set(coords, 2 * N);
  assert.equal(pointsInPolygon(two, 2 * N, N, square).length, 50 * 50);
  assert.equal(pointsInPolygon(coords, 0, N, [0, 0, 1, 1]).length, 0, 'not a polygon');
});

test('a selection is replaced, merged or reduced', () => {
  const prev = Uint32Array.of(1, 3, 5, 7);
  const hits = Uint32Array.of(3, 4, 8);
  assert.deepEqual(Array.from(combineSelection(prev, hits, 'plain')), [3, 4, 8]);
  assert.deepEqual(Array.from(combineSelection(prev, hits, 'merge')), [1, 3, 4, 5, 7, 8]);
  assert.deepEqual(Array.from(combineSelection(prev, hits, 'remove')), [1, 5, 7]);
});

test('the density raster colours each cell by its samples and grows opaque with their count', () => {
  // res 4: cell (col 0, row 0) is the frame's top left; 1 sample of z=0 there, 3 of z=1 and 1 of
  // z=0 in the bottom-right cell; one sample outside the frame, one hidden by the mask
  const xy = [-0.9, 0.9, 0.9, -0.9, 0.9, -0.9, 0.9, -0.9, 0.8, -0.8, 3, 3, -0.9, 0.9];
  const coords = Float32Array.from(xy);
  const z = [0, 1, 1, 1, 0, 0, 1];
  const mask = Uint8Array.of(1, 1, 1, 1, 1, 1, 0);
  const palette = Uint8Array.of(200, 0, 0, 0, 0, 200);
  const r = densityRaster(coords, 0, 7, z, palette, { mask, res: 4 });
  assert.deepEqual(Array.from(r.subarray(0, 4)), [200, 0, 0, Math.round(255 * RASTER_ALPHA_MIN)]);
  const br = 4 * (3 * 4 + 3);
  assert.deepEqual(Array.from(r.subarray(br, br + 4)), [50, 0, 150, Math.round(255 * RASTER_ALPHA)]);
  const empty = r.filter((_, k) => k % 4 === 3 && k !== 3 && k !== br + 3);
  assert.ok(empty.every((a) => a === 0), 'other cells transparent');
});
