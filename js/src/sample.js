// One sample's history (the focus_sample trait: a clicked point, thumbnail, neighbour or event):
// its image, its prediction and confidence over all epochs (a strip: colour = predicted class,
// height = confidence, ✗ = misclassified; click an epoch to go there), its trail in the view, and
// its nearest neighbours at the shown epoch in the representation space next to those in 2-D
// (kernel: explore.neighbors), flagging the ones the 2-D view separates.
import { decodeIndices, encodeArray } from './codecs.js';
import { h, listeners, svg } from './dom.js';
import { kernelOf } from './kernel.js';
import { registerPanel } from './panels.js';
import { thumbsOf } from './thumbs.js';
import { className, classColor, note, num, pct, sampleAt, swatch } from './ui.js';
import { nearestLocal } from './inspect.js';

/** Neighbours listed per space. */
export const K = 8;

/**
 * Epoch positions to label under a strip of `T` cells `cw` px wide: every step-th from the first,
 * with the last always labelled, no two labels closer than their width (`labelPx`, the widest
 * epoch number).
 */
export function epochTicks(T, cw, labelPx) {
  const step = Math.max(1, Math.ceil((labelPx + 4) / cw));
  const out = [];
  for (let t = 0; t < T; t += step) out.push(t);
  if (out[out.length - 1] !== T - 1) {
    if (out.length > 1 && (T - 1 - out[out.length - 1]) * cw < labelPx + 4) out.pop();
    out.push(T - 1);
  }
  return out;
}

