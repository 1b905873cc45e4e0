// The Explain panel ('explain'): ask the model about one sample (the clicked one, or one typed or
// set from Python) or a class, one tool per section: path.js (what-if paths, with adversarial.js's
// attack controls), robustness.js, surrogate.js. Every request goes through kernel.js's envelope
// (panel 'explain', dvi_widget/view/explain/panel.py); every answer comes back as a synced trait
// (explain_path, explain_robustness, explain_surrogate), so a saved page and every view of the
// widget show it. The overlay on the plot is overlay.js.
import { h, listeners } from '../dom.js';
import { kernelOf } from '../kernel.js';
import { registerPanel } from '../panels.js';
import { className } from '../ui.js';
import { PathOverlay } from './overlay.js';
import { PathTool } from './path.js';
import { RobustnessTool } from './robustness.js';
import { SurrogateTool } from './surrogate.js';

export const PANEL = 'explain';
let uid = 0;

class ExplainPanel {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.kernel = kernelOf(view);
    this.kinds = null;
    this.sample = null;
    this.overlay = new PathOverlay(view);
    this.sampleInput = h('input', { type: 'number', id: `dvi-explain-sample-${++uid}`, class: 'dvi-explain-num dvi-explain-ctl', min: '0', step: '1', 'aria-label': 'sample index', title: 'the sample to explain: type an index, or select a point and press "use"' });
    this.sampleText = h('span', { class: 'dvi-explain-sample' });
    // the sample is chosen explicitly: a new selection only offers itself here
    this.useBtn = h('button', { type: 'button', class: 'dvi-explain-use dvi-explain-ctl', title: 'explain the selected sample (the first of a selection)' });
    this.clearBtn = h('button', { type: 'button', class: 'dvi-explain-clear dvi-explain-ctl', text: 'Clear plot', title: 'erase the path and the surrogate\'s neighbours from the plot' });
    this.status = h('div', { class: 'dvi-explain-status' });
    this.error = h('div', { class: 'dvi-explain-error', role: 'alert' });
    this.tools = [new PathTool(this), new RobustnessTool(this), new SurrogateTool(this)];
    this.el = h('div', { class: 'dvi-explain' }, [
      h('div', { class: 'dvi-explain-row dvi-explain-head' }, [
        h('label', { for: this.sampleInput.id, text: 'sample' }), this.sampleInput, this.sampleText, this.useBtn, this.clearBtn]),
      this.status, this.error,
      h('div', { class: 'dvi-explain-cols' }, this.tools.map((t) => t.section)),
    ]);
    // a saved page (no kernel): the results saved with it, none of the controls that need one
    this.el.classList.toggle('dvi-explain-offline', !this.kernel.available);
    body.appendChild(this.el);
    this.setError('');
    this.ls.add(this.sampleInput, 'change', () => {
      const v = Number(this.sampleInput.value);
      if (Number.isInteger(v) && v >= 0 && v < view.d.N) this.setSample(v);
      else this.syncSample();
    });
    this.ls.add(this.useBtn, 'click', () => {
      const sel = view.selection();
      if (sel.length) this.setSample(sel[0]);
    });
    this.ls.add(this.clearBtn, 'click', () => {
      const m = view.model;
      m.set('explain_path', null);
      m.set('explain_surrogate', null);
      m.save_changes();
    });
    for (const t of this.tools) t.shown?.(); // what the widget's state shows already (a saved page too)
    const sel = view.selection();
    if (this.sample == null && sel.length) this.sample = sel[0]; // a panel opened on a selection
    this.syncSample();
    this.loadKinds();
  }

  get epoch() {
    return this.view.model.get('epoch');
  }

  className(c) {
    return className(this.view, c);
  }

  setStatus(text) {
    this.status.textContent = text;
  }

  setError(text) {
    this.error.textContent = text || '';
    this.error.style.display = text ? '' : 'none';
  }

  /** Ask the kernel (type: kinds | path | robustness | surrogate); the reply's content, or null on failure (shown). */
  async ask(type, content, { buffers = [], status = '', timeoutMs, reveal = null } = {}) {
    if (status) this.setStatus(status);
    this.setError('');
    try {
      const { msg } = await this.kernel.ask(PANEL, { type, ...content }, buffers, timeoutMs);
      if (status) this.setStatus('');
      // the result the user asked for is on screen: scrolled up to when it lies below the fold
      if (reveal) requestAnimationFrame(() => reveal.scrollIntoView?.({ block: 'nearest' }));
      return msg;
    } catch (err) {
      this.setStatus('');
      this.setError(err.message);
      return null;
    }
  }

  async loadKinds() {
    if (!this.kernel.available) {
      this.setStatus('saved with the page: the explanations computed before it was saved');
      return;
    }
    const msg = await this.ask('kinds', {});
    if (!msg) return;
    this.kinds = msg.kinds;
    for (const t of this.tools) t.setKinds?.(msg.kinds);
    this.syncSample();
  }

  setSample(i) {
    if (i === this.sample) return;
    this.sample = i;
    this.syncSample();
    for (const t of this.tools) t.sampleChanged?.(i);
  }

  /** The "use" button: offered when the selection starts with another sample than the chosen one. */
  syncUse() {
    const sel = this.view.selection();
    const j = sel.length ? sel[0] : null;
    const offer = j !== null && j !== this.sample;
    this.useBtn.style.display = offer ? '' : 'none';
    if (offer) this.useBtn.textContent = sel.length > 1 ? `use #${j} (1st of ${sel.length} selected)` : `use #${j}`;
  }

  /** The sample line: index, label and prediction at the shown epoch; tools enable their buttons. */
  syncSample() {
    const i = this.sample;
    const has = i != null;
    this.sampleInput.value = has ? String(i) : '';
    for (const t of this.tools) t.enable?.(has && Boolean(this.kinds));
    this.syncUse();
    if (!has) {
      this.sampleText.textContent = 'click a point to choose it';
      return;
    }
    const { labels, predictions, N } = this.view.d;
    const pred = predictions[this.view.pos * N + i];
    const name = (c) => this.className(c);
    // (a saved page hides the index box: the line names the sample itself)
    const idx = this.kernel.available ? '' : `#${i} · `;
    this.sampleText.textContent = `${idx}label ${name(labels[i])}${pred !== labels[i] ? ` → ${name(pred)}` : ''}`;
    this.sampleText.title = `label ${name(labels[i])}, predicted ${name(pred)} at epoch ${this.epoch}`;
  }

  update(reason) {
    if (reason === 'selection') {
      // the first clicked point becomes the sample; later selections only offer themselves
      // ("use #j"): a lasso never silently changes what is explained
      const sel = this.view.selection();
      if (this.sample == null && sel.length === 1) this.setSample(sel[0]);
      else this.syncUse();
    }
    if (reason === 'epoch') this.syncSample();
    for (const t of this.tools) t.update?.(reason);
  }

  destroy() {
    for (const t of this.tools) t.destroy?.();
    this.ls.dispose();
    this.overlay.destroy();
    this.el.remove();
  }
}

const spec = { title: 'Explain', area: 'below', create: (view, body) => new ExplainPanel(view, body) };
registerPanel(PANEL, spec);
registerPanel('whatif', spec); // the panel's former name, still accepted in Widget.panels
