// Epoch playback shared by all views of one model: two views of the same widget must not
// both advance the epoch, so one player (one timer) exists per model, reference counted.

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

function createPlayer(model) {
  let timer = null;
  const tick = () => {
    timer = null;
    if (!model.get('playing')) return;
    const epochs = model.get('epochs') || [];
    const pos = epochs.indexOf(model.get('epoch'));
    const next = nextPosition(pos, epochs.length, model.get('loop'));
    if (next < 0) {
      model.set('playing', false);
    } else {
      model.set('epoch', epochs[next]);
    }
    model.save_changes();
    schedule();
  };
  const schedule = () => {
    if (timer !== null || !model.get('playing')) return;
    const speed = Math.max(0.05, Number(model.get('speed')) || 1);
    timer = setTimeout(tick, 1000 / speed);
  };
  const onPlaying = () => {
    if (model.get('playing')) {
      // Pressing play at the last epoch starts again from the first.
      const epochs = model.get('epochs') || [];
      if (epochs.indexOf(model.get('epoch')) === epochs.length - 1 && epochs.length > 1) {
        model.set('epoch', epochs[0]);
        model.save_changes();
      }
      schedule();
    } else if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
  };
  model.on('change:playing', onPlaying);
  onPlaying();
  return {
    refs: 0,
    stop() {
      model.off('change:playing', onPlaying);
      if (timer !== null) clearTimeout(timer);
      timer = null;
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
