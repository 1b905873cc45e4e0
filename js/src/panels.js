// The panel area next to the plot: a collapsible column of panels, each registered by name.
//
// A panel is registered once with registerPanel(name, { title, create }); the `panels` trait lists
// which panels a widget shows, in order. create(view, body) builds the panel into `body` and returns
// { update(reason), onMessage(msg, buffers), destroy() } (all optional). update() is called with
// 'epoch', 'column', 'filter', 'highlight', 'selection' or 'style' after the view changed; messages
// the kernel sends with { panel: name, ... } reach onMessage; a panel asks the kernel with
// view.send({ panel: name, ... }).
// spec.area places a panel: 'side' (default, the column next to the plot), 'below' (a row of cards
// under the plot, for wider panels) or 'overlay' (no frame: its body floats over the plot). A
// panel's title collapses it.
import { h, listeners } from './dom.js';

const PANELS = new Map();

/** Register a panel type under `name` (a later registration replaces an earlier one). */
export function registerPanel(name, spec) {
  if (typeof spec?.create !== 'function') throw new TypeError(`panel ${name} needs a create(view, body) function`);
  PANELS.set(name, spec);
}

export const registeredPanels = () => [...PANELS.keys()];

export class PanelArea {
  constructor(view, container) {
    this.view = view;
    this.container = container;
    this.ls = listeners();
    this.instances = new Map();
    this.toggle = h('button', { class: 'dvi-panels-toggle', type: 'button' });
    this.body = h('div', { class: 'dvi-panels-body' });
    this.below = h('div', { class: 'dvi-panels-below' });
    container.prepend(this.toggle);
    container.append(this.body);
    view.root.append(this.below);
    this.ls.add(this.toggle, 'click', () => view.setSave('panel_open', !view.model.get('panel_open')));
    this.build();
    this.syncOpen();
  }

  build() {
    for (const inst of this.instances.values()) inst.destroy?.();
    this.instances.clear();
    this.body.replaceChildren();
    this.below.replaceChildren();
    for (const el of this.overlays || []) el.remove();
    this.overlays = [];
    for (const name of this.view.model.get('panels') || []) {
      const spec = PANELS.get(name);
      if (!spec) {
        console.warn(`dvi_widget: no panel named ${name}; registered: ${registeredPanels().join(', ')}`);
        continue;
      }
      const body = h('div', { class: 'dvi-panel-body' });
      if (spec.area === 'overlay') {
        body.className = `dvi-overlay dvi-panel-${name}`;
        this.view.wrap.appendChild(body);
        this.overlays.push(body);
        this.instances.set(name, spec.create(this.view, body) || {});
        continue;
      }
      const title = h('button', { type: 'button', class: 'dvi-panel-title', text: spec.title ?? name, 'aria-expanded': 'true' });
      const section = h('section', { class: `dvi-panel dvi-panel-${name}` }, [title, body]);
      title.addEventListener('click', () => {
        const collapsed = section.classList.toggle('dvi-panel-collapsed');
        title.setAttribute('aria-expanded', String(!collapsed));
      });
      (spec.area === 'below' ? this.below : this.body).appendChild(section);
      this.instances.set(name, spec.create(this.view, body) || {});
    }
  }

  syncOpen() {
    const open = Boolean(this.view.model.get('panel_open'));
    this.container.classList.toggle('dvi-collapsed', !open);
    const under = this.view.root.classList.contains('dvi-narrow'); // the column is under the plot
    this.toggle.textContent = under ? (open ? '▾' : '▸') : (open ? '⟩' : '⟨');
    this.toggle.title = open ? 'hide the side panels' : 'show the side panels (legend)';
    this.toggle.setAttribute('aria-expanded', String(open));
  }

  update(reason) {
    for (const inst of this.instances.values()) inst.update?.(reason);
  }

  onMessage(msg, buffers) {
    this.instances.get(msg.panel)?.onMessage?.(msg, buffers);
  }

  destroy() {
    for (const inst of this.instances.values()) inst.destroy?.();
    this.instances.clear();
    for (const el of this.overlays || []) el.remove();
    this.ls.dispose();
  }
}
