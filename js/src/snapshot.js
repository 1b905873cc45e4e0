// What is on screen, as a PNG: the plot's canvases in their stacking order (the landscape detail
// beneath, the points and landscape, contours, trails and paths above) and the class names, at
// `scale` pixels per CSS pixel. The points are re-rendered at that scale by regl-scatterplot's
// export, which reads its canvas in the very frame it drew (a WebGL drawing buffer may be cleared
// once composited); the 2-D overlays are drawn scaled. `w.to_png()` asks for it through a custom
// message; the camera button downloads it.

/** The snapshot as a canvas of (CSS size x scale) pixels. */
export async function snapshotCanvas(view, scale = 1) {
  const s = Math.max(0.25, Math.min(8, Number(scale) || 1));
  const r = view.canvas.getBoundingClientRect(); // the canvases' box (the wrap adds a border)
  const dpr = window.devicePixelRatio || 1;
  const points = await view.plot.scatterplot.export({ scale: s / dpr });
  const tmp = document.createElement('canvas');
  tmp.width = points.width;
  tmp.height = points.height;
  tmp.getContext('2d').putImageData(points, 0, 0);
  const out = document.createElement('canvas');
  out.width = Math.max(1, Math.round(r.width * s));
  out.height = Math.max(1, Math.round(r.height * s));
  composePlot(view, out.getContext('2d'), s, tmp);
  return out;
}

/**
 * Draw the plot as shown into `ctx` (its canvas sized CSS size x `s`): white, then the plot's
 * canvases in their stacking order with their opacity (`points` in place of the points canvas:
 * a re-rendered copy, or the points canvas itself, a 2-D copy of the WebGL drawing that stays
 * readable), then the class names. The snapshot and the record button (record.js) share it.
 */
export function composePlot(view, ctx, s, points = view.canvas) {
  const r = view.canvas.getBoundingClientRect();
  const { width: w, height: hgt } = ctx.canvas;
  ctx.globalAlpha = 1;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, hgt);
  for (const cv of view.wrap.querySelectorAll('canvas')) {
    if (cv.closest('.dvi-tooltip')) continue;
    const style = getComputedStyle(cv);
    if (style.display === 'none' || style.visibility === 'hidden' || !cv.width || !cv.height) continue;
    ctx.globalAlpha = Number(style.opacity);
    ctx.drawImage(cv === view.canvas ? points : cv, 0, 0, w, hgt);
  }
  ctx.globalAlpha = 1;
  for (const label of view.wrap.querySelectorAll('.dvi-cluster-label')) {
    const style = getComputedStyle(label);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    const b = label.getBoundingClientRect();
    ctx.font = `${style.fontWeight} ${parseFloat(style.fontSize) * s}px ${style.fontFamily}`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.lineWidth = 3 * s;
    ctx.strokeStyle = 'rgba(255,255,255,0.85)';
    const [x, y] = [(b.x + b.width / 2 - r.x) * s, (b.y + b.height / 2 - r.y) * s];
    ctx.strokeText(label.textContent, x, y);
    ctx.fillStyle = style.color;
    ctx.fillText(label.textContent, x, y);
  }
}

/** The snapshot as PNG bytes. */
export async function snapshotPng(view, scale = 1) {
  const cv = await snapshotCanvas(view, scale);
  const blob = await new Promise((resolve) => cv.toBlob(resolve, 'image/png'));
  return { png: new Uint8Array(await blob.arrayBuffer()), width: cv.width, height: cv.height };
}

/** Download a Blob as a file named `name` (the camera and record buttons). */
export function downloadBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** The camera button: download the snapshot at 2x as dvi-epoch-<epoch>.png. */
export async function downloadSnapshot(view, scale = 2) {
  const { png } = await snapshotPng(view, scale);
  downloadBlob(new Blob([png], { type: 'image/png' }), `dvi-epoch-${view.model.get('epoch')}.png`);
}

/** Answer the kernel's `{type: 'snapshot', id, scale}` with `{type: 'snapshot', reply: id}` + PNG. */
export async function answerSnapshot(view, msg) {
  try {
    const { png, width, height } = await snapshotPng(view, msg.scale);
    view.send({ type: 'snapshot', reply: msg.id, width, height }, [new DataView(png.buffer)]);
  } catch (err) {
    view.send({ type: 'snapshot', reply: msg.id, error: String(err?.message || err) }, []);
  }
}
