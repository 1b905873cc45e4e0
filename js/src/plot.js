// The plot: regl-scatterplot over the landscape, the frame fitted into the canvas, coalesced draws,
// cached spatial indices, selection <-> model, zoom to selection and reset.
// Above max_points samples (default SAMPLED_ABOVE, sampled.js) regl-scatterplot holds only a
// subset of the points (the visible ones in view, selected first, thinned to DRAW_BUDGET), the
// others are shown by a density raster (raster.js) in the landscape texture, and the plot
// translates between the scatterplot's point numbers and sample indices (toGlobal, hover,
// screenPosition, select); the lasso then tests all samples itself.
import createRegl from 'regl';
import createScatterplot, { createRenderer, createSpatialIndex } from 'regl-scatterplot';
import { hexToRgb } from './colors.js';
import { Landscape } from './landscape.js';
import { buildPoints, markCategories, pointColors, pointOpacities, pointSizes } from './marks.js';
import { RASTER_RES, densityRaster } from './raster.js';
import { chooseDrawn, combineSelection, DRAW_BUDGET, pointsInPolygon, SAMPLED_ABOVE } from './sampled.js';

// The extensions regl-scatterplot's own createRegl() enables when present (float state textures,
// float framebuffer and blending).
const GL_EXTENSIONS = ['OES_texture_float', 'OES_element_index_uint', 'WEBGL_color_buffer_float', 'EXT_float_blend'];
/** The square frame every epoch's coordinates are normalised into. */
const FRAME = { x: -1, y: -1, width: 2, height: 2 };
/** Camera moves (reset, zoom to selection), ms. */
export const CAMERA_MS = 300;
/** Non-selected points' opacity factor while a selection exists. */
export const INACTIVE_OPACITY = 0.3;
/** A large run's drawn subset follows the camera this long (ms) after it stops. */
export const SUBSET_SETTLE_MS = 200;
/** The subset covers the view widened by this share of its size on each side (small pans). */
const SUBSET_MARGIN = 0.1;

const sameIds = (a, b) => a.length === b.length && a.every((v, k) => v === b[k]);

/** '#rrggbb' colours as RGB bytes. */
const rgbBytes = (hexes) => Uint8Array.from(hexes.flatMap(hexToRgb));

/** cubic in-out, the easing of both the points and the landscape cross-fade */
export const ease = (t) => {
  const x = Math.max(0, Math.min(1, t));
  return x < 0.5 ? 4 * x * x * x : 1 - (-2 * x + 2) ** 3 / 2;
};

/**
 * A regl-scatterplot renderer whose WebGL canvas has the plot's size.
 *
 * regl-scatterplot's default renderer draws into a window-sized, multisampled canvas and copies the
 * plot's part out: with CPU WebGL (SwiftShader) every frame then pays for clearing, shading and
 * resolving the whole window (at 60k points, a 1000x700 window and a 519x402 plot: ~140 ms per
 * frame instead of ~110 ms). Points are drawn into a single-sample float framebuffer anyway, so
 * multisampling the canvas (which only receives one full-screen triangle) changes no pixel.
 * The caller resizes it with the plot and destroys it (the scatterplot leaves a given one alone).
 */
function createPlotRenderer() {
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl', { antialias: false, preserveDrawingBuffer: true });
  if (!gl) throw new Error('dvi_widget needs WebGL, which this browser does not provide');
  const regl = createRegl({ gl, extensions: GL_EXTENSIONS.filter((e) => gl.getExtension(e)) });
  return { renderer: createRenderer({ regl, canvas }), gl };
}

