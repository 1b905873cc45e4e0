"""A local linear surrogate of epoch t's classifier around one input (DeepVID's idea).

DeepVID (Wang et al., TVCG) explains a prediction by training a linear *student*
``softmax(Σ_i w_i a_i + b)`` on neighbours of the input, labelled with the *teacher*'s soft
predictions (its Eq. 1, knowledge distillation), and shows the weights ``w`` and the weighted
input ``w ⊙ x`` as images. Here:

- **neighbours** mix DeepVID's two generators without a VAE (the paper's Discussion proposes
  this hybrid): each one moves the input a random share ``λ ~ U(0, mix)`` towards one of its
  ``k`` nearest training samples (nearest in epoch t's representation space, so semantically
  close) and adds Gaussian noise of a random scale, constant over ``patch × patch`` pixels;
- **labels** are the teacher's centred logits ``z − mean(z)``: in the high-temperature limit of
  distillation, matching soft targets is matching centred logits (Hinton et al. 2015, §2.1), so
  the student is a weighted least-squares fit instead of an iterative training;
- **proximity** weighs each neighbour by ``exp(−d² / width²)`` with ``d`` its RMS distance to the
  input and ``width`` the neighbours' median distance (LIME's exponential kernel);
- **features** are the input's patch means (``patch = 1``: the pixels), so a neighbour set
  larger than the number of features determines the student; the weights are shown per pixel
  (a patch's weight divided by its area, so that ``Σ w ⊙ x`` is the student's logit);
- **the student** is scikit-learn's ``Ridge`` (default, DeepVID's dense student) or ``Lasso``
  (sparse), fitted with the proximity weights; **fidelity** is the weighted R² of the centred
  logits on the neighbours and the share of neighbours whose class the student predicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch.nn import functional


@dataclass(frozen=True)
class Surrogate:
    """A fitted local surrogate (see the module docstring).

    Attributes
    ----------
    weights : float32 (C, *input_shape)
        Per-pixel student weights of each class's centred logit.
    intercept : float32 (C,)
    input : float32 input_shape
        The explained input.
    prediction : int
        Epoch t's predicted class of the input.
    fidelity : dict
        ``r2`` (weighted R² of the centred logits, all classes), ``r2_predicted`` (that of the
        predicted class) and ``agreement`` (share of neighbours whose argmax the student matches).
    neighbor_positions : float32 (n, 2) or None
        The neighbours on epoch t's landscape (None without a projector).
    neighbor_predictions, student_predictions : int64 (n,)
        Epoch t's and the student's class of each neighbour.
    proximity : float32 (n,)
        Each neighbour's weight in the fit.
    neighbors : float32 (n, *input_shape)
    patch : int
        Side of the feature patches, in pixels.
    class_names : list[str]
    epoch : int
    index : int or None
        The global sample index, when the input came from the run.
    """

    weights: np.ndarray
    intercept: np.ndarray
    input: np.ndarray
    prediction: int
    fidelity: dict[str, float]
    neighbor_positions: np.ndarray | None
    neighbor_predictions: np.ndarray
    student_predictions: np.ndarray
    proximity: np.ndarray
    neighbors: np.ndarray = field(repr=False)
    patch: int
    class_names: list[str]
    epoch: int
    index: int | None = None

    def _class(self, cls: int | str | None) -> int:
        if cls is None:
            return self.prediction
        if isinstance(cls, str):
            if cls not in self.class_names:
                raise ValueError(f"class {cls!r} is not one of {self.class_names}")
            return self.class_names.index(cls)
        if not 0 <= int(cls) < len(self.class_names):
            raise ValueError(f"class id {cls!r} is not in [0, {len(self.class_names)})")
        return int(cls)

    def weights_image(self, cls: int | str | None = None) -> np.ndarray:
        """The student's weights for class ``cls`` (default: the predicted class), shaped as an
        image (channels summed): positive pixels raise that class's logit."""
        w = self.weights[self._class(cls)]
        return w.sum(axis=0) if w.ndim == 3 else w

    def contribution_image(self, cls: int | str | None = None) -> np.ndarray:
        """``w ⊙ x`` for class ``cls`` (DeepVID's weighted features), channels summed."""
        c = self._class(cls)
        wx = self.weights[c] * self.input
        return wx.sum(axis=0) if wx.ndim == 3 else wx

    def frame(self) -> pd.DataFrame:
        """The neighbours: x, y (NaN without a projector), prediction, student_prediction,
        proximity."""
        pos = (self.neighbor_positions if self.neighbor_positions is not None
               else np.full((len(self.proximity), 2), np.nan, np.float32))
        return pd.DataFrame({
            "x": pos[:, 0], "y": pos[:, 1], "prediction": self.neighbor_predictions,
            "student_prediction": self.student_predictions, "proximity": self.proximity,
        })


