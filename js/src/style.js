// The widget's CSS, injected once per view root (so save_html pages need no stylesheet).
export const CSS = `
.dvi-root { font: 12px/1.4 system-ui, sans-serif; color: #222; display: flex; flex-direction: column; gap: 4px; outline: none; min-width: 0; }
.dvi-root:focus-visible { box-shadow: 0 0 0 2px #9db7e8; }
.dvi-toolbar { display: flex; flex-direction: column; gap: 3px; }
.dvi-row { display: flex; align-items: center; gap: 6px; min-width: 0; }
.dvi-row-main { flex-wrap: nowrap; }
.dvi-row-display { flex-wrap: wrap; row-gap: 2px; color: #444; }
.dvi-toolbar button { padding: 1px 7px; border: 1px solid #bbb; background: #f6f6f6; border-radius: 3px; cursor: pointer; font: inherit; line-height: 18px; white-space: nowrap; }
.dvi-toolbar button:disabled { opacity: .45; cursor: default; }
.dvi-toolbar button.dvi-on { background: #dbe8ff; border-color: #6b8fd6; }
.dvi-toolbar select, .dvi-toolbar input { font: inherit; }
.dvi-group { display: inline-flex; gap: 2px; flex: 0 0 auto; }
.dvi-play { width: 30px; flex: 0 0 auto; }
.dvi-slider { flex: 1 1 90px; min-width: 60px; max-width: 320px; }
.dvi-epoch { white-space: nowrap; font-variant-numeric: tabular-nums; min-width: 96px; }
.dvi-status { color: #555; white-space: nowrap; margin-left: auto; font-variant-numeric: tabular-nums; }
.dvi-field { display: inline-flex; align-items: center; gap: 3px; white-space: nowrap; }
.dvi-field-name { color: #666; }
.dvi-field input[type=range] { width: 64px; }
.dvi-searchbar { display: flex; flex-direction: column; gap: 2px; margin-bottom: 4px; }
.dvi-search { width: 100%; box-sizing: border-box; font: inherit; }
.dvi-search.dvi-bad { background: #fde8e8; }
.dvi-search-opts { display: flex; align-items: center; gap: 3px; }
.dvi-search-opts select { font: inherit; max-width: 96px; }
.dvi-regex { font: inherit; border: 1px solid #bbb; background: #f6f6f6; border-radius: 3px; cursor: pointer; padding: 0 4px; }
.dvi-regex.dvi-on { background: #dbe8ff; border-color: #6b8fd6; }
.dvi-matches { color: #666; white-space: nowrap; }
.dvi-main { display: flex; gap: 6px; align-items: flex-start; min-width: 0; }
.dvi-canvas-wrap { position: relative; flex: 1 1 auto; min-width: 200px; border: 1px solid #ddd; overflow: hidden; }
.dvi-canvas-wrap canvas { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.dvi-trails { pointer-events: none; }
.dvi-tooltip { position: absolute; pointer-events: none; background: rgba(255,255,255,.95); border: 1px solid #999;
  padding: 3px 6px; border-radius: 3px; white-space: pre; display: none; z-index: 2; font-size: 11px; }
.dvi-tooltip canvas.dvi-thumb { position: static; width: 64px; height: 64px; image-rendering: pixelated; margin-top: 3px; }
.dvi-help { position: absolute; right: 8px; top: 8px; z-index: 3; display: none; background: #fff; border: 1px solid #aaa;
  border-radius: 4px; box-shadow: 0 2px 10px rgba(0,0,0,.18); padding: 6px 10px; max-height: calc(100% - 16px); overflow: auto; max-width: calc(100% - 16px); }
.dvi-help-title { display: flex; justify-content: space-between; align-items: center; gap: 12px; margin-bottom: 4px; }
.dvi-help-close { border: none; background: none; font-size: 16px; cursor: pointer; }
.dvi-help th { text-align: left; padding: 1px 10px 1px 0; white-space: nowrap; font-weight: 600; }
.dvi-help td { padding: 1px 0; }
.dvi-side { flex: 0 0 180px; display: flex; flex-direction: column; min-height: 0; overflow: hidden; }
.dvi-side.dvi-collapsed { flex-basis: 20px; }
.dvi-side.dvi-collapsed .dvi-panels-body, .dvi-side.dvi-collapsed .dvi-searchbar { display: none; }
.dvi-panels-toggle { align-self: flex-end; border: 1px solid #ccc; background: #f6f6f6; border-radius: 3px; cursor: pointer; padding: 0 5px; font: inherit; }
.dvi-panels-body { display: flex; flex-direction: column; gap: 6px; min-height: 0; flex: 1 1 auto; }
.dvi-panel { display: flex; flex-direction: column; min-height: 0; flex: 1 1 auto; }
.dvi-panel-title { font-weight: 600; color: #444; }
.dvi-panel-body { display: flex; flex-direction: column; min-height: 0; flex: 1 1 auto; }
.dvi-legend { display: flex; flex-direction: column; min-height: 0; flex: 1 1 auto; gap: 2px; }
.dvi-legend-title { color: #555; }
.dvi-legend-search { font: inherit; width: 100%; box-sizing: border-box; }
.dvi-legend-list { overflow-y: auto; min-height: 40px; flex: 1 1 auto; }
.dvi-legend-row { display: flex; align-items: center; gap: 5px; margin: 1px 0; padding: 0 2px; border-radius: 3px; cursor: pointer; }
.dvi-legend-row:hover { background: #eef3fb; }
.dvi-legend-row.dvi-static { cursor: default; background: none; }
.dvi-legend-row.dvi-hl { background: #dbe8ff; font-weight: 600; }
.dvi-legend-row.dvi-filtered-out { opacity: .4; text-decoration: line-through; }
.dvi-legend-name { flex: 1 1 auto; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.dvi-count { color: #666; font-variant-numeric: tabular-nums; }
.dvi-swatch { width: 18px; height: 18px; display: inline-flex; align-items: center; justify-content: center; flex: 0 0 auto; border-radius: 3px; }
.dvi-dot { border-radius: 50%; display: inline-block; }
.dvi-legend-hint { color: #888; font-size: 11px; }
.dvi-legend-clear { align-self: flex-start; font: inherit; font-size: 11px; border: 1px solid #ccc; background: #f6f6f6; border-radius: 3px; cursor: pointer; }
.dvi-legend-marks { border-top: 1px solid #eee; padding-top: 3px; color: #444; }
.dvi-colorbar-strip { height: 12px; border-radius: 2px; }
.dvi-colorbar-ticks { display: flex; justify-content: space-between; color: #555; font-variant-numeric: tabular-nums; }
.dvi-colorbar-count { color: #666; }
`;
