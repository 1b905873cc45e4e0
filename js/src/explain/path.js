// The Path section: a what-if path (a perturbation family over a strength range) or an adversarial
// path (adversarial.js's controls) of the panel's sample, drawn over the landscape by overlay.js,
// coloured by the prediction; a strength slider along it and the first flip. The drawn path is the
// synced trait explain_path (set by the kernel for a request, or by w.what_if() in Python); it
// follows the epoch: one request in flight at a time, the latest wish sent when it returns.
import { h, listeners } from '../dom.js';
import { decodeTree } from '../codecs.js';
import { markColor } from '../marks.js';
import { AttackControls } from './adversarial.js';
import { ATTACKS, flipSentence, kindLabel, pictureRGBA, strengthText, stripIndices, unitText } from './format.js';

/** A path request unanswered this long fails, and no longer blocks the next one (ms). */
const PATH_TIMEOUT_MS = 20000;
const TRAIT = 'explain_path';
/** Perturbed inputs shown in the strip under a path, at most. */
export const STRIP_MAX = 12;

export class PathTool {
  constructor(panel) {
    this.panel = panel;
    this.view = panel.view;
    this.ls = listeners();
    this.path = null; // the drawn path (decoded trait) and its current strength index
    this.busy = false; // a path request is out
    this.again = null; // ... and this one waits for it
    const num = (attrs) => h('input', { type: 'number', class: 'dvi-explain-num', ...attrs });
    const label = (el, text, title) => h('label', { class: 'dvi-explain-label', title }, [h('span', { text }), el]);
    this.kind = h('select', { class: 'dvi-explain-kind', 'aria-label': 'perturbation family' });
    this.start = num({ step: 'any', 'aria-label': 'first strength', title: 'first strength' });
    this.stop = num({ step: 'any', 'aria-label': 'last strength', title: 'last strength' });
    this.unit = h('span', { class: 'dvi-explain-unit' });
    this.range = h('div', { class: 'dvi-explain-row' }, [label(this.start, 'from'), label(this.stop, 'to'), this.unit]);
    this.attack = new AttackControls(panel);
    this.row = num({ step: 'any', placeholder: 'centre', 'aria-label': 'patch centre row' });
    this.col = num({ step: 'any', placeholder: 'centre', 'aria-label': 'patch centre column' });
    this.center = h('div', { class: 'dvi-explain-row', title: 'centre of the occlusion patch, pixels (empty: the image centre)' }, [
      h('span', { text: 'patch at' }), label(this.row, 'row'), label(this.col, 'column')]);
    this.showBtn = h('button', { type: 'button', class: 'dvi-explain-show', text: 'Show path' });
    this.slider = h('input', { type: 'range', class: 'dvi-explain-slider', min: '0', max: '0', value: '0', 'aria-label': 'strength along the path' });
    this.current = h('div', { class: 'dvi-explain-current' });
    this.flip = h('div', { class: 'dvi-explain-flip' });
    this.note = h('div', { class: 'dvi-explain-note' });
    this.strip = h('div', { class: 'dvi-explain-strip', role: 'list', 'aria-label': 'the perturbed input along the path' });
    this.section = h('details', { class: 'dvi-explain-section dvi-explain-path', open: true }, [
      h('summary', { text: 'What-if path' }),
      h('div', { class: 'dvi-explain-ctl' }, [
        h('div', { class: 'dvi-explain-row' }, [label(this.kind, 'perturbation', 'how the input is changed along the path')]),
        this.range, this.attack.el, this.center,
        h('div', { class: 'dvi-explain-row' }, [this.showBtn]),
      ]),
      this.slider, this.current, this.flip, this.strip, this.note,
    ]);
    this.syncKindControls();
    this.setPathControls(false);
    const ls = this.ls;
    ls.add(this.kind, 'change', () => {
      this.fillRange();
      this.syncKindControls();
      if (this.path) this.ask(this.request());
    });
    for (const el of [this.start, this.stop, this.row, this.col, ...this.attack.inputs]) {
      ls.add(el, 'change', () => this.path && this.ask(this.request()));
    }
    ls.add(this.showBtn, 'click', () => this.ask(this.request()));
    ls.add(this.slider, 'input', () => this.setCurrent(Number(this.slider.value)));
    ls.model(this.view.model, `change:${TRAIT}`, () => this.shown());
  }

  get kinds() {
    return this.panel.kinds;
  }

  enable(on) {
    this.showBtn.disabled = !on;
  }

  setPathControls(on) {
    this.slider.style.display = on ? '' : 'none';
    this.section.classList.toggle('dvi-explain-empty', !on);
  }

