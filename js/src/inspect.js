// Click anywhere on the landscape: a popover with ψ_t(y)'s class probabilities at that spot (the
// kernel's explore.inspect: the model through the inspector, else the landscape cell), the
// predicted class and confidence, and the nearest samples in 2-D. A click is a press whose pointer
// never strayed CLICK_PX from where it went down and that drew no lasso: a drag pans or lassos,
// and a closed lasso loop (ending where it started) is a drag too, never a click. A click that
// lands on a point also selects it (regl-scatterplot) and opens its history (focus_sample). The
// popover follows the epoch, stays small (POPOVER_WIDTH, at most POPOVER_HEIGHT_SHARE of the
// plot's height, scrolling inside), and closes when a later selection is made elsewhere.
import { decodeArray } from './codecs.js';
import { h, inside, listeners } from './dom.js';
import { kernelOf } from './kernel.js';
import { registerPanel } from './panels.js';
import { thumbsOf } from './thumbs.js';
import { bars, classColor, className, note, num, pct, sampleAt, swatch } from './ui.js';

/** A press and release closer than this (px) is a click, not a drag. */
export const CLICK_PX = 4;
/** Classes shown as bars (the rest are summed into "other"). */
export const TOP_CLASSES = 5;
/** Nearest samples listed. */
export const NEAREST = 5;
/** The popover's width (px) and its largest height as a share of the plot's height. */
export const POPOVER_WIDTH = 210;
export const POPOVER_HEIGHT_SHARE = 0.45;
/** The popover's largest height as a share of a compact view's height. */
export const COMPACT_HEIGHT_SHARE = 0.95;
/** Spots of a drawn line at which the model is asked what it sees. */
export const LINE_SPOTS = 8;

/**
 * Whether a press is a click: the pointer never went CLICK_PX or more from where it was pressed
 * (`maxDistance`, the farthest it went during the press), no lasso ended during it, no modifier
 * that lassos (shift) was held.
 */
export function isClick({ maxDistance, lassoed, shift }) {
  return !shift && !lassoed && maxDistance < CLICK_PX;
}

/** Normalised frame coordinates of a point `(sx, sy)` in px relative to the plot (inverse of Plot.toScreen). */
export function fromScreen(plot, sx, sy) {
  const v = plot.scatterplot.get('cameraView');
  const { width: w, height: hgt } = plot.size();
  const px = ((2 * sx) / w - 1) * (w / hgt);
  const py = 1 - (2 * sy) / hgt;
  const a = v[0];
  const b = v[4];
  const c = v[1];
  const d = v[5];
  const det = a * d - b * c;
  const rx = px - v[12];
  const ry = py - v[13];
  return [(d * rx - b * ry) / det, (a * ry - c * rx) / det];
}

/** The k nearest samples to normalised (x, y) at epoch position pos, computed here (no kernel). */
export function nearestLocal(view, x, y, pos, k) {
  const { N, coords } = view.d;
  const best = [];
  const base = 2 * pos * N;
  for (let i = 0; i < N; i++) {
    const dx = coords[base + 2 * i] - x;
    const dy = coords[base + 2 * i + 1] - y;
    const d = dx * dx + dy * dy;
    if (best.length < k || d < best[best.length - 1][1]) {
      best.push([i, d]);
      best.sort((p, q) => p[1] - q[1] || p[0] - q[0]);
      if (best.length > k) best.pop();
    }
  }
  return best.map(([i]) => i);
}

/**
 * Without a kernel (a saved page): what the page's arrays say about normalised (x, y) at epoch
 * position pos, as the kernel's explore.inspect answers without a model: the landscape cell's class
 * and confidence (saved_landscape, embedded by save_html), frame coordinates (saved_extent) and the
 * nearest samples in 2-D.
 */
export function savedCell(view, x, y, pos) {
  const m = view.model;
  const ext = m.get('saved_extent');
  const res = {
    epoch: m.get('epoch'),
    x: ext ? ext[0] + ((x + 1) / 2) * (ext[1] - ext[0]) : x,
    y: ext ? ext[2] + ((y + 1) / 2) * (ext[3] - ext[2]) : y,
    source: 'none',
    neighbors: null,
    local: nearestLocal(view, x, y, pos, NEAREST),
  };
  const saved = m.get('saved_landscape');
  if (!saved) return res;
  if (!view.savedCells) {
    view.savedCells = { classes: decodeArray(saved.classes), confidence: decodeArray(saved.confidence) };
  }
  const { classes, confidence } = view.savedCells;
  const [, H, W] = classes.shape;
  const col = Math.floor(((x + 1) / 2) * W);
  const row = Math.floor(((1 - y) / 2) * H);
  if (col < 0 || col >= W || row < 0 || row >= H) return { ...res, outside: true };
  const k = (pos * H + row) * W + col;
  const c = classes.data[k];
  if (c >= view.d.C) return res;
  const conf = confidence.data[k];
  return { ...res, source: 'landscape', prediction: c, confidence: conf === 65535 ? null : conf / 65534 };
}

