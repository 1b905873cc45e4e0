// The toolbar: playback and selection on the first row, display controls and search on a second;
// every control is labelled or titled. The help popover lists gestures and shortcuts.
import { decodeIndices } from './codecs.js';
import { h, listeners } from './dom.js';
import { findMatches, MATCH_MODES, searchFields } from './search.js';
import { Recorder } from './record.js';
import { downloadSnapshot } from './snapshot.js';

export const SPEEDS = [0.5, 1, 2, 4, 8];

/** Gestures and keyboard shortcuts, as shown in the help popover (and the README). */
export const HELP = [
  ['drag', 'pan (Pan mode), lasso (Lasso mode) or box (Box mode)'],
  ['shift + drag', 'lasso, in any mode'],
  ['wheel / pinch', 'zoom'],
  ['click a point', 'select it'],
  ['click anywhere', 'what the model predicts there; a point: its history'],
  ['double-click', 'clear the selection'],
  ['hover', 'sample card (class, prediction, confidence, image)'],
  ['legend click', 'highlight a class; shift/ctrl-click: filter to it'],
  ['chip ✕ (above the plot)', 'remove that highlight, filter or selection; one dimming at a time'],
  ['← / →', 'previous / next epoch (Home / End: first / last)'],
  ['space', 'play / pause'],
  ['p / l / b', 'Pan / Lasso / Box mode'],
  ['z', 'zoom to the selection'],
  ['r', 'reset the view (whole frame)'],
  ['/', 'search (index, class, any column; contains / whole word / exact / regex; Enter selects)'],
  ['Esc', 'clear the selection, close this help'],
  ['?', 'this help'],
];

/** The Clear button's tooltip: exactly what it clears (the selection of n samples) and what it leaves. */
export function clearTitle(n) {
  const what = n ? `clear the selection (${n} sample${n === 1 ? '' : 's'}; Esc or a double-click on the plot does the same)` : 'nothing is selected';
  return `${what}. Highlights, filters and the split shown stay: each has its chip above the plot, ✕ removes it.`;
}

const labelled = (text, control, title) => h('label', { class: 'dvi-field', title }, [h('span', { class: 'dvi-field-name', text }), control]);

