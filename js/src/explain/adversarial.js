// The adversarial tool's controls in the Path section: FGSM/PGD toward a target class (or away from
// the prediction) in a number of gradient steps (dvi_widget/view/explain/adversarial.py). The path
// it asks for is drawn by path.js like a what-if path.
import { h } from '../dom.js';

/** Most gradient steps a request may ask for. */
export const MAX_STEPS = 200;
const DEFAULT_STEPS = 20;

export class AttackControls {
  constructor(panel) {
    const opt = (value, text) => h('option', { value: String(value), text });
    const classes = panel.view.model.get('class_names');
    this.target = h('select', { class: 'dvi-explain-target', 'aria-label': 'target class' }, [
      opt('', 'away from its prediction'), ...classes.map((c, k) => opt(k, `toward ${c}`))]);
    this.steps = h('input', { type: 'number', class: 'dvi-explain-num', min: '1', max: String(MAX_STEPS), step: '1', value: String(DEFAULT_STEPS), 'aria-label': 'attack steps', title: 'gradient steps' });
    this.el = h('div', { class: 'dvi-explain-row' }, [this.target, this.steps]);
    this.inputs = [this.target, this.steps];
  }

  show(on) {
    this.el.style.display = on ? '' : 'none';
  }

  /** The attack part of a path request. */
  request() {
    return {
      target: this.target.value === '' ? null : Number(this.target.value),
      steps: Math.max(1, Math.min(MAX_STEPS, Math.round(Number(this.steps.value) || DEFAULT_STEPS))),
    };
  }

  /** Show the controls of a drawn attack path's request. */
  adopt(request) {
    this.target.value = request.target == null ? '' : String(request.target);
    this.steps.value = String(request.steps ?? DEFAULT_STEPS);
  }
}
