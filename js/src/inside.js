// Inside the model: two panels over an Inside source the kernel holds (w.show_inside(source);
// kernel side dvi_widget/view/inside.py).
// 'distributions': TensorBoard's distributions over epochs, one small chart per layer (shaded
//   percentile bands p0–p100, p7–p93, p16–p84, p31–p69 and the median), the shown epoch marked;
//   a click on a chart jumps to the nearest epoch; the flags (vanishing / exploding gradients,
//   dead units) are listed with their layer and epochs, a click on one jumps to its first epoch.
// 'network': VATUN's network view: layers as columns of units, neural patterns as paths through
//   them (width ∝ support, colour = their most frequent class); the patterns the selected samples
//   share are recommended (drawn on top, listed first); a click on a pattern (path or row) selects
//   exactly its samples in the kernel.
// 'features': gradient-ascent images of a layer's units at the shown epoch, one unit across
//   epochs, or the first layer's kernels, computed when asked.
// They ask the kernel when created and when the epoch or selection changes (features: on a click):
// nothing image-sized is kept in the widget's state.
import { typed } from './codecs.js';
import { h, listeners, svg } from './dom.js';
import { kernelOf } from './kernel.js';
import { registerPanel } from './panels.js';
import { classColor, className, note } from './ui.js';

const KINDS = [['grad', 'gradients'], ['weight', 'weights'], ['bias', 'biases'], ['activation', 'activations']];
const BAND_ALPHA = [0.14, 0.22, 0.32, 0.45]; // p0–p100, p7–p93, p16–p84, p31–p69
const FLAG_TEXT = { vanishing: 'vanishing gradient', exploding: 'exploding gradient', dead: 'dead units' };

const fmt = (v) => (!Number.isFinite(v) ? '–' : Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.01) ? v.toExponential(1) : v.toFixed(2));

/** The epoch of `epochs` nearest to e. */
const nearest = (epochs, e) => epochs.reduce((a, b) => (Math.abs(b - e) < Math.abs(a - e) ? b : a), epochs[0]);

function jump(view, e) {
  const shown = view.model.get('epochs');
  if (!shown.length) return;
  const to = nearest(shown, e);
  if (to !== view.model.get('epoch')) view.setSave('epoch', to);
}