class Inspect {
  constructor(view, body) {
    this.view = view;
    this.body = body;
    this.ls = listeners();
    this.kernel = kernelOf(view);
    this.thumbs = thumbsOf(view);
    this.spot = h('div', { class: 'dvi-spot' });
    this.pop = h('div', { class: 'dvi-popover', role: 'dialog', 'aria-label': 'what the model predicts here' });
    this.close();
    body.append(this.spot, this.pop);
    this.press = null;
    this.seq = 0;
    const canvas = view.canvas;
    this.ls.add(canvas, 'pointerdown', (e) => {
      this.press = e.button === 0 ? { x: e.clientX, y: e.clientY, shift: e.shiftKey, maxDistance: 0, lassoed: false } : null;
    });
    // how far the pointer went during the press (on window, in the capture phase: a closed lasso
    // loop ends next to its start, and a notebook may stop mousemoves before they bubble)
    this.ls.add(window, 'pointermove', (e) => {
      const p = this.press;
      if (p) p.maxDistance = Math.max(p.maxDistance, Math.hypot(e.clientX - p.x, e.clientY - p.y));
    }, true);
    // capture: the request leaves before regl-scatterplot's own click handler selects a clicked
    // point (whose selection message and redraw would otherwise go first); the point it picked
    // is read afterwards, in the bubbling phase
    this.ls.add(canvas, 'click', (e) => this.onClick(e), true);
    this.ls.add(canvas, 'click', () => this.onPicked());
    this.ls.add(canvas, 'dblclick', () => this.close());
    // Esc closes it too (the view's own Esc handler, on window as well, clears the selection)
    this.ls.add(window, 'keydown', (e) => {
      if (e.key === 'Escape' && inside(view.root, e)) this.close();
    }, true);
    const sp = view.plot.scatterplot;
    // regl-scatterplot selects a clicked point in its own click handler, which runs before ours
    this.picked = null;
    const subs = [
      sp.subscribe('view', () => this.place()),
      sp.subscribe('select', ({ points }) => { this.picked = { points: view.plot.toGlobal(points), at: performance.now() }; }),
      sp.subscribe('lassoEnd', () => { if (this.press) this.press.lassoed = true; }),
    ];
    this.ls.push(() => subs.forEach((s) => sp.unsubscribe(s)));
  }

  onClick(e) {
    const p = this.press;
    this.press = null;
    this.hit = undefined;
    if (!p) return;
    p.maxDistance = Math.max(p.maxDistance, Math.hypot(e.clientX - p.x, e.clientY - p.y));
    if (!isClick(p)) {
      // a drag that ended near its start: regl-scatterplot's own click handler (after this one)
      // would replace the lasso's selection by the point under the pointer
      if (p.lassoed || p.maxDistance >= CLICK_PX) e.stopImmediatePropagation();
      return;
    }
    const view = this.view;
    this.clicking = true; // the point this click selects does not close the popover it opens
    this.hit = view.tooltip.current;
    const r = view.canvas.getBoundingClientRect();
    const [x, y] = fromScreen(view.plot, e.clientX - r.left, e.clientY - r.top);
    view.tooltip.hide(); // the popover takes its place (it lists the point too)
    if (this.lineFrom) {
      // the second click of "a line from here": the strip of what the model sees along it
      const from = this.lineFrom;
      this.lineFrom = null;
      this.setLineDrawing(false);
      this.openLine(from, [x, y]);
      return;
    }
    this.open(x, y); // first: the kernel answers requests in order, this one is awaited
  }

  /** After regl-scatterplot's click handler: the clicked point becomes the focused sample. */
  onPicked() {
    this.clicking = false;
    if (this.hit === undefined) return;
    const view = this.view;
    const picked = this.picked && performance.now() - this.picked.at < 100 && this.picked.points.length === 1 ? this.picked.points[0] : null;
    const hit = picked ?? this.hit;
    this.hit = undefined;
    if (hit !== null && hit !== undefined && hit !== view.model.get('focus_sample')) view.setSave('focus_sample', hit);
  }

