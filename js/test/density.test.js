// Class labels and density contours (density.js): the densest cell and the isolines of known
// densities.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blur, cellCenter, densities, GRID, isolines, peak } from '../src/density.js';

test('each class peaks where its samples are densest', () => {
  const xy = [];
  const group = [];
  // class 0: 50 samples at (-0.5, 0.5) and 10 at (0.5, 0.5); class 1: 30 at (0.4, -0.6)
  for (let k = 0; k < 50; k++) { xy.push(-0.5, 0.5); group.push(0); }
  for (let k = 0; k < 10; k++) { xy.push(0.5, 0.5); group.push(0); }
  for (let k = 0; k < 30; k++) { xy.push(0.4, -0.6); group.push(1); }
  const grids = densities(Float32Array.from(xy), Uint8Array.from(group), 3);
  assert.equal(grids[2], null); // no sample: no grid
  const cell = 2 / GRID;
  const [x0, y0] = peak(grids[0]);
  assert.ok(Math.abs(x0 + 0.5) <= cell && Math.abs(y0 - 0.5) <= cell, `${x0}, ${y0}`);
  const [x1, y1] = peak(grids[1]);
  assert.ok(Math.abs(x1 - 0.4) <= cell && Math.abs(y1 + 0.6) <= cell, `${x1}, ${y1}`);
  assert.equal(Math.max(...grids[0]), 1);
  // a mask leaves the dense spot out: the smaller one becomes the peak
  const mask = Uint8Array.from(group.map((g, i) => (i < 50 ? 0 : 1)));
  const [xm] = peak(densities(Float32Array.from(xy), Uint8Array.from(group), 2, mask)[0]);
  assert.ok(Math.abs(xm - 0.5) <= cell, `masked peak at ${xm}`);
});

test('blur keeps the mass of a point far from the edges', () => {
  const G = 16;
  const g = new Float32Array(G * G);
  g[8 * G + 8] = 1;
  blur(g, G, 1.5);
  const sum = g.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-5, `${sum}`);
  assert.ok(g[8 * G + 8] > g[8 * G + 9] && g[8 * G + 9] > g[8 * G + 11]);
});

test('isolines of a cone are a closed ring at the right radius', () => {
  const G = 32;
  const g = new Float32Array(G * G);
  const c = (G - 1) / 2;
  for (let y = 0; y < G; y++) for (let x = 0; x < G; x++) g[y * G + x] = Math.max(0, 1 - Math.hypot(x - c, y - c) / 12);
  const seg = isolines(g, 0.5, G);
  assert.ok(seg.length > 0 && seg.length % 4 === 0);
  // every vertex lies at radius 6 cells (1 - r / 12 = 0.5) from the centre, in frame units
  const r = (6 / G) * 2;
  const centre = cellCenter(c, G);
  for (let k = 0; k < seg.length; k += 2) {
    const d = Math.hypot(seg[k] - centre, seg[k + 1] - centre);
    assert.ok(Math.abs(d - r) < 0.02, `vertex at ${d}, want ${r}`);
  }
  // closed: every endpoint is shared by exactly two segments
  const key = (x, y) => `${x.toFixed(5)},${y.toFixed(5)}`;
  const ends = new Map();
  for (let k = 0; k < seg.length; k += 2) ends.set(key(seg[k], seg[k + 1]), (ends.get(key(seg[k], seg[k + 1])) || 0) + 1);
  assert.ok([...ends.values()].every((n) => n === 2), 'ring is closed');
  assert.deepEqual(isolines(g, 2, G), []); // above the peak: nothing
});