class Distributions {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.kind = 'grad';
    this.select = h('select', { class: 'dvi-dist-kind', 'aria-label': 'distribution of' },
      KINDS.map(([k, label]) => h('option', { value: k, text: label })));
    this.status = h('span', { class: 'dvi-note' });
    this.grid = h('div', { class: 'dvi-dist-grid' });
    this.flags = h('ul', { class: 'dvi-flags' });
    body.append(h('div', { class: 'dvi-row2' }, [h('span', { text: 'distribution of' }), this.select, this.status]), this.grid, this.flags);
    this.ls.add(this.select, 'change', () => {
      this.kind = this.select.value;
      this.load();
    });
    this.ls.add(this.flags, 'click', (ev) => {
      const li = ev.target.closest('li[data-epoch]');
      if (li) jump(this.view, Number(li.dataset.epoch));
    });
    this.load();
  }

  async load() {
    const kind = this.kind;
    this.status.textContent = 'asking the kernel…';
    try {
      const { msg, buffers } = await kernelOf(this.view).ask('distributions', { kind });
      if (kind !== this.kind) return;
      this.status.textContent = '';
      this.data = { ...msg, cube: typed(Float32Array, buffers[0]) };
      this.render();
    } catch (err) {
      if (kind !== this.kind) return;
      this.status.textContent = '';
      this.data = null;
      this.grid.replaceChildren(note(String(err.message || err), 'dvi-error'));
      this.flags.replaceChildren();
    }
  }

  render() {
    const { layers, epochs, shape, cube, flags } = this.data;
    const [L, T, Q] = shape;
    const flagged = new Map(flags.map((f) => [f.layer, f]));
    this.charts = [];
    const W = 200;
    const H = 64;
    const pad = { l: 34, r: 6, t: 4, b: 14 };
    const e0 = epochs[0];
    const e1 = epochs[T - 1];
    const xOf = (e) => pad.l + (e1 === e0 ? 0.5 : (e - e0) / (e1 - e0)) * (W - pad.l - pad.r);
    const cards = [];
    for (let l = 0; l < L; l++) {
      const at = (t, q) => cube[(l * T + t) * Q + q];
      let lo = Infinity;
      let hi = -Infinity;
      for (let t = 0; t < T; t++) {
        for (let q = 0; q < Q; q++) {
          const v = at(t, q);
          if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
        }
      }
      if (!(hi > lo)) { hi = (Number.isFinite(hi) ? hi : 0) + 1; lo = Number.isFinite(lo) ? lo - 1 : -1; }
      const yOf = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * (H - pad.t - pad.b);
      const ts = [...Array(T).keys()].filter((t) => Number.isFinite(at(t, 0)));
      const kids = [];
      for (let b = 0; b < 4; b++) {
        const top = ts.map((t) => `${xOf(epochs[t]).toFixed(1)},${yOf(at(t, Q - 1 - b)).toFixed(1)}`);
        const bottom = ts.slice().reverse().map((t) => `${xOf(epochs[t]).toFixed(1)},${yOf(at(t, b)).toFixed(1)}`);
        if (ts.length) kids.push(svg('polygon', { points: [...top, ...bottom].join(' '), class: 'dvi-dist-band', 'fill-opacity': BAND_ALPHA[b] }));
      }
      const mid = Math.floor(Q / 2);
      if (ts.length) kids.push(svg('polyline', { points: ts.map((t) => `${xOf(epochs[t]).toFixed(1)},${yOf(at(t, mid)).toFixed(1)}`).join(' '), class: 'dvi-dist-median' }));
      kids.push(svg('line', { x1: pad.l, x2: W - pad.r, y1: H - pad.b, y2: H - pad.b, class: 'dvi-dist-axis' }));
      for (const [v, y] of [[hi, pad.t + 7], [lo, H - pad.b]]) {
        const tx = svg('text', { x: pad.l - 3, y, class: 'dvi-dist-tick', 'text-anchor': 'end' });
        tx.textContent = fmt(v);
        kids.push(tx);
      }
      for (const e of [e0, e1]) {
        const tx = svg('text', { x: xOf(e), y: H - 3, class: 'dvi-dist-tick', 'text-anchor': e === e0 ? 'start' : 'end' });
        tx.textContent = String(e);
        kids.push(tx);
      }
      const marker = svg('line', { y1: pad.t, y2: H - pad.b, class: 'dvi-dist-marker' });
      kids.push(marker);
      const chart = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'dvi-dist-chart', 'data-layer': layers[l] }, kids);
      this.ls.add(chart, 'click', (ev) => {
        const box = chart.getBoundingClientRect();
        const x = ((ev.clientX - box.left) / box.width) * W;
        const e = e0 + ((x - pad.l) / (W - pad.l - pad.r)) * (e1 - e0);
        jump(this.view, nearest(epochs, e));
      });
      this.charts.push({ marker, xOf });
      const f = flagged.get(layers[l]);
      const title = h('div', { class: `dvi-dist-title${f ? ' dvi-flagged' : ''}`, text: layers[l], title: f ? `${FLAG_TEXT[f.flag] || f.flag}: ${f.detail}` : layers[l] });
      cards.push(h('div', { class: 'dvi-dist-card' }, [title, chart]));
    }
    this.grid.replaceChildren(...cards);
    this.flags.replaceChildren(...(flags.length ? flags.map((f) => h('li', {
      class: `dvi-flag dvi-flag-${f.flag}`, 'data-epoch': f.epochs[0], 'data-layer': f.layer, title: 'click: show its first epoch',
      text: `${FLAG_TEXT[f.flag] || f.flag} · ${f.layer} · epochs ${f.epochs.join(', ')} — ${f.detail}`,
    })) : [h('li', { class: 'dvi-note', text: 'no flags: no vanishing or exploding gradients, no dead units' })]));
    this.mark();
  }

  mark() {
    const e = this.view.model.get('epoch');
    for (const { marker, xOf } of this.charts || []) {
      const x = xOf(e).toFixed(1);
      marker.setAttribute('x1', x);
      marker.setAttribute('x2', x);
    }
    this.grid.dataset.epoch = String(e);
  }

  update(reason) {
    if (reason === 'epoch' && this.data) this.mark();
  }

  destroy() {
    this.ls.dispose();
  }
}

