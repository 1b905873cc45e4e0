// Requests to the kernel and their replies: view.send({ panel, id, ... }, buffers) goes out, the
// kernel answers { panel, reply: id, ... } (or { error }) with binary buffers (dvi_widget/view/panels.py).
// One Kernel per view, created on first use; it listens to the model's custom messages itself.

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
      this.view.send({ panel, id, ...content }, buffers.map((b) => (ArrayBuffer.isView(b) ? new DataView(b.buffer, b.byteOffset, b.byteLength) : b)));
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

function asDataView(b) {
  if (b instanceof DataView) return b;
  if (ArrayBuffer.isView(b)) return new DataView(b.buffer, b.byteOffset, b.byteLength);
  return new DataView(b);
}

/** The view's Kernel (created on first use). */
export function kernelOf(view) {
  if (!view.kernel) view.kernel = new Kernel(view);
  return view.kernel;
}

/** A typed array over a reply buffer. */
export function typed(Type, dv) {
  if (dv.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(dv.buffer, dv.byteOffset, dv.byteLength / Type.BYTES_PER_ELEMENT);
  return new Type(dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength));
}
