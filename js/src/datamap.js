// The data map (dataset cartography, Swayamdipta et al. 2020): each training sample at
// (variability σ, confidence μ) of its given label's probability over the recorded epochs up to the
// shown one, coloured by correctness (or by the view's numeric colour column), with the paper's
// regions: easy to learn (high μ, low σ), ambiguous (high σ), hard to learn (low μ, low σ).
// The measures are the per-epoch columns the kernel sends (dvi_widget.data.dynamics), so the map
// follows the epoch slider without asking the kernel. A drag lassos samples here and selects them
// in the main view (and in Python, `w.selection`); a selection made anywhere is highlighted here.
import { h, listeners } from './dom.js';
import { registerPanel } from './panels.js';
import { note } from './ui.js';

const PAD = { l: 34, r: 14, t: 8, b: 26 };
/** The x axis ends at σ = 0.5, the largest standard deviation of values in [0, 1]. */
const X_MAX = 0.5;

/** Colour of correctness t in [0, 1]: red (never right) to blue (always right). */
export function correctnessColor(t) {
  const a = [214, 39, 40];
  const b = [31, 119, 180];
  const u = Number.isFinite(t) ? Math.max(0, Math.min(1, t)) : 0;
  return `rgb(${a.map((v, i) => Math.round(v + (b[i] - v) * u)).join(',')})`;
}

