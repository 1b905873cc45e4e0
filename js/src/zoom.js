// The landscape at screen resolution when zoomed in: the stored raster (landscape.js, e.g. 256 cells
// across the whole frame) turns blocky once a cell spans more than a few pixels, so after a zoom or
// pan settles the view asks the kernel once (panel 'landscape', dvi_widget/view/panels.py: ψ_t and
// g_t over the visible part of the frame, one cell per screen pixel, cached there per epoch, extent
// and size) and shows the answer under the points: a 2-D canvas beneath the plot's canvas, with
// the stored texture made transparent over it (Landscape.setHole). Without a kernel (a saved page)
// or a model that renders (capabilities.landscapes), the stored raster stays.
import { h } from './dom.js';
import { fromScreen } from './inspect.js';
import { kernelOf } from './kernel.js';
import { HOLE_RES } from './landscape.js';

/** Wait this long (ms) after the last camera move before asking. */
export const SETTLE_MS = 250;
/** Ask only when a stored cell spans more than this many screen pixels. */
export const MIN_CELL_PX = 1.5;

/** The visible part ([x0, x1, y0, y1], normalised) of the frame [-1, 1]^2, or null. */
export function visibleExtent(plot) {
  const { width: w, height: hgt } = plot.size();
  const [ax, ay] = fromScreen(plot, 0, 0);
  const [bx, by] = fromScreen(plot, w, hgt);
  const x0 = Math.max(-1, Math.min(ax, bx));
  const x1 = Math.min(1, Math.max(ax, bx));
  const y0 = Math.max(-1, Math.min(ay, by));
  const y1 = Math.min(1, Math.max(ay, by));
  return x1 > x0 && y1 > y0 ? [x0, x1, y0, y1] : null;
}

/** `rgba` washed toward white as the stored landscape is shown: mix(white, c, opacity * alpha). */
export function washed(rgba, opacity) {
  const out = new Uint8ClampedArray(rgba.length);
  for (let p = 0; p < rgba.length; p += 4) {
    const a = (opacity * rgba[p + 3]) / 255;
    out[p] = 255 - a * (255 - rgba[p]);
    out[p + 1] = 255 - a * (255 - rgba[p + 1]);
    out[p + 2] = 255 - a * (255 - rgba[p + 2]);
    out[p + 3] = 255;
  }
  return out;
}

export class LandscapeDetail {
  constructor(view) {
    this.view = view;
    this.kernel = kernelOf(view);
    this.canvas = h('canvas', { class: 'dvi-landscape-detail', 'aria-hidden': 'true' });
    view.wrap.insertBefore(this.canvas, view.canvas); // beneath the points
    this.shown = null; // { epoch, extent, rgba, W, H }
    this.asked = null; // key of the request in flight or answered last
    this.seq = 0;
    this.timer = null;
    const sp = view.plot.scatterplot;
    const sub = sp.subscribe('view', () => {
      this.place();
      this.schedule();
    });
    this.unsubscribe = () => sp.unsubscribe(sub);
    this.hide();
  }

  get enabled() {
    const caps = this.view.model.get('capabilities') || {};
    return Boolean(caps.landscapes) && this.kernel.available;
  }

  /** Screen pixels one stored landscape cell spans now. */
  cellPx() {
    const plot = this.view.plot;
    const [ax] = plot.toScreen(-1, 0);
    const [bx] = plot.toScreen(1, 0);
    return Math.abs(bx - ax) / this.view.d.landW;
  }

