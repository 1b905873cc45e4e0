// Thumbnails of samples, fetched from the kernel on demand and cached in the browser.
//
// Nothing is sent up front: a hover or a page of a panel asks for the indices it shows, the kernel
// answers with one PNG atlas (dvi_widget/view/thumbnails.py: tile i at row i // columns, column
// i % columns), and each tile is kept as (atlas bitmap, rectangle) until the cache is full.
// A saved page (no kernel) reads the atlases save_html embedded (saved_thumbnails: the selection,
// focused and explained samples first, capped): a sample left out has no tile there.
import { decodeArray } from './codecs.js';
import { kernelOf } from './kernel.js';

/** Tiles kept in the browser; the oldest are dropped beyond this (an atlas goes with its last tile). */
export const MAX_TILES = 20000;

export class Thumbs {
  constructor(view) {
    this.view = view;
    this.kernel = kernelOf(view);
    this.tiles = new Map(); // sample -> { bitmap, sx, sy, w, h }
    this.pending = new Map(); // sample -> Promise
  }

  /** [h, w] or [h, w, c] of the images, or null when the run has none. */
  get shape() {
    return (this.view.model.get('capabilities') || {}).images || null;
  }

  /** The atlases a saved page embeds, or null. */
  get saved() {
    return this.kernel.available ? null : this.view.model.get('saved_thumbnails') || null;
  }

  get available() {
    return Boolean(this.shape) && (this.kernel.available || Boolean(this.saved));
  }

  /** Decode the saved page's atlases into the cache (once). */
  loadSaved() {
    if (!this.savedLoad) {
      this.savedLoad = Promise.all(this.saved.map(async (a) => {
        const png = decodeArray(a.png).data;
        const bitmap = await createImageBitmap(new Blob([png], { type: 'image/png' }));
        const [h, w] = a.tile;
        decodeArray(a.indices).data.forEach((i, k) => {
          this.tiles.set(i, { bitmap, sx: (k % a.columns) * w, sy: Math.floor(k / a.columns) * h, w, h });
        });
      })).then(() => undefined);
    }
    return this.savedLoad;
  }

  has(i) {
    return this.tiles.has(i);
  }

  /** Fetch the tiles of `indices` not cached yet; resolves when all are cached. */
  load(indices) {
    if (this.available && this.saved) return this.loadSaved();
    if (!this.available) return Promise.reject(new Error(this.shape ? 'needs a running kernel' : 'no images'));
    const missing = [];
    const waits = [];
    for (const i of indices) {
      if (this.tiles.has(i)) continue;
      const p = this.pending.get(i);
      if (p) waits.push(p);
      else missing.push(i);
    }
    const max = (this.view.model.get('capabilities') || {}).max_thumbnails || 1024;
    for (let k = 0; k < missing.length; k += max) {
      const chunk = Uint32Array.from(missing.slice(k, k + max));
      const p = this.fetch(chunk);
      for (const i of chunk) this.pending.set(i, p);
      waits.push(p);
    }
    return Promise.all(waits).then(() => undefined);
  }

  async fetch(indices) {
    try {
      const { msg, buffers } = await this.kernel.ask('thumbnails', {}, [indices]);
      const bitmap = await createImageBitmap(new Blob([buffers[0]], { type: 'image/png' }));
      const [h, w] = msg.tile;
      indices.forEach((i, k) => {
        this.tiles.delete(i);
        this.tiles.set(i, { bitmap, sx: (k % msg.columns) * w, sy: Math.floor(k / msg.columns) * h, w, h });
      });
      while (this.tiles.size > MAX_TILES) this.tiles.delete(this.tiles.keys().next().value);
    } finally {
      for (const i of indices) this.pending.delete(i);
    }
  }

  /** Draw sample i's tile into `canvas` (sized to the tile) if cached; returns whether it did. */
  drawNow(canvas, i) {
    const t = this.tiles.get(i);
    if (!t) return false;
    if (canvas.width !== t.w) canvas.width = t.w;
    if (canvas.height !== t.h) canvas.height = t.h;
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, t.w, t.h);
    ctx.drawImage(t.bitmap, t.sx, t.sy, t.w, t.h, 0, 0, t.w, t.h);
    canvas.dataset.sample = String(i);
    return true;
  }

  /** Draw sample i into `canvas`, fetching it first when needed; `still()` says whether it is wanted. */
  async draw(canvas, i, still = () => true) {
    if (this.drawNow(canvas, i)) return true;
    await this.load([i]);
    if (!this.tiles.has(i)) throw new Error('this sample\'s image was not saved with the page');
    return still() ? this.drawNow(canvas, i) : false;
  }
}

/** The view's thumbnail cache (created on first use). */
export function thumbsOf(view) {
  if (!view.thumbs) view.thumbs = new Thumbs(view);
  return view.thumbs;
}
