// The Robustness section: mean softmax per class and the share flipped vs strength, for the
// selection or a class (dvi_widget/view/explain/robustness.py), drawn from the synced trait
// explain_robustness as a small SVG chart.
import { decodeTree, encodeArray } from '../codecs.js';
import { h, listeners, svg } from '../dom.js';
import { markColor } from '../marks.js';
import { ATTACKS, fmt, kindLabel, unitText, visibleClasses } from './format.js';

/** Chart size (SVG units; it is drawn at the column's width) and the mean probability a class
 * needs somewhere to get a line. */
const CHART_W = 360;
const CHART_H = 190;
const CHART_MIN_PROB = 0.05;
const TRAIT = 'explain_robustness';

export class RobustnessTool {
  constructor(panel) {
    this.panel = panel;
    this.view = panel.view;
    this.ls = listeners();
    this.of = h('select', { class: 'dvi-explain-of', 'aria-label': 'robustness of' });
    this.kind = h('select', { class: 'dvi-explain-robkind', 'aria-label': 'robustness perturbation' });
    this.button = h('button', { type: 'button', class: 'dvi-explain-rob', text: 'Curves', disabled: true });
    this.chart = h('div', { class: 'dvi-explain-chart' });
    this.staleNote = h('div', { class: 'dvi-explain-stale', role: 'status' });
    const label = (el, text, title) => h('label', { class: 'dvi-explain-label', title }, [h('span', { text }), el]);
    this.section = h('details', { class: 'dvi-explain-section dvi-explain-robustness', open: true }, [
      h('summary', { text: 'Robustness' }),
      h('div', { class: 'dvi-explain-ctl' }, [
        h('div', { class: 'dvi-explain-row' }, [label(this.of, 'of', 'the samples whose predictions are perturbed')]),
        h('div', { class: 'dvi-explain-row' }, [label(this.kind, 'perturbation'), this.button]),
      ]),
      this.staleNote, this.chart,
    ]);
    this.drawnSelection = null; // the selection (as text) when curves of the selection were drawn
    this.syncOf();
    this.ls.add(this.button, 'click', () => this.ask());
    for (const el of [this.of, this.kind]) this.ls.add(el, 'change', () => this.syncStale());
    this.ls.model(this.view.model, `change:${TRAIT}`, () => this.shown());
  }

  setKinds(kinds) {
    const families = Object.keys(kinds).filter((n) => !ATTACKS.has(n));
    const prev = this.kind.value;
    this.kind.replaceChildren(...families.map((n) => h('option', { value: n, text: kindLabel(n) })));
    if (families.includes(prev)) this.kind.value = prev;
    if (this.drawn && families.includes(this.drawn.kind)) this.kind.value = this.drawn.kind;
    this.button.disabled = !families.length;
    this.syncStale();
  }

  /** The "of" choices: the selection (when there is one) and every class. */
  syncOf() {
    const sel = this.view.selection();
    const prev = this.of.value;
    const opts = [];
    if (sel.length) opts.push(h('option', { value: 'selection', text: `the ${sel.length} selected` }));
    this.view.model.get('class_names').forEach((c, k) => opts.push(h('option', { value: String(k), text: `class ${c}` })));
    this.of.replaceChildren(...opts);
    // a new selection is what the user most likely wants curves of
    if (sel.length) this.of.value = 'selection';
    else if ([...this.of.options].some((o) => o.value === prev)) this.of.value = prev;
    this.syncStale();
  }

  /** Why the drawn curves no longer answer the controls (another selection, class, perturbation
   * or epoch), or '' when they do. */
  staleReason() {
    const r = this.drawn;
    if (!r) return '';
    const why = [];
    if (!this.panel.kernel.available) return r.epoch !== this.panel.epoch ? `they are of epoch ${r.epoch}` : '';
    const of = this.of.value;
    if (of === 'selection') {
      if (!/selected$/.test(r.of) || this.drawnSelection !== String(this.view.selection())) why.push(`the selection changed (now ${this.view.selection().length} selected)`);
    } else if (r.of !== `class ${this.view.model.get('class_names')[Number(of)]}`) why.push(`they are of ${r.of}`);
    if (this.kind.value && r.kind !== this.kind.value) why.push(`they are of ${r.kind.replace('_', ' ')}`);
    if (r.epoch !== this.panel.epoch) why.push(`they are of epoch ${r.epoch}`);
    return why.join('; ');
  }

  /** Mark the chart stale (faded, with the reason and how to update) when its inputs changed. */
  syncStale() {
    const why = this.staleReason();
    this.chart.classList.toggle('dvi-stale', Boolean(why));
    this.staleNote.textContent = why ? `stale: ${why}. Press Curves to update.` : '';
    this.staleNote.style.display = why ? '' : 'none';
    this.chart.dataset.stale = String(Boolean(why));
  }

  ask() {
    const content = { epoch: this.panel.epoch, kind: this.kind.value };
    const buffers = [];
    if (this.of.value === 'selection') {
      buffers.push(encodeArray(this.view.selection()).view);
      this.askedSelection = String(this.view.selection()); // what the curves on their way are of
    } else content.class = Number(this.of.value);
    return this.panel.ask('robustness', content, { buffers, status: 'computing robustness curves…', reveal: this.chart }).then((msg) => {
      if (!msg) this.askedSelection = null; // failed: no curves of it will come
      return msg;
    });
  }

