// Epoch playback shared by all views of one model: two views of the same widget must not
// both advance the epoch, so one player (one timer) exists per model, reference counted.
//
// Ticks are scheduled against the time playback started (tick k at start + k / speed), not one
// timeout after the previous tick, so N epochs per second really advance N epochs each second
// (a chain of setTimeout(1000 / speed) drifts late by each tick's own work and timer slack).

const players = new WeakMap();

/**
 * Next epoch position, or -1 when playback should stop.
 * @param {number} pos current position in the epoch list
 * @param {number} count number of epochs
 * @param {boolean} loop wrap around at the end
 */
export function nextPosition(pos, count, loop) {
  if (pos + 1 < count) return pos + 1;
  return loop ? 0 : -1;
}

/** Milliseconds per epoch at a playback speed (epochs per second). */
export const periodMs = (speed) => 1000 / Math.max(0.05, Number(speed) || 1);

function createPlayer(model) {
  let timer = null;
  let start = 0;
  let ticks = 0;
  let period = periodMs(model.get('speed'));
  const clear = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  const schedule = () => {
    if (timer !== null || !model.get('playing')) return;
    const due = start + (ticks + 1) * period;
    timer = setTimeout(tick, Math.max(0, due - performance.now()));
  };
  const tick = () => {
    timer = null;
    if (!model.get('playing')) return;
    const epochs = model.get('epochs') || [];
    const pos = epochs.indexOf(model.get('epoch'));
    const next = nextPosition(pos, epochs.length, model.get('loop'));
    ticks += 1;
    if (next < 0) {
      model.set('playing', false);
    } else {
      model.set('epoch', epochs[next]);
    }
    model.save_changes();
    // fell far behind (a hidden tab, a long draw): start counting again from now
    if (performance.now() - (start + ticks * period) > 2 * period) {
      start = performance.now();
      ticks = 0;
    }
    schedule();
  };
  const restart = () => {
    clear();
    start = performance.now();
    ticks = 0;
    schedule();
  };
  const onPlaying = () => {
    if (model.get('playing')) {
      // Pressing play at the last epoch starts again from the first.
      const epochs = model.get('epochs') || [];
      if (epochs.indexOf(model.get('epoch')) === epochs.length - 1 && epochs.length > 1) {
        model.set('epoch', epochs[0]);
        model.save_changes();
      }
      restart();
    } else {
      clear();
    }
  };
  const onSpeed = () => {
    period = periodMs(model.get('speed'));
    if (model.get('playing')) restart();
  };
  model.on('change:playing', onPlaying);
  model.on('change:speed', onSpeed);
  onPlaying();
  return {
    refs: 0,
    stop() {
      model.off('change:playing', onPlaying);
      model.off('change:speed', onSpeed);
      clear();
    },
  };
}

/** Attach a view to the model's player; returns a release function. */
export function acquirePlayer(model) {
  let p = players.get(model);
  if (!p) {
    p = createPlayer(model);
    players.set(model, p);
  }
  p.refs += 1;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    p.refs -= 1;
    if (p.refs === 0) {
      p.stop();
      players.delete(model);
    }
  };
}
