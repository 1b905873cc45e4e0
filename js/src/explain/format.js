// Pure helpers of the Explain panel (no DOM): which kinds are attacks, how strengths, units and
// flips read, and the colours of a surrogate's weight image. Unit-tested in js/test/.

/** Kinds whose path is a sequence of gradient steps toward a target (dvi_widget/view/explain/adversarial.py). */
export const ATTACKS = new Set(['fgsm', 'pgd']);

/** A strength or a score with three significant digits, no trailing zeros (23.2, 180, 0.0533). */
export const fmt = (v) => (v == null || Number.isNaN(v) ? '–' : String(Number(Number(v).toPrecision(3))));

/** The suffix a strength takes in its unit: 30° (degrees), step 3 (no suffix), 2 pixels. */
export const unitText = (unit) => (unit === 'degrees' ? '°' : unit === 'step' || !unit ? '' : ` ${unit}`);

/** A kind as the menus name it: "PGD attack", "translate x". */
export const kindLabel = (kind) => (ATTACKS.has(kind) ? `${kind.toUpperCase()} attack` : kind.replace('_', ' '));

/** Strength `s` of a path of `kind` in `unit`: "step 3" for attacks, "30°" for a rotation. */
export const strengthText = (kind, unit, s) => (ATTACKS.has(kind) ? `step ${s}` : `${fmt(s)}${unitText(unit)}`);

/**
 * The sentence under a path: where it first flips (or that it does not), and for a targeted attack
 * whether it reaches the target. `name(c)` names class c; `p` is the decoded explain_path value.
 */
export function flipSentence(p, name) {
  const s = p.strengths.data;
  const preds = p.predictions.data;
  const n = preds.length;
  const at = (k) => strengthText(p.kind, p.unit, s[k]);
  const f = p.first_flip_index;
  const from = name(p.original_prediction);
  let text = f >= 0 ? `first flip at ${at(f)}: ${from} → ${name(preds[f])}`
    : `no flip: ${from} over all ${n} ${ATTACKS.has(p.kind) ? 'steps' : `strengths (${at(0)} to ${at(n - 1)})`}`;
  if (ATTACKS.has(p.kind) && p.target != null) {
    text += p.reached_index >= 0 ? `; reaches ${name(p.target)} at step ${p.reached_index}` : `; does not reach ${name(p.target)}`;
  }
  return text;
}

/** Diverging white -> red (#b2182b, positive) / blue (#2166ac, negative) RGBA of n weights from `offset`, ±lim. */
export function weightRGBA(data, offset, n, lim) {
  const rgba = new Uint8ClampedArray(n * 4);
  for (let p = 0; p < n; p++) {
    const v = Math.max(-1, Math.min(1, data[offset + p] / (lim || 1)));
    const a = Math.abs(v);
    const [r, g, b] = v >= 0 ? [178, 24, 43] : [33, 102, 172];
    rgba[4 * p] = 255 - a * (255 - r);
    rgba[4 * p + 1] = 255 - a * (255 - g);
    rgba[4 * p + 2] = 255 - a * (255 - b);
    rgba[4 * p + 3] = 255;
  }
  return rgba;
}

/** The classes whose mean probability reaches `min` somewhere on a (S, C) row-major curve. */
export function visibleClasses(mean, S, C, min) {
  const out = [];
  for (let c = 0; c < C; c++) {
    let top = 0;
    for (let k = 0; k < S; k++) top = Math.max(top, mean[k * C + c]);
    if (top >= min) out.push(c);
  }
  return out;
}

/**
 * Picture k of a decoded (S, h, w) grey or (S, h, w, 3|4) uint8 stack as RGBA bytes and its size:
 * { rgba: Uint8ClampedArray, w, h }, or null when there is no such picture.
 */
export function pictureRGBA(images, k) {
  if (!images || !images.shape || k < 0 || k >= images.shape[0]) return null;
  const [, hgt, wid] = images.shape;
  const c = images.shape.length > 3 ? images.shape[3] : 1;
  const n = hgt * wid;
  const src = images.data;
  const rgba = new Uint8ClampedArray(4 * n);
  for (let p = 0; p < n; p++) {
    const o = (k * n + p) * c;
    rgba[4 * p] = src[o];
    rgba[4 * p + 1] = src[c >= 3 ? o + 1 : o];
    rgba[4 * p + 2] = src[c >= 3 ? o + 2 : o];
    rgba[4 * p + 3] = c === 4 ? src[o + 3] : 255;
  }
  return { rgba, w: wid, h: hgt };
}

/** Up to `max` indices of 0..n-1, evenly spaced, always holding 0, n - 1 and each of `keep`. */
export function stripIndices(n, max, keep = []) {
  if (n <= max) return Array.from({ length: n }, (_, k) => k);
  const out = new Set([0, n - 1, ...keep.filter((k) => k >= 0 && k < n)]);
  const slots = max - out.size;
  for (let j = 1; j <= slots; j++) out.add(Math.round((j * (n - 1)) / (slots + 1)));
  return [...out].sort((a, b) => a - b);
}

/**
 * A weight map (h, w) from `offset` smoothed by a separable [1 2 1]/4 kernel applied `passes` times
 * (edges clamped): the per-pixel weights of a linear surrogate are noisy; their smoothed map shows
 * the regions that raise or lower the class.
 */
export function smoothWeights(data, offset, hgt, wid, passes = 2) {
  let cur = Float32Array.from(data.subarray(offset, offset + hgt * wid));
  const tmp = new Float32Array(hgt * wid);
  const at = (a, y, x) => a[Math.min(hgt - 1, Math.max(0, y)) * wid + Math.min(wid - 1, Math.max(0, x))];
  for (let k = 0; k < passes; k++) {
    for (let y = 0; y < hgt; y++) for (let x = 0; x < wid; x++) tmp[y * wid + x] = (at(cur, y, x - 1) + 2 * at(cur, y, x) + at(cur, y, x + 1)) / 4;
    const next = new Float32Array(hgt * wid);
    for (let y = 0; y < hgt; y++) for (let x = 0; x < wid; x++) next[y * wid + x] = (at(tmp, y - 1, x) + 2 * at(tmp, y, x) + at(tmp, y + 1, x)) / 4;
    cur = next;
  }
  return cur;
}
