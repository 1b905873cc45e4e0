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
