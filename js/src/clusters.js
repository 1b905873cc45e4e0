// Two optional layers over the plot, each a toggle (traits class_labels, density_contours):
// * class labels: each class's name at its densest region at the shown epoch (peak of the
//   smoothed density of its drawn samples, density.js); they glide to the next epoch's place over
//   the points' own transition, so they move with playback;
// * density contours: per class, the lines where the smoothed density is LEVELS of its peak,
//   in the class's mark colour.
// Classes are the given labels (the predicted ones when colouring by prediction); only drawn
// samples count (split, filters). Densities are cached per epoch and filter state.
import { densities, isolines, LEVELS, peak } from './density.js';
import { h } from './dom.js';
import { markColor } from './marks.js';

export class Clusters {
  constructor(view, canvas, labelsEl) {
    this.view = view;
    this.canvas = canvas;
    this.labelsEl = labelsEl;
    this.cache = new Map(); // key -> { grids, peaks }
    this.labels = []; // span per class
    this.shown = null; // the key whose labels are placed
  }

  get on() {
    const m = this.view.model;
    return { labels: Boolean(m.get('class_labels')), contours: Boolean(m.get('density_contours')) };
  }

  /** Class of each sample (given label, or prediction at pos when colouring by prediction). */
  groups(pos) {
    const { d, model } = this.view;
    return model.get('color_by') === 'prediction' ? d.predictions.subarray(pos * d.N, (pos + 1) * d.N) : d.labels;
  }

  compute(pos) {
    const view = this.view;
    const key = `${pos}|${view.filterKey(pos)}|${view.model.get('color_by') === 'prediction'}`;
    let c = this.cache.get(key);
    if (!c) {
      const { N, coords } = view.d;
      const C = view.model.get('class_names').length;
      const xy = coords.subarray(2 * pos * N, 2 * (pos + 1) * N);
      const grids = densities(xy, this.groups(pos), C, view.visibleMask(pos));
      c = { key, grids, peaks: grids.map((g) => (g ? peak(g) : null)) };
      if (this.cache.size > 32) this.cache.delete(this.cache.keys().next().value);
      this.cache.set(key, c);
    }
    return c;
  }

  /**
   * Draw both layers for the shown epoch. `transitionMs` > 0 (an animated epoch change): labels
   * glide to their new places over that time, contours wait for the end (draw() again).
   */
  draw(transitionMs = 0) {
    const view = this.view;
    const { labels, contours } = this.on;
    if (!view.plot) return;
    this.labelsEl.style.display = labels ? '' : 'none';
    if (!labels && !contours) {
      if (this.drawnContours) view.plot.overlay(this.canvas);
      this.drawnContours = false;
      this.view.el.dataset.clusterEpoch = '';
      return;
    }
    const c = this.compute(view.pos);
    if (labels) this.placeLabels(c, transitionMs);
    if (contours && !transitionMs) this.drawContours(c);
    else if (this.drawnContours) {
      view.plot.overlay(this.canvas);
      this.drawnContours = false;
    }
    view.el.dataset.clusterEpoch = String(view.model.get('epoch'));
  }

  placeLabels(c, transitionMs) {
    const view = this.view;
    const names = view.model.get('class_names');
    const palette = view.model.get('palette');
    while (this.labels.length < names.length) {
      const k = this.labels.length;
      const span = h('span', { class: 'dvi-cluster-label', 'data-class': String(k), text: names[k] });
      span.style.color = markColor(palette[k] || '#777777');
      this.labels.push(span);
      this.labelsEl.appendChild(span);
    }
    c.peaks.forEach((p, k) => {
      const span = this.labels[k];
      if (!p) {
        span.style.display = 'none';
        return;
      }
      const [sx, sy] = view.plot.toScreen(p[0], p[1]);
      span.style.display = '';
      span.style.transition = transitionMs ? `transform ${transitionMs}ms cubic-bezier(.65, 0, .35, 1)` : 'none';
      span.style.transform = `translate(${sx.toFixed(1)}px, ${sy.toFixed(1)}px) translate(-50%, -50%)`;
      span.dataset.x = p[0].toFixed(4);
      span.dataset.y = p[1].toFixed(4);
    });
    this.shown = c.key;
  }

  drawContours(c) {
    const view = this.view;
    const { ctx } = view.plot.overlay(this.canvas);
    const palette = view.model.get('palette');
    ctx.lineJoin = 'round';
    let segments = 0;
    c.grids.forEach((grid, k) => {
      if (!grid) return;
      ctx.strokeStyle = markColor(palette[k] || '#777777');
      LEVELS.forEach((level, li) => {
        const seg = isolines(grid, level);
        if (!seg.length) return;
        ctx.globalAlpha = li === 0 ? 0.55 : 0.9;
        ctx.lineWidth = li === 0 ? 1 : 1.6;
        ctx.beginPath();
        for (let s = 0; s < seg.length; s += 4) {
          const [x0, y0] = view.plot.toScreen(seg[s], seg[s + 1]);
          const [x1, y1] = view.plot.toScreen(seg[s + 2], seg[s + 3]);
          ctx.moveTo(x0, y0);
          ctx.lineTo(x1, y1);
        }
        ctx.stroke();
        segments += seg.length / 4;
      });
    });
    ctx.globalAlpha = 1;
    this.drawnContours = true;
    this.canvas.dataset.segments = String(segments);
  }

  /** The camera moved: follow it at once. */
  place() {
    if (this.on.labels || this.on.contours) this.draw(0);
  }

  destroy() {
    this.cache.clear();
  }
}