  /** explain_robustness changed (or the panel was built): draw its curves. */
  shown() {
    const raw = this.view.model.get(TRAIT);
    if (!raw) {
      this.drawn = null;
      this.chart.replaceChildren();
      this.section.classList.add('dvi-explain-empty');
      this.syncStale();
      return;
    }
    const r = decodeTree(raw);
    this.drawn = r;
    this.section.classList.remove('dvi-explain-empty');
    if (/selected$/.test(r.of)) this.drawnSelection = this.askedSelection ?? String(this.view.selection());
    this.askedSelection = null;
    // the controls show what the curves are of (curves drawn from Python, or by another view)
    if ([...this.kind.options].some((o) => o.value === r.kind)) this.kind.value = r.kind;
    const k = this.view.model.get('class_names').findIndex((c) => r.of === `class ${c}`);
    if (k >= 0) this.of.value = String(k);
    const s = r.strengths.data;
    const S = s.length;
    const mean = r.mean_probability.data;
    const C = r.mean_probability.shape[1];
    const flipped = r.flipped.data;
    const palette = this.view.model.get('palette');
    const unit = unitText(r.unit ?? this.panel.kinds?.[r.kind]?.unit ?? '');
    const x0 = Math.min(s[0], s[S - 1]);
    const x1 = Math.max(s[0], s[S - 1]);
    const pad = { l: 34, r: 8, t: 6, b: 30 };
    const X = (v) => pad.l + ((v - x0) / (x1 - x0 || 1)) * (CHART_W - pad.l - pad.r);
    const Y = (v) => pad.t + (1 - v) * (CHART_H - pad.t - pad.b);
    const chart = svg('svg', { viewBox: `0 0 ${CHART_W} ${CHART_H}`, class: 'dvi-explain-svg', role: 'img', 'aria-label': 'mean softmax per class and the share flipped vs strength' });
    chart.appendChild(svg('rect', { x: pad.l, y: pad.t, width: CHART_W - pad.l - pad.r, height: CHART_H - pad.t - pad.b, fill: '#fafafa', stroke: '#ccc' }));
    const text = (attrs, value) => chart.appendChild(svg('text', { class: 'dvi-explain-tick', ...attrs }, [document.createTextNode(value)]));
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      chart.appendChild(svg('line', { x1: pad.l, x2: CHART_W - pad.r, y1: Y(v), y2: Y(v), stroke: '#e6e6e6' }));
      text({ x: pad.l - 4, y: Y(v) + 4, 'text-anchor': 'end' }, String(v));
    }
    for (let j = 0; j <= 4; j++) {
      const v = x0 + (j / 4) * (x1 - x0);
      text({ x: X(v), y: CHART_H - pad.b + 14, 'text-anchor': j === 0 ? 'start' : j === 4 ? 'end' : 'middle' }, `${fmt(v)}${unit}`);
    }
    text({ x: pad.l + (CHART_W - pad.l - pad.r) / 2, y: CHART_H - 3, 'text-anchor': 'middle' }, `${kindLabel(r.kind)} strength`);
    const line = (values, attrs, title) => {
      const pts = Array.from({ length: S }, (_, k) => `${X(s[k]).toFixed(1)},${Y(values(k)).toFixed(1)}`).join(' ');
      chart.appendChild(svg('polyline', { points: pts, fill: 'none', ...attrs }, [svg('title', {}, [document.createTextNode(title)])]));
    };
    const color = (c) => markColor(palette[c] || '#000000');
    const shown = visibleClasses(mean, S, C, CHART_MIN_PROB);
    for (const c of shown) {
      line((k) => mean[k * C + c], { stroke: color(c), 'stroke-width': 2, class: `dvi-explain-class dvi-explain-class-${c}` }, `mean softmax: ${this.panel.className(c)}`);
    }
    line((k) => flipped[k], { stroke: '#000', 'stroke-width': 2, 'stroke-dasharray': '5 3', class: 'dvi-explain-flipped-line' }, 'share flipped');
    const keys = h('div', { class: 'dvi-explain-keys' }, [
      ...shown.map((c) => h('span', { class: 'dvi-explain-key' }, [h('i', { style: `background:${color(c)}` }), this.panel.className(c)])),
      h('span', { class: 'dvi-explain-key' }, [h('i', { class: 'dvi-explain-dash' }), 'flipped']),
    ]);
    const caption = h('div', { class: 'dvi-explain-caption', text: `${r.kind.replace('_', ' ')} of ${r.of} (${r.n_samples} used), epoch ${r.epoch}: ${Math.round(100 * flipped[S - 1])} % flipped at ${fmt(s[S - 1])}${unit}` });
    this.chart.replaceChildren(caption, chart, keys);
    this.syncStale();
  }

  update(reason) {
    if (reason === 'selection') this.syncOf();
    if (reason === 'epoch') this.syncStale();
  }

  destroy() {
    this.ls.dispose();
  }
}
