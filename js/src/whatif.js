// The explain panel ('whatif'): for the chosen sample (the clicked one, or one set from Python) a
// what-if path (a perturbation family over a strength range) or an adversarial path (FGSM/PGD steps
// toward a target class) drawn over the landscape by paths.js, a strength slider along it and the
// first flip; robustness curves of the selection or a class; a local surrogate's weight images and
// neighbours. Every answer comes from the kernel (dvi_widget/view/whatif.py documents the messages);
// arrays arrive as binary buffers. The path follows the epoch: one request in flight at a time,
// the latest wish sent when it returns.
import { decodeArray } from './codecs.js';
import { h, listeners } from './dom.js';
import { markColor } from './marks.js';
import { registerPanel } from './panels.js';
import { thumbsOf } from './thumbs.js';
import { PathOverlay } from './paths.js';

export const PANEL = 'whatif';
const ATTACKS = new Set(['fgsm', 'pgd']);
/** Below this (normalised frame units, [-1, 1] wide) the anchoring shift is not mentioned. */
const ANCHOR_NOTE_MIN = 0.002;
/** Robustness chart size (px) and the mean probability a class needs somewhere to get a line. */
const CHART_W = 168;
const CHART_H = 96;
const CHART_MIN_PROB = 0.05;
const SVG = 'http://www.w3.org/2000/svg';

/** The panel's and the overlay's CSS (kept here, beside the only code that uses it). */
export const WHATIF_CSS = `
.dvi-canvas-wrap canvas.dvi-paths { pointer-events: none; }
.dvi-path-tip { position: absolute; pointer-events: none; display: none; z-index: 2; background: rgba(255,255,255,.95);
  border: 1px solid #999; border-radius: 3px; padding: 2px 5px; font-size: 11px; white-space: nowrap; }
/* with this panel the side column scrolls as a whole: every panel at its natural height (a shrunk
   legend would spill over the panel below it) */
.dvi-panels-body:has(> .dvi-panel-whatif) { overflow-y: auto; }
.dvi-panels-body:has(> .dvi-panel-whatif) > .dvi-panel { flex: 0 0 auto; }
.dvi-whatif { display: flex; flex-direction: column; gap: 3px; }
.dvi-whatif-row { display: flex; align-items: center; gap: 3px; flex-wrap: wrap; }
.dvi-whatif select { font: inherit; max-width: 100%; flex: 1 1 auto; min-width: 0; }
.dvi-whatif-num { font: inherit; width: 52px; box-sizing: border-box; }
.dvi-whatif button { font: inherit; font-size: 11px; border: 1px solid #bbb; background: #f6f6f6; border-radius: 3px; cursor: pointer; padding: 0 6px; line-height: 18px; }
.dvi-whatif button:disabled { opacity: .45; cursor: default; }
.dvi-whatif-sample { color: #444; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; flex: 1 1 0; min-width: 0; }
.dvi-whatif-unit, .dvi-whatif-note, .dvi-whatif-status, .dvi-whatif-tick, .dvi-whatif-caption { color: #666; font-size: 11px; }
.dvi-whatif-tick { fill: #666; font-size: 9px; }
.dvi-whatif-section { border-top: 1px solid #eee; padding-top: 2px; }
.dvi-whatif-section > summary { cursor: pointer; color: #444; font-weight: 600; }
.dvi-whatif-slider { width: 100%; margin: 2px 0; }
.dvi-whatif-current { border-left: 4px solid #888; padding-left: 4px; font-variant-numeric: tabular-nums; }
.dvi-whatif-flip { font-variant-numeric: tabular-nums; }
.dvi-whatif-flip.dvi-whatif-flipped { font-weight: 600; }
.dvi-whatif-error { color: #a40000; background: #fdeeee; border-radius: 3px; padding: 2px 4px; font-size: 11px; display: none; }
.dvi-whatif-keys { display: flex; flex-wrap: wrap; gap: 2px 6px; font-size: 10px; color: #444; }
.dvi-whatif-key i { display: inline-block; width: 10px; height: 3px; margin-right: 2px; vertical-align: middle; }
.dvi-whatif-key i.dvi-whatif-dash { background: repeating-linear-gradient(90deg, #000 0 3px, transparent 3px 5px); }
.dvi-whatif-tiles { display: flex; gap: 4px; }
.dvi-whatif-tile { margin: 0; display: flex; flex-direction: column; align-items: center; font-size: 10px; color: #444; width: 50px; text-align: center; overflow-wrap: anywhere; }
.dvi-whatif-tile canvas { width: 48px; height: 48px; image-rendering: pixelated; border: 1px solid #ddd; }
.dvi-whatif-check { display: inline-flex; align-items: center; gap: 2px; font-size: 11px; color: #444; }
`;