  syncKindControls() {
    const k = this.kind.value;
    const attack = ATTACKS.has(k);
    this.range.style.display = attack || !k ? 'none' : '';
    this.attack.show(attack, k);
    this.center.style.display = k === 'occlude' ? '' : 'none';
    const info = this.kinds?.[k];
    this.unit.textContent = info ? unitText(info.unit).trim() || info.unit : '';
    this.kind.title = info?.description || '';
  }

  fillRange() {
    const info = this.kinds?.[this.kind.value];
    if (!info || ATTACKS.has(this.kind.value)) return;
    this.start.value = String(info.default[0]);
    this.stop.value = String(info.default[1]);
  }

  setKinds(kinds) {
    const names = Object.keys(kinds);
    const prev = this.kind.value;
    this.kind.replaceChildren(...names.map((n) => h('option', { value: n, text: kindLabel(n), title: kinds[n].description })));
    this.kind.value = names.includes(prev) ? prev : names[0];
    this.fillRange();
    if (this.path) this.adopt(this.path);
    this.syncKindControls();
  }

  /** The path request of the controls, for the panel's sample. */
  request() {
    const kind = this.kind.value;
    const req = { index: this.panel.sample, kind };
    if (ATTACKS.has(kind)) return { ...req, ...this.attack.request(kind) };
    const info = this.kinds?.[kind];
    const start = this.start.value === '' ? info?.default[0] : Number(this.start.value);
    const stop = this.stop.value === '' ? info?.default[1] : Number(this.stop.value);
    Object.assign(req, { start, stop, steps: info?.steps ?? 32 });
    if (kind === 'occlude' && this.row.value !== '' && this.col.value !== '') {
      req.center = [Number(this.row.value), Number(this.col.value)];
    }
    return req;
  }

  /** Ask for a path at the shown epoch (coalesced while one is out); the kernel sets explain_path. */
  async ask(req) {
    if (req.index == null || !this.panel.kernel.available) return;
    if (this.busy) {
      this.again = req;
      return;
    }
    this.busy = true;
    this.again = null;
    const t0 = performance.now();
    const reply = await this.panel.ask('path', { epoch: this.panel.epoch, ...req }, {
      status: `computing the path at epoch ${this.panel.epoch}…`, timeoutMs: PATH_TIMEOUT_MS, reveal: req.follow ? null : this.strip });
    this.busy = false;
    if (reply) {
      const ds = this.view.el.dataset;
      ds.pathComputeMs = String(reply.compute_ms ?? '');
      // request sent -> trait drawn (it arrives before the reply) and the next frame begun
      requestAnimationFrame(() => {
        ds.pathRoundTripMs = (performance.now() - t0).toFixed(1);
        ds.pathRoundTrips = String(Number(ds.pathRoundTrips || 0) + 1);
      });
    } else if (!this.again) return;
    if (this.again) this.ask(this.again);
    else if (this.path && this.path.epoch !== this.panel.epoch) this.follow();
  }

  /** Ask for the drawn path again at the shown epoch. */
  follow() {
    const r = this.path?.request;
    if (!r) return;
    const req = { index: r.index, kind: r.kind, target: r.target, steps: r.steps, center: r.center };
    if (r.eps != null) req.eps = r.eps;
    if (r.strengths) req.strengths = r.strengths;
    this.ask({ ...req, follow: true }); // the kernel answers from the drawn path when it is this one already
  }

  /** Show the controls of a drawn path (one drawn from Python, or by another view). */
  adopt(p) {
    const r = p.request || {};
    if (this.kinds?.[p.kind]) this.kind.value = p.kind;
    if (ATTACKS.has(p.kind)) this.attack.adopt(r);
    else {
      const s = p.strengths.data;
      this.start.value = String(s[0]);
      this.stop.value = String(s[s.length - 1]);
    }
    this.syncKindControls();
  }

  /** explain_path changed (or the panel was built): draw it, or clear. */
  shown() {
    const raw = this.view.model.get(TRAIT);
    if (!raw) {
      this.clear();
      return;
    }
    const p = decodeTree(raw);
    const S = p.predictions.data.length;
    const prev = this.path;
    const keep = prev && prev.index === p.index && prev.kind === p.kind ? prev.current : -1;
    const flipAt = p.first_flip_index;
    p.current = keep >= 0 && keep < S ? keep : flipAt >= 0 ? flipAt : S - 1;
    this.path = p;
    if (this.panel.sample !== p.index) {
      this.panel.sample = p.index;
      this.panel.syncSample();
    }
    this.adopt(p);
    this.slider.max = String(S - 1);
    this.slider.value = String(p.current);
    this.setPathControls(true);
    this.describe();
    this.draw();
    const ds = this.view.el.dataset;
    ds.explainPaths = String(Number(ds.explainPaths || 0) + 1);
    if (p.epoch !== this.panel.epoch && !this.busy) this.follow();
  }

