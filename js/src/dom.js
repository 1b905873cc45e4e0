// Small DOM and SVG helpers shared by the parts of the view.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Create an element: h('button', { class: 'x', title: 't', text: 'label' }, [children]).
 * `text` sets textContent (never HTML), `class` the class name, anything else an attribute.
 */
export function h(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}

/** Listener bookkeeping: `add` returns nothing, `dispose` removes everything added. */
export function listeners() {
  const off = [];
  return {
    add(target, event, fn, opts) {
      target.addEventListener(event, fn, opts);
      off.push(() => target.removeEventListener(event, fn, opts));
    },
    model(model, name, fn) {
      model.on(name, fn);
      off.push(() => model.off(name, fn));
    },
    push(fn) {
      off.push(fn);
    },
    dispose() {
      while (off.length) off.pop()();
    },
  };
}

/** Whether two index arrays hold the same values in the same order. */
export function sameIndices(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** An SVG element with attributes (no HTML is ever parsed): svg('line', { x1: 0 }, [children]). */
export function svg(tag, attrs = {}, children = []) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children) if (c) e.appendChild(c);
  return e;
}

/**
 * The element an event really started on, and whether it happened inside `root`, also when the
 * widget lives in a shadow root (marimo, Panel): a listener on window sees such an event
 * retargeted to the shadow host, so `root.contains(e.target)` would be false.
 */
export const eventTarget = (e) => (typeof e.composedPath === 'function' && e.composedPath()[0]) || e.target;
export const inside = (root, e) => (typeof e.composedPath === 'function' ? e.composedPath().includes(root) : root.contains(e.target));
