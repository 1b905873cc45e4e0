// The Robustness section: mean softmax per class and the share flipped vs strength, for the
// selection or a class (dvi_widget/view/explain/robustness.py), drawn from the synced trait
// explain_robustness as a small SVG chart.
import { decodeTree, encodeArray } from '../codecs.js';
import { h, listeners, svg } from '../dom.js';
import { markColor } from '../marks.js';
import { ATTACKS, fmt, kindLabel, unitText, visibleClasses } from './format.js';

/** Chart size (px) and the mean probability a class needs somewhere to get a line. */
const CHART_W = 168;
const CHART_H = 96;
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
    this.section = h('details', { class: 'dvi-explain-section' }, [
      h('summary', { text: 'Robustness' }),
      h('div', { class: 'dvi-explain-row' }, [this.of]),
      h('div', { class: 'dvi-explain-row' }, [this.kind, this.button]),
      this.chart,
    ]);
    this.syncOf();
    this.ls.add(this.button, 'click', () => this.ask());
    this.ls.model(this.view.model, `change:${TRAIT}`, () => this.shown());
  }

  setKinds(kinds) {
    const families = Object.keys(kinds).filter((n) => !ATTACKS.has(n));
    const prev = this.kind.value;
    this.kind.replaceChildren(...families.map((n) => h('option', { value: n, text: kindLabel(n) })));
    if (families.includes(prev)) this.kind.value = prev;
    this.button.disabled = !families.length;
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
  }

  ask() {
    const content = { epoch: this.panel.epoch, kind: this.kind.value };
    const buffers = [];
    if (this.of.value === 'selection') buffers.push(encodeArray(this.view.selection()).view);
    else content.class = Number(this.of.value);
    return this.panel.ask('robustness', content, { buffers, status: 'computing robustness curves…' });
  }

  /** explain_robustness changed (or the panel was built): draw its curves. */
  shown() {
    const raw = this.view.model.get(TRAIT);
    if (!raw) {
      this.chart.replaceChildren();
      return;
    }
    const r = decodeTree(raw);
    const s = r.strengths.data;
    const S = s.length;
    const mean = r.mean_probability.data;
    const C = r.mean_probability.shape[1];
    const flipped = r.flipped.data;
    const palette = this.view.model.get('palette');
    const unit = unitText(r.unit ?? this.panel.kinds?.[r.kind]?.unit ?? '');
    const x0 = Math.min(s[0], s[S - 1]);
    const x1 = Math.max(s[0], s[S - 1]);
    const pad = { l: 22, r: 4, t: 4, b: 14 };
    const X = (v) => pad.l + ((v - x0) / (x1 - x0 || 1)) * (CHART_W - pad.l - pad.r);
    const Y = (v) => pad.t + (1 - v) * (CHART_H - pad.t - pad.b);
    const chart = svg('svg', { width: CHART_W, height: CHART_H, class: 'dvi-explain-svg', role: 'img' });
    chart.appendChild(svg('rect', { x: pad.l, y: pad.t, width: CHART_W - pad.l - pad.r, height: CHART_H - pad.t - pad.b, fill: '#fafafa', stroke: '#ccc' }));
    const text = (attrs, value) => chart.appendChild(svg('text', { class: 'dvi-explain-tick', ...attrs }, [document.createTextNode(value)]));
    for (const v of [0, 0.5, 1]) text({ x: pad.l - 3, y: Y(v) + 3, 'text-anchor': 'end' }, String(v));
    for (const [v, anchor] of [[s[0], 'start'], [s[S - 1], 'end']]) text({ x: X(v), y: CHART_H - 3, 'text-anchor': anchor }, `${fmt(v)}${unit}`);
    const line = (values, attrs, title) => {
      const pts = Array.from({ length: S }, (_, k) => `${X(s[k]).toFixed(1)},${Y(values(k)).toFixed(1)}`).join(' ');
      chart.appendChild(svg('polyline', { points: pts, fill: 'none', ...attrs }, [svg('title', {}, [document.createTextNode(title)])]));
    };
    const color = (c) => markColor(palette[c] || '#000000');
    const shown = visibleClasses(mean, S, C, CHART_MIN_PROB);
    for (const c of shown) {
      line((k) => mean[k * C + c], { stroke: color(c), 'stroke-width': 1.5, class: `dvi-explain-class dvi-explain-class-${c}` }, `mean softmax: ${this.panel.className(c)}`);
    }
    line((k) => flipped[k], { stroke: '#000', 'stroke-width': 1.5, 'stroke-dasharray': '3 2', class: 'dvi-explain-flipped-line' }, 'share flipped');
    const keys = h('div', { class: 'dvi-explain-keys' }, [
      ...shown.map((c) => h('span', { class: 'dvi-explain-key' }, [h('i', { style: `background:${color(c)}` }), this.panel.className(c)])),
      h('span', { class: 'dvi-explain-key' }, [h('i', { class: 'dvi-explain-dash' }), 'flipped']),
    ]);
    const caption = h('div', { class: 'dvi-explain-caption', text: `${r.kind.replace('_', ' ')} of ${r.of} (${r.n_samples} used), epoch ${r.epoch}: ${Math.round(100 * flipped[S - 1])} % flipped at ${fmt(s[S - 1])}${unit}` });
    this.chart.replaceChildren(caption, chart, keys);
  }

  update(reason) {
    if (reason === 'selection') this.syncOf();
  }

  destroy() {
    this.ls.dispose();
  }
}