class Network {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.status = h('div', { class: 'dvi-note' });
    this.canvas = h('div', { class: 'dvi-net-view' });
    this.list = h('div', { class: 'dvi-net-list' });
    this.hint = note('layers as columns of units · a path: a neural pattern (the most activated unit per layer, shared by its samples), width ∝ support · select samples to see the patterns they share · click a pattern to select its samples');
    body.append(this.status, this.canvas, this.list, this.hint);
    this.ls.model(view.model, 'change:playing', () => {
      if (!view.model.get('playing') && this.stale) {
        this.stale = false;
        this.load();
      }
    });
    this.ls.add(body, 'click', (ev) => {
      const el = ev.target.closest('[data-pattern]');
      if (el) this.pick(Number(el.dataset.pattern));
    });
    this.load();
  }

  async load() {
    const epoch = this.view.model.get('epoch');
    const ticket = (this.ticket = (this.ticket || 0) + 1);
    this.status.textContent = `neural patterns at epoch ${epoch}: asking the kernel…`;
    try {
      const { msg } = await kernelOf(this.view).ask('network', { what: 'patterns', epoch });
      if (ticket !== this.ticket) return;
      this.data = msg;
      this.render();
    } catch (err) {
      if (ticket !== this.ticket) return;
      this.data = null;
      this.status.textContent = '';
      this.canvas.replaceChildren(note(String(err.message || err), 'dvi-error'));
      this.list.replaceChildren();
    }
  }

  async pick(k) {
    const epoch = this.data?.epoch;
    this.picked = k;
    try {
      await kernelOf(this.view).ask('network', { what: 'select', epoch, pattern: k });
    } catch (err) {
      this.status.textContent = String(err.message || err);
    }
  }

  render() {
    const { layers, patterns, recommended, selected, epoch } = this.data;
    const rec = new Set(recommended);
    const view = this.view;
    const maxSup = Math.max(1e-9, ...patterns.map((p) => p.support));
    this.status.textContent = `epoch ${epoch} · ${patterns.length} neural patterns` + (selected
      ? ` · the ${selected} selected samples share ${recommended.length}` : '');
    const W = 460;
    const H = 220;
    const padX = 40;
    const top = 18;
    const bottom = 8;
    const L = layers.length;
    const x = (j) => padX + (L === 1 ? 0.5 : j / (L - 1)) * (W - 2 * padX);
    const y = (j, u) => top + ((u + 0.5) / Math.max(1, layers[j].units)) * (H - top - bottom);
    const used = layers.map(() => new Set());
    for (const p of patterns) p.layers.forEach((j, i) => used[j].add(p.units[i]));
    const kids = [];
    layers.forEach((layer, j) => {
      kids.push(svg('line', { x1: x(j), x2: x(j), y1: top, y2: H - bottom, class: 'dvi-net-column' }));
      const t = svg('text', { x: x(j), y: 11, 'text-anchor': 'middle', class: 'dvi-net-label' });
      t.textContent = `${layer.name} (${layer.units})`;
      kids.push(t);
      const units = layer.units <= 64 ? [...Array(layer.units).keys()] : [...used[j]];
      for (const u of units) kids.push(svg('circle', { cx: x(j), cy: y(j, u), r: used[j].has(u) ? 2.6 : 1.6, class: used[j].has(u) ? 'dvi-net-unit dvi-used' : 'dvi-net-unit' }));
    });
    const majority = (p) => Number(Object.entries(p.classes).sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0);
    const order = [...patterns].sort((a, b) => (rec.has(a.id) - rec.has(b.id)) || (a.support - b.support));
    for (const p of order) {
      const d = p.layers.map((j, i) => `${i ? 'L' : 'M'}${x(j).toFixed(1)},${y(j, p.units[i]).toFixed(1)}`).join(' ');
      const cls = `dvi-pattern${rec.has(p.id) ? ' dvi-recommended' : ''}${rec.size && !rec.has(p.id) ? ' dvi-faded' : ''}${this.picked === p.id ? ' dvi-picked' : ''}`;
      const path = svg('path', { d, class: cls, 'data-pattern': p.id, stroke: classColor(view, majority(p)), 'stroke-width': (1 + 7 * p.support / maxSup).toFixed(2) });
      const tip = svg('title');
      tip.textContent = `pattern ${p.id}: ${p.count} samples (${(100 * p.support).toFixed(1)}%) · ${p.layers.map((j, i) => `${layers[j].name}:${p.units[i]}`).join(' → ')}`;
      path.appendChild(tip);
      kids.push(path);
    }
    this.canvas.replaceChildren(svg('svg', { width: '100%', viewBox: `0 0 ${W} ${H}`, class: 'dvi-net-svg' }, kids));
    const rows = [...recommended, ...patterns.map((p) => p.id).filter((i) => !rec.has(i))].slice(0, 30);
    this.list.replaceChildren(...rows.map((i) => {
      const p = patterns[i];
      return h('div', { class: `dvi-net-row${rec.has(i) ? ' dvi-recommended' : ''}${this.picked === i ? ' dvi-picked' : ''}`, 'data-pattern': i, title: 'click: select its samples' }, [
        pie(view, p.classes),
        h('span', { class: 'dvi-net-path', text: p.layers.map((j, k) => `${layers[j].name}:${p.units[k]}`).join(' → ') }),
        h('span', { class: 'dvi-net-count', text: `${p.count}${rec.has(i) ? ` · ${p.shared} selected` : ''}` }),
      ]);
    }));
    this.canvas.dataset.epoch = String(epoch);
    this.canvas.dataset.recommended = recommended.join(',');
  }

  update(reason) {
    // while the player runs, the patterns wait for it to stop (each epoch costs a forward pass
    // over every sample in the kernel)
    if (reason === 'epoch' && this.data?.epoch !== this.view.model.get('epoch')) {
      if (this.view.model.get('playing')) this.stale = true;
      else this.load();
    } else if (reason === 'selection') this.load();
  }

  destroy() {
    this.ls.dispose();
  }
}