export class Toolbar {
  constructor(view) {
    this.view = view;
    this.ls = listeners();
    const m = view.model;
    // ---- row 1: playback, mouse mode, selection
    this.playBtn = h('button', { type: 'button', class: 'dvi-play', title: 'play / pause (space)', 'aria-label': 'play / pause' });
    this.slider = h('input', { type: 'range', class: 'dvi-slider', min: '0', step: '1', title: 'epoch (← / →)', 'aria-label': 'epoch' });
    this.epochLabel = h('span', { class: 'dvi-epoch', 'aria-live': 'polite' });
    // the live view (Widget.follow): what its worker is doing, or its crash
    this.followEl = h('span', { class: 'dvi-follow', role: 'status' });
    this.speedSel = h('select', { class: 'dvi-speed', title: 'playback speed, epochs per second', 'aria-label': 'playback speed' });
    for (const s of SPEEDS) this.speedSel.appendChild(h('option', { value: String(s), text: `${s}/s` }));
    this.modeBtns = {};
    const modeGroup = h('span', { class: 'dvi-group', role: 'group', 'aria-label': 'mouse mode' });
    for (const [k, label, title] of [
      ['pan', 'Pan', 'drag pans, shift+drag lassos (p)'],
      ['lasso', 'Lasso', 'drag draws a lasso (l)'],
      ['box', 'Box', 'drag draws a box (b)'],
    ]) {
      const b = h('button', { type: 'button', class: `dvi-mode-${k}`, text: label, title, 'aria-pressed': 'false' });
      this.modeBtns[k] = b;
      modeGroup.appendChild(b);
    }
    this.zoomBtn = h('button', { type: 'button', class: 'dvi-zoom-sel', text: '⤢', title: 'zoom to the selection (z)', 'aria-label': 'zoom to the selection' });
    this.resetBtn = h('button', { type: 'button', class: 'dvi-reset', text: '⟲', title: 'reset the view to the whole frame (r)', 'aria-label': 'reset the view' });
    this.cameraBtn = h('button', { type: 'button', class: 'dvi-camera', text: 'PNG', title: 'camera: save a PNG of the plot as shown (2x resolution)', 'aria-label': 'save a PNG of the plot' });
    this.status = h('span', { class: 'dvi-status', 'aria-live': 'polite' });
    // Clear clears the selection only (chips.js: the selection is one dimming emphasis at a time;
    // a highlight or a filter is a separate, named choice, removed by its own chip's ✕)
    this.clearBtn = h('button', { type: 'button', class: 'dvi-clear', text: 'Clear', 'aria-label': 'clear the selection' });
    this.helpBtn = h('button', { type: 'button', class: 'dvi-help-btn', text: '?', title: 'gestures and shortcuts (?)', 'aria-label': 'help', 'aria-expanded': 'false' });
    // a saved page (no kernel) records the playback as a video (record.js)
    this.recorder = new Recorder(view);
    const row1 = h('div', { class: 'dvi-row dvi-row-main' }, [
      this.playBtn, this.slider, this.epochLabel, this.followEl, this.speedSel, modeGroup,
      h('span', { class: 'dvi-group' }, [this.zoomBtn, this.resetBtn, this.cameraBtn, this.recorder.offered && this.recorder.btn]),
      this.status, this.clearBtn, this.helpBtn,
    ]);
    // ---- row 2: display and search
    this.colorSel = h('select', { class: 'dvi-colorby' });
    this.showSel = h('select', { class: 'dvi-show' }, [
      h('option', { value: 'both', text: 'all' }),
      h('option', { value: 'train', text: 'train' }),
      h('option', { value: 'test', text: 'test' }),
    ]);
    this.sizeRange = h('input', { type: 'range', class: 'dvi-size', min: '1', max: '20', step: '0.5' });
    this.pointOpacity = h('input', { type: 'range', class: 'dvi-point-opacity', min: '0.05', max: '1', step: '0.05' });
    this.landOpacity = h('input', { type: 'range', class: 'dvi-land-opacity', min: '0', max: '1', step: '0.05' });
    this.loopBox = h('input', { type: 'checkbox', class: 'dvi-loop' });
    this.labelsBox = h('input', { type: 'checkbox', class: 'dvi-class-labels' });
    this.contoursBox = h('input', { type: 'checkbox', class: 'dvi-contours-toggle' });
    this.searchBox = h('input', { type: 'search', class: 'dvi-search', placeholder: 'search: index, class, value…', 'aria-label': 'search' });
    this.searchField = h('select', { class: 'dvi-search-field', title: 'search in', 'aria-label': 'search in' });
    for (const [value, text] of searchFields(view)) this.searchField.appendChild(h('option', { value, text }));
    this.matchSel = h('select', { class: 'dvi-search-mode', title: 'how the text matches a value', 'aria-label': 'match' },
      MATCH_MODES.map(([v, t]) => h('option', { value: v, text: t })));
    this.matches = h('span', { class: 'dvi-matches', 'aria-live': 'polite' });
    const row2 = h('div', { class: 'dvi-row dvi-row-display' }, [
      labelled('colour', this.colorSel, 'colour the points by a column'),
      labelled('show', this.showSel, 'which split is drawn'),
      labelled('size', this.sizeRange, 'point size'),
      labelled('points', this.pointOpacity, 'point opacity'),
      labelled('landscape', this.landOpacity, 'landscape opacity (0 hides it)'),
      labelled('loop', this.loopBox, 'playback starts again after the last epoch'),
      labelled('class names', this.labelsBox, "each class's name at its densest region, moving with the epochs"),
      labelled('contours', this.contoursBox, 'density contours of each class (25 % and 60 % of its peak)'),
    ]);
    // the search bar sits above the side panels (placed by the view)
    this.searchEl = h('div', { class: 'dvi-searchbar', title: 'index (3, 10-20), class name or any column value; Enter selects the matches' }, [
      this.searchBox, h('div', { class: 'dvi-search-opts' }, [this.searchField, this.matchSel]), this.matches,
    ]);
    this.el = h('div', { class: 'dvi-toolbar' }, [row1, row2]);
    // ---- help popover
    this.help = h('div', { class: 'dvi-help', role: 'dialog', 'aria-label': 'gestures and shortcuts' }, [
      h('div', { class: 'dvi-help-title' }, [h('b', { text: 'Gestures and shortcuts' }), h('button', { type: 'button', class: 'dvi-help-close', text: '×', title: 'close (Esc)' })]),
      h('table', {}, HELP.map(([k, v]) => h('tr', {}, [h('th', { text: k }), h('td', { text: v })]))),
    ]);
    this.fillColorOptions();
    this.wire(m);
  }