class Sample {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.kernel = kernelOf(view);
    this.thumbs = thumbsOf(view);
    this.body = body;
    this.trailOn = true;
    this.addedTrail = null; // the sample this panel added to trail_indices
    this.seq = 0;
    this.head = h('div', { class: 'dvi-sample-head' });
    this.strip = h('div');
    this.nn = h('div');
    this.nnStatus = h('div', { class: 'dvi-note' });
    body.append(this.head, this.strip, this.nn, this.nnStatus);
    this.ls.model(view.model, 'change:focus_sample', () => this.render());
    // during playback the neighbours wait (each epoch's representations are read in the kernel)
    this.ls.model(view.model, 'change:playing', () => {
      if (!view.model.get('playing') && this.i >= 0 && this.nnEpoch !== view.model.get('epoch')) this.renderNeighbors();
    });
    this.render();
  }

  get i() {
    const i = this.view.model.get('focus_sample');
    return i === undefined || i === null || i < 0 || i >= this.view.d.N ? -1 : i;
  }

  render() {
    const view = this.view;
    const i = this.i;
    this.syncTrail(i);
    if (i < 0) {
      this.head.replaceChildren(note('click a point, a thumbnail or a neighbour to see its history'));
      this.strip.replaceChildren();
      this.nn.replaceChildren();
      return;
    }
    const s = sampleAt(view, i);
    const cv = h('canvas', { width: 1, height: 1 });
    const trail = h('input', { type: 'checkbox', class: 'dvi-sample-trail' });
    trail.checked = this.trailOn;
    trail.addEventListener('change', () => {
      this.trailOn = trail.checked;
      this.syncTrail(this.i);
    });
    const close = h('button', { type: 'button', text: 'close', title: 'close the history (focus_sample = -1)' });
    close.addEventListener('click', () => view.setSave('focus_sample', -1));
    this.head.replaceChildren(...[ // (replaceChildren writes a null child as the text "null")
      this.thumbs.available ? cv : null,
      h('div', {}, [
        h('div', {}, [h('b', { text: `#${i}` }), ` (${s.split}) · label `, swatch(view, s.label), ` ${className(view, s.label)}`]),
        h('div', { class: 'dvi-sample-now' }),
        h('div', { class: 'dvi-flips-wrap' }),
        h('div', { class: 'dvi-row2' }, [h('label', {}, [trail, ' trail in the view']), close]),
      ]),
    ].filter(Boolean));
    if (this.thumbs.available) this.thumbs.draw(cv, i, () => this.i === i).catch(() => {});
    this.renderStrip();
    this.renderNeighbors();
  }

  /** Keep the focused sample's path drawn (trail_indices) while the box is ticked; a trail the
   * user set from Python is left alone. */
  syncTrail(i) {
    const view = this.view;
    const cur = decodeIndices(view.model.get('trail_indices'));
    const set = new Set(cur ? Array.from(cur) : []);
    if (this.addedTrail !== null && (this.addedTrail !== i || !this.trailOn)) {
      set.delete(this.addedTrail);
      this.addedTrail = null;
    }
    if (i >= 0 && this.trailOn && !set.has(i)) {
      set.add(i);
      this.addedTrail = i;
    }
    const next = Uint32Array.from([...set].sort((a, b) => a - b));
    const same = cur ? cur.length === next.length && cur.every((v, k) => v === next[k]) : next.length === 0;
    if (!same) view.setSave('trail_indices', next.length ? encodeArray(next) : null);
  }

  renderStrip() {
    const view = this.view;
    const i = this.i;
    if (i < 0) return;
    const { T } = view.d;
    const epochs = view.model.get('epochs');
    const cw = Math.max(6, Math.min(22, Math.floor(340 / T)));
    const H = 34;
    const AXIS = 12; // epoch numbers under the ✗ row
    const root = svg('svg', { class: 'dvi-strip', width: cw * T + 2, height: H + 14 + AXIS, role: 'img', 'aria-label': 'prediction and confidence per epoch' });
    const labelPx = 6 * Math.max(...epochs.map((e) => String(e).length)) + 2;
    for (const t of epochTicks(T, cw, labelPx)) {
      const x = Math.max(labelPx / 2, Math.min(cw * T + 2 - labelPx / 2, 1 + t * cw + cw / 2));
      const label = svg('text', { class: 'dvi-strip-epoch', x, y: H + 14 + AXIS - 2, 'text-anchor': 'middle', 'font-size': 9, fill: '#666', 'data-epoch': epochs[t] });
      label.textContent = String(epochs[t]);
      root.appendChild(label);
    }
    const flips = [];
    let prev = null;
    for (let t = 0; t < T; t++) {
      const s = sampleAt(view, i, t);
      const hgt = Math.max(2, s.confidence * H);
      const cell = svg('rect', { class: 'dvi-epoch-cell', x: 1 + t * cw, y: H - hgt, width: cw - 1, height: hgt, fill: classColor(view, s.prediction), 'data-epoch': epochs[t] });
      cell.appendChild(svg('title', {}, [document.createTextNode(`epoch ${epochs[t]}: ${className(view, s.prediction)} ${pct(s.confidence)}`)]));
      cell.addEventListener('click', () => view.setSave('epoch', epochs[t]));
      root.appendChild(cell);
      if (s.prediction !== s.label) {
        const x = svg('text', { x: 1 + t * cw + cw / 2, y: H + 11, 'text-anchor': 'middle', 'font-size': 9, fill: '#b3261e' });
        x.textContent = '✗';
        root.appendChild(x);
      }
      if (prev !== null && prev !== s.prediction) flips.push({ epoch: epochs[t], from: prev, to: s.prediction });
      prev = s.prediction;
    }
    const pos = view.pos;
    root.appendChild(svg('rect', { class: 'dvi-now', x: 0.5 + pos * cw, y: 0.5, width: cw, height: H + 13, fill: 'none', stroke: '#111', 'stroke-width': 1.5 }));
    this.strip.replaceChildren(root);
    const now = sampleAt(view, i);
    const nowEl = this.head.querySelector('.dvi-sample-now');
    if (nowEl) nowEl.replaceChildren(`epoch ${view.model.get('epoch')}: predicted `, swatch(view, now.prediction), ` ${className(view, now.prediction)} ${pct(now.confidence)}`);
    const flipEl = this.head.querySelector('.dvi-flips-wrap');
    if (flipEl) {
      // one line per change, scrolling past a few (a long history stays the panel's height)
      flipEl.replaceChildren(
        h('div', { class: 'dvi-note', text: flips.length ? `prediction changed ${flips.length} time${flips.length === 1 ? '' : 's'}:` : 'prediction never changed' }),
        ...(flips.length ? [h('ul', { class: 'dvi-flips' }, flips.map((f) => {
          const li = h('li', { 'data-epoch': String(f.epoch), title: `go to epoch ${f.epoch}` }, [
            h('span', { class: 'dvi-flip-epoch', text: `epoch ${f.epoch}: ` }),
            swatch(view, f.from), `${className(view, f.from)} → `, swatch(view, f.to), className(view, f.to),
          ]);
          li.addEventListener('click', () => view.setSave('epoch', f.epoch));
          return li;
        }))] : []),
      );
    }
    this.stripPos = pos;
  }

  async renderNeighbors() {
    const view = this.view;
    this.nnStatus.textContent = '';
    const i = this.i;
    const seq = (this.seq += 1);
    const epoch = view.model.get('epoch');
    this.nnEpoch = epoch;
    if (!this.kernel.available) {
      const [x, y] = [view.d.coords[2 * (view.pos * view.d.N + i)], view.d.coords[2 * (view.pos * view.d.N + i) + 1]];
      const ids = nearestLocal(view, x, y, view.pos, K + 1).filter((j) => j !== i).slice(0, K);
      // a saved page: the 2-D neighbours (computed here); the representation space's need the model
      this.nn.replaceChildren(h('h4', { text: `nearest in 2-D (epoch ${epoch})` }), this.list(ids.map((j) => ({ sample: j }))));
      return;
    }
    try {
      const { msg } = await this.kernel.ask('sample', { sample: i, epoch, k: K });
      if (seq !== this.seq) return;
      const r = msg.rows;
      const rows = (space) => r.space.map((s, k) => (s === space ? { sample: r.sample[k], distance: r.distance[k], separated: r.separated[k], rank2d: r.rank_2d[k], spread: r.spread_2d?.[k] } : null)).filter(Boolean);
      const high = rows('high');
      const cols = [h('div', {}, [h('h4', { text: `nearest in 2-D (epoch ${msg.epoch})` }), this.list(rows('2d'), '2d')])];
      if (high.length) cols.unshift(h('div', {}, [h('h4', { text: `nearest in representation space (epoch ${msg.epoch})` }), this.list(high, 'high')]));
      else cols.push(note('high-dimensional neighbours need the fitted model (DVI(...).visualization())'));
      this.nn.replaceChildren(h('div', { class: 'dvi-nn' }, cols));
      this.nn.dataset.epoch = String(msg.epoch);
    } catch (err) {
      if (seq === this.seq) this.nn.replaceChildren(note(String(err.message || err), 'dvi-error'));
    }
  }

  list(rows, space = '2d') {
    const view = this.view;
    return h('div', { class: `dvi-nlist dvi-nn-${space}` }, rows.map((r) => {
      const s = sampleAt(view, r.sample);
      const cv = h('canvas', { width: 1, height: 1 });
      const flag = r.separated === true
        ? h('span', { class: 'dvi-flag', text: space === 'high' ? ' ⚠' : ' ◦', title: space === 'high' ? `the 2-D view puts it far beyond this sample's 2-D neighbourhood: ${num(r.spread, 1)}× the distance to its ${K}th nearest in 2-D (flagged above 3×; rank ${r.rank2d} in 2-D)` : 'not among the high-dimensional neighbours' })
        : null;
      const row = h('div', { class: 'dvi-nrow', 'data-sample': String(r.sample), 'data-separated': String(r.separated === true), title: `#${r.sample}: show its history` }, [
        this.thumbs.available ? cv : null,
        swatch(view, s.label),
        h('span', { text: `#${r.sample} ${className(view, s.label)} → ${className(view, s.prediction)}` }),
        flag,
        h('span', { class: 'dvi-dist', text: r.distance === undefined ? '' : num(r.distance, 2) }),
      ]);
      if (this.thumbs.available) this.thumbs.draw(cv, r.sample).catch(() => {});
      row.addEventListener('click', () => view.setSave('focus_sample', r.sample));
      return row;
    }));
  }

  update(reason) {
    if (reason !== 'epoch' || this.i < 0) return;
    if (this.stripPos !== this.view.pos) this.renderStrip();
    if (this.nnEpoch === this.view.model.get('epoch')) return;
    if (this.view.model.get('playing')) {
      this.nnStatus.textContent = `neighbours of epoch ${this.nnEpoch}: they follow when playback stops`;
    } else this.renderNeighbors();
  }

  destroy() {
    this.ls.dispose();
  }
}

registerPanel('sample', { title: 'Sample history', area: 'below', create: (view, body) => new Sample(view, body) });