  schedule() {
    if (!this.enabled) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ask(), SETTLE_MS);
  }

  /** The epoch was drawn (or the camera settled): ask for the visible part if it is coarse. */
  async ask() {
    this.timer = null;
    const view = this.view;
    if (!this.enabled || view.destroyed || view.model.get('playing')) return;
    const epoch = view.model.get('epoch');
    if (!view.plot.userCamera || this.cellPx() <= MIN_CELL_PX) {
      this.hide(); // the whole frame (the stored raster's own view), or as fine as the screen
      return;
    }
    const vis = visibleExtent(view.plot);
    if (!vis) return;
    const { width: w, height: hgt } = view.plot.size();
    // a few cells of the shown texture more on each side: it fades out over its edge cell
    // (Landscape.holeUV), which then lies outside the screen
    const cell = 4 / HOLE_RES;
    const ext = [Math.max(-1, vis[0] - cell), Math.min(1, vis[1] + cell), Math.max(-1, vis[2] - cell), Math.min(1, vis[3] + cell)];
    const [x0, x1, y0, y1] = ext;
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    // pixels of the visible part of the frame, capped (aspect kept) at the kernel's limit
    const framePx = this.cellPx() * view.d.landW; // the whole frame's width on screen
    let W = Math.max(1, Math.round(((x1 - x0) / 2) * framePx * dpr));
    let H = Math.max(1, Math.round(W * ((y1 - y0) / (x1 - x0))));
    W = Math.min(W, Math.ceil((w + 2 * cell * framePx / 2) * dpr));
    H = Math.min(H, Math.ceil((hgt + 2 * cell * framePx / 2) * dpr));
    const max = (view.model.get('capabilities') || {}).max_landscape_cells || 1 << 20;
    if (W * H > max) {
      const s = Math.sqrt(max / (W * H));
      W = Math.max(1, Math.floor(W * s));
      H = Math.max(1, Math.floor(H * s));
    }
    const key = [epoch, ...ext.map((v) => v.toFixed(5)), W, H].join('|');
    if (key === this.asked) return;
    this.asked = key;
    const seq = (this.seq += 1);
    const ds = view.el.dataset;
    ds.landscapeRequests = String(Number(ds.landscapeRequests || 0) + 1);
    try {
      const { msg, buffers } = await this.kernel.ask('landscape', { epoch, x0, x1, y0, y1, width: W, height: H });
      if (seq !== this.seq || view.destroyed || view.model.get('epoch') !== msg.epoch) return;
      const [rh, rw] = msg.shape;
      const b = buffers[0];
      this.shown = {
        epoch: msg.epoch,
        extent: [msg.x0, msg.x1, msg.y0, msg.y1],
        rgba: new Uint8Array(b.buffer, b.byteOffset, rh * rw * 4),
        W: rw,
        H: rh,
      };
      this.paint();
      ds.landscapeDetail = `${rh}x${rw}`;
      ds.landscapeExtent = JSON.stringify(this.shown.extent);
      ds.landscapeDetails = String(Number(ds.landscapeDetails || 0) + 1);
    } catch (err) {
      if (seq === this.seq) this.asked = null; // a later settle asks again
      ds.landscapeError = String(err.message || err);
    }
  }

  /** Draw the shown detail (washed at landscape_opacity) and open the hole in the stored texture. */
  paint() {
    const s = this.shown;
    if (!s) return;
    const cv = this.canvas;
    cv.width = s.W;
    cv.height = s.H;
    const opacity = Number(this.view.model.get('landscape_opacity'));
    cv.getContext('2d').putImageData(new ImageData(washed(s.rgba, opacity), s.W, s.H), 0, 0);
    cv.style.display = 'block';
    this.place();
    this.view.plot.landscape.setHole(s.extent);
    this.view.plot.scatterplot.redraw();
  }

  /** Keep the detail canvas on its extent as the camera moves. */
  place() {
    const s = this.shown;
    if (!s) return;
    const [x0, x1, y0, y1] = s.extent;
    const [ax, ay] = this.view.plot.toScreen(x0, y1);
    const [bx, by] = this.view.plot.toScreen(x1, y0);
    const st = this.canvas.style;
    st.left = `${ax}px`;
    st.top = `${ay}px`;
    st.width = `${bx - ax}px`;
    st.height = `${by - ay}px`;
  }

  /** Back to the stored raster (a new epoch, a zoom out, no kernel). */
  hide() {
    this.seq += 1;
    this.asked = null;
    this.shown = null;
    this.canvas.style.display = 'none';
    const land = this.view.plot.landscape;
    if (land.hole) {
      land.setHole(null);
      this.view.plot.scatterplot.redraw();
    }
  }

  /** landscape_opacity changed: repaint at the new wash. */
  setOpacity() {
    if (this.shown) this.paint();
  }

  destroy() {
    clearTimeout(this.timer);
    this.unsubscribe();
    this.canvas.remove();
  }
}