export class Plot {
  /**
   * @param {object} view the DviView (model, data, columns, emphasis and filter state)
   * @param {HTMLElement} wrap the element the canvas fills
   * @param {HTMLCanvasElement} canvas
   */
  constructor(view, wrap, canvas) {
    this.view = view;
    this.wrap = wrap;
    this.points = null; // regl-scatterplot points, refilled in place per draw
    this.drawn = null; // large runs: sample index of each drawn point (null: all are drawn)
    this.localOf = null; // large runs: drawn point of each sample, or -1
    this.drawnKey = null;
    this.selectedIds = new Uint32Array(0); // large runs: the whole selection (the scatterplot holds its drawn part)
    this.selVersion = 0;
    this.modifiers = { merge: false, remove: false };
    this.spatialIndices = new Map(); // epoch position -> KDBush index (ArrayBuffer)
    this.drawnFilterKey = null;
    this.pendingDraw = null;
    this.drawing = false;
    this.drawCount = 0;
    this.home = null; // camera distance of the last fit to the frame (null: zoomed elsewhere)
    this.t0 = performance.now();
    this.unsubscribers = [];
    const m = view.model;
    const { width, height } = this.size();
    ({ renderer: this.renderer, gl: this.gl } = createPlotRenderer());
    this.renderer.resize(width, height);
    this.landscape = new Landscape(this.renderer.regl, view.d.landscape, view.d.landH, view.d.landW);
    this.landscape.opacity = Number(m.get('landscape_opacity'));
    this.scatterplot = createScatterplot({
      renderer: this.renderer,
      canvas,
      width,
      height,
      cameraDistance: Math.max(1, height / width), // the whole frame, letterboxed (see fit)
      pointSize: pointSizes(m.get('point_size')),
      opacity: pointOpacities(m.get('point_opacity')),
      colorBy: 'valueZ',
      sizeBy: 'valueW',
      opacityBy: 'valueW',
      pointOutlineWidth: 2,
      pointSizeSelected: 2,
      opacityInactiveScale: INACTIVE_OPACITY,
      backgroundColor: '#ffffff',
      backgroundImage: this.landscape.texture,
      lassoColor: '#1f4fbf',
      lassoMinDelay: 5,
      lassoMinDist: 2,
      lassoOnLongPress: false,
      showReticle: false,
      deselectOnDblClick: true,
      deselectOnEscape: false, // Escape is handled by the view, only when it has the focus
      // events in the handler that raised them: asynchronous ones (setTimeout 0) wait behind the
      // frame regl-scatterplot draws for the hover, ~95 ms at 60k points on SwiftShader, so the
      // hover thumbnail came a frame late (view.sendSelection ignores an unchanged selection,
      // so a select published while the view itself selects ends there)
      syncEvents: true,
    });
    this.home = Math.max(1, height / width);
    this.applyColors();
    this.applyMouseMode();
    const sp = this.scatterplot;
    const sub = (event, fn) => this.unsubscribers.push(sp.subscribe(event, fn));
    sub('select', ({ points }) => this.onScatterSelect(points));
    sub('deselect', () => this.onScatterSelect([]));
    sub('lassoStart', () => { this.lassoing = true; });
    sub('lassoEnd', ({ coordinates }) => this.onLassoEnd(coordinates));
    sub('pointOver', (i) => view.tooltip.show(this.drawn ? this.drawn[i] : i));
    sub('pointOut', () => view.tooltip.hide());
    sub('view', () => {
      view.trails.draw();
      view.clusters.place();
      if (this.sampled) this.followCamera();
    });
    // the modifiers of the press that ends a lasso or click (regl-scatterplot merges or removes
    // by them; a large run's selection does the same over all samples)
    this.onModifiers = (e) => {
      const keyMap = this.scatterplot.get('keyMap') || {};
      const held = (action) => Object.entries(keyMap).some(([key, a]) => a === action && e[`${key === 'cmd' ? 'meta' : key}Key`]);
      this.modifiers = { merge: held('merge'), remove: held('remove') };
    };
    for (const type of ['mouseup', 'click']) window.addEventListener(type, this.onModifiers, true);
    if (typeof ResizeObserver !== 'undefined') {
      this.resizeObserver = new ResizeObserver(() => this.resize());
      this.resizeObserver.observe(this.wrap);
    }
  }

  size() {
    const r = this.wrap.getBoundingClientRect();
    return {
      width: Math.max(1, r.width || 600),
      height: Math.max(1, r.height || this.view.model.get('height')),
    };
  }

