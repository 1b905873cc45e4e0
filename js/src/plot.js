// dvi_widget front end: one view object per render(), all state in the model's traits.
// Trait names and buffer layouts are documented in dvi_widget/widget.py.
import createRegl from 'regl';
import createScatterplot, { createRenderer, createSpatialIndex } from 'regl-scatterplot';
import { decodeArray, decodeIndices, encodeArray } from './codecs.js';
import { buildPoints, pointColors, pointSizes, POINT_OPACITIES } from './encoding.js';
import { acquirePlayer } from './player.js';
import { CSS } from './style.js';

const SPEEDS = [0.5, 1, 2, 4, 8];
// The extensions regl-scatterplot's own createRegl() enables when present (float state textures,
// float framebuffer and blending).
const GL_EXTENSIONS = ['OES_texture_float', 'OES_element_index_uint', 'WEBGL_color_buffer_float', 'EXT_float_blend'];

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

function h(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.appendChild(c);
  return e;
}

function sameIndices(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class DviView {
  constructor(model, el) {
    this.model = model;
    this.el = el;
    this.handlers = [];
    this.unsubscribers = [];
    this.landTexPos = -1;
    this.points = null; // regl-scatterplot points, refilled in place per draw
    this.spatialIndices = new Map(); // epoch position -> KDBush index (ArrayBuffer)
    this.drawnFilterKey = null;
    this.pendingDraw = null;
    this.drawing = false;
    this.drawCount = 0;
    this.lastSent = new Uint32Array(0);
    this.t0 = performance.now();
    this.decode();
    this.buildDom();
    this.createPlot();
    this.releasePlayer = acquirePlayer(model);
    this.wire();
    this.renderLegend();
    this.syncControls();
    this.redraw({ transition: false, first: true });
  }

  // ------------------------------------------------------------------ data
  decode() {
    const m = this.model;
    const coords = decodeArray(m.get('coords'));
    const [T, N] = coords.shape;
    const land = decodeArray(m.get('landscape'));
    this.d = {
      T,
      N,
      C: m.get('class_names').length,
      coords: coords.data,
      labels: decodeArray(m.get('labels')).data,
      predictions: decodeArray(m.get('predictions')).data,
      confidence: decodeArray(m.get('confidence')),
      splitCodes: decodeArray(m.get('split_codes')).data,
      landscape: land.data,
      landH: land.shape[1],
      landW: land.shape[2],
      images: decodeArray(m.get('images')),
    };
  }

  confidenceAt(pos, i) {
    const c = this.d.confidence;
    const v = c.data[pos * this.d.N + i];
    return c.dtype === 'uint8' ? v / 255 : v;
  }

  get pos() {
    return Math.max(0, this.model.get('epochs').indexOf(this.model.get('epoch')));
  }

  // ------------------------------------------------------------------ DOM
  buildDom() {
    const m = this.model;
    this.root = h('div', { class: 'dvi-root' });
    this.root.appendChild(h('style', { text: CSS }));
    const bar = h('div', { class: 'dvi-toolbar' });
    this.playBtn = h('button', { class: 'dvi-play', title: 'play / pause', text: '▶' });
    this.slider = h('input', { type: 'range', class: 'dvi-slider', min: '0', step: '1' });
    this.epochLabel = h('span', { class: 'dvi-epoch' });
    this.speedSel = h('select', { class: 'dvi-speed', title: 'epochs per second' });
    for (const s of SPEEDS) this.speedSel.appendChild(h('option', { value: String(s), text: `${s}×/s` }));
    this.loopBox = h('input', { type: 'checkbox', class: 'dvi-loop' });
    this.colorSel = h('select', { class: 'dvi-colorby' }, [
      h('option', { value: 'label', text: 'color: label' }),
      h('option', { value: 'prediction', text: 'color: prediction' }),
    ]);
    this.showSel = h('select', { class: 'dvi-show' }, [
      h('option', { value: 'both', text: 'train + test' }),
      h('option', { value: 'train', text: 'train' }),
      h('option', { value: 'test', text: 'test' }),
    ]);
    this.sizeRange = h('input', { type: 'range', class: 'dvi-size', min: '1', max: '20', step: '0.5', title: 'point size' });
    this.modeBtns = {};
    const modes = [['pan', 'Pan'], ['lasso', 'Lasso'], ['box', 'Box']];
    const modeGroup = h('span');
    for (const [k, label] of modes) {
      const b = h('button', { class: `dvi-mode-${k}`, text: label });
      this.modeBtns[k] = b;
      modeGroup.appendChild(b);
    }
    this.clearBtn = h('button', { class: 'dvi-clear', text: 'Clear' });
    this.searchBox = h('input', { type: 'text', class: 'dvi-search', placeholder: 'index…' });
    this.status = h('span', { class: 'dvi-status' });
    bar.append(
      this.playBtn, this.slider, this.epochLabel, this.speedSel,
      h('label', {}, [this.loopBox, document.createTextNode('loop')]),
      this.colorSel, this.showSel, this.sizeRange, modeGroup, this.clearBtn, this.searchBox, this.status,
    );
    const main = h('div', { class: 'dvi-main' });
    this.wrap = h('div', { class: 'dvi-canvas-wrap' });
    this.wrap.style.height = `${m.get('height')}px`;
    this.canvas = h('canvas', { class: 'dvi-canvas' });
    this.trailCanvas = h('canvas', { class: 'dvi-trails' });
    this.tooltipText = h('div');
    this.thumb = h('canvas', { class: 'dvi-thumb' });
    this.tooltip = h('div', { class: 'dvi-tooltip' }, [this.tooltipText, this.thumb]);
    this.wrap.append(this.canvas, this.trailCanvas, this.tooltip);
    this.legend = h('div', { class: 'dvi-legend' });
    main.append(this.wrap, this.legend);
    this.root.append(bar, main);
    this.el.appendChild(this.root);
  }

  renderLegend() {
    const m = this.model;
    this.legend.replaceChildren();
    m.get('class_names').forEach((name, c) => {
      const sw = h('span', { class: 'dvi-swatch' });
      sw.style.background = m.get('palette')[c];
      this.legend.appendChild(h('div', {}, [sw, h('span', { text: String(name) })]));
    });
    const big = h('span', { class: 'dvi-swatch' });
    big.style.cssText = 'background:#333;width:13px;height:13px';
    this.legend.appendChild(h('div', {}, [big, h('span', { text: 'misclassified (dark, large)' })]));
    const faded = h('span', { class: 'dvi-swatch' });
    faded.style.cssText = 'background:#333;opacity:.4;width:9px;height:9px';
    this.legend.appendChild(h('div', {}, [faded, h('span', { text: 'test (faded)' })]));
  }

  syncControls() {
    const m = this.model;
    const epochs = m.get('epochs');
    this.slider.max = String(epochs.length - 1);
    this.slider.value = String(this.pos);
    this.epochLabel.textContent = `epoch ${m.get('epoch')} (${this.pos + 1}/${epochs.length})`;
    this.playBtn.textContent = m.get('playing') ? '❚❚' : '▶';
    this.speedSel.value = String(m.get('speed'));
    this.loopBox.checked = Boolean(m.get('loop'));
    this.colorSel.value = m.get('color_by');
    this.showSel.value = m.get('show');
    this.sizeRange.value = String(m.get('point_size'));
    const mode = m.get('mouse_mode');
    for (const [k, b] of Object.entries(this.modeBtns)) b.classList.toggle('dvi-on', k === mode);
    const sel = decodeIndices(m.get('selection'));
    this.status.textContent = sel && sel.length ? `${sel.length} selected` : '';
  }

  // ------------------------------------------------------------------ plot
  createPlot() {
    const m = this.model;
    const rect = this.wrap.getBoundingClientRect();
    const width = Math.max(1, rect.width || 600);
    const height = Math.max(1, rect.height || m.get('height'));
    ({ renderer: this.renderer, gl: this.gl } = createPlotRenderer());
    this.renderer.resize(width, height);
    this.scatterplot = createScatterplot({
      renderer: this.renderer,
      canvas: this.canvas,
      width,
      height,
      pointSize: pointSizes(m.get('point_size')),
      pointColor: pointColors(m.get('palette')),
      colorBy: 'valueZ',
      sizeBy: 'valueW',
      opacityBy: 'valueW',
      opacity: POINT_OPACITIES,
      pointColorActive: '#000000',
      pointOutlineWidth: 2,
      pointSizeSelected: 2,
      opacityInactiveScale: 0.5,
      backgroundColor: '#ffffff',
      lassoColor: '#1f4fbf',
      lassoMinDelay: 5,
      lassoMinDist: 2,
      lassoOnLongPress: false,
      showReticle: false,
      deselectOnDblClick: true,
      deselectOnEscape: true,
    });
    this.applyMouseMode();
    const sp = this.scatterplot;
    const sub = (event, fn) => this.unsubscribers.push(sp.subscribe(event, fn));
    sub('select', ({ points }) => this.sendSelection(Uint32Array.from(points).sort()));
    sub('deselect', () => this.sendSelection(new Uint32Array(0)));
    sub('pointOver', (i) => this.showTooltip(i));
    sub('pointOut', () => { this.tooltip.style.display = 'none'; });
    sub('view', () => this.drawTrails());
    if (typeof ResizeObserver !== 'undefined') {
      this.resizeObserver = new ResizeObserver(() => {
        const r = this.wrap.getBoundingClientRect();
        if (r.width > 0 && r.height > 0) {
          this.renderer.resize(r.width, r.height);
          this.scatterplot.set({ width: r.width, height: r.height });
          this.drawTrails();
        }
      });
      this.resizeObserver.observe(this.wrap);
    }
  }

  applyMouseMode() {
    const mode = this.model.get('mouse_mode');
    this.scatterplot.set({
      mouseMode: mode === 'pan' ? 'panZoom' : 'lasso',
      lassoType: mode === 'box' ? 'rectangle' : 'freeform',
    });
  }

  /**
   * Show the landscape of epoch `pos` under the points.
   *
   * One texture, refilled per epoch: handing regl-scatterplot a different texture goes through
   * `set()`, which always schedules one more full render on the next animation frame — a second
   * frame per epoch change. Uploading one epoch's image (H*W*4 bytes) costs far less than a frame.
   */
  showLandscape(pos) {
    if (pos === this.landTexPos) return;
    const { landW: W, landH: H, landscape } = this.d;
    const image = { data: landscape.subarray(pos * H * W * 4, (pos + 1) * H * W * 4), width: W, height: H };
    if (!this.landTex) {
      this.landTex = this.renderer.regl.texture({ ...image, format: 'rgba', min: 'linear', mag: 'linear' });
      this.scatterplot.set({ backgroundImage: this.landTex });
    } else {
      this.landTex.subimage(image);
    }
    this.landTexPos = pos;
  }

  visibleIndices() {
    const m = this.model;
    const show = m.get('show');
    const filt = decodeIndices(m.get('filter_indices'));
    const codes = this.d.splitCodes;
    const keep = (i) => show === 'both' || (show === 'train' ? codes[i] === 0 : codes[i] > 0);
    if (show === 'both' && !filt) return null;
    const out = [];
    if (filt) {
      for (const i of filt) if (i < this.d.N && keep(i)) out.push(i);
    } else {
      for (let i = 0; i < this.d.N; i++) if (keep(i)) out.push(i);
    }
    return out;
  }

  /** Coalescing draw: regl-scatterplot rejects a draw while one is in flight. */
  redraw({ transition = false, first = false } = {}) {
    this.pendingDraw = { transition: this.pendingDraw?.transition || transition, first };
    if (!this.drawing) this.flushDraw();
  }

  flushDraw() {
    if (!this.pendingDraw || this.destroyed) return;
    const { transition, first } = this.pendingDraw;
    this.pendingDraw = null;
    this.drawing = true;
    const m = this.model;
    const pos = this.pos;
    const tBuild = performance.now();
    const hl = decodeIndices(m.get('highlight_indices'));
    this.points = buildPoints(this.d, pos, {
      colorBy: m.get('color_by'),
      markMisclassified: m.get('mark_misclassified'),
      highlight: hl ? new Set(hl) : null,
    }, this.points);
    this.showLandscape(pos);
    const sel = decodeIndices(m.get('selection')) || new Uint32Array(0);
    const duration = Number(m.get('transition_ms')) || 0;
    // The filter only depends on these two traits: while they are unchanged, keep the one
    // regl-scatterplot holds instead of resetting and rebuilding it on every epoch.
    const filterKey = [m.get('show'), m.get('filter_indices')];
    const sameFilter = this.drawnFilterKey !== null
      && filterKey.every((v, k) => v === this.drawnFilterKey[k]);
    const opts = {
      zDataType: 'categorical',
      wDataType: 'categorical',
      transition: transition && duration > 0,
      transitionDuration: duration,
      preventFilterReset: sameFilter,
      spatialIndex: this.spatialIndices.get(pos),
    };
    if (sel.length) opts.select = Array.from(sel);
    if (!sameFilter) {
      const visible = this.visibleIndices();
      if (visible) opts.filter = visible;
    }
    this.drawnFilterKey = filterKey;
    const start = performance.now();
    this.el.dataset.lastBuildMs = (start - tBuild).toFixed(1);
    this.scatterplot
      .draw(this.points, opts)
      .then(() => {
        if (this.destroyed) return;
        if (!this.spatialIndices.has(pos)) this.spatialIndices.set(pos, this.scatterplot.get('spatialIndex'));
        this.drawCount += 1;
        const ds = this.el.dataset;
        ds.drawCount = String(this.drawCount);
        ds.drawnEpoch = String(m.get('epochs')[pos]);
        ds.lastDrawMs = (performance.now() - start).toFixed(1);
        if (first) {
          ds.firstRenderMs = (performance.now() - this.t0).toFixed(1);
          this.indexEpochsWhenIdle();
        }
        this.drawTrails();
      })
      .catch((err) => {
        this.drawnFilterKey = null;
        console.error('dvi_widget draw failed', err);
      })
      .finally(() => {
        this.drawing = false;
        if (this.pendingDraw) this.flushDraw();
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
    const { T, N, coords } = this.d;
    const idle = window.requestIdleCallback ?? ((fn) => setTimeout(fn, 50));
    const cancel = window.cancelIdleCallback ?? clearTimeout;
    const step = () => {
      this.cancelIndexing = null;
      if (this.destroyed) return;
      let pos = 0;
      while (pos < T && this.spatialIndices.has(pos)) pos++;
      if (pos === T) return;
      const base = 2 * pos * N;
      const xy = Array.from({ length: N }, (_, i) => [coords[base + 2 * i], coords[base + 2 * i + 1]]);
      createSpatialIndex(xy, false).then((index) => {
        if (this.destroyed) return;
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
  sendSelection(ids) {
    if (sameIndices(ids, decodeIndices(this.model.get('selection')) || new Uint32Array(0))) return;
    this.lastSent = ids;
    this.model.set('selection', encodeArray(ids));
    this.model.save_changes();
    this.syncControls();
  }

  onSelectionChange() {
    const ids = decodeIndices(this.model.get('selection')) || new Uint32Array(0);
    const current = Uint32Array.from(this.scatterplot.get('selectedPoints') || []).sort();
    this.syncControls();
    if (sameIndices(ids, current)) return; // our own lasso coming back: no feedback loop
    if (ids.length) this.scatterplot.select(Array.from(ids), { preventEvent: true });
    else this.scatterplot.deselect({ preventEvent: true });
  }

  // ------------------------------------------------------------------ hover, search, trails
  showTooltip(i) {
    const m = this.model;
    const pos = this.pos;
    const names = m.get('class_names');
    const label = this.d.labels[i];
    const pred = this.d.predictions[pos * this.d.N + i];
    const split = m.get('split_names')[this.d.splitCodes[i]] ?? '';
    const lines = [
      `#${i} (${split})`,
      `label: ${names[label] ?? label}`,
      `prediction: ${names[pred] ?? pred}${pred !== label ? '  ✗' : ''}`,
      `confidence: ${this.confidenceAt(pos, i).toFixed(3)}`,
    ];
    this.tooltipText.textContent = lines.join('\n');
    this.drawThumbnail(i);
    const p = this.scatterplot.getScreenPosition(i);
    if (!p) return;
    this.tooltip.style.left = `${p[0] + 10}px`;
    this.tooltip.style.top = `${p[1] + 10}px`;
    this.tooltip.style.display = 'block';
  }

  drawThumbnail(i) {
    const img = this.d.images;
    this.thumb.style.display = img ? 'block' : 'none';
    if (!img) return;
    const [, ih, iw, ch = 1] = img.shape;
    const rgba = new Uint8ClampedArray(ih * iw * 4);
    const base = i * ih * iw * ch;
    for (let p = 0; p < ih * iw; p++) {
      for (let c = 0; c < 3; c++) rgba[4 * p + c] = img.data[base + p * ch + (ch === 3 ? c : 0)];
      rgba[4 * p + 3] = 255;
    }
    this.thumb.width = iw;
    this.thumb.height = ih;
    this.thumb.getContext('2d').putImageData(new ImageData(rgba, iw, ih), 0, 0);
  }

  search() {
    const i = Number.parseInt(this.searchBox.value, 10);
    if (!Number.isInteger(i) || i < 0 || i >= this.d.N) {
      this.searchBox.style.background = '#fdd';
      return;
    }
    this.searchBox.style.background = '';
    this.scatterplot.select([i]);
    this.scatterplot.hover(i);
    this.showTooltip(i);
  }

  toScreen(x, y, view, w, hgt) {
    // Same transform as regl-scatterplot: projection(1/aspect) * view * model(dataAspect=1).
    const px = view[0] * x + view[4] * y + view[12];
    const py = view[1] * x + view[5] * y + view[13];
    return [(w * (px * (hgt / w) + 1)) / 2, hgt * (0.5 - py / 2)];
  }

  drawTrails() {
    const cv = this.trailCanvas;
    const { width: w, height: hgt } = this.wrap.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(hgt * dpr)) {
      cv.width = Math.round(w * dpr);
      cv.height = Math.round(hgt * dpr);
    }
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    const trails = decodeIndices(this.model.get('trail_indices'));
    if (!trails || !trails.length || !w || !hgt) return;
    const view = this.scatterplot.get('cameraView');
    const { T, N, coords, labels } = this.d;
    const palette = this.model.get('palette');
    const pos = this.pos;
    ctx.lineWidth = 1.5;
    for (const i of trails) {
      if (i >= N) continue;
      ctx.strokeStyle = palette[labels[i]] || '#000';
      ctx.globalAlpha = 0.85;
      ctx.beginPath();
      for (let t = 0; t < T; t++) {
        const [sx, sy] = this.toScreen(coords[2 * (t * N + i)], coords[2 * (t * N + i) + 1], view, w, hgt);
        if (t === 0) ctx.moveTo(sx, sy);
        else ctx.lineTo(sx, sy);
      }
      ctx.stroke();
      // a ring at the current epoch, a small square at the first
      const [cx, cy] = this.toScreen(coords[2 * (pos * N + i)], coords[2 * (pos * N + i) + 1], view, w, hgt);
      ctx.beginPath();
      ctx.arc(cx, cy, 5, 0, 2 * Math.PI);
      ctx.stroke();
      const [fx, fy] = this.toScreen(coords[2 * i], coords[2 * i + 1], view, w, hgt);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillRect(fx - 2, fy - 2, 4, 4);
    }
    ctx.globalAlpha = 1;
  }

  // ------------------------------------------------------------------ wiring
  on(name, fn) {
    this.model.on(name, fn);
    this.handlers.push([name, fn]);
  }

  listen(target, event, fn) {
    target.addEventListener(event, fn);
    this.handlers.push([null, () => target.removeEventListener(event, fn)]);
  }

  wire() {
    const m = this.model;
    const setSave = (k, v) => {
      m.set(k, v);
      m.save_changes();
    };
    this.on('change:epoch', () => {
      this.syncControls();
      this.redraw({ transition: true });
    });
    this.on('change:selection', () => this.onSelectionChange());
    for (const k of ['highlight_indices', 'filter_indices', 'show', 'color_by', 'mark_misclassified']) {
      this.on(`change:${k}`, () => {
        this.syncControls();
        this.redraw({ transition: false });
      });
    }
    this.on('change:point_size', () => {
      this.scatterplot.set({ pointSize: pointSizes(m.get('point_size')) });
      this.syncControls();
    });
    this.on('change:trail_indices', () => this.drawTrails());
    this.on('change:mouse_mode', () => {
      this.applyMouseMode();
      this.syncControls();
    });
    for (const k of ['playing', 'speed', 'loop']) this.on(`change:${k}`, () => this.syncControls());
    this.on('change:height', () => {
      this.wrap.style.height = `${m.get('height')}px`;
    });

    this.listen(this.slider, 'input', () => setSave('epoch', m.get('epochs')[Number(this.slider.value)]));
    this.listen(this.playBtn, 'click', () => setSave('playing', !m.get('playing')));
    this.listen(this.speedSel, 'change', () => setSave('speed', Number(this.speedSel.value)));
    this.listen(this.loopBox, 'change', () => setSave('loop', this.loopBox.checked));
    this.listen(this.colorSel, 'change', () => setSave('color_by', this.colorSel.value));
    this.listen(this.showSel, 'change', () => setSave('show', this.showSel.value));
    this.listen(this.sizeRange, 'input', () => setSave('point_size', Number(this.sizeRange.value)));
    for (const [k, b] of Object.entries(this.modeBtns)) this.listen(b, 'click', () => setSave('mouse_mode', k));
    this.listen(this.clearBtn, 'click', () => this.scatterplot.deselect());
    this.listen(this.searchBox, 'keydown', (e) => {
      if (e.key === 'Enter') this.search();
    });
  }

  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const [name, fn] of this.handlers) {
      if (name === null) fn();
      else this.model.off(name, fn);
    }
    this.handlers = [];
    this.releasePlayer();
    this.cancelIndexing?.();
    this.resizeObserver?.disconnect();
    for (const u of this.unsubscribers) this.scatterplot.unsubscribe(u);
    this.landTex?.destroy();
    this.scatterplot.destroy();
    this.renderer.destroy(); // ours, so the scatterplot leaves it alive
    // Free the WebGL context now rather than at garbage collection: browsers cap live contexts.
    this.gl.getExtension('WEBGL_lose_context')?.loseContext();
    this.root.remove();
  }
}

/** anywidget entry point. */
function render({ model, el }) {
  const view = new DviView(model, el);
  return () => view.destroy();
}

export default { render };
export { render };
