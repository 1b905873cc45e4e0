// The decision landscape under the points: one texture per epoch (uploaded on first use), blended
// on the GPU into the one texture regl-scatterplot shows as its background image.
//
// The shown image is mix(white, mix(A, B, p), opacity * alpha): `opacity` is the landscape_opacity
// trait (washing the palette colours toward white keeps the marks, drawn in the same palette,
// readable) and p runs from 0 to 1 while the points move from epoch A to epoch B, with the points'
// easing, so points never sit on another epoch's background.
// A large run's density raster (raster.js) is drawn over that, with its own alpha (none otherwise:
// a 1 x 1 transparent texture, which leaves every pixel as it was).

/** Epoch textures kept on the GPU (least recently used are dropped). */
const MAX_EPOCH_TEXTURES = 12;
/** Cells per side of the shown texture while a finer landscape fills a hole in it (zoom.js): the
 * hole's edge, one cell wide after linear filtering, stays a few screen pixels wide when zoomed. */
export const HOLE_RES = 2048;

const BLEND_FRAG = `
precision mediump float;
uniform sampler2D a;
uniform sampler2D b;
uniform float p;
uniform float opacity;
uniform vec2 size;
uniform vec4 hole;
uniform sampler2D dens;
void main() {
  vec2 uv = gl_FragCoord.xy / size;
  vec4 d = texture2D(dens, uv);
  if (uv.x > hole.x && uv.x < hole.z && uv.y > hole.y && uv.y < hole.w) {
    // transparent but for the density (premultiplied): the finer landscape beneath shows (zoom.js)
    gl_FragColor = vec4(d.rgb * d.a, d.a);
    return;
  }
  vec4 c = mix(texture2D(a, uv), texture2D(b, uv), p);
  gl_FragColor = vec4(mix(mix(vec3(1.0), c.rgb, opacity * c.a), d.rgb, d.a), 1.0);
}`;

const BLEND_VERT = `
precision mediump float;
attribute vec2 position;
void main() { gl_Position = vec4(position, 0.0, 1.0); }`;

export class Landscape {
  /**
   * @param {object} regl the renderer's regl instance
   * @param {Uint8Array} data (T, H, W, 4) RGBA, row 0 = top
   * @param {number} H
   * @param {number} W
   */
  constructor(regl, data, H, W) {
    this.regl = regl;
    this.data = data;
    this.H = H;
    this.W = W;
    this.textures = new Map(); // pos -> texture
    const target = () => regl.framebuffer({
      color: regl.texture({ width: W, height: H, min: 'linear', mag: 'linear' }),
      depthStencil: false,
    });
    this.out = target();
    this.texture = this.out.color[0];
    this.blend = regl({
      frag: BLEND_FRAG,
      vert: BLEND_VERT,
      attributes: { position: [-1, -1, 3, -1, -1, 3] },
      uniforms: {
        a: regl.prop('a'),
        b: regl.prop('b'),
        p: regl.prop('p'),
        opacity: regl.prop('opacity'),
        hole: regl.prop('hole'),
        size: regl.prop('size'),
        dens: regl.prop('dens'),
      },
      framebuffer: regl.prop('fb'),
      viewport: { x: 0, y: 0, width: regl.prop('size.0'), height: regl.prop('size.1') },
      depth: { enable: false },
      blend: { enable: false },
      count: 3,
    });
    this.from = null; // texture shown at p = 0
    this.to = null; // epoch position shown at p = 1
    this.p = 1;
    this.opacity = 1;
    this.hole = null; // [x0, x1, y0, y1] normalised: shown by a finer landscape (zoom.js)
    this.res = [W, H]; // the shown texture's size: W x H, or HOLE_RES^2 with a hole
    this.density = regl.texture({ width: 1, height: 1, data: new Uint8Array(4), min: 'linear', mag: 'linear' });
    this.densityRes = 0; // cells per side of the density raster (0: none)
  }

  /** The shown texture's size without a hole: the landscape's, or the density raster's if finer. */
  baseRes() {
    return [Math.max(this.W, this.densityRes), Math.max(this.H, this.densityRes)];
  }

  /** Draw a density raster (RGBA, res x res, row 0 = top) over the landscape, or none (null). */
  setDensity(rgba, res) {
    if (rgba) this.density({ data: rgba, width: res, height: res, min: 'linear', mag: 'linear' });
    else this.density({ width: 1, height: 1, data: new Uint8Array(4) });
    this.densityRes = rgba ? res : 0;
    this.setHole(this.hole); // resizes the shown texture if needed and renders
  }

