// The Surrogate section: DeepVID's local linear student of the panel's sample (for its predicted
// class and optionally a second one; dvi_widget/view/explain/surrogate.py): weight images (red
// raises the class's logit), fidelity, and its neighbours as crosses on the plot (overlay.js) at
// the surrogate's epoch. Drawn from the synced trait explain_surrogate.
import { decodeTree } from '../codecs.js';
import { h, listeners } from '../dom.js';
import { thumbsOf } from '../thumbs.js';
import { fmt, pictureRGBA, smoothWeights, weightRGBA } from './format.js';

const TRAIT = 'explain_surrogate';

/** Passes of the [1 2 1] smoothing over a weight map (format.js smoothWeights). */
const SMOOTH_PASSES = 2;

/** A canvas of one weight map (K, h, w) k, smoothed, on the diverging scale ±lim. */
function weightCanvas(map, hgt, wid, lim) {
  const c = h('canvas', { class: 'dvi-explain-weights' });
  c.width = wid;
  c.height = hgt;
  c.getContext('2d').putImageData(new ImageData(weightRGBA(map, 0, hgt * wid, lim), wid, hgt), 0, 0);
  return c;
}

/** The diverging colour scale's legend: blue (lowers the logit) - white (0) - red (raises it). */
function weightLegend(lim) {
  const bar = h('div', { class: 'dvi-explain-wbar', title: 'surrogate weight per pixel (smoothed)' });
  const ticks = h('div', { class: 'dvi-explain-wticks' }, [
    h('span', { text: `−${fmt(lim)}` }), h('span', { text: '0' }), h('span', { text: `+${fmt(lim)}` })]);
  return h('div', { class: 'dvi-explain-wlegend' }, [
    h('div', { class: 'dvi-explain-note', text: 'lowers the class\'s logit ← weight → raises it' }), bar, ticks]);
}

export class SurrogateTool {
  constructor(panel) {
    this.panel = panel;
    this.view = panel.view;
    this.ls = listeners();
    this.surrogate = null;
    const classes = this.view.model.get('class_names');
    const opt = (value, text) => h('option', { value: String(value), text });
    this.second = h('select', { class: 'dvi-explain-second', 'aria-label': 'second class' }, [
      opt('', 'predicted class only'), ...classes.map((c, k) => opt(k, `and ${c}`))]);
    this.button = h('button', { type: 'button', class: 'dvi-explain-sur', text: 'Fit surrogate', disabled: true });
    this.showNb = h('input', { type: 'checkbox', checked: true, 'aria-label': 'show the neighbours on the plot' });
    this.out = h('div', { class: 'dvi-explain-surout' });
    const label = (el, text, title) => h('label', { class: 'dvi-explain-label', title }, [h('span', { text }), el]);
    this.section = h('details', { class: 'dvi-explain-section dvi-explain-surrogate', open: true }, [
      h('summary', { text: 'Local surrogate' }),
      h('div', { class: 'dvi-explain-ctl' }, [
        h('div', { class: 'dvi-explain-row' }, [label(this.second, 'classes', 'the predicted class, and optionally a second one to compare')]),
        h('div', { class: 'dvi-explain-row' }, [this.button]),
      ]),
      h('div', { class: 'dvi-explain-row' }, [h('label', { class: 'dvi-explain-check', title: 'the perturbed neighbours the surrogate was fitted on, as crosses on the plot' }, [this.showNb, 'neighbours on the plot'])]),
      this.out,
    ]);
    this.ls.add(this.button, 'click', () => this.ask());
    this.ls.add(this.showNb, 'change', () => this.drawNeighbors());
    this.ls.model(this.view.model, `change:${TRAIT}`, () => this.shown());
  }

  enable(on) {
    this.button.disabled = !on;
  }