  /**
   * Size a 2-D overlay canvas like the WebGL canvas (the wrap's border box: CSS 100 % would be
   * the content box, 2 px smaller, and every mark would land up to a pixel off) and return its
   * cleared context in CSS pixels with the plot's size.
   */
  overlay(cv) {
    const { width: w, height: hgt } = this.size();
    const dpr = window.devicePixelRatio || 1;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(hgt * dpr)) {
      cv.width = Math.round(w * dpr);
      cv.height = Math.round(hgt * dpr);
      cv.style.width = `${w}px`;
      cv.style.height = `${hgt}px`;
    }
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    return { ctx, w, hgt };
  }

  resize() {
    const r = this.wrap.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0)) return;
    this.renderer.resize(r.width, r.height);
    this.scatterplot.set({ width: r.width, height: r.height });
    // at the fitted frame: fit again to the new shape (a zoomed view is left alone)
    if (!this.userCamera) this.fit({ transition: false });
    this.view.trails.draw();
    this.view.clusters.place();
  }

  // ------------------------------------------------------------------ encoding
  applyColors() {
    const colors = pointColors(this.view.column);
    this.scatterplot.set({ pointColor: colors, pointColorActive: colors, pointColorHover: colors });
  }

  applySizes() {
    const m = this.view.model;
    this.scatterplot.set({ pointSize: pointSizes(m.get('point_size')), opacity: pointOpacities(m.get('point_opacity')) });
  }

  applyLandscapeOpacity() {
    this.landscape.setOpacity(Number(this.view.model.get('landscape_opacity')));
    this.scatterplot.redraw();
  }

  applyMouseMode() {
    const mode = this.view.model.get('mouse_mode');
    this.scatterplot.set({
      mouseMode: mode === 'pan' ? 'panZoom' : 'lasso',
      lassoType: mode === 'box' ? 'rectangle' : 'freeform',
    });
  }

  // ------------------------------------------------------------------ large runs
  /** Samples drawn one by one (the model's max_points; SAMPLED_ABOVE by default). */
  get maxPoints() {
    return Number(this.view.model.get('max_points')) || SAMPLED_ABOVE;
  }

  /** Whether only a subset of the points is drawn (sampled.js). */
  get sampled() {
    return this.view.d.N > this.maxPoints;
  }

  /** Sample indices of the scatterplot's point numbers. */
  toGlobal(points) {
    return this.drawn ? Array.from(points, (k) => this.drawn[k]) : points;
  }

  /** Hover sample i (undefined: none); a large run's undrawn sample shows no hover mark. */
  hover(i) {
    const k = this.drawn && i !== undefined ? this.localOf[i] : i;
    this.scatterplot.hover(k === -1 ? undefined : k);
  }

  /** Screen position (px) of sample i at the shown epoch. */
  screenPosition(i) {
    const k = this.drawn ? this.localOf[i] : i;
    if (k !== -1) return this.scatterplot.getScreenPosition(k);
    const { coords, N } = this.view.d;
    const j = 2 * (this.view.pos * N + i);
    return this.toScreen(coords[j], coords[j + 1]);
  }

  /** The visible part of the frame, widened by SUBSET_MARGIN ([x0, x1, y0, y1]), or null at the
   * fitted frame. */
  subsetRect() {
    if (!this.userCamera) return null;
    const { width: w, height: hgt } = this.size();
    const [ax, ay] = this.fromScreen(0, 0);
    const [bx, by] = this.fromScreen(w, hgt);
    const mx = SUBSET_MARGIN * Math.abs(bx - ax);
    const my = SUBSET_MARGIN * Math.abs(by - ay);
    return [Math.min(ax, bx) - mx, Math.max(ax, bx) + mx, Math.min(ay, by) - my, Math.max(ay, by) + my];
  }

  /** Normalised coordinates of a screen position (px relative to the plot; inverse of toScreen). */
  fromScreen(sx, sy) {
    const v = this.scatterplot.get('cameraView');
    const { width: w, height: hgt } = this.size();
    const px = ((2 * sx) / w - 1) * (w / hgt);
    const py = 1 - (2 * sy) / hgt;
    const det = v[0] * v[5] - v[4] * v[1];
    const rx = px - v[12];
    const ry = py - v[13];
    return [(v[5] * rx - v[4] * ry) / det, (v[0] * ry - v[1] * rx) / det];
  }

  /** After the camera settles, draw the subset for the new view. */
  followCamera() {
    clearTimeout(this.followTimer);
    this.followTimer = setTimeout(() => {
      if (!this.view.destroyed && this.subsetKey(this.view.pos) !== this.drawnKey) this.redraw();
    }, SUBSET_SETTLE_MS);
  }

  subsetKey(pos) {
    const r = this.subsetRect();
    return `${this.view.filterKey(pos)}|${this.selVersion}|${r ? r.map((v) => v.toPrecision(3)).join(',') : 'all'}`;
  }

  /** Choose the drawn subset for epoch `pos` and draw the density raster of all shown samples. */
  sample(pos, keepSubset) {
    const view = this.view;
    const { coords, N } = view.d;
    const mask = view.visibleMask(pos);
    const key = this.subsetKey(pos);
    if (!keepSubset || !this.drawn || key !== this.drawnKey) {
      let selected = null;
      if (this.selectedIds.length) {
        selected = new Uint8Array(N);
        for (const i of this.selectedIds) selected[i] = 1;
      }
      this.drawn = chooseDrawn(coords, 2 * pos * N, N, { mask, selected, rect: this.subsetRect(),
        budget: Math.min(DRAW_BUDGET, this.maxPoints) });
      if (!this.localOf || this.localOf.length !== N) this.localOf = new Int32Array(N);
      this.localOf.fill(-1);
      this.drawn.forEach((i, k) => { this.localOf[i] = k; });
      this.drawnKey = key;
    }
    const m = view.model;
    this.zs = markCategories(view.d, pos, {
      column: view.column, markMisclassified: m.get('mark_misclassified'), emphasis: view.emphasis(pos),
    }, this.zs);
    this.raster = densityRaster(coords, 2 * pos * N, N, this.zs, rgbBytes(pointColors(view.column)), { mask, out: this.raster });
  }

  /** The scatterplot selected (its point numbers): the selection, over all samples in a large run. */
  onScatterSelect(points) {
    const view = this.view;
    if (!this.drawn) {
      view.sendSelection(Uint32Array.from(points).sort());
      return;
    }
    if (this.lassoing) return; // the lasso's own answer comes with lassoEnd, over all samples
    const { merge, remove } = this.modifiers;
    // the scatterplot changed its drawn part only: the undrawn selected samples stay when merging
    // or removing
    const hits = Uint32Array.from(this.toGlobal(points)).sort();
    const kept = merge || remove ? this.selectedIds.filter((i) => this.localOf[i] === -1) : new Uint32Array(0);
    this.setSelected(combineSelection(kept, hits, 'merge'));
  }

  onLassoEnd(coordinates) {
    this.lassoing = false;
    if (!this.drawn) return;
    const view = this.view;
    const pos = view.pos;
    const { coords, N } = view.d;
    const hits = pointsInPolygon(coords, 2 * pos * N, N, coordinates.flat(), view.visibleMask(pos));
    const { merge, remove } = this.modifiers;
    this.setSelected(combineSelection(this.selectedIds, hits, merge ? 'merge' : remove ? 'remove' : 'plain'));
  }

  /** Record a large run's whole selection; whether it changed (the subset puts it first). */
  noteSelected(ids) {
    if (sameIds(ids, this.selectedIds)) return false;
    this.selectedIds = Uint32Array.from(ids);
    this.selVersion++;
    return true;
  }

  /** A large run's selection made here: to the model, then drawn (selected samples first). */
  setSelected(ids) {
    this.noteSelected(ids);
    this.view.sendSelection(ids);
    // drawn in the next task: the selection's message to the kernel leaves first (a host whose
    // send waits for the page's current task would otherwise wait for this draw, ~0.3 s at 1M)
    setTimeout(() => this.redraw(), 0);
  }

  // ------------------------------------------------------------------ camera
  /** Zoom so that `rect` (normalised coordinates) fills the plot. */
  zoomTo(rect, { transition = true } = {}) {
    return this.scatterplot.zoomToArea(rect, { transition, transitionDuration: CAMERA_MS, transitionEasing: ease });
  }

  /** Camera distance at which the square frame [-1, 1]^2 spans the plot's shorter side. */
  homeDistance() {
    const { width, height } = this.size();
    return Math.max(1, height / width);
  }

  /** Whether the user zoomed or panned away from the fitted frame. */
  get userCamera() {
    if (this.home === null) return true;
    const sp = this.scatterplot;
    const [tx, ty] = sp.get('cameraTarget');
    const eps = 1e-3 * this.home;
    return Math.abs(sp.get('cameraDistance') - this.home) > eps || Math.abs(tx) > eps || Math.abs(ty) > eps;
  }

  /** Show the whole square frame, letterboxed (never cropped). */
  fit({ transition = true } = {}) {
    this.home = this.homeDistance();
    if (transition && this.drawCount > 0) return this.zoomTo(FRAME, { transition });
    this.scatterplot.set({ cameraTarget: [0, 0], cameraDistance: this.home });
    this.scatterplot.redraw();
    return Promise.resolve();
  }

  /** Zoom to the bounding box of the selected samples at the shown epoch (padded). */
  zoomToSelection() {
    const sel = this.view.selection();
    if (!sel.length) return Promise.resolve(false);
    const { coords, N } = this.view.d;
    const base = this.view.pos * N;
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const i of sel) {
      const x = coords[2 * (base + i)];
      const y = coords[2 * (base + i) + 1];
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
    const side = Math.max(x1 - x0, y1 - y0, 0.05) * 1.2;
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    this.home = null;
    return this.zoomTo({ x: cx - side / 2, y: cy - side / 2, width: side, height: side }).then(() => true);
  }

  /** Screen position (px, relative to the plot) of normalised coordinates (x, y). */
  toScreen(x, y) {
    const view = this.scatterplot.get('cameraView');
    const { width: w, height: hgt } = this.size();
    // Same transform as regl-scatterplot: projection(1/aspect) * view * model(dataAspect=1).
    const px = view[0] * x + view[4] * y + view[12];
    const py = view[1] * x + view[5] * y + view[13];
    return [(w * (px * (hgt / w) + 1)) / 2, hgt * (0.5 - py / 2)];
  }

  // ------------------------------------------------------------------ drawing
  /** Coalescing draw: regl-scatterplot rejects a draw while one is in flight. */
  redraw({ transition = false, first = false } = {}) {
    this.pendingDraw = { transition: this.pendingDraw?.transition || transition, first: this.pendingDraw?.first || first };
    if (!this.drawing) this.flushDraw();
  }

  flushDraw() {
    if (!this.pendingDraw || this.view.destroyed) return;
    const { transition, first } = this.pendingDraw;
    this.pendingDraw = null;
    this.drawing = true;
    const view = this.view;
    const m = view.model;
    const pos = view.pos;
    const tBuild = performance.now();
    const duration = view.transitionMs();
    const animate = transition && duration > 0 && this.drawCount > 0;
    const sampled = this.sampled;
    let sel = view.selection();
    if (sampled) {
      this.noteSelected(sel);
      this.sample(pos, animate); // a transition moves the same points
      sel = Array.from(sel, (i) => this.localOf[i]).filter((k) => k !== -1);
    } else this.drawn = null;
    this.points = buildPoints(view.d, pos, {
      column: view.column,
      markMisclassified: m.get('mark_misclassified'),
      emphasis: view.emphasis(pos),
      indices: this.drawn,
    }, this.points);
    if (animate) this.landscape.fadeTo(pos);
    else this.landscape.show(pos);
    // the raster shows where the points go (while they move, at the start)
    if (sampled) this.landscape.setDensity(this.raster, RASTER_RES);
    else if (this.landscape.densityRes) this.landscape.setDensity(null);
    view.clusters.draw(animate ? duration : 0); // labels glide with the points
    // The filter depends on a few traits (and, for a legend filter on a per-epoch column, on the
    // epoch): while they are unchanged, keep the one regl-scatterplot holds instead of resetting
    // and rebuilding it on every epoch.
    // (A large run's subset holds only shown samples: no filter.)
    const filterKey = sampled ? null : view.filterKey(pos);
    const sameFilter = this.drawnFilterKey !== null && filterKey === this.drawnFilterKey;
    const opts = {
      zDataType: 'categorical',
      wDataType: 'categorical',
      transition: animate,
      transitionDuration: duration,
      transitionEasing: (t) => {
        const e = ease(t);
        this.landscape.progress(t >= 1 ? 1 : e);
        return e;
      },
      preventFilterReset: sameFilter,
      spatialIndex: sampled ? undefined : this.spatialIndices.get(pos),
    };
    if (sel.length) opts.select = Array.from(sel);
    if (!sameFilter && !sampled) {
      const visible = view.visibleIndices(pos);
      if (visible) opts.filter = visible;
    }
    this.drawnFilterKey = filterKey;
    const start = performance.now();
    const ds = view.el.dataset;
    // regl-scatterplot ignores the mouse while it takes new points: tests wait for this to go
    ds.drawing = '1';
    ds.lastBuildMs = (start - tBuild).toFixed(1);
    ds.drawnPoints = String(this.points.length); // fewer than N in a large run
    this.scatterplot
      .draw(this.points, opts)
      .then(() => {
        if (view.destroyed) return;
        this.landscape.progress(1);
        if (!sampled && !this.spatialIndices.has(pos)) this.spatialIndices.set(pos, this.scatterplot.get('spatialIndex'));
        this.drawCount += 1;
        ds.drawCount = String(this.drawCount);
        ds.drawnEpoch = String(m.get('epochs')[pos]);
        ds.lastDrawMs = (performance.now() - start).toFixed(1);
        if (first) {
          ds.firstRenderMs = (performance.now() - this.t0).toFixed(1);
          if (!sampled) this.indexEpochsWhenIdle(); // a large run's subset changes with the view
        }
        view.afterDraw(pos);
      })
      .catch((err) => {
        this.drawnFilterKey = null;
        console.error('dvi_widget draw failed', err);
      })
      .finally(() => {
        this.drawing = false;
        if (this.pendingDraw) this.flushDraw();
        else delete ds.drawing;
      });
  }

  /**
   * Build the spatial index (KDBush; hover and lasso use it) of every epoch while the page is idle.
   *
   * Unless handed an index, regl-scatterplot's draw() rebuilds it from all points: ~15 ms, half of
   * an epoch change's JavaScript time at 60k points. One epoch per idle callback; epochs drawn
   * before their turn keep the index draw() built. Memory: ~18 bytes per point and epoch.
   */
  indexEpochsWhenIdle() {
    const { T, N, coords } = this.view.d;
    const idle = window.requestIdleCallback ?? ((fn) => setTimeout(fn, 50));
    const cancel = window.cancelIdleCallback ?? clearTimeout;
    const step = () => {
      this.cancelIndexing = null;
      if (this.view.destroyed) return;
      let pos = 0;
      while (pos < T && this.spatialIndices.has(pos)) pos++;
      this.view.el.dataset.indexedEpochs = String(this.spatialIndices.size); // tests wait for T
      if (pos === T) return;
      const base = 2 * pos * N;
      const xy = Array.from({ length: N }, (_, i) => [coords[base + 2 * i], coords[base + 2 * i + 1]]);
      createSpatialIndex(xy, false).then((index) => {
        if (this.view.destroyed) return;
        if (!this.spatialIndices.has(pos)) this.spatialIndices.set(pos, index);
        schedule();
      });
    };
    const schedule = () => {
      const id = idle(step);
      this.cancelIndexing = () => cancel(id);
    };
    schedule();
  }

  // ------------------------------------------------------------------ selection
  select(ids) {
    if (this.drawn) {
      // a large run: draw the subset again, the selected samples first
      if (this.noteSelected(ids)) this.redraw();
      ids = Array.from(ids, (i) => this.localOf[i]).filter((k) => k !== -1);
    }
    if (ids.length) this.scatterplot.select(Array.from(ids), { preventEvent: true });
    else this.scatterplot.deselect({ preventEvent: true });
  }

  selectedPoints() {
    if (this.drawn) return this.selectedIds;
    return Uint32Array.from(this.scatterplot.get('selectedPoints') || []).sort();
  }

  destroy() {
    clearTimeout(this.followTimer);
    for (const type of ['mouseup', 'click']) window.removeEventListener(type, this.onModifiers, true);
    this.cancelIndexing?.();
    this.resizeObserver?.disconnect();
    for (const u of this.unsubscribers) this.scatterplot.unsubscribe(u);
    this.scatterplot.destroy();
    this.landscape.destroy();
    this.renderer.destroy(); // ours, so the scatterplot leaves it alive
    // Free the WebGL context now rather than at garbage collection: browsers cap live contexts.
    this.gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}
