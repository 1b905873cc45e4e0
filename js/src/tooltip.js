// Hover card: index, split, label, prediction, confidence, the colour-by value and a thumbnail.
import { columnText } from './columns.js';

/** Columns the card always shows; any other colour-by column gets a line of its own. */
const ALWAYS = new Set(['label', 'prediction', 'correct', 'confidence']);

export class Tooltip {
  constructor(view, el, text, thumb) {
    this.view = view;
    this.el = el;
    this.text = text;
    this.thumb = thumb;
  }

  show(i) {
    const view = this.view;
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
    const p = view.plot.scatterplot.getScreenPosition(i);
    if (!p) return;
    this.el.style.left = `${p[0] + 10}px`;
    this.el.style.top = `${p[1] + 10}px`;
    this.el.style.display = 'block';
  }

  hide() {
    this.el.style.display = 'none';
  }

  drawThumbnail(i) {
    const img = this.view.d.images;
    this.thumb.style.display = img ? 'block' : 'none';
    if (!img) return;
    const [, ih, iw, ch = 1] = img.shape;
    const rgba = new Uint8ClampedArray(ih * iw * 4);
    const base = i * ih * iw * ch;
    for (let p = 0; p < ih * iw; p++) {
      for (let c = 0; c < 3; c++) rgba[4 * p + c] = img.data[base + p * ch + (ch === 3 ? c : 0)];
      rgba[4 * p + 3] = 255;
    }
    this.thumb.width = iw;
    this.thumb.height = ih;
    this.thumb.getContext('2d').putImageData(new ImageData(rgba, iw, ih), 0, 0);
  }
}
