// Trails: the paths of chosen samples over all epochs, drawn on a 2-D canvas over the plot.
import { decodeIndices } from './codecs.js';
import { markColor } from './marks.js';

export class Trails {
  constructor(view, canvas) {
    this.view = view;
    this.canvas = canvas;
  }

  draw() {
    const view = this.view;
    if (!view.plot) return;
    const { ctx, w, hgt } = view.plot.overlay(this.canvas);
    const trails = decodeIndices(view.model.get('trail_indices'));
    if (!trails || !trails.length || !w || !hgt) return;
    const { T, N, coords, labels } = view.d;
    const palette = view.model.get('palette');
    const pos = view.pos;
    const at = (t, i) => view.plot.toScreen(coords[2 * (t * N + i)], coords[2 * (t * N + i) + 1]);
    ctx.lineWidth = 1.5;
    for (const i of trails) {
      if (i >= N) continue;
      ctx.strokeStyle = markColor(palette[labels[i]] || '#000000');
      ctx.globalAlpha = 0.85;
      ctx.beginPath();
      for (let t = 0; t < T; t++) {
        const [sx, sy] = at(t, i);
        if (t === 0) ctx.moveTo(sx, sy);
        else ctx.lineTo(sx, sy);
      }
      ctx.stroke();
      // a ring at the current epoch, a small square at the first
      const [cx, cy] = at(pos, i);
      ctx.beginPath();
      ctx.arc(cx, cy, 5, 0, 2 * Math.PI);
      ctx.stroke();
      const [fx, fy] = at(0, i);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillRect(fx - 2, fy - 2, 4, 4);
    }
    ctx.globalAlpha = 1;
  }
}