  ask() {
    const i = this.panel.sample;
    if (i == null) return null;
    const { predictions, N } = this.view.d;
    const pred = predictions[this.view.pos * N + i];
    const classes = [pred];
    if (this.second.value !== '' && Number(this.second.value) !== pred) classes.push(Number(this.second.value));
    return this.panel.ask('surrogate', { index: i, epoch: this.panel.epoch, classes }, { status: 'fitting the local surrogate…', reveal: this.out });
  }

  /** explain_surrogate changed (or the panel was built): its weights, fidelity and neighbours. */
  shown() {
    const raw = this.view.model.get(TRAIT);
    this.surrogate = raw ? decodeTree(raw) : null;
    const s = this.surrogate;
    this.section.classList.toggle('dvi-explain-empty', !s);
    if (!s) {
      this.out.replaceChildren();
      this.drawNeighbors();
      return;
    }
    const w = s.weights;
    const [K, hgt, wid] = w.shape;
    // per-pixel weights are noisy: each map is smoothed, one symmetric scale for all of them
    const maps = Array.from({ length: K }, (_, k) => smoothWeights(w.data, k * hgt * wid, hgt, wid, hgt > 1 ? SMOOTH_PASSES : 0));
    let lim = 0;
    for (const m of maps) for (const v of m) lim = Math.max(lim, Math.abs(v));
    const tiles = [];
    const thumb = this.picture(s);
    if (thumb) tiles.push(h('figure', { class: 'dvi-explain-tile' }, [thumb, h('figcaption', { text: `#${s.index}` })]));
    for (let k = 0; k < K; k++) {
      tiles.push(h('figure', { class: 'dvi-explain-tile' }, [
        weightCanvas(maps[k], hgt, wid, lim),
        h('figcaption', { text: `${this.panel.className(s.classes[k])}${k === 0 ? ' (pred.)' : ''}` }),
      ]));
    }
    const f = s.fidelity || {};
    const fid = h('div', { class: 'dvi-explain-fidelity', text: `fidelity: R² ${fmt(f.r2)}, agreement ${Math.round(100 * (f.agreement ?? 0))} % on ${s.predictions.data.length} neighbours`, title: 'weighted R² of the student on the model\'s centred logits, and the share of neighbours whose class it gets right' });
    const legend = weightLegend(lim);
    this.out.replaceChildren(h('div', { class: 'dvi-explain-tiles' }, tiles), fid, legend);
    this.drawNeighbors();
  }

  /**
   * The sample's input as a canvas, or null: the picture the surrogate's payload carries (the
   * input mapped from the model's value range, as the path's pictures are: it is drawn at once
   * and kept by a saved page), else its thumbnail (fetched from the kernel and cached: thumbs.js).
   */
  picture(s) {
    const img = s.image;
    const pic = img && img.shape ? pictureRGBA({ data: img.data, shape: [1, ...img.shape] }, 0) : null;
    if (pic) {
      const c = h('canvas', { class: 'dvi-explain-weights dvi-explain-input', width: pic.w, height: pic.h, 'data-sample': String(s.index) });
      c.getContext('2d').putImageData(new ImageData(pic.rgba, pic.w, pic.h), 0, 0);
      return c;
    }
    const thumbs = thumbsOf(this.view);
    if (!thumbs.available) return null;
    const c = h('canvas', { class: 'dvi-explain-weights dvi-explain-input', width: 1, height: 1 });
    thumbs.draw(c, s.index).catch(() => c.closest('figure')?.remove()); // no picture: no black square
    return c;
  }

  drawNeighbors() {
    const s = this.surrogate;
    const on = s && this.showNb.checked && s.epoch === this.panel.epoch;
    this.panel.overlay.setNeighbors(on ? { positions: s.positions.data, predictions: s.predictions.data, proximity: s.proximity.data } : null);
  }

  update(reason) {
    if (reason === 'epoch' && this.surrogate) this.drawNeighbors();
  }

  destroy() {
    this.ls.dispose();
  }
}
