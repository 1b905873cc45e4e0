// A fake anywidget model with deterministic data, for browser tests and benchmarks.
// Classes sit in tight clusters; epoch t moves every cluster to a different quadrant, so a known
// lasso polygon encloses a known set of indices.

export const LAND_COLORS = [[255, 0, 0], [0, 200, 0], [0, 0, 255], [255, 200, 0]];
export const CENTERS = [[-0.5, 0.5], [0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]];

/** Cluster centre of class c at epoch position t (rotates one quadrant per epoch). */
export const center = (c, t) => CENTERS[(c + t) % 4];

export function makeState({ T = 3, N = 400, H = 32, W = 32, spread = 0.08, nTest = null, thumbs = true, names = null, splitColumn = false, traits = {} } = {}) {
  const C = 4;
  const coords = new Float32Array(T * N * 2);
  const labels = new Uint8Array(N);
  const predictions = new Uint8Array(T * N);
  const confidence = new Uint8Array(T * N);
  const splitCodes = new Uint8Array(N);
  const test = nTest ?? Math.floor(N / 4);
  let seed = 1;
  const rand = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  for (let i = 0; i < N; i++) {
    labels[i] = i % C;
    splitCodes[i] = i >= N - test ? 1 : 0;
  }
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < N; i++) {
      const [cx, cy] = center(labels[i], t);
      const a = rand() * 2 * Math.PI;
      const r = Math.sqrt(rand()) * spread;
      coords[2 * (t * N + i)] = cx + r * Math.cos(a);
      coords[2 * (t * N + i) + 1] = cy + r * Math.sin(a);
      predictions[t * N + i] = i % 10 === 0 ? (labels[i] + 1) % C : labels[i];
      confidence[t * N + i] = 128 + (i % 128);
    }
  }
  // landscape: each quadrant one colour (row 0 = top), fully opaque
  const landscape = new Uint8Array(T * H * W * 4);
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < H; r++) {
      for (let c = 0; c < W; c++) {
        const q = (r < H / 2 ? 0 : 2) + (c < W / 2 ? 0 : 1);
        const k = 4 * ((t * H + r) * W + c);
        landscape.set([...LAND_COLORS[(q + t) % 4], 255], k);
      }
    }
  }
  // 8x8 grey thumbnails: a bar whose row is the class id (so a test can read the class back)
  const images = new Uint8Array(N * 64);
  for (let i = 0; i < N; i++) for (let c = 0; c < 8; c++) images[i * 64 + 2 * labels[i] * 8 + c] = 255;
  const buf = (data, dtype, shape) => ({ view: new DataView(data.buffer), dtype, shape });
  // metadata columns as the kernel sends them: a boolean, a small-integer round, a numeric score
  const noisy = new Uint8Array(N);
  const round = new Uint8Array(N);
  const score = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    noisy[i] = i % 5 === 0 ? 1 : 0;
    round[i] = i % 3;
    score[i] = i === 7 ? Number.NaN : i / N;
  }
  const epochs = Array.from({ length: T }, (_, t) => t * 5);
  return {
    coords: buf(coords, 'float32', [T, N, 2]),
    labels: buf(labels, 'uint8', [N]),
    predictions: buf(predictions, 'uint8', [T, N]),
    confidence: buf(confidence, 'uint8', [T, N]),
    split_codes: buf(splitCodes, 'uint8', [N]),
    landscape: buf(landscape, 'uint8', [T, H, W, 4]),
    split_names: ['train', 'test'],
    epochs,
    class_names: names || ['zero <b>0</b>', 'one', 'two', 'three'],
    palette: ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'],
    epoch: epochs[0],
    selection: null,
    highlight_indices: null,
    filter_indices: null,
    trail_indices: null,
    show: 'both',
    color_by: 'label',
    mark_misclassified: true,
    point_size: 6,
    playing: false,
    speed: 4,
    loop: true,
    transition_ms: 200,
    mouse_mode: 'pan',
    height: 400,
    // the images stay in the "kernel" (makeModel answers thumbnail requests from them)
    capabilities: thumbs ? { kernel: true, images: [8, 8], inspector: false, explain: false, max_thumbnails: 1024 } : {},
    _images: thumbs ? images : null,
    columns: [
      { name: 'noisy', kind: 'categorical', codes: buf(noisy, 'uint8', [N]), categories: ['False', 'True'], colors: ['#9a9a9a', '#d62728'] },
      { name: 'round', kind: 'categorical', codes: buf(round, 'uint8', [N]), categories: ['0', '1', '2'], colors: ['#1f77b4', '#ff7f0e', '#2ca02c'] },
      { name: 'score', kind: 'numeric', values: buf(score, 'float32', [N]), min: 0, max: (N - 1) / N },
      // as Widget(metadata=...) sends a "split" column: categories sorted, default palette
      ...(splitColumn ? [{ name: 'split', kind: 'categorical', codes: buf(splitCodes.map((c) => (c === 0 ? 1 : 0)), 'uint8', [N]), categories: ['test', 'train'], colors: ['#1f77b4', '#ff7f0e'] }] : []),
    ],
    highlight_categories: [],
    filter_categories: [],
    point_opacity: 1,
    landscape_opacity: 0.45,
    panels: ['legend'],
    panel_open: true,
    ...traits,
  };
}

/** Minimal anywidget model: get/set/on/off/save_changes/send, change events fire synchronously. */
export function makeModel(state) {
  const listeners = new Map();
  const saved = [];
  return {
    saved,
    get: (k) => state[k],
    set(k, v) {
      state[k] = v;
      for (const fn of [...(listeners.get(`change:${k}`) || [])]) fn(v);
    },
    on(name, fn) {
      if (!listeners.has(name)) listeners.set(name, new Set());
      listeners.get(name).add(fn);
    },
    off(name, fn) {
      listeners.get(name)?.delete(fn);
    },
    listenerCount: () => [...listeners.values()].reduce((a, s) => a + s.size, 0),
    save_changes() {
      saved.push(Date.now());
    },
    sent: [],
    sentBuffers: [],
    /** A message from the kernel (msg:custom), as anywidget delivers it. */
    emit(content, buffers = []) {
      for (const fn of [...(listeners.get('msg:custom') || [])]) fn(content, buffers);
    },
    /** A fake kernel: answers thumbnail requests with a PNG atlas of the fixture's 8x8 images. */
    send(content, callbacks, buffers = []) {
      this.sent.push(content);
      this.sentBuffers.push(buffers);
      if (content?.panel !== 'thumbnails' || !state._images) return;
      const b = buffers[0];
      const ids = new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      const cols = Math.ceil(Math.sqrt(ids.length));
      const rows = Math.ceil(ids.length / cols);
      const canvas = new OffscreenCanvas(8 * cols, 8 * rows);
      const img = new ImageData(8 * cols, 8 * rows);
      ids.forEach((i, k) => {
        for (let p = 0; p < 64; p++) {
          const v = state._images[i * 64 + p];
          const x = (k % cols) * 8 + (p % 8);
          const y = Math.floor(k / cols) * 8 + Math.floor(p / 8);
          img.data.set([v, v, v, 255], 4 * (y * 8 * cols + x));
        }
      });
      canvas.getContext('2d').putImageData(img, 0, 0);
      canvas.convertToBlob({ type: 'image/png' }).then((blob) => blob.arrayBuffer()).then((png) => {
        const reply = { panel: 'thumbnails', reply: content.id, tile: [8, 8], columns: cols, n: ids.length };
        for (const fn of [...(listeners.get('msg:custom') || [])]) fn(reply, [new DataView(png)]);
      });
    },
  };
}
