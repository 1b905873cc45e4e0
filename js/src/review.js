// The review queue inside the Selection panel: the label issues the kernel ranks
// (dvi_widget/view/review.py, panel 'review'), as image tiles with given → suggested label, and
// marks written back to the run folder. Keys while the queue has focus: ←/→ (or j/k) move,
// m = mislabeled (corrected class: the suggested one, or the digit typed before m), c = correct,
// u = unsure, x = clear; clicking a tile moves to it. Each mark is a kernel request; the kernel
// updates the `review_marks` trait, which the `review` column (colour, filter, search) follows.
import { h, listeners } from './dom.js';
import { kernelOf } from './kernel.js';
import { thumbsOf } from './thumbs.js';
import { className, classColor, note } from './ui.js';

/** Issues one queue request asks for. */
export const QUEUE_SIZE = 40;
const MARK_KEYS = { m: 'mislabeled', c: 'correct', u: 'unsure', x: 'none' };
const SYMBOL = { mislabeled: '✗', correct: '✓', unsure: '?', unmarked: '' };

export class ReviewQueue {
  constructor(view, body) {
    this.view = view;
    this.kernel = kernelOf(view);
    this.thumbs = thumbsOf(view);
    this.ls = listeners();
    this.items = [];
    this.cursor = 0;
    this.digit = null;
    this.status = h('div', { class: 'dvi-note dvi-review-status' });
    this.help = note('keys: ←/→ move · m mislabeled (a digit first picks the class) · c correct · u unsure · x clear');
    this.list = h('div', { class: 'dvi-review-list', tabindex: '0', role: 'listbox', 'aria-label': 'label issues, most suspicious first' });
    this.el = h('div', { class: 'dvi-review' }, [this.status, this.help, this.list]);
    body.append(this.el);
    this.ls.add(this.list, 'keydown', (e) => this.onKey(e));
  }

  async load() {
    if (!this.kernel.available) {
      this.status.textContent = 'the review queue needs a running kernel';
      return;
    }
    this.status.textContent = 'ranking label issues…';
    try {
      const { msg } = await this.kernel.ask('review', { action: 'queue', k: QUEUE_SIZE, epoch: this.view.model.get('epoch') });
      this.items = msg.samples.map((s, k) => ({ sample: s, given: msg.given[k], suggested: msg.suggested[k], score: msg.score[k], mark: msg.marks[k], corrected: msg.corrected[k] }));
      this.writable = msg.writable;
      this.cursor = Math.min(this.cursor, Math.max(0, this.items.length - 1));
      this.render();
    } catch (err) {
      this.status.replaceChildren(note(String(err.message || err), 'dvi-error'));
    }
  }

  render() {
    const view = this.view;
    const epoch = view.model.get('epoch');
    const done = this.items.filter((it) => it.mark !== 'unmarked').length;
    this.status.textContent = `${this.items.length} most likely label issues up to epoch ${epoch} (combined rank) · ${done} reviewed`;
    const images = this.thumbs.available;
    this.tiles = this.items.map((it, k) => {
      const cv = h('canvas', { width: 1, height: 1 });
      const badge = h('span', { class: 'dvi-review-mark', text: SYMBOL[it.mark] ?? '' });
      const given = h('span', { class: 'dvi-review-given', text: className(view, it.given) });
      given.style.color = classColor(view, it.given);
      const sugg = h('span', { class: 'dvi-review-sugg', text: className(view, it.mark === 'mislabeled' && it.corrected != null ? it.corrected : it.suggested) });
      sugg.style.color = classColor(view, it.suggested);
      const btn = (mark, text, title) => {
        const b = h('button', { type: 'button', class: `dvi-review-${mark}`, text, title });
        b.addEventListener('click', (e) => {
          e.stopPropagation();
          this.cursor = k;
          this.send(mark);
        });
        return b;
      };
      const tile = h('div', {
        class: `dvi-review-tile dvi-review-${it.mark}${k === this.cursor ? ' dvi-focus' : ''}`,
        'data-sample': String(it.sample), role: 'option', 'aria-selected': String(k === this.cursor),
        title: `#${it.sample}: given ${className(view, it.given)}, suggested ${className(view, it.suggested)} (score ${it.score})`,
      }, [
        ...(images ? [cv] : []), badge,
        // two lines, each cut on its own: a long class name keeps the other one readable
        h('div', { class: 'dvi-review-labels' }, [h('div', {}, [given]), h('div', {}, ['→ ', sugg])]),
        h('div', { class: 'dvi-review-btns' }, [btn('mislabeled', '✗', 'mislabeled: the suggested class is right (m)'), btn('correct', '✓', 'the given label is correct (c)'), btn('unsure', '?', 'unsure (u)')]),
      ]);
      tile.addEventListener('click', () => this.move(k - this.cursor));
      return { tile, cv, sample: it.sample };
    });
    this.list.replaceChildren(...this.tiles.map((t) => t.tile));
    if (!this.items.length) this.list.replaceChildren(note('no label issues to review'));
    if (images && this.items.length) {
      const ids = this.items.map((it) => it.sample);
      this.thumbs.load(ids).then(() => {
        for (const t of this.tiles || []) this.thumbs.drawNow(t.cv, t.sample);
      }).catch(() => {});
    }
  }

  move(step) {
    if (!this.items.length) return;
    this.cursor = Math.max(0, Math.min(this.items.length - 1, this.cursor + step));
    this.tiles.forEach((t, k) => {
      t.tile.classList.toggle('dvi-focus', k === this.cursor);
      t.tile.setAttribute('aria-selected', String(k === this.cursor));
    });
    this.reveal(this.tiles[this.cursor]?.tile);
    this.view.setSave('focus_sample', this.items[this.cursor].sample);
  }

  /** Scroll the list (only the list: the panel keeps its header in view) to show `tile`. */
  reveal(tile) {
    if (!tile) return;
    const list = this.list;
    const top = tile.offsetTop - list.offsetTop;
    if (top < list.scrollTop) list.scrollTop = top;
    else if (top + tile.offsetHeight > list.scrollTop + list.clientHeight) list.scrollTop = top + tile.offsetHeight - list.clientHeight;
  }

  onKey(e) {
    const key = e.key;
    if (key === 'ArrowRight' || key === 'ArrowDown' || key === 'j') this.move(1);
    else if (key === 'ArrowLeft' || key === 'ArrowUp' || key === 'k') this.move(-1);
    else if (/^[0-9]$/.test(key)) this.digit = Number(key);
    else if (MARK_KEYS[key]) this.send(MARK_KEYS[key]);
    else return;
    e.preventDefault();
    e.stopPropagation();
  }

  async send(mark) {
    const it = this.items[this.cursor];
    if (!it) return;
    const C = this.view.model.get('class_names').length;
    const label = mark === 'mislabeled' ? (this.digit != null && this.digit < C ? this.digit : it.suggested) : null;
    this.digit = null;
    try {
      const { msg } = await this.kernel.ask('review', { action: 'mark', sample: it.sample, mark, label });
      it.mark = msg.mark ?? 'unmarked';
      it.corrected = msg.label;
      const cur = this.cursor;
      this.render();
      this.cursor = cur;
      this.move(mark === 'none' ? 0 : 1); // on to the next issue
      this.list.focus({ preventScroll: true });
    } catch (err) {
      this.status.replaceChildren(note(String(err.message || err), 'dvi-error'));
    }
  }

  destroy() {
    this.ls.dispose();
  }
}
