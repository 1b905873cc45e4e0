// The Surrogate section: DeepVID's local linear student of the panel's sample (for its predicted
// class and optionally a second one; dvi_widget/view/explain/surrogate.py): weight images (red
// raises the class's logit), fidelity, and its neighbours as crosses on the plot (overlay.js) at
// the surrogate's epoch. Drawn from the synced trait explain_surrogate.
import { decodeTree } from '../codecs.js';
import { h, listeners } from '../dom.js';
import { thumbsOf } from '../thumbs.js';
import { fmt, weightRGBA } from './format.js';

const TRAIT = 'explain_surrogate';

/** A canvas of one weight map (K, h, w) k, symmetric around 0 at ±lim. */
function weightCanvas(data, k, hgt, wid, lim) {
  const c = h('canvas', { class: 'dvi-explain-weights' });
  c.width = wid;
  c.height = hgt;
  c.getContext('2d').putImageData(new ImageData(weightRGBA(data, k * hgt * wid, hgt * wid, lim), wid, hgt), 0, 0);
  return c;
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
    this.section = h('details', { class: 'dvi-explain-section' }, [
      h('summary', { text: 'Surrogate' }),
      h('div', { class: 'dvi-explain-row' }, [this.second]),
      h('div', { class: 'dvi-explain-row' }, [this.button, h('label', { class: 'dvi-explain-check' }, [this.showNb, 'on plot'])]),
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
    return this.panel.ask('surrogate', { index: i, epoch: this.panel.epoch, classes }, { status: 'fitting the local surrogate…' });
  }

  /** explain_surrogate changed (or the panel was built): its weights, fidelity and neighbours. */
  shown() {
    const raw = this.view.model.get(TRAIT);
    this.surrogate = raw ? decodeTree(raw) : null;
    const s = this.surrogate;
    if (!s) {
      this.out.replaceChildren();
      this.drawNeighbors();
      return;
    }
    const w = s.weights;
    const [K, hgt, wid] = w.shape;
    let lim = 0;
    for (const v of w.data) lim = Math.max(lim, Math.abs(v));
    const tiles = [];
    const thumb = this.thumbnail(s.index);
    if (thumb) tiles.push(h('figure', { class: 'dvi-explain-tile' }, [thumb, h('figcaption', { text: `#${s.index}` })]));
    for (let k = 0; k < K; k++) {
      tiles.push(h('figure', { class: 'dvi-explain-tile' }, [
        weightCanvas(w.data, k, hgt, wid, lim),
        h('figcaption', { text: `${this.panel.className(s.classes[k])}${k === 0 ? ' (pred.)' : ''}` }),
      ]));
    }
    const f = s.fidelity || {};
    const fid = h('div', { class: 'dvi-explain-fidelity', text: `fidelity: R² ${fmt(f.r2)}, agreement ${Math.round(100 * (f.agreement ?? 0))} % on ${s.predictions.data.length} neighbours`, title: 'weighted R² of the student on the model\'s centred logits, and the share of neighbours whose class it gets right' });
    const legend = h('div', { class: 'dvi-explain-note', text: 'red raises the class\'s logit, blue lowers it' });
    this.out.replaceChildren(h('div', { class: 'dvi-explain-tiles' }, tiles), fid, legend);
    this.drawNeighbors();
  }

  /** The sample's thumbnail (fetched from the kernel and cached: thumbs.js) as a canvas, or null. */
  thumbnail(i) {
    const thumbs = thumbsOf(this.view);
    if (!thumbs.available) return null;
    const c = h('canvas', { class: 'dvi-explain-weights', width: 1, height: 1 });
    thumbs.draw(c, i).catch(() => {});
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