  /** Inspect normalised frame coordinates (x, y) at the shown epoch. */
  open(x, y) {
    this.line = null;
    this.at = [x, y];
    this.clickedAt = performance.now();
    this.spot.style.display = 'block';
    this.pop.style.display = 'block';
    this.place();
    this.ask();
  }

  /** Ask what the model sees at LINE_SPOTS spots from `from` to `to` (normalised) and show it. */
  async openLine(from, to) {
    const view = this.view;
    this.at = to;
    this.line = [from, to];
    this.spot.style.display = 'block';
    this.pop.style.display = 'block';
    this.pop.replaceChildren(note('asking the model along the line…'));
    this.place();
    const seq = (this.seq += 1);
    const epoch = view.model.get('epoch');
    try {
      const { msg, buffers } = await this.kernel.ask('sees_line', { x0: from[0], y0: from[1], x1: to[0], y1: to[1], epoch, n: LINE_SPOTS });
      if (seq !== this.seq || !this.at) return;
      this.renderLine(msg, buffers);
    } catch (err) {
      if (seq === this.seq && this.at) this.pop.replaceChildren(note(String(err.message || err), 'dvi-error'));
    }
  }

  renderLine(res, buffers) {
    const view = this.view;
    const closeBtn = h('button', { type: 'button', class: 'dvi-popover-close', text: '×', title: 'close', 'aria-label': 'close' });
    closeBtn.addEventListener('click', () => this.close());
    const box = this.seesPart({ kind: res.kind, label: res.label, images: res.images, tile: res.tile, predictions: res.sample_predictions, indices: res.kind === 'nearest' ? res.samples : null }, buffers);
    box.classList.add('dvi-sees-line');
    box.dataset.spotPredictions = JSON.stringify(res.predictions);
    this.pop.replaceChildren(
      h('div', { class: 'dvi-popover-head' }, [h('span', { text: `epoch ${res.epoch} · along the line` }), closeBtn]),
      h('div', { class: 'dvi-sees-preds', title: 'the class predicted at each spot of the line' }, res.predictions.map((c) => h('span', { class: 'dvi-sees-pred', title: `predicted here: ${className(view, c)}` }, [swatch(view, c)]))),
      box,
      note('top: the class predicted at each spot; under each image: the model\'s class for it'),
    );
    this.pop.dataset.epoch = String(res.epoch);
    this.place();
  }

  /**
   * Whether a line is being drawn from the popover's spot (data-line-drawing on the view's
   * element and root): until its end is clicked, clicks pass through the popover to the plot,
   * since the end may lie under it (widget.css).
   */
  setLineDrawing(on) {
    this.view.el.dataset.lineDrawing = String(on);
    this.view.root.dataset.lineDrawing = String(on);
  }

  close() {
    this.line = null;
    this.lineFrom = null; // a line being drawn ends with its popover
    this.setLineDrawing(false);
    if (this.lineEl) this.lineEl.style.display = 'none';
    this.at = null;
    this.spot.style.display = 'none';
    this.pop.style.display = 'none';
    this.pop.replaceChildren();
  }