/** A small pie of class counts {class id: count} (VATUN's class summary of a pattern). */
function pie(view, classes) {
  const entries = Object.entries(classes).map(([c, n]) => [Number(c), n]).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((s, [, n]) => s + n, 0) || 1;
  const r = 7;
  const kids = [];
  let a = -Math.PI / 2;
  for (const [c, n] of entries) {
    const frac = n / total;
    if (frac >= 0.999) {
      kids.push(svg('circle', { cx: r, cy: r, r, fill: classColor(view, c) }));
      break;
    }
    const b = a + frac * 2 * Math.PI;
    const large = frac > 0.5 ? 1 : 0;
    kids.push(svg('path', { d: `M${r},${r} L${r + r * Math.cos(a)},${r + r * Math.sin(a)} A${r},${r} 0 ${large} 1 ${r + r * Math.cos(b)},${r + r * Math.sin(b)} Z`, fill: classColor(view, c) }));
    a = b;
  }
  const el = svg('svg', { width: 2 * r, height: 2 * r, class: 'dvi-pie' }, kids);
  const tip = svg('title');
  tip.textContent = entries.map(([c, n]) => `${className(view, c)}: ${n}`).join(', ');
  el.appendChild(tip);
  return el;
}

/** Parse "0-3, 7" into unit indices (at most `max`, each < n). */
export function parseUnits(text, n, max = 16) {
  const out = [];
  for (const part of String(text).split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(part);
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let u = a; u <= b && out.length < max; u++) if (u < n && !out.includes(u)) out.push(u);
  }
  return out;
}

