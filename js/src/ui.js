// Shared pieces of the interrogation panels (issue 13): their CSS, small SVG charts, formatting,
// and per-sample values read from the view's decoded data.
import { h } from './dom.js';
import { markColor } from './marks.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes (no HTML is ever parsed). */
export function svg(tag, attrs = {}, children = []) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children) if (c) e.appendChild(c);
  return e;
}

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

/** Insert the panels' CSS into the view once. */
export function ensureStyle(view) {
  if (view.root.querySelector('style[data-dvi-interrogate]')) return;
  const style = h('style', { 'data-dvi-interrogate': '', text: PANEL_CSS });
  view.root.appendChild(style);
}

/** An empty-state / status line. */
export const note = (text, cls = '') => h('div', { class: `dvi-note ${cls}`, text });

export const PANEL_CSS = `
.dvi-panels-below { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.dvi-panels-below:empty { display: none; }
.dvi-panels-below .dvi-panel { flex: 1 1 300px; max-width: 100%; border: 1px solid #e2e2e2; border-radius: 4px; padding: 4px 6px; box-sizing: border-box; }
.dvi-panels-below .dvi-panel-selection { flex: 3 1 440px; }
.dvi-panels-below .dvi-panel-sample { flex: 2 1 380px; }
button.dvi-panel-title { font: inherit; font-weight: 600; color: #444; background: none; border: none; padding: 0; text-align: left; cursor: pointer; }
button.dvi-panel-title::before { content: '▾ '; color: #888; }
.dvi-panel-collapsed > button.dvi-panel-title::before { content: '▸ '; }
.dvi-panel-collapsed > .dvi-panel-body { display: none; }
.dvi-note { color: #777; font-size: 11px; }
.dvi-note.dvi-error { color: #b3261e; }
.dvi-row2 { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; margin: 2px 0; }
.dvi-row2 select, .dvi-row2 button, .dvi-row2 input { font: inherit; font-size: 11px; }
.dvi-row2 button { border: 1px solid #bbb; background: #f6f6f6; border-radius: 3px; cursor: pointer; padding: 0 6px; }
.dvi-row2 button:disabled { opacity: .45; cursor: default; }
.dvi-row2 button.dvi-on { background: #dbe8ff; border-color: #6b8fd6; }
.dvi-cswatch { display: inline-block; width: 9px; height: 9px; border-radius: 2px; flex: 0 0 auto; }
.dvi-bars { display: flex; flex-direction: column; gap: 1px; }
.dvi-bar-row { display: grid; grid-template-columns: minmax(50px, 90px) 1fr 44px; align-items: center; gap: 4px; font-size: 11px; }
.dvi-bar-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.dvi-bar-track { height: 9px; background: #eee; border-radius: 2px; overflow: hidden; }
.dvi-bar-fill { display: block; height: 100%; }
.dvi-bar-text { text-align: right; font-variant-numeric: tabular-nums; color: #444; }
.dvi-overlay.dvi-panel-inspect { position: absolute; left: 0; top: 0; width: 0; height: 0; z-index: 3; }
.dvi-popover canvas { position: static; }
.dvi-popover { position: absolute; width: 240px; background: rgba(255,255,255,.97); border: 1px solid #999; border-radius: 4px; box-shadow: 0 2px 8px rgba(0,0,0,.2); padding: 4px 6px; font-size: 11px; }
.dvi-popover-head { display: flex; justify-content: space-between; align-items: baseline; gap: 6px; color: #555; }
.dvi-popover-close { border: none; background: none; cursor: pointer; font-size: 14px; line-height: 1; padding: 0; }
.dvi-popover-pred { font-size: 12px; margin: 2px 0; }
.dvi-popover h4, .dvi-panel-body h4 { margin: 4px 0 1px; font-size: 11px; font-weight: 600; color: #555; }
.dvi-spot { position: absolute; width: 10px; height: 10px; margin: -6px 0 0 -6px; border: 2px solid #111; border-radius: 50%; box-shadow: 0 0 0 1px #fff; pointer-events: none; }
.dvi-nlist { display: flex; flex-direction: column; gap: 1px; }
.dvi-nrow { display: flex; align-items: center; gap: 4px; cursor: pointer; border-radius: 2px; padding: 0 2px; white-space: nowrap; font-size: 11px; min-height: 26px; }
.dvi-nrow:hover { background: #eef3fb; }
.dvi-nrow canvas { width: 24px; height: 24px; image-rendering: pixelated; background: #000; flex: 0 0 auto; }
.dvi-nrow .dvi-dist { margin-left: auto; color: #777; font-variant-numeric: tabular-nums; }
.dvi-flag { color: #b3261e; font-weight: 600; }
.dvi-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(54px, 1fr)); gap: 3px; max-height: 330px; overflow-y: auto; margin-top: 3px; }
.dvi-tile { display: flex; flex-direction: column; align-items: center; cursor: pointer; border: 2px solid transparent; border-radius: 3px; padding: 1px; min-width: 0; }
.dvi-tile:hover { background: #eef3fb; }
.dvi-tile.dvi-wrong { border-color: #e8a09a; }
.dvi-tile.dvi-focus { border-color: #1f4fbf; }
.dvi-tile canvas { width: 48px; height: 48px; image-rendering: pixelated; background: #000; }
.dvi-tile span { font-size: 9px; line-height: 11px; max-width: 52px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: #333; }
.dvi-comp { display: grid; grid-template-columns: auto 1fr 1fr; gap: 1px 6px; align-items: center; font-size: 11px; max-height: 120px; overflow-y: auto; }
.dvi-comp-name { display: flex; align-items: center; gap: 3px; white-space: nowrap; overflow: hidden; }
.dvi-comp-bar { height: 8px; background: #eee; border-radius: 2px; position: relative; overflow: hidden; }
.dvi-comp-bar span { position: absolute; left: 0; top: 0; bottom: 0; }
.dvi-rows { max-height: 300px; overflow: auto; }
.dvi-rows table { border-collapse: collapse; font-size: 11px; }
.dvi-rows th, .dvi-rows td { padding: 0 5px; text-align: left; white-space: nowrap; border-bottom: 1px solid #f0f0f0; }
.dvi-rows tr { cursor: pointer; }
.dvi-rows tbody tr:hover { background: #eef3fb; }
.dvi-cm { border-collapse: collapse; font-size: 10px; font-variant-numeric: tabular-nums; }
.dvi-cm th { font-weight: normal; color: #555; padding: 0 2px; white-space: nowrap; max-width: 64px; overflow: hidden; text-overflow: ellipsis; }
.dvi-cm thead th { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; height: 54px; vertical-align: bottom; }
.dvi-cm td { min-width: 18px; height: 16px; text-align: center; cursor: pointer; border: 1px solid #fff; }
.dvi-cm td:hover { outline: 1px solid #333; }
.dvi-cm td.dvi-active { outline: 2px solid #1f4fbf; outline-offset: -1px; }
.dvi-cm-wrap { overflow: auto; max-height: 360px; }
.dvi-curves .uplot { font-size: 10px; }
.dvi-curves .u-legend { font-size: 10px; }
.dvi-curves .u-legend .u-marker { width: .8em; height: .8em; }
.dvi-metrics { border-collapse: collapse; font-size: 11px; margin-top: 3px; }
.dvi-metrics th, .dvi-metrics td { padding: 0 6px; text-align: right; font-variant-numeric: tabular-nums; }
.dvi-metrics th:first-child, .dvi-metrics td:first-child { text-align: left; }
.dvi-sample-head { display: flex; gap: 8px; align-items: flex-start; }
.dvi-sample-head canvas { width: 72px; height: 72px; image-rendering: pixelated; background: #000; flex: 0 0 auto; }
.dvi-strip { display: block; margin: 2px 0; }
.dvi-strip rect.dvi-epoch-cell { cursor: pointer; }
.dvi-nn { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
.dvi-events-strip { display: block; margin: 2px 0; }
.dvi-events-strip rect { cursor: pointer; }
`;
