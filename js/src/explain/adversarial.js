// The adversarial tool's controls in the Path section: FGSM/PGD toward a target class (or away from
// the prediction) in a number of gradient steps (dvi_widget/view/explain/adversarial.py). The path
// it asks for is drawn by path.js like a what-if path.
import { h } from '../dom.js';

/** Most gradient steps a request may ask for. */
export const MAX_STEPS = 200;
const DEFAULT_STEPS = 20;

/** PGD's default ε as a share of the input's value range (dvi_widget.explain: 0.3 × range). */
const DEFAULT_EPS_SHARE = 0.3;

export class AttackControls {
  constructor(panel) {
    const opt = (value, text) => h('option', { value: String(value), text });
    const classes = panel.view.model.get('class_names');
    const label = (el, text, title) => h('label', { class: 'dvi-explain-label', title }, [h('span', { text }), el]);
    this.target = h('select', { class: 'dvi-explain-target', 'aria-label': 'target class' }, [
      opt('', 'away from its prediction'), ...classes.map((c, k) => opt(k, `toward ${c}`))]);
    this.steps = h('input', { type: 'number', class: 'dvi-explain-num', min: '1', max: String(MAX_STEPS), step: '1', value: String(DEFAULT_STEPS), 'aria-label': 'attack steps', title: 'gradient steps' });
    // ε: how far (L∞, in input units) PGD may move the input; empty: the default
    this.eps = h('input', { type: 'number', class: 'dvi-explain-num', min: '0', step: 'any', placeholder: 'default', 'aria-label': 'attack epsilon', title: `PGD's ε: the largest change of any input value (L∞); empty: ${DEFAULT_EPS_SHARE} × the inputs' value range` });
    this.epsLabel = label(this.eps, 'ε', this.eps.title);
    this.el = h('div', { class: 'dvi-explain-row' }, [
      label(this.target, 'target', 'the class the steps push toward'),
      label(this.steps, 'steps', 'gradient steps along the path'),
      this.epsLabel,
    ]);
    this.inputs = [this.target, this.steps, this.eps];
  }

  show(on, kind = 'pgd') {
    this.el.style.display = on ? '' : 'none';
    this.epsLabel.style.display = kind === 'pgd' ? '' : 'none'; // FGSM steps are not projected
  }

  /** The attack part of a path request (eps only for PGD, when given). */
  request(kind = 'pgd') {
    const out = {
      target: this.target.value === '' ? null : Number(this.target.value),
      steps: Math.max(1, Math.min(MAX_STEPS, Math.round(Number(this.steps.value) || DEFAULT_STEPS))),
    };
    const eps = Number(this.eps.value);
    if (kind === 'pgd' && this.eps.value !== '' && eps > 0 && Number.isFinite(eps)) out.eps = eps;
    return out;
  }

  /** Show the controls of a drawn attack path's request. */
  adopt(request) {
    this.target.value = request.target == null ? '' : String(request.target);
    this.steps.value = String(request.steps ?? DEFAULT_STEPS);
    this.eps.value = request.eps == null ? '' : String(request.eps);
  }
}
