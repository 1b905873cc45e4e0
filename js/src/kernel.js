// The one envelope every panel asks the kernel through: view.send({ panel, id, ... }, buffers) goes
// out, the kernel answers once { panel, reply: id, ... } (or { error }) with binary buffers
// (dvi_widget/view/protocol.py). One Kernel per view, created on first use; it listens to the
// model's custom messages itself. State a saved page must keep comes back as synced traits, not in
// replies.
import { asDataView } from './codecs.js';

/** How long a request may wait for its reply before it fails (a busy kernel answers late). */
export const REPLY_TIMEOUT_MS = 60000;

let views = 0;

export class Kernel {
  constructor(view) {
    this.view = view;
    this.prefix = `${Date.now().toString(36)}-${(views += 1)}`; // two views of one model share replies
    this.next = 0;
    this.waiting = new Map();
    view.ls.model(view.model, 'msg:custom', (msg, buffers) => this.onMessage(msg, buffers));
    view.ls.push(() => this.dispose());
  }

  /** Whether a kernel answers (false in a save_html page, or when the model cannot send). */
  get available() {
    const caps = this.view.model.get('capabilities') || {};
    return caps.kernel !== false && typeof this.view.model.send === 'function';
  }

  /**
   * Ask panel `panel`'s kernel handler; resolves with { msg, buffers } (buffers as DataViews),
   * rejects with the kernel's error message.
   */
  ask(panel, content = {}, buffers = [], timeoutMs = REPLY_TIMEOUT_MS) {
    if (!this.available) return Promise.reject(new Error('needs a running kernel'));
    const id = `${this.prefix}-${(this.next += 1)}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error('the kernel did not answer (busy, or not running)'));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.view.send({ panel, id, ...content }, buffers.map(asDataView));
    });
  }

  onMessage(msg, buffers) {
    if (!msg || msg.reply === undefined || !this.waiting.has(msg.reply)) return;
    const { resolve, reject, timer } = this.waiting.get(msg.reply);
    this.waiting.delete(msg.reply);
    clearTimeout(timer);
    if (msg.error) reject(new Error(msg.error));
    else resolve({ msg, buffers: (buffers || []).map(asDataView) });
  }

  dispose() {
    for (const { reject, timer } of this.waiting.values()) {
      clearTimeout(timer);
      reject(new Error('the view was closed'));
    }
    this.waiting.clear();
  }
}

/** The view's Kernel (created on first use). */
export function kernelOf(view) {
  if (!view.kernel) view.kernel = new Kernel(view);
  return view.kernel;
}
