// The legend panel: one entry per category of the colour-by column with its count at the shown
// epoch and split; click highlights a category, shift/ctrl/cmd-click filters to it. Numeric
// columns get a colour bar. Swatches are drawn like the marks: the mark colour, at the point size,
// on the washed landscape colour of that class. Many categories: the list scrolls and can be
// searched.
import { hexToRgb, rgbToHex } from './colors.js';
import { niceTicks } from './columns.js';
import { h, listeners } from './dom.js';
import { categoryColors, markColor, OPACITY_FACTORS, SIZE_FACTORS } from './marks.js';
import { registerPanel } from './panels.js';

/** Above this many categories the legend shows its search box. */
export const LEGEND_SEARCH_MIN = 12;

const clampPx = (v) => Math.max(5, Math.min(16, v));

/** A swatch: a mark of colour `color` on the background `bg`, like the plot draws it. */
function swatch(color, { size, opacity = 1, bg = null }) {
  const dot = h('span', { class: 'dvi-dot' });
  dot.style.cssText = `width:${size}px;height:${size}px;background:${color};opacity:${opacity}`;
  const box = h('span', { class: 'dvi-swatch' }, [dot]);
  if (bg) box.style.background = bg;
  return box;
}

const washed = (hex, opacity) => rgbToHex(hexToRgb(hex).map((c) => 255 - opacity * (255 - c)));
/** The train / test key's mark colour when the points are not coloured by split. */
export const KEY_NEUTRAL = '#8a8a8a';

/**
 * The colour the points of each split code (0 train, 1 test) are drawn in, when the colour-by
 * column gives every sample of that split one category (colour by split, or a column equal to
 * it); else null for that split. The train / test key then shows those colours, not a neutral one.
 */
export function splitColors(col, values, splitCodes, codes = [0, 1]) {
  if (col.kind !== 'categorical' || !col.colors) return codes.map(() => null);
  return codes.map((code) => {
    let v = -1;
    for (let i = 0; i < splitCodes.length; i++) {
      if (splitCodes[i] !== code) continue;
      if (v === -1) v = values[i];
      else if (values[i] !== v) return null;
    }
    return v >= 0 ? col.colors[v] : null;
  });
}

class Legend {
  constructor(view, body) {
    this.view = view;
    this.ls = listeners();
    this.title = h('div', { class: 'dvi-legend-title' });
    this.search = h('input', { type: 'search', class: 'dvi-legend-search', placeholder: 'find a class…', 'aria-label': 'find a legend entry' });
    this.list = h('div', { class: 'dvi-legend-list', role: 'list' });
    this.bar = h('div', { class: 'dvi-colorbar' });
    this.hint = h('div', { class: 'dvi-legend-hint', text: 'click: highlight · shift-click: filter' });
    this.clear = h('button', { type: 'button', class: 'dvi-legend-clear', text: 'show all', title: 'clear the legend highlight and filter' });
    this.marks = h('div', { class: 'dvi-legend-marks' });
    this.legend = h('div', { class: 'dvi-legend' }, [this.title, this.search, this.list, this.bar, this.hint, this.clear, this.marks]);
    body.appendChild(this.legend);
    this.ls.add(this.search, 'input', () => this.applySearch());
    this.ls.add(this.clear, 'click', () => {
      view.setLegendState([], []);
    });
    // shift-click filters: the browser must not start a text selection on it
    this.ls.add(this.list, 'mousedown', (e) => {
      if (e.shiftKey || e.ctrlKey || e.metaKey) e.preventDefault();
    });
    this.ls.add(this.list, 'click', (e) => {
      const row = e.target.closest('[data-k]');
      if (!row) return;
      const k = Number(row.dataset.k);
      view.toggleCategory(k, e.shiftKey || e.ctrlKey || e.metaKey ? 'filter' : 'highlight');
    });
    this.rebuild();
  }

