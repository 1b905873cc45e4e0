// The Explain panel's overlay: a what-if / adversarial path and a surrogate's neighbours, drawn on a
// 2-D canvas over the plot (like trails.js), redrawn when the camera moves or the plot resizes.
//
// A path is S points in the widget's normalised frame, joined in strength order and coloured by
// g_t's prediction (the mark colour of that class, as the samples are drawn): a black-rimmed square
// at the first (unperturbed) point, a larger ringed point at the current strength, a diamond at the
// first flip with its strength written beside it. A stale path (the epoch changed, the new one is
// on its way) is drawn faded. Surrogate neighbours are small crosses in their predicted class's
// colour, more opaque the nearer they are to the sample.
import { h } from '../dom.js';
import { markColor } from '../marks.js';

/** Radius (px) of a path point, of the current one, and of the first-flip diamond. */
export const PATH_RADIUS = 4;
export const CURRENT_RADIUS = 7;
export const FLIP_RADIUS = 11;
/** Half the arm of a surrogate neighbour's cross (px). */
export const NEIGHBOR_RADIUS = 3;
/** Hover distance (px) within which a path point shows its card. */
const HIT_PX = 8;

export class PathOverlay {
  constructor(view) {
    this.view = view;
    this.path = null; // { positions, predictions, strengths, current, firstFlip, label(k), stale }
    this.neighbors = null; // { positions, predictions, proximity }
    this.canvas = h('canvas', { class: 'dvi-paths' });
    this.tip = h('div', { class: 'dvi-path-tip' });
    const wrap = view.wrap;
    // above the trails, below the tooltip and the help card
    wrap.insertBefore(this.canvas, view.trailCanvas.nextSibling);
    wrap.insertBefore(this.tip, this.canvas.nextSibling);
    this.unsubscribe = view.plot.scatterplot.subscribe('view', () => this.draw());
    this.onMove = (e) => this.hover(e);
    this.onLeave = () => { this.tip.style.display = 'none'; };
    wrap.addEventListener('mousemove', this.onMove, { passive: true });
    wrap.addEventListener('mouseleave', this.onLeave, { passive: true });
    if (typeof ResizeObserver !== 'undefined') {
      this.resizeObserver = new ResizeObserver(() => this.draw());
      this.resizeObserver.observe(wrap);
    }
  }

  setPath(path) {
    this.path = path;
    this.draw();
  }

  setNeighbors(neighbors) {
    this.neighbors = neighbors;
    this.draw();
  }

  colorOf(c) {
    const palette = this.view.model.get('palette');
    return markColor(palette[c] || '#000000');
  }

  /** Screen position (px in the plot) of point k of a (n, 2) position array. */
  screen(positions, k) {
    return this.view.plot.toScreen(positions[2 * k], positions[2 * k + 1]);
  }

  draw() {
    const view = this.view;
    if (!view.plot || view.destroyed) return;
    const { ctx } = view.plot.overlay(this.canvas);
    if (this.neighbors) this.drawNeighbors(ctx);
    if (this.path) this.drawPath(ctx);
    view.el.dataset.explainDraws = String(Number(view.el.dataset.explainDraws || 0) + 1);
  }

