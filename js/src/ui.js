// Shared pieces of the panels (explore and explain): bars, formatting, and per-sample values read
// from the view's decoded data. Their CSS is in widget.css.
import { h } from './dom.js';
import { markColor } from './marks.js';

export const pct = (v) => (v === null || v === undefined || Number.isNaN(v) ? '–' : `${(100 * v).toFixed(1)}%`);
export const num = (v, digits = 3) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(digits));

/** Per-sample values at epoch position pos. */
export function sampleAt(view, i, pos = view.pos) {
  const { N, labels, predictions, confidence, splitCodes } = view.d;
  const scale = confidence.dtype === 'uint8' ? 1 / 255 : 1;
  return {
    label: labels[i],
    prediction: predictions[pos * N + i],
    confidence: confidence.data[pos * N + i] * scale,
    split: view.model.get('split_names')[splitCodes[i]] ?? '',
  };
}

export const className = (view, c) => view.model.get('class_names')[c] ?? String(c);
export const classColor = (view, c) => markColor(view.model.get('palette')[c] || '#777777');

/** A class swatch (the mark colour of class c). */
export function swatch(view, c) {
  const s = h('span', { class: 'dvi-cswatch' });
  s.style.background = classColor(view, c);
  return s;
}

/**
 * Horizontal bars: rows of { label, value (0..1), text, color }; returns a div.
 * Hand-written rather than a chart library: a bar is a sized div.
 */
export function bars(rows, cls = '') {
  return h('div', { class: `dvi-bars ${cls}` }, rows.map((r) => {
    const fill = h('span', { class: 'dvi-bar-fill' });
    fill.style.width = `${Math.max(0, Math.min(1, r.value)) * 100}%`;
    fill.style.background = r.color || '#4a6fa5';
    return h('div', { class: 'dvi-bar-row', title: r.title || `${r.label}: ${r.text}` }, [
      h('span', { class: 'dvi-bar-label', text: r.label }),
      h('span', { class: 'dvi-bar-track' }, [fill]),
      h('span', { class: 'dvi-bar-text', text: r.text }),
    ]);
  }));
}

/** Jet-like colour map for heat maps: t in [0, 1] -> [r, g, b]. */
export function heat(t) {
  const x = Math.max(0, Math.min(1, t));
  const r = Math.max(0, Math.min(1, 1.5 - Math.abs(4 * x - 3)));
  const g = Math.max(0, Math.min(1, 1.5 - Math.abs(4 * x - 2)));
  const b = Math.max(0, Math.min(1, 1.5 - Math.abs(4 * x - 1)));
  return [255 * r, 255 * g, 255 * b];
}

/** An empty-state / status line. */
export const note = (text, cls = '') => h('div', { class: `dvi-note ${cls}`, text });