/** Whether (x, y) lies inside the polygon `poly` ([[x, y], ...], even-odd rule). */
export function inside(poly, x, y) {
  let hit = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

class DataMap {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.canvas = h('canvas', { class: 'dvi-datamap-canvas', width: 10, height: 10, 'aria-label': 'data map: variability × confidence; drag to lasso' });
    this.hint = note('x: variability σ · y: confidence μ (given label, epochs up to the shown one) · colour: correctness · drag: lasso');
    this.msg = h('div');
    this.el = h('div', { class: 'dvi-datamap' }, [this.canvas, this.hint, this.msg]);
    body.append(this.el);
    this.lasso = null;
    this.ls.add(this.canvas, 'pointerdown', (e) => this.start(e));
    this.ls.add(this.canvas, 'pointermove', (e) => this.extend(e));
    this.ls.add(this.canvas, 'pointerup', (e) => this.finish(e));
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(this.el);
    this.draw();
  }

  get ready() {
    const c = this.view.columns;
    return c.has('variability') && c.has('mean_confidence') && c.has('correctness');
  }

  /** Screen (canvas px) position of (σ, μ). */
  toPx(x, y) {
    const { width: W, height: H } = this.size;
    return [PAD.l + (x / X_MAX) * (W - PAD.l - PAD.r), PAD.t + (1 - y) * (H - PAD.t - PAD.b)];
  }

  /** Training sample indices and their (σ, μ, correctness) at the shown epoch. */
  points() {
    const view = this.view;
    const pos = view.pos;
    const sig = view.columns.get('variability').values(pos);
    const mu = view.columns.get('mean_confidence').values(pos);
    const cor = view.columns.get('correctness').values(pos);
    const split = view.d.splitCodes;
    const ids = [];
    for (let i = 0; i < view.d.N; i++) if (split[i] === 0 && Number.isFinite(mu[i])) ids.push(i);
    return { ids, sig, mu, cor };
  }

  draw() {
    if (!this.ready) {
      this.msg.replaceChildren(note('the data map needs the training dynamics: show a fitted DVI (or pass dynamics= to the Widget)'));
      this.canvas.style.display = 'none';
      return;
    }
    const cssW = Math.max(200, Math.min(this.el.clientWidth || 360, 520));
    const cssH = Math.round(cssW * 0.72);
    const dpr = window.devicePixelRatio || 1;
    this.canvas.style.width = `${cssW}px`;
    this.canvas.style.height = `${cssH}px`;
    this.canvas.width = Math.round(cssW * dpr);
    this.canvas.height = Math.round(cssH * dpr);
    this.size = { width: cssW, height: cssH };
    const g = this.canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssW, cssH);
    // region guides
    const [x0, y0] = this.toPx(0, 0);
    const [x1, y1] = this.toPx(X_MAX, 1);
    g.fillStyle = '#fafafa';
    g.fillRect(x0, y1, x1 - x0, y0 - y1);
    g.strokeStyle = '#c8c8c8';
    g.setLineDash([4, 3]);
    g.beginPath();
    const [xs] = this.toPx(0.2, 0);
    g.moveTo(xs, y1);
    g.lineTo(xs, y0);
    const [, ym] = this.toPx(0, 0.5);
    g.moveTo(x0, ym);
    g.lineTo(xs, ym);
    g.stroke();
    g.setLineDash([]);
    g.font = '11px sans-serif';
    // axes
    g.strokeStyle = '#888';
    g.beginPath();
    g.moveTo(x0, y1);
    g.lineTo(x0, y0);
    g.lineTo(x1, y0);
    g.stroke();
    g.fillStyle = '#555';
    for (const v of [0, 0.5, 1]) {
      const [, y] = this.toPx(0, v);
      g.fillText(String(v), 16, y + 4);
    }
    for (const v of [0, 0.1, 0.2, 0.3, 0.4, 0.5]) {
      const [x] = this.toPx(v, 0);
      g.fillText(String(v), x - (v ? 8 : 3), y0 + 13);
    }
    g.fillText('variability σ', (x0 + x1) / 2 - 30, y0 + 24);
    g.save();
    g.translate(11, (y0 + y1) / 2 + 34);
    g.rotate(-Math.PI / 2);
    g.fillText('confidence μ', 0, 0);
    g.restore();
    // points: the selection on top, the rest dimmed while there is one
    const { ids, sig, mu, cor } = this.points();
    const sel = this.view.selection();
    const chosen = new Uint8Array(this.view.d.N);
    for (const i of sel) chosen[i] = 1;
    const any = sel.length > 0;
    const r = ids.length > 5000 ? 1.2 : 2;
    for (const pass of any ? [0, 1] : [1]) {
      for (const i of ids) {
        if (any && chosen[i] !== pass) continue;
        g.globalAlpha = any && !pass ? 0.15 : 0.8;
        g.fillStyle = correctnessColor(cor[i]);
        const [x, y] = this.toPx(Math.min(sig[i], X_MAX), mu[i]);
        g.fillRect(x - r, y - r, 2 * r, 2 * r);
      }
    }
    g.globalAlpha = 1;
    // region names over the points, with a white halo, and away from the corners (σ ≈ 0) where
    // easy and hard-to-learn samples crowd: right-aligned at the σ guide (their halo's width and
    // alignment do not reach the lasso drawn after them)
    g.save();
    g.lineWidth = 3;
    g.strokeStyle = 'rgba(255, 255, 255, 0.9)';
    g.fillStyle = '#666';
    const label = (text, x, y, align) => {
      g.textAlign = align;
      g.strokeText(text, x, y);
      g.fillText(text, x, y);
    };
    label('easy to learn', xs - 5, y1 + 12, 'right');
    label('hard to learn', xs - 5, y0 - 6, 'right');
    label('ambiguous', xs + 6, ym + 4, 'left');
    g.restore();
    if (this.lasso?.length > 1) {
      g.strokeStyle = '#1f4fbf';
      g.beginPath();
      this.lasso.forEach(([x, y], k) => (k ? g.lineTo(x, y) : g.moveTo(x, y)));
      g.closePath();
      g.stroke();
    }
    this.canvas.style.display = '';
    this.msg.replaceChildren();
    this.canvas.dataset.epoch = String(this.view.model.get('epoch'));
    this.canvas.dataset.points = String(ids.length);
    this.canvas.dataset.selected = String(sel.length);
  }

  local(e) {
    const b = this.canvas.getBoundingClientRect();
    return [e.clientX - b.left, e.clientY - b.top];
  }

  start(e) {
    if (!this.ready) return;
    this.canvas.setPointerCapture?.(e.pointerId);
    this.lasso = [this.local(e)];
  }

  extend(e) {
    if (!this.lasso) return;
    this.lasso.push(this.local(e));
    this.draw();
  }

  finish(e) {
    if (!this.lasso) return;
    this.lasso.push(this.local(e));
    const poly = this.lasso;
    this.lasso = null;
    if (poly.length < 3) {
      this.draw();
      return;
    }
    const { ids, sig, mu } = this.points();
    const hit = ids.filter((i) => {
      const [x, y] = this.toPx(Math.min(sig[i], X_MAX), mu[i]);
      return inside(poly, x, y);
    });
    this.view.replaceDimming?.('selection');
    this.view.setSelection(Uint32Array.from(hit));
    this.draw();
  }

  update(reason) {
    if (reason === 'epoch' || reason === 'selection' || reason === 'column') this.draw();
  }

  destroy() {
    this.ro.disconnect();
    this.ls.dispose();
  }
}

registerPanel('datamap', { title: 'Data map', area: 'below', create: (view, body) => new DataMap(view, body) });