def default_patch(input_shape: tuple[int, ...], n_neighbors: int) -> int:
    """The smallest patch side whose number of features is at most half the neighbours."""
    if len(input_shape) not in (2, 3):
        return 1
    channels = input_shape[0] if len(input_shape) == 3 else 1
    h, w = input_shape[-2:]
    for p in range(1, max(h, w) + 1):
        if channels * (-(-h // p)) * (-(-w // p)) <= max(n_neighbors // 2, 1):
            return p
    return max(h, w)


def _images(x: torch.Tensor) -> torch.Tensor | None:
    return x if x.ndim == 4 else (x[:, None] if x.ndim == 3 else None)


def patch_features(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``(n, F)`` patch means of ``x`` ``(n, *input_shape)`` (flat inputs: the values)."""
    img = _images(x)
    if img is None or patch == 1:
        return x.reshape(len(x), -1)
    return functional.avg_pool2d(img, patch, stride=patch, ceil_mode=True, count_include_pad=False
                        ).reshape(len(x), -1)


def pixel_weights(feature_weights: np.ndarray, input_shape: tuple[int, ...], patch: int
                  ) -> np.ndarray:
    """``(C, F)`` patch weights -> ``(C, *input_shape)`` per-pixel weights (weight / area)."""
    n_cls = len(feature_weights)
    if len(input_shape) not in (2, 3) or patch == 1:
        return feature_weights.reshape(n_cls, *input_shape).astype(np.float32)
    channels = input_shape[0] if len(input_shape) == 3 else 1
    h, w = input_shape[-2:]
    ph, pw = -(-h // patch), -(-w // patch)
    grid = feature_weights.reshape(n_cls, channels, ph, pw)
    # the area of each (possibly cut) patch, so that Σ_pixels w_pix x_pix = Σ_k w_k mean_k(x)
    rows = np.minimum(patch, h - np.arange(ph) * patch)
    cols = np.minimum(patch, w - np.arange(pw) * patch)
    grid = grid / (rows[:, None] * cols[None, :])
    full = grid.repeat(patch, axis=2).repeat(patch, axis=3)[..., :h, :w]
    return full.reshape(n_cls, *input_shape).astype(np.float32)


def generate_neighbors(x: torch.Tensor, pool: torch.Tensor, n: int, *, mix: float,
                       noise: float, patch: int, value_range: tuple[float, float],
                       generator: torch.Generator) -> torch.Tensor:
    """``n`` neighbours of ``x`` ``(1, *input_shape)``: towards random members of ``pool``
    ``(k, *input_shape)`` by ``λ ~ U(0, mix)``, plus patch-constant noise of std
    ``U(0, 1) · noise · (value range)``; clipped to the value range. One batch on ``x``'s device.
    """
    lo, hi = value_range
    dev, shape = x.device, x.shape[1:]

    def draw(*size: int, normal: bool = False) -> torch.Tensor:
        fn = torch.randn if normal else torch.rand
        return fn(*size, generator=generator).to(dev)

    lam = draw(n) * mix
    pick = (draw(n) * len(pool)).long().clamp_max(len(pool) - 1)
    scale = draw(n) * noise * (hi - lo)
    img = _images(x)
    if img is None or patch == 1:
        eps = draw(n, *shape, normal=True)
    else:
        c, h, w = img.shape[1:]
        coarse = draw(n, c, -(-h // patch), -(-w // patch), normal=True)
        eps = coarse.repeat_interleave(patch, 2).repeat_interleave(patch, 3)[..., :h, :w]
        eps = eps.reshape(n, *shape)
    bc = (-1, *([1] * len(shape)))
    out = x + lam.reshape(bc) * (pool[pick] - x) + scale.reshape(bc) * eps
    return out.clamp(lo, hi)


def fit_student(features: np.ndarray, targets: np.ndarray, weights: np.ndarray, *,
                student: str = "ridge", alpha: float | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted linear fit ``targets (n, C) ≈ features (n, F) @ W.T + b``.

    ``alpha`` is relative: ridge's penalty is ``alpha · Σw · mean weighted feature variance``
    (default 1e-3); lasso's is ``alpha`` times the smallest penalty that zeroes every weight
    (median over classes; default 0.01). Returns ``(W (C, F), b (C,), fitted (n, C))``.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        # a few hundred rows: one BLAS thread is fastest, and torch's OpenMP workers that are
        # still spinning after the forward pass would starve more
        return _fit_student(features, targets, weights, student, alpha)


def _fit_student(features: np.ndarray, targets: np.ndarray, weights: np.ndarray, student: str,
                 alpha: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.linear_model import Lasso, Ridge

    w = weights / weights.sum()
    mean_f = w @ features
    centred_f = features - mean_f
    if student == "ridge":
        var = float((w @ centred_f**2).mean())
        penalty = (1e-3 if alpha is None else alpha) * max(var, 1e-12)
        # sklearn's ridge penalises Σ w_i r_i² + a·|β|² with raw sample weights; w sums to 1
        model = Ridge(alpha=penalty).fit(features, targets, sample_weight=w)
    elif student == "lasso":
        centred_t = targets - w @ targets
        a_max = np.median(np.abs(centred_f.T @ (w[:, None] * centred_t)).max(axis=0))
        model = Lasso(alpha=(1e-2 if alpha is None else alpha) * max(float(a_max), 1e-12),
                      max_iter=5000).fit(features, targets, sample_weight=w * len(w))
    else:
        raise ValueError(f"student must be 'ridge' or 'lasso', got {student!r}")
    coef = np.atleast_2d(model.coef_).astype(np.float32)
    return coef, np.atleast_1d(model.intercept_).astype(np.float32), model.predict(features)


def fidelity(targets: np.ndarray, fitted: np.ndarray, weights: np.ndarray, predicted: int
             ) -> dict[str, float]:
    """Weighted R² (all classes and the predicted class) and argmax agreement."""
    w = weights / weights.sum()

    def r2(y: np.ndarray, f: np.ndarray) -> float:
        mean = w @ y
        total = float(w @ ((y - mean) ** 2).reshape(len(y), -1).sum(axis=1))
        resid = float(w @ ((y - f) ** 2).reshape(len(y), -1).sum(axis=1))
        return 1.0 - resid / total if total > 0 else float("nan")

    return {
        "r2": r2(targets, fitted),
        "r2_predicted": r2(targets[:, predicted], fitted[:, predicted]),
        "agreement": float((targets.argmax(1) == fitted.argmax(1)).mean()),
    }
