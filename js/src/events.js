// Training events (dvi.events(): prediction flips, confidence jumps, far moves, changed
// neighbourhoods, boundary crossings): pick a kind, see how many happened per epoch (a bar strip;
// click a bar to go there), highlight or select the samples with that event at the shown epoch,
// step to the previous / next epoch with one, and list the largest. The kernel computes the table
// once (Widget.events()); the summary and each (epoch, kind) answer are cached here.
import { typed } from './codecs.js';
import { h, listeners, sameIndices, svg } from './dom.js';
import { kernelOf } from './kernel.js';
import { registerPanel } from './panels.js';
import { className, note, num, swatch } from './ui.js';

/** Largest events listed. */
export const TOP = 8;
const HELP = {
  flip: 'predicted class changed (size: total-variation distance of the probabilities)',
  confidence: 'top-1 probability jumped (size: signed change)',
  move: 'moved far in the view (size: share of the frame)',
  neighborhood: 'high-dimensional neighbourhood changed (size: 1 − eval_sem)',
  boundary: 'the landscape class under it changed (size: distance moved)',
};

class Events {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.kernel = kernelOf(view);
    this.summary = null;
    this.at = new Map(); // `${epoch}:${kind}` -> { samples, size, before, after }
    this.kind = '';
    // off by default: dimming the plot is the user's choice, and shows as a chip above it
    this.highlightOn = false;
    this.ownHighlight = null; // the indices this panel highlighted
    this.kindSel = h('select', { class: 'dvi-ev-kind', 'aria-label': 'event type' }, [h('option', { value: '', text: 'choose an event type…' })]);
    this.prev = h('button', { type: 'button', class: 'dvi-ev-prev', text: '◀', title: 'previous epoch with this event' });
    this.next = h('button', { type: 'button', class: 'dvi-ev-next', text: '▶', title: 'next epoch with this event' });
    this.hlBox = h('input', { type: 'checkbox', class: 'dvi-ev-highlight' });
    this.hlBox.checked = false;
    this.selBtn = h('button', { type: 'button', class: 'dvi-ev-select', text: 'select', title: 'select these samples' });
    this.info = h('div', { class: 'dvi-note' });
    this.chart = h('div');
    this.top = h('div');
    this.controls = h('div', { class: 'dvi-row2' }, [this.kindSel, this.prev, this.next, h('label', { title: 'dim every other sample (one dimming at a time: this replaces a selection or legend highlight)' }, [this.hlBox, ' highlight']), this.selBtn]);
    body.append(this.controls, this.info, this.chart, this.top);
    this.ls.add(this.kindSel, 'change', () => this.choose(this.kindSel.value));
    this.ls.add(this.prev, 'click', () => this.step(-1));
    this.ls.add(this.next, 'click', () => this.step(1));
    this.ls.add(this.hlBox, 'change', () => {
      this.highlightOn = this.hlBox.checked;
      this.render();
    });
    this.ls.add(this.selBtn, 'click', () => {
      const ev = this.current();
      if (ev) view.setSelection(Array.from(ev.samples));
    });
    this.initial();
  }

  get caps() {
    return this.view.model.get('capabilities') || {};
  }

  initial() {
    const usable = this.caps.inspector && this.kernel.available;
    for (const el of [this.kindSel, this.prev, this.next, this.hlBox, this.selBtn]) el.disabled = !usable;
    if (!usable) {
      this.info.textContent = this.caps.inspector ? 'training events need a running kernel' : 'training events need the fitted model: Widget(dvi) or Widget(dvi.visualization())';
      return;
    }
    for (const k of Object.keys(HELP)) this.kindSel.appendChild(h('option', { value: k, text: k, title: HELP[k] }));
    this.info.textContent = 'events are found once, when you choose a type';
    this.prev.disabled = this.next.disabled = this.selBtn.disabled = true;
  }

  async choose(kind) {
    this.kind = kind;
    if (kind && !this.summary) {
      this.info.textContent = 'finding the training events…';
      try {
        const { msg } = await this.kernel.ask('events', { what: 'summary' });
        this.summary = msg;
      } catch (err) {
        this.info.replaceChildren(note(String(err.message || err), 'dvi-error'));
        return;
      }
    }
    this.render();
  }

  /** Per-epoch counts of the chosen kind. */
  counts() {
    const k = this.summary ? this.summary.kinds.indexOf(this.kind) : -1;
    return k < 0 ? null : this.summary.counts.map((row) => row[k]);
  }

  current() {
    return this.at.get(`${this.view.model.get('epoch')}:${this.kind}`) || null;
  }

  step(dir) {
    const counts = this.counts();
    if (!counts) return;
    const epochs = this.view.model.get('epochs');
    for (let p = this.view.pos + dir; p >= 0 && p < counts.length; p += dir) {
      if (counts[p] > 0) {
        this.view.setSave('epoch', epochs[p]);
        return;
      }
    }
  }

  async render() {
    const view = this.view;
    const counts = this.counts();
    const epoch = view.model.get('epoch');
    this.renderedKey = `${epoch}:${this.kind}:${this.highlightOn}`;
    if (!counts) {
      this.chart.replaceChildren();
      this.top.replaceChildren();
      this.prev.disabled = this.next.disabled = this.selBtn.disabled = true;
      this.setHighlight(null);
      if (this.summary) this.info.textContent = 'choose an event type';
      return;
    }
    const pos = view.pos;
    this.prev.disabled = !counts.slice(0, pos).some((c) => c > 0);
    this.next.disabled = !counts.slice(pos + 1).some((c) => c > 0);
    this.renderChart(counts, pos);
    const key = `${epoch}:${this.kind}`;
    if (!this.at.has(key)) {
      if (counts[pos] === 0) {
        this.at.set(key, { samples: new Uint32Array(0), size: new Float32Array(0), before: new Int32Array(0), after: new Int32Array(0) });
      } else {
        try {
          const { buffers } = await this.kernel.ask('events', { what: 'at', epoch, kind: this.kind });
          this.at.set(key, { samples: typed(Uint32Array, buffers[0]), size: typed(Float32Array, buffers[1]), before: typed(Int32Array, buffers[2]), after: typed(Int32Array, buffers[3]) });
        } catch (err) {
          this.info.replaceChildren(note(String(err.message || err), 'dvi-error'));
          return;
        }
        if (key !== `${view.model.get('epoch')}:${this.kind}`) return; // moved on meanwhile
      }
    }
    const ev = this.at.get(key);
    const epochs = view.model.get('epochs');
    this.info.textContent = pos === 0
      ? `epoch ${epoch} is the first: events compare an epoch with the one before`
      : `${ev.samples.length} ${this.kind} event${ev.samples.length === 1 ? '' : 's'} from epoch ${epochs[pos - 1]} to ${epoch}: ${HELP[this.kind]}`;
    this.selBtn.disabled = ev.samples.length === 0;
    this.setHighlight(this.highlightOn ? ev.samples : null, `${this.kind} events, epoch ${epochs[Math.max(0, pos - 1)]} → ${epoch}`);
    const order = Array.from(ev.samples.keys()).sort((a, b) => Math.abs(ev.size[b]) - Math.abs(ev.size[a]) || ev.samples[a] - ev.samples[b]).slice(0, TOP);
    this.top.replaceChildren(...(order.length ? [h('h4', { text: 'largest' }), h('div', { class: 'dvi-nlist' }, order.map((k) => {
      const i = ev.samples[k];
      const row = h('div', { class: 'dvi-nrow', 'data-sample': String(i), title: `#${i}: show its history` }, [
        swatch(view, view.d.labels[i]),
        h('span', { text: `#${i} ${className(view, view.d.labels[i])}: ${className(view, ev.before[k])} → ${className(view, ev.after[k])}` }),
        h('span', { class: 'dvi-dist', text: num(ev.size[k], 2) }),
      ]);
      row.addEventListener('click', () => view.setSave('focus_sample', i));
      return row;
    }))] : []));
  }

  renderChart(counts, pos) {
    const view = this.view;
    const epochs = view.model.get('epochs');
    const T = counts.length;
    const max = Math.max(1, ...counts);
    const cw = Math.max(5, Math.min(20, Math.floor(320 / T)));
    const H = 30;
    const root = svg('svg', { class: 'dvi-events-strip', width: cw * T + 2, height: H + 2, role: 'img', 'aria-label': 'events per epoch' });
    counts.forEach((c, t) => {
      const hgt = c ? Math.max(2, (c / max) * H) : 0;
      const bg = svg('rect', { x: 1 + t * cw, y: 0, width: cw - 1, height: H, fill: t === pos ? '#e8eefb' : 'transparent', 'data-epoch': epochs[t] });
      const bar = svg('rect', { x: 1 + t * cw, y: H - hgt, width: cw - 1, height: hgt, fill: t === pos ? '#d62728' : '#7f8fa6', 'data-epoch': epochs[t] });
      const base = svg('rect', { x: 1 + t * cw, y: H - 1, width: cw - 1, height: 1, fill: '#bbb' }); // epochs without events
      root.appendChild(base);
      for (const r of [bg, bar]) {
        r.appendChild(svg('title', {}, [document.createTextNode(`epoch ${epochs[t]}: ${c} ${this.kind} events`)]));
        r.addEventListener('click', () => view.setSave('epoch', epochs[t]));
        root.appendChild(r);
      }
    });
    this.chart.replaceChildren(root);
  }

  /** Dim all but `ids` (highlight_indices), or restore when null and the highlight is ours. */
  setHighlight(ids, label) {
    const view = this.view;
    if (ids) {
      const arr = Uint32Array.from(ids);
      const cur = view.highlightIds();
      if (cur && sameIndices(cur, arr)) return;
      this.ownHighlight = arr;
      view.replaceDimming('highlight'); // one dimming emphasis at a time
      view.chips.setHighlight(arr, label);
    } else if (this.ownHighlight) {
      this.ownHighlight = null;
      view.chips.setHighlight(null);
    }
  }

  update(reason) {
    if (reason === 'highlight' && this.ownHighlight) {
      // replaced (a selection, the legend, a chip's ✕, Python): the highlight is off
      const cur = this.view.highlightIds();
      if (!cur || !sameIndices(cur, this.ownHighlight)) {
        this.ownHighlight = null;
        this.highlightOn = false;
        this.hlBox.checked = false;
        this.renderedKey = `${this.view.model.get('epoch')}:${this.kind}:false`;
      }
      return;
    }
    if (reason === 'epoch' && this.kind && this.renderedKey !== `${this.view.model.get('epoch')}:${this.kind}:${this.highlightOn}`) this.render();
  }

  destroy() {
    this.ls.dispose();
  }
}

registerPanel('events', { title: 'Training events', area: 'below', create: (view, body) => new Events(view, body) });
