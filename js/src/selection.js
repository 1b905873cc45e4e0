// The selection panel: the selected samples' images (a page at a time, sortable, each labelled
// label → prediction), their class composition, and for runs without image inputs the metadata
// rows instead. Thumbnails come from the kernel (thumbs.js); with a fitted model a toggle overlays
// Grad-CAM heat maps (inspector.explain({ what: 'gradcam' })) on the page's thumbnails.
import { typed } from './codecs.js';
import { columnText } from './columns.js';
import { h, listeners } from './dom.js';
import { kernelOf } from './kernel.js';
import { registerPanel } from './panels.js';
import { ReviewQueue } from './review.js';
import { thumbsOf } from './thumbs.js';
import { classColor, className, heat, note, pct, sampleAt, swatch } from './ui.js';

/** Samples per page of the grid. */
export const PAGE = 100;
export const SORTS = [
  ['index', 'index'],
  ['confidence', 'confidence ↑'],
  ['-confidence', 'confidence ↓'],
  ['label', 'label'],
  ['prediction', 'prediction'],
  ['wrong', 'misclassified first'],
];
const BUILT_IN = new Set(['label', 'prediction', 'correct', 'confidence', 'changed']);

class Selection {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.kernel = kernelOf(view);
    this.thumbs = thumbsOf(view);
    this.sort = 'index';
    this.page = 0;
    this.gradcam = false;
    this.cams = new Map(); // `${epoch}:${i}` -> Uint8Array (H*W)
    this.status = h('span', { class: 'dvi-sel-count' });
    this.sortSel = h('select', { class: 'dvi-sel-sort', title: 'order of the grid', 'aria-label': 'sort the selection by' },
      SORTS.map(([v, t]) => h('option', { value: v, text: t })));
    this.prev = h('button', { type: 'button', class: 'dvi-sel-prev', text: '◀', title: 'previous page' });
    this.next = h('button', { type: 'button', class: 'dvi-sel-next', text: '▶', title: 'next page' });
    this.pageLabel = h('span', { class: 'dvi-note' });
    this.camBtn = h('button', { type: 'button', class: 'dvi-sel-gradcam', text: 'Grad-CAM', title: 'overlay Grad-CAM heat maps (where the model looks for its prediction) on this page', 'aria-pressed': 'false' });
    this.copyBtn = h('button', { type: 'button', class: 'dvi-sel-copy', text: 'copy indices', title: 'copy the selected indices as a Python list ([3, 7, …])' });
    this.queueBtn = h('button', { type: 'button', class: 'dvi-sel-queue', text: 'review queue', title: 'the most likely label issues, to mark as mislabeled, correct or unsure (saved in the run folder)', 'aria-pressed': 'false' });
    this.head = h('div', { class: 'dvi-row2' }, [this.status, this.sortSel, this.prev, this.pageLabel, this.next, this.camBtn, this.copyBtn, this.queueBtn]);
    this.comp = h('div', { class: 'dvi-comp' });
    this.grid = h('div', { class: 'dvi-grid' });
    this.msg = h('div');
    this.queueBox = h('div', { class: 'dvi-review-box' });
    this.queueBox.style.display = 'none';
    body.append(this.head, this.queueBox, this.comp, this.msg, this.grid);
    this.queue = null;
    this.ls.add(this.queueBtn, 'click', () => this.toggleQueue());
    this.ls.add(this.sortSel, 'change', () => {
      this.sort = this.sortSel.value;
      this.page = 0;
      this.render();
    });
    this.ls.add(this.copyBtn, 'click', () => view.chips.copySelection());
    this.ls.add(this.prev, 'click', () => this.turn(-1));
    this.ls.add(this.next, 'click', () => this.turn(1));
    this.ls.add(this.camBtn, 'click', () => {
      this.gradcam = !this.gradcam;
      this.camBtn.classList.toggle('dvi-on', this.gradcam);
      this.camBtn.setAttribute('aria-pressed', String(this.gradcam));
      this.render();
    });
    this.ls.model(view.model, 'change:focus_sample', () => this.markFocus());
    this.render();
  }

  get caps() {
    return this.view.model.get('capabilities') || {};
  }

  /** Show the review queue instead of the selection grid (or back). */
  toggleQueue(on = !this.queueOn) {
    this.queueOn = on;
    this.queueBtn.classList.toggle('dvi-on', on);
    this.queueBtn.setAttribute('aria-pressed', String(on));
    this.queueBox.style.display = on ? '' : 'none';
    for (const el of [this.comp, this.msg, this.grid, this.sortSel, this.copyBtn, this.camBtn, this.prev, this.next, this.pageLabel, this.status]) el.style.display = on ? 'none' : '';
    if (on) {
      if (!this.queue) this.queue = new ReviewQueue(this.view, this.queueBox);
      this.queue.load().then(() => this.queue.list.focus({ preventScroll: true }));
    } else {
      this.render();
    }
  }

  turn(step) {
    this.page += step;
    this.render();
  }

  /** The selection in the chosen order at the shown epoch. */
  ordered() {
    const view = this.view;
    const ids = Array.from(view.selection());
    const pos = view.pos;
    const { N, labels, predictions, confidence } = view.d;
    const conf = (i) => confidence.data[pos * N + i];
    const pred = (i) => predictions[pos * N + i];
    const by = {
      index: (a, b) => a - b,
      confidence: (a, b) => conf(a) - conf(b) || a - b,
      '-confidence': (a, b) => conf(b) - conf(a) || a - b,
      label: (a, b) => labels[a] - labels[b] || a - b,
      prediction: (a, b) => pred(a) - pred(b) || a - b,
      wrong: (a, b) => (pred(b) !== labels[b]) - (pred(a) !== labels[a]) || a - b,
    }[this.sort];
    return ids.sort(by);
  }

  render() {
    const view = this.view;
    this.renderedEpoch = view.model.get('epoch');
    const ids = this.ordered();
    const n = ids.length;
    const pages = Math.max(1, Math.ceil(n / PAGE));
    this.page = Math.max(0, Math.min(pages - 1, this.page));
    this.status.textContent = n ? `${n} selected` : 'nothing selected';
    this.pageLabel.textContent = n > PAGE ? `${this.page * PAGE + 1}–${Math.min(n, (this.page + 1) * PAGE)} of ${n}` : '';
    this.prev.style.display = this.next.style.display = n > PAGE ? '' : 'none';
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
    this.sortSel.disabled = n === 0;
    this.copyBtn.disabled = n === 0;
    this.camBtn.style.display = this.caps.explain && this.kernel.available ? '' : 'none';
    this.queueBtn.style.display = this.caps.review && this.kernel.available ? '' : 'none';
    this.renderComposition(ids);
    this.msg.replaceChildren();
    if (!n) {
      this.grid.replaceChildren();
      this.msg.replaceChildren(note('lasso, box, click a point, a confusion-matrix cell or an event to select samples'));
      return;
    }
    const pageIds = ids.slice(this.page * PAGE, (this.page + 1) * PAGE);
    if (this.caps.images) this.renderGrid(pageIds);
    else this.renderRows(pageIds);
  }

  renderComposition(ids) {
    const view = this.view;
    const C = view.model.get('class_names').length;
    const lab = new Array(C).fill(0);
    const pred = new Array(C).fill(0);
    const right = new Array(C).fill(0);
    for (const i of ids) {
      const s = sampleAt(view, i);
      lab[s.label] += 1;
      pred[s.prediction] += 1;
      if (s.label === s.prediction) right[s.label] += 1;
    }
    const classes = [...Array(C).keys()].filter((c) => lab[c] || pred[c]).sort((a, b) => lab[b] - lab[a] || pred[b] - pred[a] || a - b);
    const max = Math.max(1, ...lab, ...pred);
    const bar = (count, part, color, title) => {
      const track = h('span', { class: 'dvi-comp-bar', title });
      const all = h('span');
      all.style.cssText = `width:${(100 * count) / max}%;background:${color};opacity:.45`;
      const ok = h('span');
      ok.style.cssText = `width:${(100 * part) / max}%;background:${color}`;
      track.append(all, ok);
      return track;
    };
    const cells = [];
    if (classes.length) cells.push(h('span', { class: 'dvi-note', text: 'class' }), h('span', { class: 'dvi-note', text: 'given label (dark: predicted right)' }), h('span', { class: 'dvi-note', text: 'predicted' }));
    for (const c of classes) {
      cells.push(
        h('span', { class: 'dvi-comp-name', 'data-class': String(c) }, [swatch(view, c), h('span', { text: className(view, c) })]),
        bar(lab[c], right[c], classColor(view, c), `${lab[c]} labelled ${className(view, c)}, ${right[c]} of them predicted right`),
        bar(pred[c], pred[c], classColor(view, c), `${pred[c]} predicted ${className(view, c)}`),
      );
    }
    this.comp.replaceChildren(...cells);
    this.comp.dataset.labels = JSON.stringify(lab);
    this.comp.dataset.predictions = JSON.stringify(pred);
  }

  renderGrid(ids) {
    const view = this.view;
    const focus = view.model.get('focus_sample');
    const images = this.thumbs.available; // no kernel (a saved page): captions only, no blank squares
    const tiles = ids.map((i) => {
      const s = sampleAt(view, i);
      const cv = h('canvas', { width: 1, height: 1 });
      const wrong = s.label !== s.prediction;
      const tile = h('div', {
        class: `dvi-tile${wrong ? ' dvi-wrong' : ''}${i === focus ? ' dvi-focus' : ''}`,
        'data-sample': String(i),
        title: `#${i} (${s.split}) label ${className(view, s.label)} → predicted ${className(view, s.prediction)}, confidence ${pct(s.confidence)}; click: its history`,
      }, [...(images ? [cv] : []), h('span', { text: `${className(view, s.label)} → ${className(view, s.prediction)}` })]);
      tile.addEventListener('click', () => view.setSave('focus_sample', i));
      return { i, cv, tile };
    });
    this.grid.replaceChildren(...tiles.map((t) => t.tile));
    if (!images) return; // captions only
    const epoch = view.model.get('epoch');
    const want = this.gradcam ? this.loadCams(ids, epoch) : Promise.resolve();
    const key = ids.join(',');
    this.shown = key;
    Promise.all([this.thumbs.load(ids), want]).then(() => {
      if (this.shown !== key) return;
      for (const t of tiles) {
        this.thumbs.drawNow(t.cv, t.i);
        if (this.gradcam) this.overlay(t.cv, this.cams.get(`${epoch}:${t.i}`));
      }
    }).catch((err) => this.msg.replaceChildren(note(String(err.message || err), 'dvi-error')));
  }

  /** Fetch the Grad-CAM maps of `ids` at `epoch` not cached yet. */
  async loadCams(ids, epoch) {
    const missing = ids.filter((i) => !this.cams.has(`${epoch}:${i}`));
    if (!missing.length) return;
    this.msg.replaceChildren(note('computing Grad-CAM…'));
    const { msg, buffers } = await this.kernel.ask('gradcam', { epoch }, [Uint32Array.from(missing)]);
    const [n, H, W] = msg.shape;
    const maps = typed(Uint8Array, buffers[0]);
    for (let k = 0; k < n; k++) this.cams.set(`${epoch}:${missing[k]}`, Object.assign(maps.slice(k * H * W, (k + 1) * H * W), { H, W }));
    this.msg.replaceChildren(note(`Grad-CAM at epoch ${epoch}, layer ${msg.layer}: red = where the evidence for the prediction lies`));
  }

  /** Draw a heat map over a thumbnail canvas (alpha grows with the map's value). */
  overlay(cv, map) {
    if (!map) return;
    const { H, W } = map;
    const img = new ImageData(W, H);
    for (let p = 0; p < H * W; p++) {
      const t = map[p] / 255;
      const [r, g, b] = heat(t);
      img.data.set([r, g, b, Math.round(200 * t)], 4 * p);
    }
    const tmp = document.createElement('canvas');
    tmp.width = W;
    tmp.height = H;
    tmp.getContext('2d').putImageData(img, 0, 0);
    cv.getContext('2d').drawImage(tmp, 0, 0, cv.width, cv.height);
    cv.dataset.gradcam = '1';
  }

  renderRows(ids) {
    const view = this.view;
    const pos = view.pos;
    const meta = [...view.columns.values()].filter((c) => !BUILT_IN.has(c.name));
    const head = h('tr', {}, ['#', 'split', 'label', 'prediction', 'confidence', ...meta.map((c) => c.title)].map((t) => h('th', { text: t })));
    const rows = ids.map((i) => {
      const s = sampleAt(view, i);
      const tr = h('tr', { 'data-sample': String(i) }, [
        String(i), s.split, className(view, s.label), className(view, s.prediction), pct(s.confidence),
        ...meta.map((c) => columnText(c, i, pos)),
      ].map((t) => h('td', { text: t })));
      tr.addEventListener('click', () => view.setSave('focus_sample', i));
      return tr;
    });
    this.grid.replaceChildren(h('div', { class: 'dvi-rows' }, [h('table', {}, [h('thead', {}, [head]), h('tbody', {}, rows)])]));
    this.grid.style.display = 'block';
  }

  markFocus() {
    const f = this.view.model.get('focus_sample');
    for (const t of this.grid.querySelectorAll('.dvi-tile')) t.classList.toggle('dvi-focus', Number(t.dataset.sample) === f);
  }

  update(reason) {
    if (reason === 'selection') this.page = 0;
    // 'epoch' comes after every draw: re-render only when the epoch really changed
    const newEpoch = reason === 'epoch' && this.renderedEpoch !== this.view.model.get('epoch');
    if (this.queueOn) {
      if (newEpoch) {
        this.renderedEpoch = this.view.model.get('epoch');
        this.queue.load(); // issues up to the shown epoch
      }
      return;
    }
    if (reason === 'selection' || newEpoch) this.render();
  }

  destroy() {
    this.queue?.destroy();
    this.ls.dispose();
  }
}

registerPanel('selection', { title: 'Selection', area: 'below', create: (view, body) => new Selection(view, body) });
