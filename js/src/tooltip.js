// Hover card: index, split, label, prediction, confidence, the colour-by value and a thumbnail
// (fetched from the kernel on first hover and cached: thumbs.js).
import { columnText } from './columns.js';
import { thumbsOf } from './thumbs.js';

/** Columns the card always shows; any other colour-by column gets a line of its own. */
const ALWAYS = new Set(['label', 'prediction', 'correct', 'confidence']);

export class Tooltip {
  constructor(view, el, text, thumb) {
    this.view = view;
    this.el = el;
    this.text = text;
    this.thumb = thumb;
    this.current = null; // the hovered sample
  }

  show(i) {
    this.current = i;
    const view = this.view;
    view.el.dataset.hoverAt = performance.now().toFixed(1); // for benchmarks/bench_widget.mjs
    const m = view.model;
    const pos = view.pos;
    const names = m.get('class_names');
    const { labels, predictions, N, splitCodes } = view.d;
    const label = labels[i];
    const pred = predictions[pos * N + i];
    const split = m.get('split_names')[splitCodes[i]] ?? '';
    const lines = [
      `#${i} (${split})`,
      `label: ${names[label] ?? label}`,
      `prediction: ${names[pred] ?? pred}${pred !== label ? '  ✗' : ''}`,
      `confidence: ${columnText(view.columns.get('confidence'), i, pos)}`,
    ];
    const col = view.column;
    if (!ALWAYS.has(col.name)) lines.push(`${col.title}: ${columnText(col, i, pos)}`);
    this.text.textContent = lines.join('\n');
    this.drawThumbnail(i);
    const p = view.plot.screenPosition(i);
    if (!p) return;
    this.el.style.left = `${p[0] + 10}px`;
    this.el.style.top = `${p[1] + 10}px`;
    this.el.style.display = 'block';
  }

  hide() {
    this.current = null;
    this.el.style.display = 'none';
  }

  drawThumbnail(i) {
    const thumbs = thumbsOf(this.view);
    this.thumb.style.display = thumbs.available ? 'block' : 'none';
    if (!thumbs.available || thumbs.drawNow(this.thumb, i)) return;
    this.thumb.dataset.sample = '';
    this.thumb.getContext('2d').clearRect(0, 0, this.thumb.width, this.thumb.height);
    thumbs.draw(this.thumb, i, () => this.current === i).catch(() => {
      if (this.current === i) this.thumb.style.display = 'none';
    });
  }
}
