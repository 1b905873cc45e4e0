// The emphasis bar above the plot: one removable chip per active emphasis (what it is, how many
// samples, ✕ removes it, in the model's traits and so in Python), so that no point is dimmed or
// hidden for a reason the plot does not name. With no emphasis the bar says so: it keeps its
// height, and the plot below never jumps.
//
// The combination rule (also in the README's gesture section and Widget._one_dimming_emphasis):
// * dimming emphases — the selection, a legend highlight, highlight_indices (w.highlight or the
//   Training events panel) — are ONE AT A TIME: a new one replaces the earlier one (its chip goes).
//   Two dimming layers drawn together (grey for "not highlighted", faded for "not selected") give
//   a dim point two possible reasons that no picture can tell apart; with one, the single chip is
//   the reason.
// * hiding emphases — the split shown, filter_indices (w.filter_samples) and the legend filter —
//   COMBINE: a sample is drawn when every active filter keeps it (an intersection). A hidden point
//   needs no second look, and each chip still names one reason.
// Search matches do not dim while typed (the count is shown under the box); Enter makes them the
// selection, with its chip.
import { encodeArray } from './codecs.js';
import { h, listeners, sameIndices } from './dom.js';

/** Class names listed in a chip before "+ n more". */
export const CHIP_NAMES = 3;

