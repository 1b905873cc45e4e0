// The confusion matrix of the shown epoch and split (rows: given label, columns: prediction), as
// w.confusion(epoch) computes it in the kernel; it follows the epoch slider and the split shown.
// Clicking a cell selects exactly its samples (the view dims the others); the cell stays outlined
// while the selection is that cell.
import { h, listeners, sameIndices } from './dom.js';
import { registerPanel } from './panels.js';
import { className, pct } from './ui.js';


/** Counts (C*C, row = label) and the samples' cell ids at epoch position pos over the shown split. */
export function confusionAt(view, pos) {
  const { N, labels, predictions, splitCodes } = view.d;
  const C = view.model.get('class_names').length;
  const show = view.model.get('show');
  const counts = new Uint32Array(C * C);
  const cell = new Int32Array(N).fill(-1);
  const base = pos * N;
  for (let i = 0; i < N; i++) {
    if (show !== 'both' && (splitCodes[i] === 0) !== (show === 'train')) continue;
    const k = labels[i] * C + predictions[base + i];
    counts[k] += 1;
    cell[i] = k;
  }
  return { C, counts, cell };
}

class Confusion {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.head = h('div', { class: 'dvi-row2 dvi-cm-head' });
    this.wrap = h('div', { class: 'dvi-cm-wrap' });
    this.hint = h('div', { class: 'dvi-note', text: 'rows: given label · columns: prediction · click a cell to select its samples' });
    body.append(this.head, this.wrap, this.hint);
    this.active = null; // { k, ids }
    this.build();
    this.ls.add(this.wrap, 'click', (e) => {
      const td = e.target.closest('td[data-k]');
      if (td) this.pick(Number(td.dataset.k));
    });
    this.refresh();
  }

  build() {
    const view = this.view;
    const C = view.model.get('class_names').length;
    this.cells = [];
    const thead = h('thead', {}, [h('tr', {}, [h('th', { text: '' }), ...[...Array(C).keys()].map((c) => h('th', { text: className(view, c), title: `predicted ${className(view, c)}` }))])]);
    const rows = [...Array(C).keys()].map((a) => h('tr', {}, [
      h('th', { text: className(view, a), title: `labelled ${className(view, a)}` }),
      ...[...Array(C).keys()].map((b) => {
        const td = h('td', { 'data-k': String(a * C + b), 'data-label': String(a), 'data-prediction': String(b) });
        this.cells.push(td);
        return td;
      }),
    ]));
    this.table = h('table', { class: 'dvi-cm' }, [thead, h('tbody', {}, rows)]);
    this.wrap.replaceChildren(this.table);
  }

  refresh() {
    const view = this.view;
    const pos = view.pos;
    const { C, counts, cell } = confusionAt(view, pos);
    this.cellOf = cell;
    this.shownKey = `${pos}|${view.model.get('show')}`;
    const rowSum = new Array(C).fill(0);
    let total = 0;
    let right = 0;
    for (let a = 0; a < C; a++) {
      for (let b = 0; b < C; b++) rowSum[a] += counts[a * C + b];
      total += rowSum[a];
      right += counts[a * C + a];
    }
    for (let k = 0; k < C * C; k++) {
      const a = Math.floor(k / C);
      const b = k % C;
      const n = counts[k];
      const share = rowSum[a] ? n / rowSum[a] : 0;
      const td = this.cells[k];
      td.textContent = n ? String(n) : '';
      td.dataset.count = String(n);
      const alpha = n ? 0.12 + 0.88 * share : 0;
      td.style.background = a === b ? `rgba(31, 79, 191, ${alpha})` : `rgba(214, 39, 40, ${Math.min(1, n ? 0.15 + 2 * share : 0)})`;
      td.style.color = (a === b ? alpha : 0.15 + 2 * share) > 0.55 ? '#fff' : '#222';
      td.title = `labelled ${className(view, a)}, predicted ${className(view, b)}: ${n} (${pct(share)} of the row)`;
    }
    const split = { both: 'all samples', train: 'train', test: 'test' }[view.model.get('show')];
    this.head.replaceChildren(
      h('span', { text: `epoch ${view.model.get('epoch')} · ${split} · accuracy ${pct(total ? right / total : NaN)}` }),
    );
    this.markActive();
  }

  /** Select the samples of cell k (label * C + prediction) at the shown epoch and split. */
  pick(k) {
    const ids = [];
    for (let i = 0; i < this.cellOf.length; i++) if (this.cellOf[i] === k) ids.push(i);
    this.active = { k, ids: Uint32Array.from(ids), key: this.shownKey };
    this.view.setSelection(ids);
    this.markActive();
  }

  markActive() {
    const sel = this.view.selection();
    if (this.active && !sameIndices(sel, this.active.ids)) this.active = null;
    // outlined only at the epoch and split it was picked at (the selection itself stays put)
    const on = this.active && this.active.key === this.shownKey ? this.active.k : -1;
    for (const td of this.cells) td.classList.toggle('dvi-active', Number(td.dataset.k) === on);
  }

  update(reason) {
    if (reason === 'column' || reason === 'style' || reason === 'highlight') return;
    if (reason === 'selection') {
      this.markActive();
      return;
    }
    if (`${this.view.pos}|${this.view.model.get('show')}` !== this.shownKey) this.refresh();
  }

  destroy() {
    this.ls.dispose();
  }
}

registerPanel('confusion', { title: 'Confusion matrix', area: 'below', create: (view, body) => new Confusion(view, body) });