/** A strength or a score with three significant digits, no trailing zeros (23.2, 180, 0.0533). */
const fmt = (v) => (v == null || Number.isNaN(v) ? '–' : String(Number(Number(v).toPrecision(3))));
/** A path request unanswered this long no longer blocks the next one (ms). */
const PATH_TIMEOUT_MS = 20000;
const unitText = (unit) => (unit === 'degrees' ? '°' : unit === 'step' ? '' : ` ${unit}`);

/** Decode a message's arrays: {name: {dtype, shape, buffer}} + buffers -> {name: typed array}. */
export function unpack(msg, buffers) {
  const out = {};
  for (const [name, s] of Object.entries(msg.arrays || {})) {
    out[name] = decodeArray({ view: buffers[s.buffer], dtype: s.dtype, shape: s.shape });
  }
  return out;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** A diverging blue-white-red image of one weight map, symmetric around 0 at ±lim. */
function weightCanvas(data, offset, hgt, wid, lim) {
  const c = h('canvas', { class: 'dvi-whatif-weights' });
  c.width = wid;
  c.height = hgt;
  const rgba = new Uint8ClampedArray(hgt * wid * 4);
  for (let p = 0; p < hgt * wid; p++) {
    const v = Math.max(-1, Math.min(1, data[offset + p] / (lim || 1)));
    const a = Math.abs(v);
    // white -> red (#b2182b) for positive, white -> blue (#2166ac) for negative
    const [r, g, b] = v >= 0 ? [178, 24, 43] : [33, 102, 172];
    rgba[4 * p] = 255 - a * (255 - r);
    rgba[4 * p + 1] = 255 - a * (255 - g);
    rgba[4 * p + 2] = 255 - a * (255 - b);
    rgba[4 * p + 3] = 255;
  }
  c.getContext('2d').putImageData(new ImageData(rgba, wid, hgt), 0, 0);
  return c;
}

class WhatIf {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.rid = 0;
    this.ridBase = Math.random().toString(36).slice(2, 8); // rids differ between views of one widget
    this.sentAt = new Map(); // rid -> performance.now() at send
    this.kinds = null;
    this.sample = null;
    this.follow = null; // the shown path's request (re-sent when the epoch changes)
    this.path = null; // the last path answer (decoded)
    this.pathBusy = false; // or when the path request in flight was sent (performance.now())
    this.pathAgain = false; // ... and another one is wanted when it returns
    this.surrogate = null;
    this.overlay = new PathOverlay(view);
    this.build(body);
    this.syncSample();
    this.send({ type: 'hello' });
  }

  // ---------------------------------------------------------------- DOM
  build(body) {
    const classes = this.view.model.get('class_names');
    const opt = (value, text) => h('option', { value: String(value), text });
    const num = (attrs) => h('input', { type: 'number', class: 'dvi-whatif-num', ...attrs });
    this.sampleInput = num({ min: '0', step: '1', 'aria-label': 'sample index', title: 'the sample to explain (click a point to choose it)' });
    this.sampleText = h('span', { class: 'dvi-whatif-sample' });
    this.kind = h('select', { class: 'dvi-whatif-kind', 'aria-label': 'perturbation family' });
    this.start = num({ step: 'any', 'aria-label': 'first strength', title: 'first strength' });
    this.stop = num({ step: 'any', 'aria-label': 'last strength', title: 'last strength' });
    this.unit = h('span', { class: 'dvi-whatif-unit' });
    this.range = h('div', { class: 'dvi-whatif-row' }, [this.start, h('span', { text: '→' }), this.stop, this.unit]);
    this.target = h('select', { class: 'dvi-whatif-target', 'aria-label': 'target class' }, [
      opt('', 'away from its prediction'), ...classes.map((c, k) => opt(k, `toward ${c}`))]);
    this.steps = num({ min: '1', max: '200', step: '1', value: '20', 'aria-label': 'attack steps', title: 'gradient steps' });
    this.attack = h('div', { class: 'dvi-whatif-row' }, [this.target, this.steps]);
    this.row = num({ step: 'any', placeholder: 'row', 'aria-label': 'patch centre row' });
    this.col = num({ step: 'any', placeholder: 'col', 'aria-label': 'patch centre column' });
    this.center = h('div', { class: 'dvi-whatif-row', title: 'centre of the occlusion patch, pixels (empty: the image centre)' }, [
      h('span', { text: 'patch at' }), this.row, this.col]);
    this.showBtn = h('button', { type: 'button', class: 'dvi-whatif-show', text: 'Show path' });
    this.clearBtn = h('button', { type: 'button', class: 'dvi-whatif-clear', text: 'Clear' });
    this.slider = h('input', { type: 'range', class: 'dvi-whatif-slider', min: '0', max: '0', value: '0', 'aria-label': 'strength along the path' });
    this.current = h('div', { class: 'dvi-whatif-current' });
    this.flip = h('div', { class: 'dvi-whatif-flip' });
    this.note = h('div', { class: 'dvi-whatif-note' });
    this.status = h('div', { class: 'dvi-whatif-status' });
    this.error = h('div', { class: 'dvi-whatif-error', role: 'alert' });

    // robustness
    this.robOf = h('select', { class: 'dvi-whatif-of', 'aria-label': 'robustness of' });
    this.robKind = h('select', { class: 'dvi-whatif-robkind', 'aria-label': 'robustness perturbation' });
    this.robBtn = h('button', { type: 'button', class: 'dvi-whatif-rob', text: 'Curves' });
    this.chart = h('div', { class: 'dvi-whatif-chart' });
    // surrogate
    this.second = h('select', { class: 'dvi-whatif-second', 'aria-label': 'second class' }, [
      opt('', 'predicted class only'), ...classes.map((c, k) => opt(k, `and ${c}`))]);
    this.surBtn = h('button', { type: 'button', class: 'dvi-whatif-sur', text: 'Fit surrogate' });
    this.showNb = h('input', { type: 'checkbox', checked: true, 'aria-label': 'show the neighbours on the plot' });
    this.surOut = h('div', { class: 'dvi-whatif-surout' });

    const section = (title, open, children) => {
      const d = h('details', { class: 'dvi-whatif-section', open }, [h('summary', { text: title }), ...children]);
      return d;
    };
    this.el = h('div', { class: 'dvi-whatif' }, [
      h('style', { text: WHATIF_CSS }),
      h('div', { class: 'dvi-whatif-row' }, [h('span', { text: 'sample' }), this.sampleInput, this.sampleText]),
      section('Path', true, [
        h('div', { class: 'dvi-whatif-row' }, [this.kind]),
        this.range, this.attack, this.center,
        h('div', { class: 'dvi-whatif-row' }, [this.showBtn, this.clearBtn]),
        this.slider, this.current, this.flip, this.note,
      ]),
      section('Robustness', false, [
        h('div', { class: 'dvi-whatif-row' }, [this.robOf]),
        h('div', { class: 'dvi-whatif-row' }, [this.robKind, this.robBtn]),
        this.chart,
      ]),
      section('Surrogate', false, [
        h('div', { class: 'dvi-whatif-row' }, [this.second]),
        h('div', { class: 'dvi-whatif-row' }, [this.surBtn, h('label', { class: 'dvi-whatif-check' }, [this.showNb, 'on plot'])]),
        this.surOut,
      ]),
      this.status, this.error,
    ]);
    body.appendChild(this.el);
    this.syncKindControls();
    this.syncOf();
    this.setPathControls(false);

    const ls = this.ls;
    ls.add(this.sampleInput, 'change', () => {
      const v = Number(this.sampleInput.value);
      if (Number.isInteger(v) && v >= 0 && v < this.view.d.N) this.setSample(v);
      else this.syncSample();
    });
    ls.add(this.kind, 'change', () => {
      this.fillRange();
      this.syncKindControls();
      if (this.follow) this.requestPath();
    });
    for (const el of [this.start, this.stop, this.steps, this.target, this.row, this.col]) {
      ls.add(el, 'change', () => this.follow && this.requestPath());
    }
    ls.add(this.showBtn, 'click', () => this.requestPath());
    ls.add(this.clearBtn, 'click', () => {
      this.clearPath();
      this.send({ type: 'clear', what: 'path' });
    });
    ls.add(this.slider, 'input', () => this.setCurrent(Number(this.slider.value)));
    ls.add(this.robBtn, 'click', () => this.requestRobustness());
    ls.add(this.surBtn, 'click', () => this.requestSurrogate());
    ls.add(this.showNb, 'change', () => this.drawNeighbors());
  }

  // ---------------------------------------------------------------- state helpers
  get epoch() {
    return this.view.model.get('epoch');
  }

  className(c) {
    return this.view.model.get('class_names')[c] ?? String(c);
  }

  send(msg, buffers) {
    this.rid += 1;
    const rid = `${this.ridBase}-${this.rid}`;
    this.sentAt.set(rid, performance.now());
    this.view.send({ panel: PANEL, rid, ...msg }, buffers);
    return rid;
  }

  setStatus(text) {
    this.status.textContent = text;
  }

  setError(text) {
    this.error.textContent = text || '';
    this.error.style.display = text ? '' : 'none';
  }

  setPathControls(on) {
    this.slider.style.display = on ? '' : 'none';
    this.clearBtn.disabled = !on;
  }

  setSample(i) {
    if (i === this.sample) return;
    this.sample = i;
    this.syncSample();
    if (this.follow) {
      this.follow.index = i;
      this.requestPath({ keep: true });
    }
    else if (this.path && this.path.index !== i) this.clearPath();
  }

  /** The sample line: index, label and prediction at the shown epoch. */
  syncSample() {
    const i = this.sample;
    const has = i != null;
    this.sampleInput.value = has ? String(i) : '';
    this.showBtn.disabled = !has || !this.kinds;
    this.surBtn.disabled = !has || !this.kinds;
    if (!has) {
      this.sampleText.textContent = 'click a point';
      return;
    }
    const { labels, predictions, N } = this.view.d;
    const pred = predictions[this.view.pos * N + i];
    this.sampleText.textContent = `label ${this.className(labels[i])}${pred !== labels[i] ? ` → ${this.className(pred)}` : ''}`;
    this.sampleText.title = `label ${this.className(labels[i])}, predicted ${this.className(pred)} at epoch ${this.epoch}`;
  }

  /** The robustness "of" choices: the selection (when there is one) and every class. */
  syncOf() {
    const sel = this.view.selection();
    const prev = this.robOf.value;
    const classes = this.view.model.get('class_names');
    const opts = [];
    if (sel.length) opts.push(h('option', { value: 'selection', text: `the ${sel.length} selected` }));
    classes.forEach((c, k) => opts.push(h('option', { value: String(k), text: `class ${c}` })));
    this.robOf.replaceChildren(...opts);
    // a new selection is what the user most likely wants curves of
    if (sel.length) this.robOf.value = 'selection';
    else if ([...this.robOf.options].some((o) => o.value === prev)) this.robOf.value = prev;
  }

  syncKindControls() {
    const k = this.kind.value;
    const attack = ATTACKS.has(k);
    this.range.style.display = attack || !k ? 'none' : '';
    this.attack.style.display = attack ? '' : 'none';
    this.center.style.display = k === 'occlude' ? '' : 'none';
    const info = this.kinds?.[k];
    this.unit.textContent = info ? unitText(info.unit).trim() || info.unit : '';
    this.kind.title = info?.description || '';
  }

  fillRange() {
    const info = this.kinds?.[this.kind.value];
    if (!info || ATTACKS.has(this.kind.value)) return;
    this.start.value = String(info.default[0]);
    this.stop.value = String(info.default[1]);
  }

  setKinds(kinds) {
    this.kinds = kinds;
    const names = Object.keys(kinds);
    const label = (n) => (ATTACKS.has(n) ? `${n.toUpperCase()} attack` : n.replace('_', ' '));
    const prev = this.kind.value;
    this.kind.replaceChildren(...names.map((n) => h('option', { value: n, text: label(n), title: kinds[n].description })));
    this.kind.value = names.includes(prev) ? prev : names[0];
    const families = names.filter((n) => !ATTACKS.has(n));
    const prevRob = this.robKind.value;
    this.robKind.replaceChildren(...families.map((n) => h('option', { value: n, text: label(n) })));
    if (families.includes(prevRob)) this.robKind.value = prevRob;
    this.robBtn.disabled = !families.length;
    this.fillRange();
    this.syncKindControls();
    this.syncSample();
  }

  // ---------------------------------------------------------------- requests
  pathRequest() {
    const kind = this.kind.value;
    const req = { index: this.sample, kind };
    if (ATTACKS.has(kind)) {
      req.target = this.target.value === '' ? null : Number(this.target.value);
      req.steps = Math.max(1, Math.min(200, Math.round(Number(this.steps.value) || 20)));
    } else {
      const info = this.kinds?.[kind];
      const start = this.start.value === '' ? info?.default[0] : Number(this.start.value);
      const stop = this.stop.value === '' ? info?.default[1] : Number(this.stop.value);
      Object.assign(req, { start, stop, steps: info?.steps ?? 32 });
      if (kind === 'occlude' && this.row.value !== '' && this.col.value !== '') {
        req.center = [Number(this.row.value), Number(this.col.value)];
      }
    }
    return req;
  }

  /**
   * Ask for a path at the shown epoch: of the current controls, or (keep) of the path followed
   * now, e.g. one drawn from Python with its own strengths. Coalesced while one is out.
   */
  requestPath({ keep = false } = {}) {
    if (this.sample == null) return;
    if (!keep || !this.follow) this.follow = this.pathRequest();
    if (this.pathBusy && performance.now() - this.pathBusy < PATH_TIMEOUT_MS) {
      this.pathAgain = true;
      return;
    }
    this.pathBusy = performance.now();
    this.pathAgain = false;
    this.setStatus(`computing the path at epoch ${this.epoch}…`);
    this.setError('');
    this.send({ type: 'path', epoch: this.epoch, ...this.follow });
  }

  requestRobustness() {
    const of = this.robOf.value;
    const msg = { type: 'robustness', epoch: this.epoch, kind: this.robKind.value };
    let buffers;
    if (of === 'selection') {
      const sel = Uint32Array.from(this.view.selection());
      msg.arrays = { selection: { dtype: 'uint32', shape: [sel.length], buffer: 0 } };
      buffers = [sel.buffer];
    } else {
      msg.class = Number(of);
    }
    this.setStatus('computing robustness curves…');
    this.setError('');
    this.send(msg, buffers);
  }

  requestSurrogate() {
    if (this.sample == null) return;
    const { predictions, N } = this.view.d;
    const pred = predictions[this.view.pos * N + this.sample];
    const classes = [pred];
    if (this.second.value !== '' && Number(this.second.value) !== pred) classes.push(Number(this.second.value));
    this.setStatus('fitting the local surrogate…');
    this.setError('');
    this.send({ type: 'surrogate', index: this.sample, epoch: this.epoch, classes });
  }

  // ---------------------------------------------------------------- answers
  onMessage(msg, buffers) {
    const handlers = {
      kinds: () => this.setKinds(msg.kinds),
      path: () => this.onPath(msg, unpack(msg, buffers)),
      robustness: () => this.onRobustness(msg, unpack(msg, buffers)),
      surrogate: () => this.onSurrogate(msg, unpack(msg, buffers)),
      clear: () => {
        this.clearPath();
        this.clearSurrogate();
      },
      error: () => this.onError(msg),
    };
    handlers[msg.type]?.();
    this.sentAt.delete(msg.rid);
  }

  /** A request of ours came back: release the path slot and send the wish that waited. */
  answered(msg) {
    if (msg.request === 'path' || msg.type === 'path') {
      const mine = this.sentAt.has(msg.rid);
      if (mine || msg.type === 'error') this.pathBusy = false;
      if (this.pathAgain) this.requestPath({ keep: true });
    }
  }

  onError(msg) {
    this.setStatus('');
    this.setError(msg.message);
    if (msg.request === 'path') {
      this.follow = null;
      this.pathBusy = false;
      this.pathAgain = false;
    }
  }

  onPath(msg, arrays) {
    const stale = msg.epoch !== this.epoch;
    this.answered(msg);
    if (stale) {
      // the epoch moved on while it was computed: follow it (unless a request is out already)
      if (!this.follow) this.follow = { ...msg.request };
      if (!this.pathBusy) this.requestPath({ keep: true });
      return;
    }
    const S = arrays.predictions.data.length;
    const req = msg.request || {};
    if (!this.sentAt.has(msg.rid)) {
      // drawn from Python (or by another view): adopt its controls so the path follows the epoch
      this.sample = msg.index;
      if (this.kinds?.[msg.kind]) this.kind.value = msg.kind;
      if (ATTACKS.has(msg.kind)) {
        this.target.value = req.target == null ? '' : String(req.target);
        this.steps.value = String(req.steps ?? 20);
      } else {
        const s = arrays.strengths.data;
        this.start.value = String(s[0]);
        this.stop.value = String(s[S - 1]);
      }
      this.syncKindControls();
      this.syncSample();
      this.follow = { ...this.pathRequest(), ...(req.strengths ? { strengths: req.strengths } : {}) };
    }
    const keep = this.path && this.path.index === msg.index && this.path.kind === msg.kind ? this.path.current : -1;
    const flipAt = msg.first_flip_index;
    const current = keep >= 0 && keep < S ? keep : flipAt >= 0 ? flipAt : S - 1;
    this.path = {
      ...msg,
      positions: arrays.positions.data,
      raw: arrays.raw?.data,
      predictions: arrays.predictions.data,
      confidence: arrays.confidence.data,
      strengths: arrays.strengths.data,
      current,
    };
    this.slider.max = String(S - 1);
    this.slider.value = String(current);
    this.setPathControls(true);
    this.setStatus('');
    this.setError('');
    this.describePath();
    this.drawPath();
    const t0 = this.sentAt.get(msg.rid);
    const ds = this.view.el.dataset;
    ds.whatifPaths = String(Number(ds.whatifPaths || 0) + 1);
    ds.whatifComputeMs = String(msg.compute_ms ?? '');
    if (t0 != null) {
      // request sent -> answer drawn and the next frame begun (the overlay is on screen)
      requestAnimationFrame(() => {
        ds.whatifRoundTripMs = (performance.now() - t0).toFixed(1);
        ds.whatifRoundTrips = String(Number(ds.whatifRoundTrips || 0) + 1);
      });
    }
  }

  strengthText(k) {
    const p = this.path;
    const s = p.strengths[k];
    return ATTACKS.has(p.kind) ? `step ${s}` : `${fmt(s)}${unitText(p.unit)}`;
  }

  describePath() {
    const p = this.path;
    const n = p.predictions.length;
    const what = ATTACKS.has(p.kind) ? `${p.kind.toUpperCase()}` : p.kind.replace('_', ' ');
    const f = p.first_flip_index;
    const from = this.className(p.original_prediction);
    if (f >= 0) {
      this.flip.textContent = `first flip at ${this.strengthText(f)}: ${from} → ${this.className(p.predictions[f])}`;
    } else {
      this.flip.textContent = `no flip: ${from} over all ${n} ${ATTACKS.has(p.kind) ? 'steps' : `strengths (${this.strengthText(0)} to ${this.strengthText(n - 1)})`}`;
    }
    if (ATTACKS.has(p.kind) && p.target != null) {
      this.flip.textContent += p.reached_index >= 0 ? `; reaches ${this.className(p.target)} at step ${p.reached_index}` : `; does not reach ${this.className(p.target)}`;
    }
    this.flip.classList.toggle('dvi-whatif-flipped', f >= 0);
    const noPos = !Number.isFinite(p.positions[0]);
    const notes = [];
    if (noPos) notes.push('no projector: positions are unknown, nothing is drawn');
    if (p.anchor != null && p.anchor > ANCHOR_NOTE_MIN) {
      notes.push(`start moved ${(50 * p.anchor).toFixed(1)} % of the frame onto the drawn point (φ places this training sample that far from its layout position); the shift fades along the path`);
    }
    this.note.textContent = notes.join(' · ');
    this.note.title = 'A training sample is drawn at its layout position, which φ_t reproduces only to its error; the path is moved so that it starts on the drawn point, the shift fading with distance (points farther away are where φ_t puts them). Raw positions: the x, y columns of w.explanations["path"].';
    this.path.label = (k) => `${what} ${this.strengthText(k)}: ${this.className(p.predictions[k])} (${Math.round(100 * p.confidence[k])} %)`;
    this.path.flipText = f >= 0 ? this.strengthText(f) : '';
    this.describeCurrent();
  }

  describeCurrent() {
    const p = this.path;
    const k = p.current;
    this.current.textContent = `${this.strengthText(k)} → ${this.className(p.predictions[k])} (${Math.round(100 * p.confidence[k])} %)`;
    this.current.style.borderLeftColor = markColor(this.view.model.get('palette')[p.predictions[k]] || '#000000');
  }

  setCurrent(k) {
    if (!this.path) return;
    this.path.current = k;
    this.describeCurrent();
    this.drawPath();
  }

  drawPath() {
    const p = this.path;
    this.overlay.setPath(p ? {
      positions: p.positions,
      predictions: p.predictions,
      current: p.current,
      firstFlip: p.first_flip_index,
      flipText: p.flipText,
      label: p.label,
      stale: p.epoch !== this.epoch,
    } : null);
  }

  clearPath() {
    this.follow = null;
    this.path = null;
    this.pathAgain = false;
    this.flip.textContent = '';
    this.current.textContent = '';
    this.note.textContent = '';
    this.setPathControls(false);
    this.drawPath();
  }

  onRobustness(msg, arrays) {
    this.setStatus('');
    const s = arrays.strengths.data;
    const S = s.length;
    const mean = arrays.mean_probability.data;
    const C = arrays.mean_probability.shape[1];
    const flipped = arrays.flipped.data;
    const palette = this.view.model.get('palette');
    const x0 = Math.min(s[0], s[S - 1]);
    const x1 = Math.max(s[0], s[S - 1]);
    const pad = { l: 22, r: 4, t: 4, b: 14 };
    const X = (v) => pad.l + ((v - x0) / (x1 - x0 || 1)) * (CHART_W - pad.l - pad.r);
    const Y = (v) => pad.t + (1 - v) * (CHART_H - pad.t - pad.b);
    const chart = svg('svg', { width: CHART_W, height: CHART_H, class: 'dvi-whatif-svg', role: 'img' });
    chart.appendChild(svg('rect', { x: pad.l, y: pad.t, width: CHART_W - pad.l - pad.r, height: CHART_H - pad.t - pad.b, fill: '#fafafa', stroke: '#ccc' }));
    for (const v of [0, 0.5, 1]) {
      const t = svg('text', { x: pad.l - 3, y: Y(v) + 3, 'text-anchor': 'end', class: 'dvi-whatif-tick' });
      t.textContent = String(v);
      chart.appendChild(t);
    }
    for (const [v, anchor] of [[s[0], 'start'], [s[S - 1], 'end']]) {
      const t = svg('text', { x: X(v), y: CHART_H - 3, 'text-anchor': anchor, class: 'dvi-whatif-tick' });
      t.textContent = `${fmt(v)}${unitText(this.kinds?.[msg.kind]?.unit ?? '')}`;
      chart.appendChild(t);
    }
    const line = (values, attrs, title) => {
      const pts = Array.from({ length: S }, (_, k) => `${X(s[k]).toFixed(1)},${Y(values(k)).toFixed(1)}`).join(' ');
      const pl = svg('polyline', { points: pts, fill: 'none', ...attrs });
      const tt = svg('title');
      tt.textContent = title;
      pl.appendChild(tt);
      chart.appendChild(pl);
    };
    const shown = [];
    for (let c = 0; c < C; c++) {
      let top = 0;
      for (let k = 0; k < S; k++) top = Math.max(top, mean[k * C + c]);
      if (top < CHART_MIN_PROB) continue;
      shown.push(c);
      line((k) => mean[k * C + c], { stroke: markColor(palette[c] || '#000000'), 'stroke-width': 1.5, class: `dvi-whatif-class dvi-whatif-class-${c}` }, `mean softmax: ${this.className(c)}`);
    }
    line((k) => flipped[k], { stroke: '#000', 'stroke-width': 1.5, 'stroke-dasharray': '3 2', class: 'dvi-whatif-flipped-line' }, 'share flipped');
    const keys = h('div', { class: 'dvi-whatif-keys' }, [
      ...shown.map((c) => h('span', { class: 'dvi-whatif-key' }, [h('i', { style: `background:${markColor(palette[c] || '#000000')}` }), this.className(c)])),
      h('span', { class: 'dvi-whatif-key' }, [h('i', { class: 'dvi-whatif-dash' }), 'flipped']),
    ]);
    const last = flipped[S - 1];
    const caption = h('div', { class: 'dvi-whatif-caption', text: `${msg.kind.replace('_', ' ')} of ${msg.of} (${msg.n_samples} used), epoch ${msg.epoch}: ${Math.round(100 * last)} % flipped at ${fmt(s[S - 1])}${unitText(this.kinds?.[msg.kind]?.unit ?? '')}` });
    this.chart.replaceChildren(caption, chart, keys);
    this.robustness = { ...msg, ...arrays };
  }

  onSurrogate(msg, arrays) {
    this.setStatus('');
    const w = arrays.weights;
    const [K, hgt, wid] = w.shape;
    let lim = 0;
    for (const v of w.data) lim = Math.max(lim, Math.abs(v));
    const tiles = [];
    const thumb = this.thumbnail(msg.index);
    if (thumb) tiles.push(h('figure', { class: 'dvi-whatif-tile' }, [thumb, h('figcaption', { text: `#${msg.index}` })]));
    for (let k = 0; k < K; k++) {
      const c = msg.classes[k];
      tiles.push(h('figure', { class: 'dvi-whatif-tile' }, [
        weightCanvas(w.data, k * hgt * wid, hgt, wid, lim),
        h('figcaption', { text: `${this.className(c)}${k === 0 ? ' (pred.)' : ''}` }),
      ]));
    }
    const f = msg.fidelity || {};
    const fid = h('div', { class: 'dvi-whatif-fidelity', text: `fidelity: R² ${fmt(f.r2)}, agreement ${Math.round(100 * (f.agreement ?? 0))} % on ${arrays.predictions.data.length} neighbours`, title: 'weighted R² of the student on the model\'s centred logits, and the share of neighbours whose class it gets right' });
    const legend = h('div', { class: 'dvi-whatif-note', text: 'red raises the class\'s logit, blue lowers it' });
    this.surOut.replaceChildren(h('div', { class: 'dvi-whatif-tiles' }, tiles), fid, legend);
    this.surrogate = { ...msg, positions: arrays.positions.data, predictions: arrays.predictions.data, proximity: arrays.proximity.data };
    this.drawNeighbors();
  }

  /** The sample's thumbnail (fetched from the kernel and cached: thumbs.js) as a canvas, or null. */
  thumbnail(i) {
    const thumbs = thumbsOf(this.view);
    if (!thumbs.available) return null;
    const c = h('canvas', { class: 'dvi-whatif-weights', width: 1, height: 1 });
    thumbs.draw(c, i).catch(() => {});
    return c;
  }

  drawNeighbors() {
    const s = this.surrogate;
    const on = s && this.showNb.checked && s.epoch === this.epoch;
    this.overlay.setNeighbors(on ? s : null);
  }

  clearSurrogate() {
    this.surrogate = null;
    this.surOut.replaceChildren();
    this.drawNeighbors();
  }

  // ---------------------------------------------------------------- the view changed
  update(reason) {
    if (reason === 'selection') {
      const sel = this.view.selection();
      if (sel.length === 1 || (sel.length && this.sample == null)) this.setSample(sel[0]);
      this.syncOf();
      return;
    }
    if (reason === 'epoch') {
      this.syncSample();
      if (this.path && this.path.epoch !== this.epoch) {
        this.drawPath(); // faded until the new one arrives
        if (this.follow) this.requestPath({ keep: true });
      }
      if (this.surrogate) this.drawNeighbors();
    }
  }

  destroy() {
    this.ls.dispose();
    this.overlay.destroy();
    this.el.remove();
  }
}

registerPanel(PANEL, { title: 'Explain', create: (view, body) => new WhatIf(view, body) });
