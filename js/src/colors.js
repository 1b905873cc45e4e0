// Colour arithmetic for marks, legend swatches and colour bars (sRGB <-> relative luminance, L*).

/** "#rrggbb" -> [r, g, b] in 0..255 */
export function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** [r, g, b] in 0..255 -> "#rrggbb" */
export const rgbToHex = (rgb) =>
  `#${rgb.map((c) => Math.max(0, Math.min(255, Math.round(c))).toString(16).padStart(2, '0')).join('')}`;

const toLinear = (c) => {
  const s = c / 255;
  return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
};
const fromLinear = (l) => 255 * (l <= 0.0031308 ? 12.92 * l : 1.055 * l ** (1 / 2.4) - 0.055);

/** WCAG relative luminance Y in [0, 1] of an sRGB colour. */
export function luminance([r, g, b]) {
  return 0.2126 * toLinear(r) + 0.7152 * toLinear(g) + 0.0722 * toLinear(b);
}

/** CIE L* (0 black .. 100 white) of a relative luminance Y. */
export function lightness(Y) {
  return Y > 216 / 24389 ? 116 * Math.cbrt(Y) - 16 : (24389 / 27) * Y;
}

const yOfLightness = (L) => (L > 8 ? ((L + 16) / 116) ** 3 : (L * 27) / 24389);

/**
 * The colour scaled toward black (in linear light, so the hue stays) until its L* is at most `maxL`.
 * Darker colours are returned unchanged.
 */
export function capLightness(hex, maxL) {
  const rgb = hexToRgb(hex);
  const Y = luminance(rgb);
  if (lightness(Y) <= maxL || Y === 0) return hex.toLowerCase();
  const k = yOfLightness(maxL) / Y;
  return rgbToHex(rgb.map((c) => fromLinear(toLinear(c) * k)));
}

/** The colour scaled toward black by `factor` of its L* (0.6 -> 60 % of its lightness). */
export function darken(hex, factor) {
  const L = lightness(luminance(hexToRgb(hex)));
  return capLightness(hex, L * factor);
}

// viridis at 9 stops (matplotlib's table, sampled evenly); interpolated linearly in sRGB.
const VIRIDIS = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

/** viridis(t) for t in [0, 1] as "#rrggbb". */
export function viridis(t) {
  const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  return rgbToHex(VIRIDIS[i].map((c, k) => c + f * (VIRIDIS[i + 1][k] - c)));
}
