// Unit tests of colors.js: hex <-> rgb, luminance and L*, lightness caps, viridis.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capLightness, darken, hexToRgb, lightness, luminance, rgbToHex, viridis } from '../src/colors.js';

test('hex and rgb convert both ways, clamped and rounded', () => {
  assert.deepEqual(hexToRgb('#1f77b4'), [31, 119, 180]);
  assert.equal(rgbToHex([31, 119, 180]), '#1f77b4');
  assert.equal(rgbToHex([-4, 255.6, 127.4]), '#00ff7f');
});

test('luminance and L* of black, white and mid grey', () => {
  assert.equal(luminance([0, 0, 0]), 0);
  assert.ok(Math.abs(luminance([255, 255, 255]) - 1) < 1e-12);
  assert.ok(Math.abs(lightness(1) - 100) < 1e-9);
  assert.ok(Math.abs(lightness(luminance([119, 119, 119])) - 50) < 0.5); // #777 is L* ~50
});

test('capLightness darkens light colours to the cap and leaves dark ones', () => {
  const capped = capLightness('#FFFF00', 55);
  assert.ok(Math.abs(lightness(luminance(hexToRgb(capped))) - 55) < 0.6, capped);
  const [r, g, b] = hexToRgb(capped);
  assert.ok(r === g && b === 0, `hue kept: ${capped}`);
  assert.equal(capLightness('#102030', 55), '#102030');
  assert.equal(capLightness('#000000', 10), '#000000');
});

test('darken scales L* by its factor', () => {
  const L = lightness(luminance(hexToRgb('#1f77b4')));
  const Ld = lightness(luminance(hexToRgb(darken('#1f77b4', 0.6))));
  assert.ok(Math.abs(Ld - 0.6 * L) < 0.6, `${Ld} vs ${0.6 * L}`);
});

test('viridis ends at its table, clamps outside [0, 1]', () => {
  assert.equal(viridis(0), '#440154');
  assert.equal(viridis(1), '#fde725');
  assert.equal(viridis(-3), viridis(0));
  assert.equal(viridis(7), viridis(1));
  assert.equal(viridis(0.5), '#21908d');
});