// 'features': what a class logit, channel or unit responds to most (gradient ascent in the
// kernel, dvi_widget.inside.maximize) as a grid at the shown epoch, or one unit across epochs as
// a strip ("how the trouser detector formed"); or the first layer's kernels. Computed only when
// asked (a click on "show"), never part of the initial state.
class Features {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.mode = h('select', { class: 'dvi-feat-mode', 'aria-label': 'what to show' }, [
      h('option', { value: 'grid', text: 'units at this epoch' }),
      h('option', { value: 'strip', text: 'one unit across epochs' }),
      h('option', { value: 'filters', text: 'first-layer kernels' }),
    ]);
    this.layer = h('select', { class: 'dvi-feat-layer', 'aria-label': 'layer' });
    this.units = h('input', { class: 'dvi-feat-units', type: 'text', value: '0-9', size: 6, title: 'units: "0-9", "3, 5" (at most 16); a strip shows the first' });
    this.go = h('button', { type: 'button', class: 'dvi-feat-go', text: 'show' });
    this.status = h('span', { class: 'dvi-note' });
    this.tiles = h('div', { class: 'dvi-feat-tiles' });
    body.append(h('div', { class: 'dvi-row2' }, [this.mode, this.layer, this.units, this.go, this.status]), this.tiles,
      note('gradient ascent from noise (Fourier parameterisation, jitter/scale/rotation, L2 + TV), in the kernel'));
    this.ls.add(this.go, 'click', () => this.show());
    this.ls.add(this.mode, 'change', () => this.syncMode());
    this.loadLayers();
  }

  syncMode() {
    const filters = this.mode.value === 'filters';
    this.layer.disabled = filters;
    this.units.disabled = filters;
  }

  async loadLayers() {
    try {
      const { msg } = await kernelOf(this.view).ask('features', { what: 'layers', epoch: this.view.model.get('epoch') });
      this.layers = msg.layers;
      this.layer.replaceChildren(...msg.layers.map((l) => h('option', { value: l.name, text: `${l.name} (${l.units})` })));
    } catch (err) {
      this.status.textContent = String(err.message || err);
    }
  }

  async show() {
    const view = this.view;
    const mode = this.mode.value;
    const layer = this.layer.value || 'logits';
    const n = this.layers?.find((l) => l.name === layer)?.units ?? 16;
    const units = parseUnits(this.units.value, n);
    const req = { what: mode, epoch: view.model.get('epoch'), layer };
    if (mode === 'grid') req.units = units;
    if (mode === 'strip') {
      req.unit = units[0] ?? 0;
      const all = view.model.get('epochs');
      const step = Math.ceil(all.length / 12);
      req.epochs = all.filter((_, i) => i % step === 0 || i === all.length - 1).slice(-12);
    }
    if (mode !== 'filters' && !units.length) {
      this.status.textContent = `units: numbers below ${n}, e.g. 0-9`;
      return;
    }
    const ticket = (this.ticket = (this.ticket || 0) + 1);
    this.status.textContent = 'gradient ascent in the kernel…';
    this.go.disabled = true;
    try {
      const { msg, buffers } = await kernelOf(view).ask('features', req);
      if (ticket !== this.ticket) return;
      this.status.textContent = mode === 'filters' ? `first-layer kernels at epoch ${msg.epoch}` : mode === 'strip' ? `${layer} unit ${req.unit} across epochs` : `${layer} at epoch ${msg.epoch}`;
      this.render(msg, new Uint8Array(buffers[0].buffer, buffers[0].byteOffset, buffers[0].byteLength), mode, layer);
    } catch (err) {
      if (ticket === this.ticket) this.status.textContent = String(err.message || err);
    } finally {
      if (ticket === this.ticket) this.go.disabled = false;
    }
  }

  render(msg, px, mode, layer) {
    const [n, H, W, C] = msg.shape;
    const label = (i) => {
      if (mode === 'filters') return `${i}`;
      const v = msg.labels[i];
      if (mode === 'strip') return `epoch ${v}`;
      return layer === 'logits' ? className(this.view, v) : `unit ${v}`;
    };
    const tiles = [];
    for (let i = 0; i < n; i++) {
      const c = h('canvas', { width: W, height: H, class: 'dvi-feat-canvas' });
      const img = c.getContext('2d').createImageData(W, H);
      for (let p = 0; p < H * W; p++) {
        const o = (i * H * W + p) * C;
        img.data[4 * p] = px[o];
        img.data[4 * p + 1] = px[o + (C === 3 ? 1 : 0)];
        img.data[4 * p + 2] = px[o + (C === 3 ? 2 : 0)];
        img.data[4 * p + 3] = 255;
      }
      c.getContext('2d').putImageData(img, 0, 0);
      tiles.push(h('figure', { class: 'dvi-feat-tile' }, [c, h('figcaption', { text: label(i) })]));
    }
    this.tiles.replaceChildren(...tiles);
    this.tiles.dataset.count = String(n);
    this.tiles.dataset.mode = mode;
  }

  destroy() {
    this.ls.dispose();
  }
}

registerPanel('distributions', { title: 'Distributions over epochs', area: 'below', create: (view, body) => new Distributions(view, body) });
registerPanel('network', { title: 'Network: neural patterns', area: 'below', create: (view, body) => new Network(view, body) });
registerPanel('features', { title: 'Features: what units respond to', area: 'below', create: (view, body) => new Features(view, body) });