  drawNeighbors(ctx) {
    const { positions, predictions, proximity } = this.neighbors;
    const n = predictions.length;
    // small crosses, not dots: they must not pass for samples; nearer neighbours more opaque
    const r = NEIGHBOR_RADIUS;
    for (const [style, width] of [['rgba(255,255,255,0.8)', 3.5], [null, 1.5]]) {
      ctx.lineWidth = width;
      for (let k = 0; k < n; k++) {
        const [x, y] = this.screen(positions, k);
        if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
        ctx.globalAlpha = 0.3 + 0.7 * Math.max(0, Math.min(1, proximity[k]));
        ctx.strokeStyle = style ?? this.colorOf(predictions[k]);
        ctx.beginPath();
        ctx.moveTo(x - r, y);
        ctx.lineTo(x + r, y);
        ctx.moveTo(x, y - r);
        ctx.lineTo(x, y + r);
        ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
  }

  drawPath(ctx) {
    const p = this.path;
    const S = p.predictions.length;
    const pts = Array.from({ length: S }, (_, k) => this.screen(p.positions, k));
    const ok = pts.map(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    ctx.globalAlpha = p.stale ? 0.35 : 1;
    // the line: a white halo under a dark stroke, readable on any landscape colour
    for (const [style, width] of [['rgba(255,255,255,0.9)', 4], ['#222222', 1.5]]) {
      ctx.strokeStyle = style;
      ctx.lineWidth = width;
      ctx.lineJoin = 'round';
      ctx.beginPath();
      let open = false;
      for (let k = 0; k < S; k++) {
        if (!ok[k]) {
          open = false;
          continue;
        }
        if (open) ctx.lineTo(...pts[k]);
        else ctx.moveTo(...pts[k]);
        open = true;
      }
      ctx.stroke();
    }
    const f = p.firstFlip;
    const flipAt = f >= 0 && ok[f] ? pts[f] : null;
    if (flipAt && p.flipText) {
      // the first flip's strength, under the points so that it never hides one
      ctx.font = '600 11px system-ui, sans-serif';
      ctx.lineWidth = 3;
      ctx.strokeStyle = 'rgba(255,255,255,0.95)';
      ctx.strokeText(p.flipText, flipAt[0] + FLIP_RADIUS + 3, flipAt[1] - FLIP_RADIUS + 2);
      ctx.fillStyle = '#000000';
      ctx.fillText(p.flipText, flipAt[0] + FLIP_RADIUS + 3, flipAt[1] - FLIP_RADIUS + 2);
    }
    ctx.lineWidth = 1;
    for (let k = 0; k < S; k++) {
      if (!ok[k] || k === p.current) continue;
      const [x, y] = pts[k];
      ctx.fillStyle = this.colorOf(p.predictions[k]);
      ctx.beginPath();
      if (k === 0) {
        // the unperturbed input: a black-rimmed square on the sample itself
        ctx.rect(x - PATH_RADIUS - 1, y - PATH_RADIUS - 1, 2 * PATH_RADIUS + 2, 2 * PATH_RADIUS + 2);
        ctx.strokeStyle = '#000000';
        ctx.lineWidth = 1.5;
      } else {
        ctx.arc(x, y, PATH_RADIUS, 0, 2 * Math.PI);
        ctx.strokeStyle = '#ffffff';
        ctx.lineWidth = 1;
      }
      ctx.fill();
      ctx.stroke();
    }
    const c = p.current;
    if (c >= 0 && c < S && ok[c]) {
      const [x, y] = pts[c];
      ctx.fillStyle = this.colorOf(p.predictions[c]);
      ctx.beginPath();
      ctx.arc(x, y, CURRENT_RADIUS, 0, 2 * Math.PI);
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = '#000000';
      ctx.stroke();
    }
    if (flipAt) {
      // a diamond around the first flip, outside the current point's ring
      const [x, y] = flipAt;
      const r = FLIP_RADIUS;
      ctx.beginPath();
      ctx.moveTo(x, y - r);
      ctx.lineTo(x + r, y);
      ctx.lineTo(x, y + r);
      ctx.lineTo(x - r, y);
      ctx.closePath();
      ctx.lineWidth = 4;
      ctx.strokeStyle = 'rgba(255,255,255,0.9)';
      ctx.stroke();
      ctx.lineWidth = 2;
      ctx.strokeStyle = '#000000';
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }

  /** The path point nearest to (x, y) px in the plot within HIT_PX, or -1. */
  hit(x, y) {
    const p = this.path;
    if (!p) return -1;
    let best = -1;
    let bestD = HIT_PX * HIT_PX;
    for (let k = 0; k < p.predictions.length; k++) {
      const [sx, sy] = this.screen(p.positions, k);
      const d = (sx - x) ** 2 + (sy - y) ** 2;
      if (d <= bestD) {
        bestD = d;
        best = k;
      }
    }
    return best;
  }

  hover(e) {
    const p = this.path;
    if (!p || !p.label) return;
    const r = this.view.wrap.getBoundingClientRect();
    const x = e.clientX - r.left;
    const y = e.clientY - r.top;
    const k = this.hit(x, y);
    if (k < 0) {
      this.tip.style.display = 'none';
      return;
    }
    if (this.tipPoint !== k || this.tipPath !== p) {
      // the point's strength and prediction, and the perturbed input itself
      this.tip.replaceChildren(...[h('div', { text: p.label(k) }), p.picture?.(k)].filter(Boolean));
      this.tip.dataset.point = String(k);
      this.tipPoint = k;
      this.tipPath = p;
    }
    const { width: w, height: hgt } = this.view.plot.size();
    const tw = this.tip.offsetWidth || 120;
    const th = this.tip.offsetHeight || 100;
    this.tip.style.left = `${x + 12 + tw > w ? Math.max(0, x - 12 - tw) : x + 12}px`;
    this.tip.style.top = `${Math.max(0, Math.min(hgt - th, y - 8))}px`;
    this.tip.style.display = 'block';
  }

  destroy() {
    this.view.plot?.scatterplot?.unsubscribe?.(this.unsubscribe);
    this.resizeObserver?.disconnect();
    this.view.wrap.removeEventListener('mousemove', this.onMove);
    this.view.wrap.removeEventListener('mouseleave', this.onLeave);
    this.canvas.remove();
    this.tip.remove();
  }
}
