// dvi_widget front end: one view object per render(), all state in the model's traits.
// Trait names and buffer layouts are documented in dvi_widget/view/widget.py.
//
// Parts: plot.js (regl-scatterplot, landscape.js, camera), toolbar.js (controls, search, help),
// panels.js (the side panel area; legend.js is its first panel, explore.js the explore panels,
// explain/ the Explain panel), kernel.js (the one request envelope), tooltip.js, trails.js,
// player.js (playback), marks.js / columns.js / colors.js (what a mark looks like), codecs.js,
// chips.js (the emphasis bar above the plot and the one-dimming rule), clusters.js + density.js
// (class labels and density contours over the plot),
// widget.css (the one stylesheet: esbuild writes it beside the bundle, anywidget's _css).
import {
  asText,
  buffersAsText,
  decodeArray,
  decodeCoords,
  decodeIndices,
  encodeArray,
  textOnlyHost,
} from './codecs.js';
import { Chips } from './chips.js';
import { Clusters } from './clusters.js';
import { buildColumns } from './columns.js';
import { eventTarget, h, inside, listeners, sameIndices } from './dom.js';
import './legend.js'; // registers the 'legend' panel
import './explore.js'; // registers the explore panels
import './explain/panel.js'; // registers the Explain panel
import { PanelArea, registerPanel } from './panels.js';
import { acquirePlayer, periodMs } from './player.js';
import { Plot } from './plot.js';
import { Toolbar } from './toolbar.js';
import { Tooltip } from './tooltip.js';
import { Trails } from './trails.js';
import { LandscapeDetail } from './zoom.js';
import { answerSnapshot } from './snapshot.js';
import './widget.css';

/** Events that must not reach the notebook around the widget (JupyterLab starts a cell-range
 * selection on shift+mousedown and then swallows the mousemoves the lasso needs; jupyterlab#8543).
 * Moves and releases are left alone: regl-scatterplot listens for them on window. */
const ISOLATED_EVENTS = ['mousedown', 'pointerdown', 'touchstart', 'dblclick', 'contextmenu'];
/** During playback a transition takes at most this share of an epoch's time. */
const PLAYBACK_TRANSITION_SHARE = 0.8;
/** Below this width (CSS px) the side column goes under the plot, which then takes the whole
 * width: beside it, a 180 px column left a notebook next to JupyterLab's file browser on a
 * 900 px screen about 280 px of plot. */
const NARROW_PX = 600;

/** Controls that use keys themselves (typing, arrows on sliders and lists, space on buttons). */
const ownsKeys = (t, key) => t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName)
  || (t.tagName === 'BUTTON' && (key === ' ' || key === 'Enter')));

class DviView {
  constructor(model, el) {
    this.model = model;
    this.textOnly = textOnlyHost(model); // a served Panel app: arrays go to Python as JSON text
    this.el = el;
    this.ls = listeners();
    this.filterVersion = 0;
    this.decode();
    this.columns = buildColumns(this.d, model);
    this.highlightMask = this.indexMask(model.get('highlight_indices'));
    this.buildDom();
    this.tooltip = new Tooltip(this, this.tooltipEl, this.tooltipText, this.thumb);
    this.trails = new Trails(this, this.trailCanvas);
    this.clusters = new Clusters(this, this.clusterCanvas, this.clusterLabels);
    this.plot = new Plot(this, this.wrap, this.canvas);
    this.detail = new LandscapeDetail(this); // the landscape at screen resolution when zoomed in
    this.panels = new PanelArea(this, this.side);
    this.watchWidth();
    this.releasePlayer = acquirePlayer(model);
    this.wire();
    this.toolbar.sync();
    this.plot.redraw({ transition: false, first: true });
  }

