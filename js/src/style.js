// The widget's CSS, injected once per view root (so save_html pages need no stylesheet).
export const CSS = `
.dvi-root { font: 12px/1.4 system-ui, sans-serif; color: #222; display: flex; flex-direction: column; gap: 4px; }
.dvi-toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
.dvi-toolbar button { padding: 2px 8px; border: 1px solid #bbb; background: #f6f6f6; border-radius: 3px; cursor: pointer; }
.dvi-toolbar button.dvi-on { background: #dbe8ff; border-color: #6b8fd6; }
.dvi-toolbar input[type=range].dvi-slider { width: 220px; }
.dvi-toolbar input[type=text] { width: 70px; }
.dvi-main { display: flex; gap: 8px; align-items: flex-start; }
.dvi-canvas-wrap { position: relative; flex: 1 1 auto; min-width: 200px; border: 1px solid #ddd; }
.dvi-canvas-wrap canvas { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.dvi-trails { pointer-events: none; }
.dvi-tooltip { position: absolute; pointer-events: none; background: rgba(255,255,255,.95); border: 1px solid #999;
  padding: 3px 6px; border-radius: 3px; white-space: pre; display: none; z-index: 2; font-size: 11px; }
.dvi-tooltip canvas.dvi-thumb { position: static; width: 64px; height: 64px; image-rendering: pixelated; margin-top: 3px; }
.dvi-legend { flex: 0 0 auto; max-height: 100%; overflow-y: auto; min-width: 110px; }
.dvi-legend div { display: flex; align-items: center; gap: 4px; margin: 1px 0; }
.dvi-swatch { width: 10px; height: 10px; border-radius: 50%; display: inline-block; flex: 0 0 auto; }
.dvi-status { color: #666; }
`;