  /** The texture coordinates [u0, v0, u1, v1] of the hole, inset by one cell (its linear edge
   * then blends over the finer landscape), or an empty rectangle. */
  holeUV() {
    if (!this.hole) return [2, 2, -2, -2];
    const [x0, x1, y0, y1] = this.hole;
    // texture row 0 = the top of the frame (y = 1); u = (x + 1) / 2, v = (1 - y) / 2; no inset
    // (and no edge) where the hole reaches the frame's own edge
    const du = (x) => (Math.abs(x) >= 1 ? 0 : 1 / this.res[0]);
    const dv = (y) => (Math.abs(y) >= 1 ? 0 : 1 / this.res[1]);
    const out = [(x0 + 1) / 2 + du(x0), (1 - y1) / 2 + dv(y1), (x1 + 1) / 2 - du(x1), (1 - y0) / 2 - dv(y0)];
    for (const k of [0, 1]) if (out[k] <= 0) out[k] = -1;
    for (const k of [2, 3]) if (out[k] >= 1) out[k] = 2;
    return out;
  }

  /** Leave the normalised rectangle `rect` ([x0, x1, y0, y1]) transparent, or nothing (null). */
  setHole(rect) {
    this.hole = rect;
    const max = this.regl.limits.maxTextureSize;
    const res = rect ? [Math.min(HOLE_RES, max), Math.min(HOLE_RES, max)] : this.baseRes();
    if (res[0] !== this.res[0] || res[1] !== this.res[1]) {
      this.res = res;
      this.out.resize(res[0], res[1]); // the same texture object: the scatterplot keeps showing it
    }
    if (this.to !== null) this.render();
  }

  /** New (T, H, W, 4) data (the live view's next visualization): the epochs' textures are
   * made again from it. */
  replaceData(data, H, W) {
    for (const tex of this.textures.values()) tex.destroy();
    this.textures.clear();
    this.from = null; // a cross-fade in progress ends on the new data
    this.data = data;
    this.H = H;
    this.W = W;
    if (this.to !== null) this.show(this.to);
  }

  epochTexture(pos) {
    let tex = this.textures.get(pos);
    if (tex) {
      this.textures.delete(pos); // re-insert: most recently used last
    } else {
      const { H, W } = this;
      tex = this.regl.texture({
        data: this.data.subarray(pos * H * W * 4, (pos + 1) * H * W * 4),
        width: W, height: H, format: 'rgba', min: 'linear', mag: 'linear',
      });
      if (this.textures.size >= MAX_EPOCH_TEXTURES) {
        const [oldPos, oldTex] = this.textures.entries().next().value;
        if (oldPos !== this.to) {
          oldTex.destroy();
          this.textures.delete(oldPos);
        }
      }
    }
    this.textures.set(pos, tex);
    return tex;
  }

  render() {
    const b = this.epochTexture(this.to);
    const a = this.from ?? b;
    this.blend({
      a, b, p: this.p, opacity: this.opacity, hole: this.holeUV(), size: this.res, fb: this.out, dens: this.density,
    });
  }

  /** Show epoch `pos` at once. */
  show(pos, opacity = this.opacity) {
    this.from = null;
    this.to = pos;
    this.p = 1;
    this.opacity = opacity;
    this.render();
  }

  /**
   * Start a cross-fade from the epoch shown now toward epoch `pos`; advance it with progress(p).
   * (The plot draws one epoch change at a time, so a fade always starts from a settled epoch.)
   */
  fadeTo(pos) {
    if (this.to === null) {
      this.show(pos);
      return;
    }
    this.from = this.epochTexture(this.to);
    this.to = pos;
    this.p = 0;
    this.render();
  }

  progress(p) {
    const q = Math.max(0, Math.min(1, p));
    if (q === this.p) return;
    this.p = q;
    if (q >= 1) this.from = null;
    this.render();
  }

  setOpacity(opacity) {
    this.opacity = opacity;
    if (this.to !== null) this.render();
  }

  destroy() {
    for (const t of this.textures.values()) t.destroy();
    this.textures.clear();
    this.density.destroy();
    this.out.destroy();
  }
}
