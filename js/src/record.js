// The record button of a saved page (save_html: no kernel): records the epoch playback, with its
// eased transitions, and downloads it as dvi-playback.webm. Each animation frame the plot as
// shown (white, landscape and points, overlays, class names: snapshot.js's composePlot) is drawn
// into a canvas whose captureStream() a MediaRecorder encodes (WebM). In a notebook,
// vis.animate() writes movies from Python.
import { h } from './dom.js';
import { composePlot, downloadBlob } from './snapshot.js';

/** WebM types tried in order; the first the browser's MediaRecorder supports is used. */
export const VIDEO_TYPES = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm'];

/** The WebM type this browser records, or null when it cannot record a canvas. */
export function videoType() {
  if (typeof MediaRecorder === 'undefined' || typeof HTMLCanvasElement.prototype.captureStream !== 'function') return null;
  return VIDEO_TYPES.find((t) => MediaRecorder.isTypeSupported(t)) || null;
}

const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * The first and the last epoch are held this long in the film (ms of real time): the video opens
 * and ends on a still picture, and a busy machine, whose encoder drops frames, still films both
 * ends (seen: a recording under load that held neither showed no change from start to end).
 */
export const HOLD_MS = 500;

/** Resolves once `epoch` is drawn and no draw (nor its transition) is in flight. */
async function drawn(view, epoch) {
  while (!view.destroyed && (view.el.dataset.drawnEpoch !== String(epoch) || view.plot.drawing || view.plot.pendingDraw)) await frame();
}

export class Recorder {
  constructor(view) {
    this.view = view;
    this.type = videoType();
    this.recording = null;
    this.btn = h('button', { type: 'button', class: 'dvi-record', text: '● REC', title: 'record the playback from the first epoch to the last as a WebM video (click again to stop early)', 'aria-label': 'record the playback as a video', 'aria-pressed': 'false' });
    this.btn.addEventListener('click', () => {
      if (this.recording) this.stop();
      else this.record().catch((err) => console.error('dvi_widget: recording failed', err));
    });
  }

  /** Whether the button belongs in the toolbar: a saved page, a browser that records, 2+ epochs. */
  get offered() {
    const caps = this.view.model.get('capabilities') || {};
    return caps.kernel === false && this.type !== null && (this.view.model.get('epochs') || []).length > 1;
  }

  /** Play from the first epoch to the last while recording; resolves with the video Blob. */
  async record() {
    const view = this.view;
    const m = view.model;
    const epochs = m.get('epochs');
    const loop = m.get('loop');
    this.recording = { stopped: false };
    this.btn.classList.add('dvi-on');
    this.btn.setAttribute('aria-pressed', 'true');
    this.btn.textContent = '■ stop';
    let filming = false;
    try {
      // to the first epoch at once (no transition: it is not part of the film)
      const transition = m.get('transition_ms');
      m.set('playing', false);
      m.set('transition_ms', 0);
      m.set('epoch', epochs[0]);
      m.save_changes();
      await drawn(view, epochs[0]);
      m.set('transition_ms', transition);
      m.save_changes();
      // the plot as shown, redrawn into `film` every frame while recording (device pixels)
      const film = document.createElement('canvas');
      film.width = view.canvas.width;
      film.height = view.canvas.height;
      const ctx = film.getContext('2d');
      const s = film.width / Math.max(1, view.canvas.getBoundingClientRect().width);
      filming = true;
      const shoot = () => {
        if (!filming) return;
        composePlot(view, ctx, s);
        requestAnimationFrame(shoot);
      };
      shoot();
      const stream = film.captureStream(30);
      const rec = new MediaRecorder(stream, { mimeType: this.type });
      const chunks = [];
      rec.ondataavailable = (e) => e.data.size && chunks.push(e.data);
      const ended = new Promise((resolve) => {
        rec.onstop = resolve;
        rec.onerror = resolve; // what was recorded until then is kept
      });
      rec.start(250);
      await frame();
      await sleep(HOLD_MS);
      m.set('loop', false); // the player stops at the last epoch
      m.set('playing', true);
      m.save_changes();
      while (!view.destroyed && !this.recording.stopped && m.get('playing')) await frame();
      m.set('playing', false);
      m.set('loop', loop);
      m.save_changes();
      await drawn(view, m.get('epoch')); // the last transition has ended
      await frame();
      await sleep(HOLD_MS); // and its last frame was filmed
      rec.stop();
      filming = false;
      stream.getTracks().forEach((t) => t.stop());
      await ended;
      const blob = new Blob(chunks, { type: rec.mimeType || this.type });
      view.el.dataset.recordType = blob.type;
      view.el.dataset.recordBytes = String(blob.size);
      if (!view.destroyed) downloadBlob(blob, 'dvi-playback.webm');
      return blob;
    } finally {
      filming = false;
      this.recording = null;
      this.btn.classList.remove('dvi-on');
      this.btn.setAttribute('aria-pressed', 'false');
      this.btn.textContent = '● REC';
    }
  }

  /** Stop early: the video ends at the epoch shown now. */
  stop() {
    if (this.recording) this.recording.stopped = true;
  }
}