  fillColorOptions() {
    this.colorSel.replaceChildren();
    for (const col of this.view.columns.values()) {
      if (col.kind === 'categorical' && !col.colors) continue; // too many values to colour
      this.colorSel.appendChild(h('option', { value: col.name, text: col.name, title: col.title }));
    }
  }

  wire(m) {
    const view = this.view;
    const ls = this.ls;
    const setSave = (k, v) => view.setSave(k, v);
    ls.add(this.slider, 'input', () => setSave('epoch', m.get('epochs')[Number(this.slider.value)]));
    ls.add(this.playBtn, 'click', () => setSave('playing', !m.get('playing')));
    ls.add(this.speedSel, 'change', () => setSave('speed', Number(this.speedSel.value)));
    ls.add(this.loopBox, 'change', () => setSave('loop', this.loopBox.checked));
    ls.add(this.labelsBox, 'change', () => setSave('class_labels', this.labelsBox.checked));
    ls.add(this.contoursBox, 'change', () => setSave('density_contours', this.contoursBox.checked));
    ls.add(this.colorSel, 'change', () => setSave('color_by', this.colorSel.value));
    ls.add(this.showSel, 'change', () => setSave('show', this.showSel.value));
    ls.add(this.sizeRange, 'input', () => setSave('point_size', Number(this.sizeRange.value)));
    ls.add(this.pointOpacity, 'input', () => setSave('point_opacity', Number(this.pointOpacity.value)));
    ls.add(this.landOpacity, 'input', () => setSave('landscape_opacity', Number(this.landOpacity.value)));
    for (const [k, b] of Object.entries(this.modeBtns)) ls.add(b, 'click', () => setSave('mouse_mode', k));
    ls.add(this.clearBtn, 'click', () => view.clearSelection());
    ls.add(this.zoomBtn, 'click', () => view.plot.zoomToSelection());
    ls.add(this.resetBtn, 'click', () => view.plot.fit());
    ls.add(this.cameraBtn, 'click', () => downloadSnapshot(view, 2));
    ls.add(this.helpBtn, 'click', () => this.toggleHelp());
    ls.add(this.help.querySelector('.dvi-help-close'), 'click', () => this.toggleHelp(false));
    ls.add(this.searchBox, 'input', () => this.previewSearch());
    ls.add(this.searchField, 'change', () => this.previewSearch());
    ls.add(this.matchSel, 'change', () => this.previewSearch());
    ls.add(this.searchBox, 'keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        this.runSearch();
      } else if (e.key === 'Escape') {
        this.searchBox.value = '';
        this.previewSearch();
        view.root.focus({ preventScroll: true });
      }
    });
  }

  /** Matches of the search box at the shown epoch, or an Error for a bad pattern. */
  matchesNow() {
    try {
      return findMatches(this.view, this.searchBox.value, {
        field: this.searchField.value,
        mode: this.matchSel.value,
      });
    } catch (err) {
      return err;
    }
  }

  previewSearch() {
    const q = this.searchBox.value.trim();
    const res = q ? this.matchesNow() : null;
    const bad = res instanceof Error;
    this.searchBox.classList.toggle('dvi-bad', bad || (res !== null && res.length === 0));
    this.matches.textContent = !q ? '' : bad ? 'bad pattern' : `${res.length} match${res.length === 1 ? '' : 'es'}`;
    return res;
  }

  runSearch() {
    const res = this.previewSearch();
    if (!res || res instanceof Error || res.length === 0) return;
    this.view.setSelection(res);
    if (res.length === 1) {
      this.view.plot.hover(res[0]);
      this.view.tooltip.show(res[0]);
    }
  }

  toggleHelp(open) {
    const show = open ?? this.help.style.display !== 'block';
    this.help.style.display = show ? 'block' : 'none';
    this.helpBtn.setAttribute('aria-expanded', String(show));
    return show;
  }

  get helpOpen() {
    return this.help.style.display === 'block';
  }

  sync() {
    const view = this.view;
    const m = view.model;
    const epochs = m.get('epochs');
    const pos = view.pos;
    this.slider.max = String(epochs.length - 1);
    this.slider.value = String(pos);
    const follow = m.get('follow_status') || '';
    this.followEl.textContent = follow;
    this.followEl.style.display = follow ? '' : 'none';
    this.followEl.classList.toggle('dvi-follow-error', follow.startsWith('live view stopped:'));
    // a fit of a subset of the recorded epochs (DVI.fit(run, epochs=every(5))): the slider
    // steps through the fitted epochs only, nothing in between is interpolated, and it says so
    const gaps = epochs.some((e, i) => i > 0 && e - epochs[i - 1] > 1);
    this.epochLabel.textContent = `epoch ${m.get('epoch')} (${pos + 1}/${epochs.length}${gaps ? ' fitted' : ''})`;
    this.epochLabel.title = gaps
      ? `only the fitted epochs are shown (${epochs.length}: ${epochs.slice(0, 4).join(', ')}${epochs.length > 4 ? ', …' : ''}); recorded epochs between them are not fitted and not interpolated`
      : '';
    this.playBtn.textContent = m.get('playing') ? '❚❚' : '▶';
    this.speedSel.value = String(m.get('speed'));
    if (this.speedSel.value !== String(m.get('speed'))) {
      // a speed from Python that is not in the list: show it anyway
      this.speedSel.appendChild(h('option', { value: String(m.get('speed')), text: `${m.get('speed')}/s` }));
      this.speedSel.value = String(m.get('speed'));
    }
    this.loopBox.checked = Boolean(m.get('loop'));
    this.labelsBox.checked = Boolean(m.get('class_labels'));
    this.contoursBox.checked = Boolean(m.get('density_contours'));
    this.colorSel.value = m.get('color_by');
    this.showSel.value = m.get('show');
    this.sizeRange.value = String(m.get('point_size'));
    this.pointOpacity.value = String(m.get('point_opacity'));
    this.landOpacity.value = String(m.get('landscape_opacity'));
    const mode = m.get('mouse_mode');
    for (const [k, b] of Object.entries(this.modeBtns)) {
      b.classList.toggle('dvi-on', k === mode);
      b.setAttribute('aria-pressed', String(k === mode));
    }
    const sel = decodeIndices(m.get('selection'));
    const n = sel ? sel.length : 0;
    this.status.textContent = n ? `${n} selected` : '';
    this.clearBtn.disabled = n === 0;
    this.clearBtn.title = clearTitle(n);
    this.zoomBtn.disabled = n === 0;
  }

  destroy() {
    this.ls.dispose();
  }
}