  strengthText(k) {
    const p = this.path;
    return strengthText(p.kind, p.unit, p.strengths.data[k]);
  }

  describe() {
    const p = this.path;
    const name = (c) => this.panel.className(c);
    this.flip.textContent = flipSentence(p, name);
    this.flip.classList.toggle('dvi-explain-flipped', p.first_flip_index >= 0);
    const notes = [];
    if (!Number.isFinite(p.positions.data[0])) notes.push('no projector: positions are unknown, nothing is drawn');
    this.note.textContent = notes.join(' · ');
    this.drawStrip();
    this.describeCurrent();
  }

  label(k) {
    const p = this.path;
    const what = ATTACKS.has(p.kind) ? p.kind.toUpperCase() : p.kind.replace('_', ' ');
    return `${what} ${this.strengthText(k)}: ${this.panel.className(p.predictions.data[k])} (${Math.round(100 * p.confidence.data[k])} %)`;
  }

  /** The perturbed input at path point k as a canvas (null when the path has no pictures). */
  picture(k) {
    const pic = pictureRGBA(this.path?.images, k);
    if (!pic) return null;
    const c = h('canvas', { class: 'dvi-explain-pic', width: pic.w, height: pic.h, 'data-point': String(k) });
    c.getContext('2d').putImageData(new ImageData(pic.rgba, pic.w, pic.h), 0, 0);
    return c;
  }

  /** The strip of perturbed inputs along the path: the first, the first flip, the last and evenly
   * spaced ones between; a click moves the slider there. */
  drawStrip() {
    const p = this.path;
    if (!p || !p.images) {
      this.strip.replaceChildren();
      return;
    }
    const S = p.predictions.data.length;
    const palette = this.view.model.get('palette');
    const items = stripIndices(S, STRIP_MAX, [p.first_flip_index]).map((k) => {
      const c = p.predictions.data[k];
      const fig = h('figure', {
        class: `dvi-explain-frame${k === p.current ? ' dvi-on' : ''}${k === p.first_flip_index ? ' dvi-explain-flipframe' : ''}`,
        role: 'listitem', 'data-point': String(k), title: this.label(k),
        style: `border-color:${markColor(palette[c] || '#000000')}`,
      }, [this.picture(k), h('figcaption', { text: this.strengthText(k) })]);
      fig.addEventListener('click', () => {
        this.slider.value = String(k);
        this.setCurrent(k);
      });
      return fig;
    });
    this.strip.replaceChildren(...items);
  }

  describeCurrent() {
    const p = this.path;
    const k = p.current;
    const c = p.predictions.data[k];
    this.current.textContent = `${this.strengthText(k)} → ${this.panel.className(c)} (${Math.round(100 * p.confidence.data[k])} %)`;
    this.current.style.borderLeftColor = markColor(this.view.model.get('palette')[c] || '#000000');
  }

  setCurrent(k) {
    if (!this.path) return;
    this.path.current = k;
    this.describeCurrent();
    for (const f of this.strip.children) f.classList.toggle('dvi-on', Number(f.dataset.point) === k);
    this.draw();
  }

  draw() {
    const p = this.path;
    this.panel.overlay.setPath(p ? {
      positions: p.positions.data,
      predictions: p.predictions.data,
      current: p.current,
      firstFlip: p.first_flip_index,
      flipText: p.first_flip_index >= 0 ? this.strengthText(p.first_flip_index) : '',
      label: (k) => this.label(k),
      picture: (k) => this.picture(k),
      stale: p.epoch !== this.panel.epoch,
    } : null);
  }

  clear() {
    this.path = null;
    this.again = null;
    this.flip.textContent = '';
    this.current.textContent = '';
    this.note.textContent = '';
    this.strip.replaceChildren();
    this.setPathControls(false);
    this.draw();
  }

  sampleChanged(i) {
    if (!this.path || this.path.index === i) return;
    // a path is shown: show the same path of the new sample
    this.ask({ ...this.request(), index: i });
  }

  update(reason) {
    if (reason !== 'epoch' || !this.path || this.path.epoch === this.panel.epoch) return;
    this.draw(); // faded until the new one arrives
    if (!this.busy) this.follow();
  }

  destroy() {
    this.ls.dispose();
  }
}
