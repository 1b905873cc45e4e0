"""Training V_t = <φ_t, ψ_t> on Eq. 12: a pure function over tensors (no files, no run).

φ regresses onto the layout Y_t (λ1), ψ reconstructs the representations from Y_t with the
gradient weights of Eq. 8–9 (λ2; plus a prediction term at the layout: KL from g(x) to g(ψ(y))
and cross-entropy to g's class), and Eq. 10 pulls the weights towards V_{t-1} (λ3). Steps draw
a batch of vertices of X ∪ B uniformly, a quarter of it among the samples whose decoded class
is still wrong (and, with a boundary term, among the boundary points decoded off g's
δ-boundary); the learning rate drops by 10 at the first plateau of the loss and the second
plateau stops, or the step budget does, unless too many samples still decode wrong or too many
boundary points decode off the boundary (a PPR goal, a boundary goal: then training goes on,
check by check, up to twice the budget, the boundary term weighing twice as much while the
boundary points are short).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .._tensor import batched
from . import losses
from .boundary import boundary_gap
from .model import VisModel

#: cap of the training, in passes over X ∪ B (binds on small runs only)
MAX_PASSES = 100
#: share of each batch drawn among the samples whose decoded class is still wrong
FOCUS_SHARE = 0.25
#: a budget that ends short of a goal (``ppr_goal``, ``boundary_goal``) extends to at most this
#: many times itself. At 3, a 5k MNIST MLP's warm epochs (100 steps) ended with 0.57–0.69 of
#: the boundary points decoded onto the boundary instead of 0.53–0.64, but took 1.1x a UMAP
#: fit of the same representations instead of 0.8x (ENGINE.md, "ψ decodes boundary
#: points onto the boundary")
GOAL_LIMIT = 2
#: past the budget, while the boundary points are short of the boundary goal, the boundary term
#: weighs this many times ``boundary_weight``: the training went on for the boundary points,
#: so it weighs them more. On a 5k / 24k MNIST MLP the worst epoch's boundary points decoded
#: onto the boundary rose 0.528 → 0.600 / 0.375 → 0.562 in fewer steps (warm 198 → 122 / 200 →
#: 194), PPR at the layout ≥ 0.981 / 0.986; runs that meet the goal within the budget are
#: unchanged (a weight of 4 throughout cost the digits runs PPR below 0.97; ENGINE.md, "ψ
#: decodes boundary points onto the boundary")
BOUNDARY_BOOST = 2.0


class PlateauStopper:
    """Early stopping on a plateau of the windowed mean loss, with learning-rate decay.

    Every ``window`` steps the window's mean loss is compared with the best so far; a relative
    improvement below ``tol`` counts as a bad window. After ``patience`` bad windows the learning
    rate is divided by 10 (our step-based take on the paper's "decay by 10 every 8 epochs"), up
    to ``decays`` times; the next plateau stops training.
    """

    def __init__(self, window: int, patience: int, tol: float, decays: int) -> None:
        self.window, self.patience, self.tol, self.decays_left = window, patience, tol, decays
        self.best = float("inf")
        self.bad = 0
        self.buffer: list[float] = []
        self.history: list[float] = []

    def update(self, loss: float, optimizer: torch.optim.Optimizer) -> bool:
        """Record one step's loss; return True when training should stop."""
        self.buffer.append(loss)
        if len(self.buffer) < self.window:
            return False
        mean = float(np.mean(self.buffer))
        self.buffer.clear()
        self.history.append(mean)
        if mean < self.best - self.tol * abs(self.best):
            self.best, self.bad = mean, 0
            return False
        self.best = min(self.best, mean)
        self.bad += 1
        if self.bad < self.patience:
            return False
        if self.decays_left > 0:
            self.decays_left -= 1
            self.bad = 0
            for group in optimizer.param_groups:
                group["lr"] *= 0.1
            return False
        return True


def _decoded_logits(model: VisModel, head: torch.nn.Module, Y: torch.Tensor) -> torch.Tensor:
    """``g(ψ(y))`` for the points ``Y``, in eval mode and batches (the model's mode restored)."""
    was_training = model.training
    model.eval()
    logits = batched(model.decoded_logits(head), Y, batch_size=16384)
    model.train(was_training)
    return logits


def _off_boundary(
    model: VisModel, head: torch.nn.Module, Y: torch.Tensor, delta: float
) -> torch.Tensor:
    """Indices of the boundary points laid out at ``Y`` whose decoded point ``ψ(y)`` is not on
    g's δ-boundary (DVI Def. 2: normalised top-1/top-2 logit gap above ``delta``)."""
    gap = boundary_gap(_decoded_logits(model, head, Y))
    return (gap > delta).nonzero(as_tuple=True)[0]


def _mispredicted(
    model: VisModel, head: torch.nn.Module, Y: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Indices of the points of ``Y`` whose decoded class ``argmax g(ψ(y))`` is not ``target``."""
    pred = _decoded_logits(model, head, Y).argmax(dim=1)
    return (pred != target).nonzero(as_tuple=True)[0]


@dataclass
class TrainResult:
    """What :func:`train_vis_model` reports: steps taken, windowed loss history, last loss and,
    when its last check counted the returned weights, the samples they decode wrong."""

    steps: int
    final_loss: float
    history: list[float] = field(default_factory=list)
    #: indices (into the first ``n_samples`` rows) of the samples ψ decodes as another class
    #: with the returned weights; None when no check counted those weights
    mispredicted: torch.Tensor | None = None


def train_vis_model(
    model: VisModel,
    U: torch.Tensor,
    Y: torch.Tensor,
    weights: torch.Tensor,
    head: torch.nn.Module,
    *,
    previous_params: list[torch.Tensor] | None = None,
    similarity: float = float("nan"),
    lambdas: tuple[float, float, float] = (1.0, 1.0, 0.3),
    prediction_weight: float = 1.0,
    boundary_weight: float = 0.0,
    delta: float = 0.1,
    batch_size: int = 1024,
    learning_rate: float = 0.01,
    max_steps: int = 300,
    check_every: int = 20,
    patience: int = 3,
    tol: float = 0.003,
    anneal: float = 1.0,
    keep_best: bool = False,
    n_samples: int | None = None,
    generator: torch.Generator | None = None,
    bfloat16: bool = False,
    ppr_goal: float | None = None,
    boundary_goal: float | None = None,
) -> TrainResult:
    """Train ``model`` in place on Eq. 12 over the vertices ``U`` laid out at ``Y``.

    Parameters
    ----------
    model : the visualization model, already normalised (``set_normalization``) and, for a warm
        start, holding V_{t-1}'s weights.
    U, Y : ``(n, h)`` representations of X ∪ B and their ``(n, 2)`` layout positions.
    weights : ``(n, h)`` gradient weights of Eq. 9.
    head : g_t (frozen here), for the prediction term.
    previous_params : V_{t-1}'s parameters for Eq. 10 (None: no temporal term).
    similarity : mean ``eval_sem`` (Eq. 11) between epochs t−1 and t, Eq. 10's weight.
    lambdas : λ1, λ2, λ3 of Eq. 12.
    prediction_weight : weight of the prediction term (0 is the paper's Eq. 8).
    boundary_weight, delta : weight of the boundary term (:func:`losses.boundary_loss`): the
        boundary points (rows after ``n_samples``) decode onto g's δ-boundary (DVI Def. 2). The
        boundary points whose decoded gap is above δ join the focus share of each batch and
        count, with the mis-decoded samples, in ``keep_best``'s choice. 0: no boundary term.
    batch_size, learning_rate, max_steps, check_every, patience, tol : Adam and early stopping
        (see :class:`PlateauStopper`); at most a quarter of the vertices per step and at most
        ``MAX_PASSES`` passes over them.
    anneal : the learning rate decays geometrically to ``anneal`` times its start over
        ``max_steps`` (on top of the plateau decay); 1 keeps it constant.
    keep_best : end with the weights, among those seen at the checks (every ``check_every``
        steps, and after the last step), that decode the fewest samples as another class than
        g's (PPR, DVI §6). Needs ``prediction_weight > 0``.
    n_samples : the first ``n_samples`` rows of ``U`` are the samples X (the rest boundary
        points); every ``check_every`` steps the samples whose decoded class g(ψ(y)) differs
        from g(x) are found, and a quarter of each batch is drawn from them (PPR, DVI §6).
        None: all rows.
    generator : random source of the batches.
    bfloat16 : run the steps' forward passes under bfloat16 autocast (the weights, the losses
        and the checks stay float32): ~1.75x faster steps on CPUs with native bfloat16 (see
        :func:`dvi_widget._tensor.bfloat16_is_fast`).
    ppr_goal : when the budget ran out (no plateau) with more than ``1 − ppr_goal`` of the
        samples decoding to another class than g's, training goes on, ``check_every`` steps at a
        time, until a check finds the goal met, a plateau or :data:`GOAL_LIMIT` times the
        budget (still ending with the best check's weights). None: never.
    boundary_goal : the same for the boundary points (with a boundary term): training goes on
        while more than ``1 − boundary_goal`` of them decode off g's δ-boundary (and until both
        goals are met), the boundary term weighing :data:`BOUNDARY_BOOST` times
        ``boundary_weight`` from each check past the budget that finds them short. None: never.
    """
    dev = U.device
    n_u = len(U)
    # at most a quarter of the vertices per step: small runs (digits) need no bigger batches
    bs = min(batch_size, max(256, n_u // 4), n_u)
    # and no more than MAX_PASSES passes over the vertices (a budget sized for ~10k samples)
    max_steps = min(max_steps, -(-MAX_PASSES * n_u // bs))
    lambdas = tuple(float(v) for v in lambdas)
    use_temporal = previous_params is not None and lambdas[2] > 0
    scale2 = float(model.scale) ** 2
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    decay = float(anneal) ** (1.0 / max_steps) if 0 < anneal < 1 else 1.0
    stopper = PlateauStopper(check_every, patience, tol, decays=1)
    mu = float(prediction_weight)
    n_check = n_u if n_samples is None else int(n_samples)
    wrong = torch.zeros(0, dtype=torch.long, device=dev)
    nu = float(boundary_weight) if n_check < n_u else 0.0
    if mu > 0:
        for p in head.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            log_p = torch.cat([torch.log_softmax(head(U[i : i + 8192]).float(), dim=1)
                               for i in range(0, n_u, 8192)])
            target = log_p[:n_check].argmax(dim=1)
    model.train()
    step, loss_value = 0, float("nan")
    keep_best = keep_best and mu > 0
    best_wrong, best_state, best_samples = n_check + 1, None, None
    checked_at, samples_wrong = -1, wrong  # the step whose weights ``wrong`` counts
    # past the budget (no plateau yet) training goes on, check by check, while more than
    # 1 − ppr_goal of the samples decode wrong or 1 − boundary_goal of the boundary points
    # decode off the boundary, up to GOAL_LIMIT times the budget
    goals = ppr_goal is not None or (boundary_goal is not None and nu > 0)
    boost = 1.0  # BOUNDARY_BOOST while an extension runs for the boundary points
    end, limit = max_steps, max_steps * (GOAL_LIMIT if goals and mu > 0 else 1)
    n_short = float("inf") if ppr_goal is None else (1 - ppr_goal) * n_check
    n_short_b = float("inf") if boundary_goal is None else (1 - boundary_goal) * (n_u - n_check)
    while True:
        # the weights as they are now are checked every check_every steps and at the end, so
        # that keep_best's choice below counts the last weights here too
        if mu > 0 and (step % check_every == 0 or (step == end and (keep_best or goals))):
            wrong = _mispredicted(model, head, Y[:n_check], target)
            checked_at, samples_wrong = step, wrong
            short_b = False  # the boundary points short of the boundary goal
            if nu > 0:
                off = _off_boundary(model, head, Y[n_check:], delta)
                short_b = len(off) > n_short_b
                wrong = torch.cat([wrong, n_check + off])
            short = len(samples_wrong) > n_short or short_b
            if keep_best and len(wrong) < best_wrong:
                best_wrong, best_samples = len(wrong), samples_wrong
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if step >= end and short and step < limit:
                end = min(limit, step + check_every)
            if step >= max_steps:
                boost = BOUNDARY_BOOST if short_b else 1.0
        if step >= end:
            break
        step += 1
        idx = torch.randint(n_u, (bs,), device=dev, generator=generator)
        if len(wrong):  # a quarter of the batch revisits samples whose decoded class is wrong
            n_focus = int(bs * FOCUS_SHARE)
            idx[:n_focus] = wrong[torch.randint(len(wrong), (n_focus,), device=dev,
                                                generator=generator)]
        # index_select: torch's advanced indexing gathers rows ~4x slower on the CPU
        x, y_target = U.index_select(0, idx), Y.index_select(0, idx)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bfloat16):
            y = model.encode(x).float()
            x_rec = model.decode(y_target).float()
        # g in float32: the prediction and boundary terms read small logit gaps
        logits_rec = head(x_rec).float() if mu > 0 or nu > 0 else None
        l_fit = (y - y_target).pow(2).sum(dim=1).mean()
        # Eq. 8 on standardised representations (divided by scale², a constant per epoch)
        l_rec = losses.reconstruction_loss(x, x_rec, weights.index_select(0, idx)) / scale2
        is_x = idx < n_check
        if mu > 0:
            l_rec = l_rec + mu * (losses.prediction_loss(log_p[idx], logits_rec)
                                  + losses.class_loss(logits_rec[is_x], target[idx[is_x]]))
        if nu > 0:
            logits_b = logits_rec[~is_x]
            l_rec = l_rec + nu * boost * losses.boundary_loss(logits_b, delta)
        l_t = (losses.temporal_loss(model.parameters(), previous_params, similarity)
               if use_temporal else None)
        loss = losses.total_loss(l_fit, l_rec, l_t, lambdas)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if decay < 1.0:
            for group in opt.param_groups:
                group["lr"] *= decay
        loss_value = float(loss.detach())
        if not np.isfinite(loss_value):
            raise FloatingPointError(
                f"the DVI loss became {loss_value} at step {step}; lower learning_rate "
                f"(now {learning_rate}) or check the representations' scale.")
        if stopper.update(loss_value, opt):
            end = limit = step  # a plateau: the loop's check counts these weights, no more steps
    # every exit passed the check at its last step when keep_best: ``wrong`` counts the last
    # weights, and the best check's are kept where they decode fewer wrong
    mispredicted = samples_wrong if checked_at == step else None
    if best_state is not None and len(wrong) > best_wrong:
        model.load_state_dict(best_state)
        mispredicted = best_samples
    model.eval()
    return TrainResult(steps=step, final_loss=loss_value, history=stopper.history,
                       mispredicted=mispredicted)