  // ------------------------------------------------------------------ data
  decode() {
    const m = this.model;
    const coords = decodeCoords(m.get('coords'));
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
    };
  }

  get pos() {
    return Math.max(0, this.model.get('epochs').indexOf(this.model.get('epoch')));
  }

  get column() {
    return this.columns.get(this.model.get('color_by')) ?? this.columns.get('label');
  }

  indexMask(value) {
    const ids = decodeIndices(value);
    if (!ids) return null;
    const mask = new Uint8Array(this.d.N);
    for (const i of ids) if (i < this.d.N) mask[i] = 1;
    return mask;
  }

  selection() {
    return decodeIndices(this.model.get('selection')) || new Uint32Array(0);
  }

  /** highlight_indices (w.highlight, the events panel) as indices, or null. */
  highlightIds() {
    return decodeIndices(this.model.get('highlight_indices'));
  }

  /** filter_indices (w.filter_samples) as indices, or null. */
  filterIds() {
    return decodeIndices(this.model.get('filter_indices'));
  }

  /** 1 for samples drawn normally, 0 for dimmed ones, or null when nothing is dimmed. */
  emphasis(pos) {
    const cats = this.model.get('highlight_categories') || [];
    if (!cats.length) return this.highlightMask;
    const col = this.column;
    if (col.kind !== 'categorical') return this.highlightMask;
    const on = new Uint8Array(col.categories.length);
    for (const k of cats) if (k < on.length) on[k] = 1;
    const values = col.values(pos);
    const out = new Uint8Array(this.d.N);
    const hl = this.highlightMask;
    for (let i = 0; i < this.d.N; i++) out[i] = on[values[i]] && (!hl || hl[i]) ? 1 : 0;
    return out;
  }

  /** Per-sample visibility from the split, filter_indices and (optionally) the legend filter. */
  visibleMask(pos, { legend = true } = {}) {
    const m = this.model;
    const show = m.get('show');
    const filt = decodeIndices(m.get('filter_indices'));
    const cats = legend && this.column.kind === 'categorical' ? m.get('filter_categories') || [] : [];
    if (show === 'both' && !filt && !cats.length) return null;
    const { N, splitCodes } = this.d;
    const out = new Uint8Array(N);
    if (filt) {
      for (const i of filt) if (i < N) out[i] = 1;
    } else out.fill(1);
    if (show !== 'both') {
      const wantTrain = show === 'train';
      for (let i = 0; i < N; i++) if ((splitCodes[i] === 0) !== wantTrain) out[i] = 0;
    }
    if (cats.length) {
      const on = new Uint8Array(this.column.categories.length);
      for (const k of cats) if (k < on.length) on[k] = 1;
      const values = this.column.values(pos);
      for (let i = 0; i < N; i++) if (!on[values[i]]) out[i] = 0;
    }
    return out;
  }

  visibleIndices(pos) {
    const mask = this.visibleMask(pos);
    if (!mask) return null;
    const out = [];
    for (let i = 0; i < mask.length; i++) if (mask[i]) out.push(i);
    return out;
  }

  /** Changes whenever visibleIndices(pos) may change. */
  filterKey(pos) {
    const m = this.model;
    const cats = this.column.kind === 'categorical' ? m.get('filter_categories') || [] : [];
    const perEpoch = cats.length && this.column.perEpoch ? pos : '';
    return `${m.get('show')}|${this.filterVersion}|${m.get('color_by')}:${cats.join(',')}|${perEpoch}`;
  }

  /** Counts of the shown samples (split and filter_indices, not the legend filter) per category. */
  counts(pos) {
    const col = this.column;
    const mask = this.visibleMask(pos, { legend: false });
    const values = col.values(pos);
    const N = this.d.N;
    if (col.kind === 'categorical') {
      const perCategory = new Array(col.categories.length).fill(0);
      for (let i = 0; i < N; i++) if (!mask || mask[i]) perCategory[values[i]] += 1;
      return { perCategory };
    }
    let total = 0;
    let missing = 0;
    for (let i = 0; i < N; i++) {
      if (mask && !mask[i]) continue;
      total += 1;
      if (Number.isNaN(values[i])) missing += 1;
    }
    return { total, missing };
  }

  transitionMs() {
    const m = this.model;
    const ms = Math.max(0, Number(m.get('transition_ms')) || 0);
    return m.get('playing') ? Math.min(ms, PLAYBACK_TRANSITION_SHARE * periodMs(m.get('speed'))) : ms;
  }

  // ------------------------------------------------------------------ DOM
  buildDom() {
    this.root = h('div', { class: 'dvi-root', tabindex: '0' });
    this.toolbar = new Toolbar(this);
    const main = h('div', { class: 'dvi-main' });
    this.wrap = h('div', { class: 'dvi-canvas-wrap' });
    this.canvas = h('canvas', { class: 'dvi-canvas', 'aria-label': 'samples over the decision landscape' });
    this.trailCanvas = h('canvas', { class: 'dvi-trails' });
    this.clusterCanvas = h('canvas', { class: 'dvi-contours' });
    this.clusterLabels = h('div', { class: 'dvi-cluster-labels' });
    this.tooltipText = h('div');
    this.thumb = h('canvas', { class: 'dvi-thumb' });
    this.tooltipEl = h('div', { class: 'dvi-tooltip' }, [this.tooltipText, this.thumb]);
    this.wrap.append(this.canvas, this.clusterCanvas, this.trailCanvas, this.clusterLabels, this.tooltipEl, this.toolbar.help);
    this.chips = new Chips(this);
    this.side = h('div', { class: 'dvi-side' });
    this.side.appendChild(this.toolbar.searchEl);
    main.append(this.wrap, this.side);
    this.root.append(this.toolbar.el, this.chips.el, main);
    this.applyHeight();
    this.applyCompact();
    this.el.appendChild(this.root);
  }

  /** dvi-narrow on the root while it is narrower than NARROW_PX (the side column under the plot). */
  watchWidth() {
    const apply = () => {
      const w = this.root.getBoundingClientRect().width;
      const narrow = w > 0 && w < NARROW_PX;
      if (narrow === this.root.classList.contains('dvi-narrow')) return;
      this.root.classList.toggle('dvi-narrow', narrow);
      this.panels.syncOpen();
    };
    if (typeof ResizeObserver === 'undefined') return;
    this.widthObserver = new ResizeObserver(apply);
    this.widthObserver.observe(this.root);
  }

  /** compact: the plot alone (no toolbar, chips or search column), for small linked views. */
  applyCompact() {
    this.root.classList.toggle('dvi-compact', Boolean(this.model.get('compact')));
  }

  applyHeight() {
    const px = `${this.model.get('height')}px`;
    this.wrap.style.height = px;
    this.side.style.maxHeight = px;
  }

  // ------------------------------------------------------------------ model helpers
  setSave(k, v) {
    this.model.set(k, this.traitValue(v));
    this.model.save_changes();
  }

  /** A value for model.set: a serialized array as the host can carry it to Python. */
  traitValue(v) {
    return this.textOnly ? asText(v) : v;
  }

  send(msg, buffers) {
    if (this.textOnly && buffers?.length) this.model.send({ ...msg, _buffers: buffersAsText(buffers) });
    else this.model.send(msg, undefined, buffers);
  }

  sendSelection(ids) {
    if (sameIndices(ids, this.selection())) return;
    if (ids.length) this.replaceDimming('selection');
    this.setSave('selection', encodeArray(ids));
    this.toolbar.sync();
    this.panels.update('selection');
    this.chips.update();
  }

  /**
   * One dimming emphasis at a time (see chips.js): before `kind` ('selection', 'legend' or
   * 'highlight') takes effect, the other dimming emphases are removed (Python does the same for
   * changes made in a cell: Widget._one_dimming_emphasis).
   */
  replaceDimming(kind) {
    const m = this.model;
    let changed = false;
    if (kind !== 'legend' && (m.get('highlight_categories') || []).length) {
      m.set('highlight_categories', []);
      changed = true;
    }
    if (kind !== 'highlight' && m.get('highlight_indices')) {
      m.set('highlight_indices', null);
      changed = true;
    }
    if (kind !== 'selection' && this.selection().length) {
      this.tooltip.hide();
      this.plot.select(new Uint32Array(0));
      m.set('selection', this.traitValue(encodeArray(new Uint32Array(0))));
      changed = true;
    }
    if (changed) m.save_changes();
  }

  /** Select these indices in the plot and the model (search, Python). */
  setSelection(ids) {
    this.plot.select(ids);
    this.sendSelection(Uint32Array.from(ids));
  }

  clearSelection() {
    this.tooltip.hide();
    this.plot.hover(undefined);
    this.setSelection(new Uint32Array(0));
  }

  setLegendState(highlight, filter) {
    const m = this.model;
    m.set('highlight_categories', highlight);
    m.set('filter_categories', filter);
    m.save_changes();
  }

  /** Legend click: toggle category k in the highlight or the filter. */
  toggleCategory(k, kind) {
    const m = this.model;
    const key = kind === 'filter' ? 'filter_categories' : 'highlight_categories';
    const cur = new Set(m.get(key) || []);
    if (cur.has(k)) cur.delete(k);
    else cur.add(k);
    if (kind !== 'filter' && cur.size) this.replaceDimming('legend');
    this.setSave(key, [...cur].sort((a, b) => a - b));
  }

  onSelectionChange() {
    const ids = this.selection();
    this.toolbar.sync();
    this.panels.update('selection');
    this.chips.update();
    if (sameIndices(ids, this.plot.selectedPoints())) return; // our own lasso coming back: no loop
    this.plot.select(ids);
  }

  afterDraw() {
    this.trails.draw();
    this.clusters.draw();
    this.chips.update();
    this.detail.schedule();
    this.panels.update('epoch');
  }

  // ------------------------------------------------------------------ keyboard
  /** A shortcut for a keydown inside the widget, or null. */
  shortcut(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return null;
    const m = this.model;
    const epochs = m.get('epochs');
    const go = (p) => () => this.setSave('epoch', epochs[Math.max(0, Math.min(epochs.length - 1, p))]);
    switch (e.key) {
      case 'ArrowLeft': return go(this.pos - 1);
      case 'ArrowRight': return go(this.pos + 1);
      case 'Home': return go(0);
      case 'End': return go(epochs.length - 1);
      case ' ': return () => this.setSave('playing', !m.get('playing'));
      case 'p': return () => this.setSave('mouse_mode', 'pan');
      case 'l': return () => this.setSave('mouse_mode', 'lasso');
      case 'b': return () => this.setSave('mouse_mode', 'box');
      case 'z': return () => this.plot.zoomToSelection();
      case 'r': return () => this.plot.fit();
      case '/': return () => {
        if (!m.get('panel_open')) this.setSave('panel_open', true);
        this.toolbar.searchBox.focus();
      };
      case '?': return () => this.toolbar.toggleHelp();
      case 'Escape': return () => {
        if (this.toolbar.helpOpen) this.toolbar.toggleHelp(false);
        else this.clearSelection();
      };
      default: return null;
    }
  }

  /**
   * Keys pressed inside the widget are ours: handled on window in the capture phase, before the
   * notebook's command shortcuts (Notebook 7 listens on document in the capture phase, JupyterLab
   * in the bubble phase; 'b', 'l', 'z', space ... are notebook commands too).
   */
  onKey(e) {
    if (!inside(this.root, e) || ownsKeys(eventTarget(e), e.key)) return;
    const action = this.shortcut(e);
    if (!action) return;
    e.preventDefault();
    e.stopPropagation();
    action();
  }

  // ------------------------------------------------------------------ wiring
  wire() {
    const m = this.model;
    const ls = this.ls;
    const redraw = (transition = false) => this.plot.redraw({ transition });
    const on = (name, fn) => ls.model(m, name, fn);
    on('change:epoch', () => {
      this.detail.hide(); // the finer landscape is the previous epoch's
      this.toolbar.sync();
      redraw(true);
      // the panels show the epoch the toolbar names from the start of its transition (while
      // playing, a transition lasts most of an epoch's period); afterDraw updates them again
      // for what depends on the drawn points, and each panel skips an epoch it already shows
      this.panels.update('epoch');
    });
    on('change:selection', () => this.onSelectionChange());
    on('change:follow_status', () => this.toolbar.sync());
    // the live view handed over a new visualization (more epochs): re-read the arrays, keep
    // the camera, selection and panels
    on('change:data_version', () => {
      this.decode();
      this.columns = buildColumns(this.d, m);
      this.plot.landscape.replaceData(this.d.landscape, this.d.landH, this.d.landW);
      this.toolbar.sync();
      this.panels.update('epoch');
      redraw(false);
    });
    on('change:highlight_indices', () => {
      this.highlightMask = this.indexMask(m.get('highlight_indices'));
      this.chips.update();
      this.panels.update('highlight');
      redraw();
    });
    on('change:filter_indices', () => {
      this.filterVersion += 1;
      this.chips.update();
      this.panels.update('filter');
      redraw();
    });
    on('change:show', () => {
      this.toolbar.sync();
      this.chips.update();
      this.panels.update('filter');
      redraw();
    });
    on('change:filter_categories', () => {
      this.chips.update();
      this.panels.update('filter');
      redraw();
    });
    on('change:highlight_categories', () => {
      this.chips.update();
      this.panels.update('highlight');
      redraw();
    });
    for (const k of ['class_labels', 'density_contours']) {
      on(`change:${k}`, () => {
        this.toolbar.sync();
        this.clusters.draw();
      });
    }
    on('change:color_by', () => {
      // the legend's categories belong to the previous column (the kernel resets them too)
      if ((m.get('highlight_categories') || []).length || (m.get('filter_categories') || []).length) {
        this.setLegendState([], []);
      }
      this.toolbar.sync();
      this.plot.applyColors();
      this.chips.update();
      this.panels.update('column');
      redraw();
    });
    on('change:review_marks', () => {
      if (m.get('color_by') === 'review') this.plot.applyColors();
      this.panels.update('column');
      redraw();
    });
    on('change:mark_misclassified', () => {
      this.panels.update('style');
      redraw();
    });
    on('change:max_points', () => redraw()); // one by one, or a subset over a raster
    for (const k of ['point_size', 'point_opacity']) {
      on(`change:${k}`, () => {
        this.plot.applySizes();
        this.toolbar.sync();
        this.panels.update('style');
      });
    }
    on('change:landscape_opacity', () => {
      this.plot.applyLandscapeOpacity();
      this.detail.setOpacity();
      this.toolbar.sync();
      this.panels.update('style');
    });
    on('change:trail_indices', () => this.trails.draw());
    on('change:mouse_mode', () => {
      this.plot.applyMouseMode();
      this.toolbar.sync();
    });
    for (const k of ['playing', 'speed', 'loop']) on(`change:${k}`, () => this.toolbar.sync());
    on('change:playing', () => this.detail.schedule());
    on('change:height', () => this.applyHeight());
    on('change:compact', () => this.applyCompact());
    on('change:panels', () => this.panels.build());
    on('change:panel_open', () => this.panels.syncOpen());
    on('msg:custom', (msg, buffers) => {
      if (msg?.type === 'reset_view') this.plot.fit();
      else if (msg?.type === 'zoom_to_selection') this.plot.zoomToSelection();
      else if (msg?.type === 'snapshot') answerSnapshot(this, msg);
      else if (msg?.panel) this.panels.onMessage(msg, buffers);
    });
    for (const type of ISOLATED_EVENTS) ls.add(this.root, type, (e) => e.stopPropagation(), { passive: true });
    // the plot takes the keyboard focus when pressed (its mousedown goes no further than the root)
    ls.add(this.wrap, 'mousedown', () => this.root.focus({ preventScroll: true }));
    ls.add(window, 'keydown', (e) => this.onKey(e), true);
  }

  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.ls.dispose();
    this.releasePlayer();
    this.widthObserver?.disconnect();
    this.panels.destroy();
    this.chips.destroy();
    this.clusters.destroy();
    this.toolbar.destroy();
    this.detail.destroy();
    this.plot.destroy();
    this.root.remove();
  }
}

/** anywidget entry point. */
function render({ model, el }) {
  const view = new DviView(model, el);
  return () => view.destroy();
}

export default { render };
export { registerPanel, render };
