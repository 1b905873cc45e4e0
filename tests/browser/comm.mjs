// A browser-side model speaking the ipywidgets comm protocol to tests/browser/kernel_harness.py
// over HTTP: state from the comm_open message, `update` and `custom` messages out (POST /msg,
// in order), the kernel's messages in by long polling (GET /poll). Buffers are base64 on the wire.
const b64ToView = (s) => {
  const bytes = Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  return new DataView(bytes.buffer);
};
const viewToB64 = (v) => {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let s = '';
  for (let k = 0; k < bytes.length; k += 0x8000) s += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
  return btoa(s);
};

function putBuffers(state, paths, buffers) {
  paths.forEach((path, k) => {
    let obj = state;
    for (const key of path.slice(0, -1)) obj = obj[key];
    obj[path[path.length - 1]] = buffers[k];
  });
}

/** Lift DataViews / ArrayBuffers / typed arrays out of a value (like ipywidgets' remove_buffers). */
function removeBuffers(state) {
  const paths = [];
  const buffers = [];
  const walk = (v, path) => {
    if (v instanceof DataView || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
      paths.push(path);
      buffers.push(v instanceof ArrayBuffer ? new DataView(v) : new DataView(v.buffer, v.byteOffset, v.byteLength));
      return null;
    }
    if (Array.isArray(v)) return v.map((x, k) => walk(x, [...path, k]));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...path, k])]));
    return v;
  };
  return { state: walk(state, []), paths, buffers };
}

export async function connect(base = '') {
  const init = await fetch(`${base}/state`).then((r) => r.json());
  const state = init.state;
  // binary, as a kernel's websocket carries them (base64 in JSON ran out of memory at 1M x 20)
  const buffers = await Promise.all(Array.from({ length: init.buffer_count },
    (_, k) => fetch(`${base}/buffer/${k}`).then((r) => r.arrayBuffer()).then((b) => new DataView(b))));
  putBuffers(state, init.buffer_paths, buffers);
  const listeners = new Map();
  const fire = (name, ...args) => {
    for (const fn of [...(listeners.get(name) || [])]) fn(...args);
  };
  let dirty = {};
  let chain = Promise.resolve();
  // each message is sent at once, as a websocket would, numbered so that the harness handles
  // them in order (waiting for one's answer before sending the next made a message wait for
  // whatever the page did in between)
  let seq = 0;
  const post = (path, body) => {
    const sent = fetch(`${base}${path}`, { method: 'POST', headers: { 'X-Seq': String(seq++) }, body: JSON.stringify(body) });
    chain = Promise.all([chain, sent]).then(([, r]) => {
      if (!r.ok) return r.text().then((t) => console.error(`kernel ${path}: ${t}`));
      return null;
    });
    return chain;
  };
  const stats = { sent: 0, received: 0, custom: [] };
  const model = {
    stats,
    get: (k) => state[k],
    set(k, v) {
      state[k] = v;
      dirty[k] = v;
      fire(`change:${k}`, v);
    },
    on(name, fn) {
      for (const n of name.split(' ')) {
        if (!listeners.has(n)) listeners.set(n, new Set());
        listeners.get(n).add(fn);
      }
    },
    off(name, fn) {
      for (const n of (name || '').split(' ')) listeners.get(n)?.delete(fn);
    },
    save_changes() {
      const changes = dirty;
      dirty = {};
      if (!Object.keys(changes).length) return;
      const { state: s, paths, buffers } = removeBuffers(changes);
      stats.sent += 1;
      post('/msg', { data: { method: 'update', state: s, buffer_paths: paths }, buffers: buffers.map(viewToB64) });
    },
    send(content, callbacks, buffers = []) {
      stats.sent += 1;
      stats.custom.push(content);
      post('/msg', { data: { method: 'custom', content }, buffers: (buffers || []).map((b) => viewToB64(b instanceof DataView ? b : new DataView(b.buffer ?? b, b.byteOffset ?? 0, b.byteLength))) });
    },
  };
  let since = 0;
  let stopped = false;
  const apply = (res) => {
    since = res.next;
    for (const m of res.messages) {
      if (m.msg_type !== 'comm_msg') continue;
      const data = m.data;
      const buffers = m.buffers.map(b64ToView);
      stats.received += 1;
      if (data.method === 'update') {
        putBuffers(data.state, data.buffer_paths || [], buffers);
        for (const [k, v] of Object.entries(data.state)) {
          state[k] = v;
          fire(`change:${k}`, v);
        }
      } else if (data.method === 'custom') {
        fire('msg:custom', data.content, buffers);
      } // 'echo_update': the front end's own change coming back; ignored
    }
  };
  const loop = async () => {
    while (!stopped) {
      try {
        apply(await fetch(`${base}/poll?since=${since}`).then((r) => r.json()));
      } catch (err) {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  // what the kernel queued after the comm_open (updates made while building the widget)
  apply(await fetch(`${base}/poll?since=0`).then((r) => r.json()));
  loop();
  model.stop = () => { stopped = true; };
  model.flush = () => chain; // resolves when every message sent so far has been handled
  return model;
}

/** Run Python in the harness; resolves with the value of `result`. */
export async function kernelEval(code, base = '') {
  await window.model?.flush?.(); // what the page sent before is handled first, as in a kernel
  const r = await fetch(`${base}/eval`, { method: 'POST', body: JSON.stringify({ code }) });
  if (!r.ok) throw new Error(await r.text());
  return (await r.json()).result;
}