/** "a, b, c + 2 more" */
export function listNames(names, max = CHIP_NAMES) {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} + ${names.length - max} more`;
}

/** Python-list text of sample indices: "[3, 7, 10]" (what `w.select(...)` takes back). */
export const indicesText = (ids) => `[${Array.from(ids).join(', ')}]`;

/**
 * Copy `text` to the clipboard: the async Clipboard API, else a hidden textarea and
 * execCommand('copy') (pages without clipboard permission, plain http). Resolves with how it went:
 * 'clipboard', 'command', or 'failed' (the caller then shows the text to copy by hand).
 */
export async function copyText(text, doc = document) {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return 'clipboard';
    }
  } catch {
    // refused (no permission, no focus): try the old way
  }
  const ta = doc.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.cssText = 'position:fixed;left:-9999px;top:0;opacity:0';
  doc.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = doc.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok ? 'command' : 'failed';
}

export class Chips {
  constructor(view) {
    this.view = view;
    this.ls = listeners();
    this.list = h('div', { class: 'dvi-chip-list' });
    this.status = h('span', { class: 'dvi-chip-status', 'aria-live': 'polite' });
    this.manual = h('input', { type: 'text', class: 'dvi-chip-manual', readonly: true, 'aria-label': 'the selected indices, to copy by hand' });
    this.manual.style.display = 'none';
    this.el = h('div', {
      class: 'dvi-chips',
      role: 'group',
      'aria-label': 'what the plot emphasises',
      title: 'Dimming (selection, highlight) is one at a time: a new one replaces the other. '
        + 'Filters combine: a sample is drawn when every filter keeps it. ✕ removes one.',
    }, [this.list, this.status, this.manual]);
    /** Who set highlight_indices last from this view: { ids, label } (the events panel). */
    this.highlightTag = null;
  }

  /** The active emphases at the shown epoch, dimming ones first. */
  emphases() {
    const view = this.view;
    const m = view.model;
    const pos = view.pos;
    const col = view.column;
    const out = [];
    const sel = view.selection();
    if (sel.length) {
      out.push({ key: 'selection', kind: 'dims', what: 'selection', count: sel.length, unit: 'selected', clear: () => view.clearSelection(), copy: true });
    }
    const cats = col.kind === 'categorical' ? m.get('highlight_categories') || [] : [];
    if (cats.length) {
      out.push({
        key: 'legend-highlight', kind: 'dims', what: `highlight: ${col.title} = ${listNames(cats.map((k) => col.categories[k]))}`,
        count: countIn(col.values(pos), cats, view.visibleMask(pos)), unit: 'samples', clear: () => view.setSave('highlight_categories', []),
      });
    }
    const hl = view.highlightIds();
    if (hl) {
      const tag = this.highlightTag;
      const label = tag && sameIndices(tag.ids, hl) ? tag.label : 'highlight (w.highlight)';
      out.push({ key: 'highlight', kind: 'dims', what: label, count: hl.length, unit: 'samples', clear: () => view.setSave('highlight_indices', null) });
    }
    const show = m.get('show');
    if (show !== 'both') {
      const want = show === 'train' ? 0 : 1;
      let n = 0;
      for (const c of view.d.splitCodes) if ((c === 0 ? 0 : 1) === want) n++;
      out.push({ key: 'split', kind: 'hides', what: `show: ${show} only`, count: n, unit: 'samples', clear: () => view.setSave('show', 'both') });
    }
    const filt = view.filterIds();
    if (filt) {
      out.push({ key: 'filter', kind: 'hides', what: 'filter (w.filter_samples)', count: filt.length, unit: 'samples', clear: () => view.setSave('filter_indices', null) });
    }
    const fcats = col.kind === 'categorical' ? m.get('filter_categories') || [] : [];
    if (fcats.length) {
      out.push({
        key: 'legend-filter', kind: 'hides', what: `filter: ${col.title} = ${listNames(fcats.map((k) => col.categories[k]))}`,
        count: countIn(col.values(pos), fcats, null), unit: 'samples', clear: () => view.setSave('filter_categories', []),
      });
    }
    return out;
  }

  update() {
    const list = this.emphases();
    this.el.dataset.emphases = list.map((e) => e.key).join(' ');
    if (!list.length) {
      this.list.replaceChildren(h('span', { class: 'dvi-chip-none', text: 'no emphasis: every sample drawn alike' }));
      this.hideManual();
      return;
    }
    this.list.replaceChildren(...list.map((e) => this.chip(e)));
    if (!list.some((e) => e.copy)) this.hideManual();
  }

  chip(e) {
    const x = h('button', { type: 'button', class: 'dvi-chip-x', text: '✕', title: `remove: ${e.what}`, 'aria-label': `remove ${e.what}` });
    x.addEventListener('click', () => e.clear());
    const parts = [
      h('span', { class: 'dvi-chip-kind', text: e.kind === 'dims' ? '◐' : '⊘', title: e.kind === 'dims' ? 'dims the other samples' : 'hides the other samples' }),
      h('span', { class: 'dvi-chip-what', text: e.what }),
      h('span', { class: 'dvi-chip-count', text: `${e.count} ${e.count === 1 && e.unit === 'samples' ? 'sample' : e.unit}` }),
    ];
    if (e.copy) {
      const copy = h('button', { type: 'button', class: 'dvi-copy-indices', text: 'copy indices', title: 'copy the selected indices as a Python list ([3, 7, …])' });
      copy.addEventListener('click', () => this.copySelection());
      parts.push(copy);
    }
    parts.push(x);
    return h('span', { class: `dvi-chip dvi-chip-${e.kind}`, 'data-emphasis': e.key, 'data-count': String(e.count) }, parts);
  }

  /** Copy the selection's indices; without any clipboard, show them selected in a text field. */
  async copySelection() {
    const ids = this.view.selection();
    const text = indicesText(ids);
    const how = await copyText(text, this.view.el.ownerDocument || document);
    this.el.dataset.copied = how;
    if (how === 'failed') {
      this.manual.value = text;
      this.manual.style.display = '';
      this.manual.focus();
      this.manual.select();
      this.status.textContent = 'no clipboard here: press Ctrl+C (⌘C) to copy';
    } else {
      this.hideManual();
      this.status.textContent = `copied ${ids.length} ${ids.length === 1 ? 'index' : 'indices'}`;
    }
  }

  hideManual() {
    this.manual.style.display = 'none';
    this.status.textContent = '';
  }

  /** Set highlight_indices from a panel, with the chip's label for it. */
  setHighlight(ids, label) {
    const arr = ids ? Uint32Array.from(ids) : null;
    this.highlightTag = arr ? { ids: arr, label } : null;
    this.view.setSave('highlight_indices', arr ? encodeArray(arr) : null);
  }

  destroy() {
    this.ls.dispose();
  }
}

/** How many samples have a value in `cats` (and are drawn, when `mask` is given). */
function countIn(values, cats, mask) {
  const on = new Set(cats);
  let n = 0;
  for (let i = 0; i < values.length; i++) if (on.has(values[i]) && (!mask || mask[i])) n++;
  return n;
}