  /** Position the marker and the popover at the spot (after camera moves too). */
  place() {
    if (!this.at) return;
    if (this.line) {
      if (!this.lineEl) {
        this.lineEl = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
        this.lineEl.setAttribute('class', 'dvi-sees-path');
        this.lineEl.appendChild(document.createElementNS('http://www.w3.org/2000/svg', 'line'));
        this.body.appendChild(this.lineEl);
      }
      const { width: pw0, height: ph0 } = this.view.plot.size(); // the overlay itself is 0 x 0
      this.lineEl.setAttribute('width', String(pw0));
      this.lineEl.setAttribute('height', String(ph0));
      const [[ax, ay], [bx, by]] = this.line.map((p) => this.view.plot.toScreen(...p));
      const ln = this.lineEl.firstChild;
      for (const [k, v] of Object.entries({ x1: ax, y1: ay, x2: bx, y2: by })) ln.setAttribute(k, String(v));
      this.lineEl.style.display = 'block';
    } else if (this.lineEl) this.lineEl.style.display = 'none';
    const [sx, sy] = this.view.plot.toScreen(...this.at);
    this.spot.style.left = `${sx}px`;
    this.spot.style.top = `${sy}px`;
    const { width: w, height: hgt } = this.view.plot.size();
    const pw = POPOVER_WIDTH;
    this.pop.style.width = `${pw}px`;
    // a compact view (the small views of compare) is too short for the popover's usual share
    const share = this.view.root.classList.contains('dvi-compact') ? COMPACT_HEIGHT_SHARE : POPOVER_HEIGHT_SHARE;
    this.pop.style.maxHeight = `${Math.round(share * hgt)}px`;
    const ph = this.pop.offsetHeight || 200;
    // left of the spot where it fits (the hover card opens to the right of the pointer)
    // a drawn line: on the side of its end away from its start, so that the line stays visible
    const away = this.line && this.view.plot.toScreen(...this.line[0])[0] < sx && sx + 18 + pw <= w;
    this.pop.style.left = `${Math.max(2, Math.min(w - pw - 2, !away && sx - pw - 18 >= 0 ? sx - pw - 18 : sx + 18))}px`;
    this.pop.style.top = `${Math.max(2, Math.min(hgt - ph - 2, sy - 20))}px`;
  }

  async ask() {
    const view = this.view;
    const seq = (this.seq += 1);
    const [x, y] = this.at;
    const epoch = view.model.get('epoch');
    if (!this.kernel.available) {
      this.render(savedCell(view, x, y, view.pos));
      return;
    }
    if (!this.pop.childNodes.length) this.pop.appendChild(note('asking the model…'));
    try {
      const { msg, buffers } = await this.kernel.ask('inspect', { x, y, epoch, k: NEAREST });
      if (this.clickedAt !== null) view.el.dataset.inspectReplyMs = (performance.now() - this.clickedAt).toFixed(1);
      if (seq !== this.seq || !this.at) return;
      this.render(msg, null, buffers);
    } catch (err) {
      if (seq === this.seq && this.at) this.render({ epoch, x, y, source: 'none', local: nearestLocal(view, x, y, view.pos, NEAREST) }, String(err.message || err));
    }
  }

  /**
   * "What the model sees here": the inputs the inverse gives at the spot, as the kernel's PNG
   * strip (buffer 0), captioned with what they are (decoded by the inverse, or the recorded
   * inputs nearest to the decoded point) and the model's class for each.
   */
  seesPart(sees, buffers) {
    const view = this.view;
    if (this.seesUrl) URL.revokeObjectURL(this.seesUrl);
    this.seesUrl = null;
    const parts = [h('h4', { text: 'what the model sees here' }), h('div', { class: 'dvi-note dvi-sees-label', text: sees.label })];
    if (sees.images && buffers && buffers.length) {
      this.seesUrl = URL.createObjectURL(new Blob([buffers[0]], { type: 'image/png' }));
      const [th, tw] = sees.tile;
      const n = sees.predictions.length;
      const img = h('img', { class: 'dvi-sees-strip', src: this.seesUrl, alt: sees.label });
      img.style.aspectRatio = `${n * tw} / ${th}`;
      parts.push(img);
    }
    parts.push(h('div', { class: 'dvi-sees-preds' }, sees.predictions.map((c, k) => h('span', {
      class: 'dvi-sees-pred',
      title: sees.indices ? `#${sees.indices[k]}: the model predicts ${className(view, c)}` : `the model predicts ${className(view, c)}`,
    }, [swatch(view, c), ` ${className(view, c)}`]))));
    if (this.at && !this.line) {
      const start = this.at.slice();
      const btn = h('button', { type: 'button', class: 'dvi-sees-line-btn', text: 'line from here…', title: 'then click where the line should end: what the model sees along it (across a boundary)' });
      btn.addEventListener('click', () => {
        this.lineFrom = start;
        this.setLineDrawing(true);
        btn.replaceWith(note('now click where the line should end'));
      });
      parts.push(btn);
    }
    const box = h('div', { class: 'dvi-sees', 'data-kind': sees.kind }, parts);
    box.dataset.predictions = JSON.stringify(sees.predictions);
    if (sees.indices) box.dataset.indices = JSON.stringify(sees.indices);
    return box;
  }

