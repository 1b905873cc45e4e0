// Training curves: loss and accuracy per epoch (train and test; Run.record(..., scalars=) adds the
// user's own, hidden until picked in the legend) with the shown epoch marked; clicking the chart
// jumps to the nearest epoch. Below: the view's quality metrics at the shown epoch (dvi.score():
// nn_pv, boundary_pv, ppr, temporal_pv). The chart is uPlot (a small canvas charting library).
import uPlot from 'uplot';
import { h, listeners } from './dom.js';
import { registerPanel } from './panels.js';
import { note, num } from './ui.js';

const STYLE = {
  train_loss: { stroke: '#1f77b4', scale: 'loss', label: 'train loss' },
  test_loss: { stroke: '#1f77b4', dash: [4, 3], scale: 'loss', label: 'test loss' },
  train_accuracy: { stroke: '#2ca02c', scale: 'acc', label: 'train acc.' },
  test_accuracy: { stroke: '#2ca02c', dash: [4, 3], scale: 'acc', label: 'test acc.' },
};
const USER_COLORS = ['#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
/** Metric column names: measure[_k]_split (engine/metrics.py: metrics_table). */
const METRIC = /^(nn_pv|boundary_pv|ppr|temporal_pv|[a-z_]+?)(?:_(\d+))?_(train|test)$/;

class Curves {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.box = h('div', { class: 'dvi-curves' });
    this.metrics = h('div');
    body.append(this.box, this.metrics);
    this.build();
    this.renderMetrics();
  }

  build() {
    const view = this.view;
    const table = view.model.get('scalars');
    if (!table || !Object.keys(table.columns).length) {
      this.box.replaceChildren(note('no training curves: record them with run.record(model, epoch, scalars={"loss": ...})'));
      return;
    }
    const epochs = table.epochs;
    const names = [...Object.keys(STYLE).filter((k) => k in table.columns), ...Object.keys(table.columns).filter((k) => !(k in STYLE))];
    const series = [{ label: 'epoch', value: (p, v) => (v === null || v === undefined ? '–' : String(v)) }];
    const value = (p, v) => (v === null || v === undefined ? '–' : Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.001) ? v.toExponential(2) : num(v, 3));
    let u = 0;
    for (const name of names) {
      const st = STYLE[name];
      series.push(st
        ? { label: st.label, scale: st.scale, stroke: st.stroke, dash: st.dash, width: 1.5, points: { size: 4 }, value }
        : { label: name, scale: `user:${name}`, stroke: USER_COLORS[u++ % USER_COLORS.length], width: 1.5, show: false, points: { size: 4 }, value });
    }
    const data = [epochs, ...names.map((n) => table.columns[n])];
    this.epochs = epochs;
    const marker = (plot) => {
      const e = view.model.get('epoch');
      const x = plot.valToPos(e, 'x', true);
      const { ctx, bbox } = plot;
      ctx.save();
      ctx.strokeStyle = '#d62728';
      ctx.lineWidth = 2 * (window.devicePixelRatio || 1);
      ctx.beginPath();
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
      ctx.restore();
    };
    const opts = {
      width: this.width(),
      height: 150,
      scales: { x: { time: false }, acc: { range: [0, 1] } },
      series,
      axes: [
        { label: 'epoch', labelSize: 14, size: 28, incrs: [1, 2, 5, 10, 20, 50, 100], values: (p, ticks) => ticks.map((t) => String(t)) },
        { scale: 'loss', label: 'loss', labelSize: 14, size: 36, stroke: '#1f77b4' },
        { scale: 'acc', side: 1, label: 'accuracy', labelSize: 14, size: 36, stroke: '#2ca02c', grid: { show: false } },
      ],
      hooks: { draw: [marker] },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      // values at the hovered epoch in the legend (uPlot's live legend); the epoch itself first
      legend: { live: true },
    };
    this.plot?.destroy();
    this.box.replaceChildren();
    this.plot = new uPlot(opts, data, this.box);
    this.ls.add(this.plot.over, 'click', () => {
      const idx = this.plot.cursor.idx;
      if (idx === null || idx === undefined) return;
      const e = this.epochs[idx];
      if (view.model.get('epochs').includes(e) && e !== view.model.get('epoch')) view.setSave('epoch', e);
    });
    if (typeof ResizeObserver !== 'undefined') {
      this.resizer = new ResizeObserver(() => {
        const w = this.width();
        if (this.plot && Math.abs(w - this.plot.width) > 4) this.plot.setSize({ width: w, height: 150 });
      });
      this.resizer.observe(this.box);
    }
  }

  width() {
    return Math.max(220, Math.min(520, Math.floor(this.box.getBoundingClientRect().width || 300)));
  }

  renderMetrics() {
    const view = this.view;
    const table = view.model.get('metrics');
    if (!table) {
      this.metrics.replaceChildren(note('no quality metrics (dvi.score()) in this visualization'));
      return;
    }
    const pos = table.epochs.indexOf(view.model.get('epoch'));
    const rows = new Map(); // measure (with k) -> { train, test }
    for (const [name, values] of Object.entries(table.columns)) {
      const m = METRIC.exec(name);
      const key = m ? (m[2] ? `${m[1]} (k=${m[2]})` : m[1]) : name;
      // measures over all samples (q_knn, q_data, q_not_data: DeepView §5.1) have no split
      const split = m ? m[3] : 'all';
      if (!rows.has(key)) rows.set(key, {});
      rows.get(key)[split] = pos >= 0 ? values[pos] : null;
    }
    const body = [...rows.entries()].map(([k, v]) => h('tr', { 'data-metric': k }, 'all' in v
      ? [h('td', { text: k }), h('td', { colspan: '2', class: 'dvi-metric-all', text: num(v.all), title: 'over all samples (no train/test split)' })]
      : [h('td', { text: k }), h('td', { text: num(v.train) }), h('td', { text: num(v.test) })]));
    this.metrics.replaceChildren(
      h('h4', { text: `quality of the view at epoch ${view.model.get('epoch')} (DVI §6)` }),
      h('table', { class: 'dvi-metrics' }, [h('thead', {}, [h('tr', {}, ['measure', 'train', 'test'].map((t) => h('th', { text: t })))]), h('tbody', {}, body)]),
    );
    this.metricsEpoch = view.model.get('epoch');
  }

  update(reason) {
    if (reason !== 'epoch' || this.metricsEpoch === this.view.model.get('epoch')) return;
    this.plot?.redraw(false, false);
    this.renderMetrics();
  }

  destroy() {
    this.resizer?.disconnect();
    this.plot?.destroy();
    this.ls.dispose();
  }
}

registerPanel('curves', { title: 'Training curves', area: 'below', create: (view, body) => new Curves(view, body) });