  rebuild() {
    const view = this.view;
    const col = view.column;
    const m = view.model;
    this.title.textContent = `colour: ${col.title}`;
    this.rows = [];
    this.list.replaceChildren();
    this.bar.replaceChildren();
    const size = clampPx(Number(m.get('point_size')) * SIZE_FACTORS[0]);
    const land = Number(m.get('landscape_opacity'));
    const classColumn = col.name === 'label' || col.name === 'prediction';
    if (col.kind === 'categorical') {
      const colors = categoryColors(col);
      col.categories.forEach((name, k) => {
        const count = h('span', { class: 'dvi-count' });
        const row = h('div', { class: 'dvi-legend-row', 'data-k': String(k), role: 'listitem', title: `${name}: click to highlight, shift-click to filter` }, [
          swatch(markColor(colors[k]), { size, bg: classColumn ? washed(colors[k], land) : null }),
          h('span', { class: 'dvi-legend-name', text: name }),
          count,
        ]);
        this.rows.push({ row, count, name: name.toLowerCase() });
        this.list.appendChild(row);
      });
      this.list.style.display = '';
      this.bar.style.display = 'none';
    } else {
      const colors = categoryColors(col);
      const strip = h('div', { class: 'dvi-colorbar-strip' });
      strip.style.background = `linear-gradient(to right, ${colors.map((c) => markColor(c)).join(', ')})`;
      const fmt = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : String(Math.round(v * 1000) / 1000));
      this.barCount = h('div', { class: 'dvi-colorbar-count' });
      // round intermediate ticks, each at its place along the bar
      const span = col.max - col.min;
      const ticks = h('div', { class: 'dvi-colorbar-ticks' }, niceTicks(col.min, col.max).map((v) => {
        const t = h('span', { text: fmt(v), 'data-value': String(v) });
        const at = span > 0 ? (v - col.min) / span : 0.5;
        t.style.left = `${(100 * at).toFixed(2)}%`;
        t.style.transform = at < 0.02 ? 'none' : at > 0.98 ? 'translateX(-100%)' : 'translateX(-50%)';
        return t;
      }));
      this.bar.append(strip, ticks, this.barCount);
      this.list.style.display = 'none';
      this.bar.style.display = '';
    }
    const many = this.rows.length > LEGEND_SEARCH_MIN;
    this.search.style.display = many ? '' : 'none';
    this.hint.style.display = col.kind === 'categorical' ? '' : 'none';
    this.applySearch();
    this.renderMarks(size);
    this.update('epoch');
  }

  renderMarks(size) {
    const view = this.view;
    const op = Number(view.model.get('point_opacity'));
    // coloured by split: each key in its split's colour; otherwise a neutral grey (the key tells
    // size and opacity, and no class colour should look like "train")
    const [trainC, testC] = splitColors(view.column, view.column.values(view.pos), view.d.splitCodes);
    const rows = [
      [swatch(markColor(trainC || KEY_NEUTRAL), { size, opacity: OPACITY_FACTORS[0] * op }), 'train', 'train'],
      [swatch(markColor(testC || KEY_NEUTRAL), { size: clampPx(size * SIZE_FACTORS[2]), opacity: Math.min(1, OPACITY_FACTORS[2] * op) }), 'test (smaller)', 'test'],
    ];
    if (view.model.get('mark_misclassified')) {
      rows.push([swatch(markColor(KEY_NEUTRAL, true), { size: clampPx(size * SIZE_FACTORS[1]), opacity: Math.min(1, OPACITY_FACTORS[1] * op) }), 'misclassified (darker, larger)', 'misclassified']);
    }
    this.marks.replaceChildren(...rows.map(([sw, text, key]) => h('div', { class: 'dvi-legend-row dvi-static', 'data-key': key }, [sw, h('span', { text })])));
  }

  applySearch() {
    const q = this.search.value.trim().toLowerCase();
    for (const r of this.rows) r.row.style.display = !q || r.name.includes(q) ? '' : 'none';
  }

  update(reason) {
    if (reason === 'column' || reason === 'style') {
      this.rebuild();
      return;
    }
    const view = this.view;
    const counts = view.counts(view.pos);
    const hl = new Set(view.model.get('highlight_categories') || []);
    const fl = new Set(view.model.get('filter_categories') || []);
    if (view.column.kind === 'categorical') {
      this.rows.forEach((r, k) => {
        r.count.textContent = String(counts.perCategory[k] ?? 0);
        r.row.classList.toggle('dvi-hl', hl.has(k));
        r.row.classList.toggle('dvi-filtered-out', fl.size > 0 && !fl.has(k));
      });
    } else if (this.barCount) {
      this.barCount.textContent = `${counts.total} shown${counts.missing ? `, ${counts.missing} missing` : ''}`;
    }
    this.clear.style.display = hl.size || fl.size ? '' : 'none';
  }

  destroy() {
    this.ls.dispose();
    this.legend.remove();
  }
}

registerPanel('legend', { title: 'Legend', create: (view, body) => new Legend(view, body) });