  render(res, problem = null, buffers = null) {
    const view = this.view;
    const C = view.model.get('class_names').length;
    const closeBtn = h('button', { type: 'button', class: 'dvi-popover-close', text: '×', title: 'close', 'aria-label': 'close' });
    closeBtn.addEventListener('click', () => this.close());
    const where = res.x !== undefined && view.d ? `epoch ${res.epoch}` + (res.source !== 'none' || !problem ? ` · (${num(res.x, 2)}, ${num(res.y, 2)})` : '') : '';
    const parts = [h('div', { class: 'dvi-popover-head' }, [h('span', { text: where }), closeBtn])];
    if (res.prediction !== undefined && res.prediction >= 0) {
      parts.push(h('div', { class: 'dvi-popover-pred' }, [
        swatch(view, res.prediction), ' ', h('b', { text: className(view, res.prediction) }),
        ` ${pct(res.confidence)}`,
        h('span', { class: 'dvi-note', text: res.source === 'model' ? `  ${res.decoder || 'ψ_t → g_t'}` : '  landscape cell' }),
      ]));
    }
    // next to the class probabilities, first: the inputs the inverse gives here
    if (res.sees) parts.push(this.seesPart(res.sees, buffers));
    if (res.probabilities) {
      const order = res.probabilities.map((p, c) => [c, p]).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      const top = order.slice(0, Math.min(TOP_CLASSES, C));
      const rest = order.slice(top.length).reduce((s, [, p]) => s + p, 0);
      const rows = top.map(([c, p]) => ({ label: className(view, c), value: p, text: pct(p), color: classColor(view, c) }));
      if (order.length > top.length) rows.push({ label: `${order.length - top.length} others`, value: rest, text: pct(rest), color: '#aaa' });
      const chart = bars(rows, 'dvi-probs');
      chart.dataset.probabilities = JSON.stringify(res.probabilities);
      parts.push(h('h4', { text: 'class probabilities here' }), chart);
    } else if (res.source === 'landscape') {
      parts.push(note(this.kernel.available ? 'no model attached: the landscape cell\'s class and confidence'
        : 'saved page: the landscape cell\'s class and confidence (class probabilities need the model)'));
    } else if (res.outside) {
      parts.push(note('outside the frame: the view shows no landscape here'));
    } else if (res.source === 'none' && !problem) {
      parts.push(note('no model and no landscape classes: nothing to say about this spot'));
    }
    if (problem) parts.push(note(problem, 'dvi-error'));
    const nearest = res.neighbors ? res.neighbors.sample : res.local;
    if (nearest && nearest.length) {
      parts.push(h('h4', { text: 'nearest samples in 2-D' }));
      parts.push(h('div', { class: 'dvi-nlist' }, nearest.map((i, k) => this.sampleRow(i, res.neighbors ? res.neighbors.distance[k] : null))));
    }
    this.pop.replaceChildren(...parts);
    this.pop.dataset.epoch = String(res.epoch);
    this.place();
    if (this.clickedAt !== null) {
      view.el.dataset.inspectMs = (performance.now() - this.clickedAt).toFixed(1);
      this.clickedAt = null;
    }
  }

  sampleRow(i, dist) {
    const view = this.view;
    const s = sampleAt(view, i);
    const cv = h('canvas', { width: 1, height: 1 });
    const row = h('div', { class: 'dvi-nrow', 'data-sample': String(i), title: `#${i}: select it and show its history` }, [
      this.thumbs.available ? cv : null,
      swatch(view, s.label),
      h('span', { text: `#${i} ${className(view, s.label)} → ${className(view, s.prediction)}` }),
      h('span', { class: 'dvi-dist', text: dist === null ? '' : num(dist, 2) }),
    ]);
    if (this.thumbs.available) this.thumbs.draw(cv, i).catch(() => {});
    row.addEventListener('click', () => {
      this.clicking = true; // chosen from the popover: it stays open
      view.setSelection([i]);
      this.clicking = false;
      view.setSave('focus_sample', i);
    });
    return row;
  }

  update(reason) {
    // a later selection (a lasso, a search, a confusion cell, Python) closes the popover; the
    // point its own click selects does not
    if (reason === 'selection' && this.at && !this.clicking) this.close();
    if (reason === 'epoch' && this.at && this.pop.dataset.epoch !== String(this.view.model.get('epoch'))) this.ask();
  }

  destroy() {
    if (this.seesUrl) URL.revokeObjectURL(this.seesUrl);
    this.ls.dispose();
  }
}

registerPanel('inspect', { title: 'Inspect', area: 'overlay', create: (view, body) => new Inspect(view, body) });
