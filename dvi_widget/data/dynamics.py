"""Training dynamics per sample, from the logits a run recorded at each epoch.

Which records: the logits of every recorded epoch are an **evaluation pass** (``model.eval()``,
no gradient) over the whole training and test set at the end of that epoch
(:func:`dvi_widget.data.run.record.record`), not the training pass's running outputs. The
measures below are therefore computed over *recorded* epochs: a run recorded every 5th epoch has
one record per 5 epochs, and "forgotten" means wrong at one recorded epoch after being right at
the previous recorded one.

Per sample and per recorded epoch ``t``, each measure uses the records of epochs ``<= t`` only,
so that a view can follow its epoch slider (:meth:`Dynamics.frame`):

``mean_confidence`` μ (cartography's "confidence"; named apart from the view's per-epoch top-1
                ``confidence``): mean over epochs of the softmax probability of the *given* label
                (dataset cartography, Swayamdipta et al. 2020)
``variability`` σ: standard deviation of that probability over the same epochs (ddof 0, as the
                paper's code)
``correctness`` share of those epochs whose prediction (argmax) is the given label
``aum``         area under the margin (Pleiss et al. 2020): mean over epochs of the given
                label's logit minus the largest other logit; low or negative flags a likely
                mislabel
``forgetting``  forgetting events (Toneva et al. 2019): transitions right -> wrong between two
                consecutive recorded epochs; a sample never predicted right counts ``inf``
``first_learned`` the first recorded epoch *number* at which it was predicted right (NaN: not
                yet)
``last_flipped`` the last recorded epoch number at which its correctness changed (learned or
                forgotten against the previous record; NaN: never)

Everything is vectorised over (T, N): cumulative sums for the means, ``maximum.accumulate`` for
"last" and "first" epochs (``benchmarks/bench_dynamics.py``: 60k samples × 50 epochs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: the measures, in the order :meth:`Dynamics.frame` lists them
MEASURES = ("mean_confidence", "variability", "correctness", "aum", "forgetting",
            "first_learned", "last_flipped")

#: what the numbers are computed from (shown with them: DataFrame ``attrs`` and docstrings)
SOURCE = ("logits of the evaluation pass recorded at each epoch (model.eval(), after the "
          "epoch's training), not the training pass")


def _softmax_given(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """(p_given, margin, correct), each (T, N), from logits (T, N, C) and labels (N,)."""
    T, N, C = logits.shape
    lg = np.asarray(logits, dtype=np.float32)
    idx = np.broadcast_to(labels[None, :, None], (T, N, 1))
    given = np.take_along_axis(lg, idx, axis=2)[..., 0]
    top = lg.max(axis=2)
    # log-sum-exp, shifted by the top logit: p_given = exp(given - top) / sum exp(lg - top)
    denom = np.exp(lg - top[..., None]).sum(axis=2)
    p_given = np.exp(given - top) / denom
    others = lg.copy()
    np.put_along_axis(others, idx, -np.inf, axis=2)
    margin = given - others.max(axis=2)
    correct = lg.argmax(axis=2) == labels[None, :]
    return p_given, margin, correct


@dataclass(frozen=True)
class Dynamics:
    """Per-sample training dynamics up to each recorded epoch: every field is (T, N), row ``t``
    using the records of epochs ``<= epochs[t]`` only (see the module docstring).

    Build with :func:`compute_dynamics` (arrays) or :func:`dynamics_from_run` (a run folder).
    ``probabilities`` (T, N, C) float32 softmax of each record is kept for the label-issue
    methods that need them (confident learning); None when not asked for.
    ``representations`` (epoch number → (N, h) representations f_t(x), in the order of
    ``labels``: an array, or a :class:`JoinedRows` that reads only the rows asked) lets the
    label-issue methods read the run's representation space; None when the dynamics were
    computed from logits alone.
    """

    epochs: np.ndarray
    labels: np.ndarray
    mean_confidence: np.ndarray
    variability: np.ndarray
    correctness: np.ndarray
    aum: np.ndarray
    forgetting: np.ndarray
    first_learned: np.ndarray
    last_flipped: np.ndarray
    #: per record (not cumulative): the prediction (T, N) and the margin (T, N)
    predictions: np.ndarray = field(repr=False)
    margin: np.ndarray = field(repr=False)
    probabilities: np.ndarray | None = field(default=None, repr=False)
    representations: Callable[[int], np.ndarray | JoinedRows] | None = field(
        default=None, repr=False, compare=False)
    #: results derived from the records that later calls reuse (the label-issue neighbours'
    #: label shares per set of reference records: a view asks at every epoch it shows)
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_epochs(self) -> int:
        return len(self.epochs)

    @property
    def n_samples(self) -> int:
        return len(self.labels)

    def position(self, epoch: int | None) -> int:
        """Row of recorded epoch number ``epoch`` (None: the last)."""
        if epoch is None:
            return self.n_epochs - 1
        hit = np.flatnonzero(self.epochs == int(epoch))
        if not hit.size:
            raise ValueError(f"epoch {epoch} was not recorded; recorded: {self.epochs.tolist()}")
        return int(hit[0])

    def up_to(self, epoch: int) -> int:
        """Row of the last recorded epoch ``<= epoch`` (a view epoch between two records)."""
        pos = int(np.searchsorted(self.epochs, int(epoch), side="right")) - 1
        if pos < 0:
            raise ValueError(f"no epoch recorded at or before {epoch}; first is {self.epochs[0]}")
        return pos

    def measure(self, name: str) -> np.ndarray:
        """One measure, (T, N) float32 (see :data:`MEASURES`)."""
        if name not in MEASURES:
            raise ValueError(f"unknown measure {name!r}; choose one of {list(MEASURES)}")
        return getattr(self, name)

    def frame(self, epoch: int | None = None) -> pd.DataFrame:
        """Every measure up to recorded epoch ``epoch`` (default: the last), one row per sample;
        ``attrs["source"]`` says which records they come from, ``attrs["epochs"]`` which."""
        pos = self.position(epoch)
        df = pd.DataFrame({name: self.measure(name)[pos] for name in MEASURES})
        df.attrs["source"] = SOURCE
        df.attrs["epochs"] = self.epochs[: pos + 1].tolist()
        return df

    def columns(self, epochs: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        """Each measure as (len(epochs), N) float32 rows for the view's epochs (default: the
        recorded ones); a view epoch takes the last record at or before it."""
        rows = (np.arange(self.n_epochs) if epochs is None
                else np.array([self.up_to(e) for e in epochs], dtype=np.int64))
        return {name: np.ascontiguousarray(self.measure(name)[rows]) for name in MEASURES}


def compute_dynamics(logits: np.ndarray, labels: np.ndarray,
                     epochs: Sequence[int] | np.ndarray | None = None, *,
                     keep_probabilities: bool = False,
                     representations: Callable[[int], np.ndarray] | None = None) -> Dynamics:
    """Every measure of the module docstring from logits (T, N, C) of T recorded epochs and
    the given labels (N,).

    Parameters
    ----------
    logits : float array (T, N, C), one evaluation-pass record per epoch, in epoch order.
    labels : int array (N,), the given (possibly noisy) labels.
    epochs : the T recorded epoch numbers (default 0..T-1); ``first_learned`` and
        ``last_flipped`` are in these numbers.
    keep_probabilities : keep the (T, N, C) softmax on the result (for confident learning).
    representations : epoch number → (N, h) representations of the same samples (for the
        label-issue method that reads the representation space); kept as given.

    Examples
    --------
    >>> lg = np.array([[[2., 0.]], [[0., 2.]], [[2., 0.]]])     # one sample, label 0
    >>> d = compute_dynamics(lg, np.array([0]))
    >>> d.forgetting[:, 0].tolist(), d.first_learned[:, 0].tolist()
    ([0.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    """
    lg = np.asarray(logits)
    if lg.ndim != 3:
        raise ValueError(f"logits must be (T epochs, N samples, C classes), got shape {lg.shape}")
    T, N, C = lg.shape
    if T == 0 or C < 2:
        raise ValueError(f"logits need at least one epoch and two classes, got shape {lg.shape}")
    if not np.isfinite(lg).all():
        bad = np.argwhere(~np.isfinite(lg).all(axis=(1, 2))).ravel()
        raise ValueError(f"logits contain NaN or Inf (epoch rows {bad.tolist()[:5]})")
    y = np.asarray(labels)
    if y.shape != (N,) or not np.issubdtype(y.dtype, np.integer) or (
            N and (y.min() < 0 or y.max() >= C)):
        raise ValueError(f"labels must be N={N} integer class ids in [0, {C}), got dtype "
                         f"{y.dtype}, shape {y.shape}")
    ep = np.arange(T) if epochs is None else np.asarray(epochs, dtype=np.int64)
    if ep.shape != (T,) or (T > 1 and (np.diff(ep) <= 0).any()):
        raise ValueError(f"epochs must be {T} increasing epoch numbers, got {ep.tolist()}")
    y = y.astype(np.int64)

    p, margin, correct = _softmax_given(lg, y)
    count = np.arange(1, T + 1, dtype=np.float64)[:, None]
    p64 = p.astype(np.float64)
    mean = np.cumsum(p64, axis=0) / count
    var = np.maximum(np.cumsum(p64 * p64, axis=0) / count - mean * mean, 0.0)
    correctness = np.cumsum(correct, axis=0) / count
    aum = np.cumsum(margin.astype(np.float64), axis=0) / count

    # forgetting events: right at t-1, wrong at t (t >= 1)
    forgot = np.zeros((T, N), dtype=np.int32)
    forgot[1:] = correct[:-1] & ~correct[1:]
    forgetting = np.cumsum(forgot, axis=0).astype(np.float32)
    ever = np.maximum.accumulate(correct, axis=0)
    forgetting[~ever] = np.inf

    # first epoch learned: the epoch number of the first True (NaN while none)
    big = np.iinfo(np.int64).max
    first_pos = np.minimum.accumulate(np.where(correct, np.arange(T)[:, None], big), axis=0)
    first_learned = np.where(first_pos < big, ep[np.minimum(first_pos, T - 1)], np.nan)

    # last flip of correctness: latest t >= 1 with correct[t] != correct[t-1]
    flip = np.zeros((T, N), dtype=bool)
    flip[1:] = correct[1:] != correct[:-1]
    last_pos = np.maximum.accumulate(np.where(flip, np.arange(T)[:, None], -1), axis=0)
    last_flipped = np.where(last_pos >= 0, ep[np.maximum(last_pos, 0)], np.nan)

    probs = None
    if keep_probabilities:
        e = np.exp(lg - lg.max(axis=2, keepdims=True))
        probs = (e / e.sum(axis=2, keepdims=True)).astype(np.float32)

    f32 = np.float32
    return Dynamics(
        epochs=ep, labels=y,
        mean_confidence=mean.astype(f32), variability=np.sqrt(var).astype(f32),
        correctness=correctness.astype(f32), aum=aum.astype(f32), forgetting=forgetting,
        first_learned=first_learned.astype(f32), last_flipped=last_flipped.astype(f32),
        predictions=lg.argmax(axis=2).astype(np.int64), margin=margin.astype(f32),
        probabilities=probs, representations=representations,
    )


class JoinedRows:
    """Several (n_i, h) arrays (a run's train and test memmaps) read as one (Σ n_i, h) array
    without joining them: ``len``, ``shape``, ``dtype`` and row indexing (a slice or an integer
    array) read only the rows asked; ``np.asarray`` joins them all. The label-issue neighbours
    read 3,000 rows of most records they compare, not the 70k × 512 join (0.04–0.36 s a
    record at 60k, warm to cold page cache)."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self.parts = list(parts)
        if len({p.shape[1:] for p in self.parts}) != 1:
            raise ValueError(f"parts of different row shapes {[p.shape for p in self.parts]}")
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])
        self.shape = (int(self.starts[-1]),) + tuple(self.parts[0].shape[1:])
        self.dtype = np.result_type(*self.parts)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice | np.ndarray) -> np.ndarray:
        idx = np.arange(len(self))[rows] if isinstance(rows, slice) else np.asarray(rows)
        if idx.ndim != 1:
            raise IndexError("JoinedRows takes a slice or a 1-D array of row numbers")
        idx = np.where(idx < 0, idx + len(self), idx)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"row out of range for {len(self)} rows")
        part = np.searchsorted(self.starts, idx, side="right") - 1
        out = np.empty((len(idx),) + self.shape[1:], dtype=self.dtype)
        for p in np.unique(part):
            at = part == p
            out[at] = self.parts[p][idx[at] - self.starts[p]]
        return out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:  # noqa: ANN401
        joined = np.concatenate(self.parts)
        return joined if dtype is None else joined.astype(dtype, copy=False)


def dynamics_from_run(run: Any, split: str = "all", epochs: Sequence[int] | None = None,  # noqa: ANN401
                      *, keep_probabilities: bool = False) -> Dynamics:
    """:func:`compute_dynamics` over a :class:`~dvi_widget.data.run.Run`'s recorded logits
    (evaluation passes; default: every recorded epoch) and its given labels.

    ``split``: "train", "test" or "all" (train then test, the order of the view's samples).
    The result reads the run's representations of an epoch when a label-issue method asks.
    """
    eps = list(run.epochs) if epochs is None else [int(e) for e in epochs]
    if not eps:
        raise ValueError(f"the run at {run.path} has no recorded epoch yet: record one first")
    splits = ("train", "test") if split == "all" else (split,)
    rows = [np.concatenate([np.asarray(run.logits(e, s)) for s in splits], axis=0)
            for e in eps]
    labels = np.asarray(run.labels(split))
    return compute_dynamics(np.stack(rows), labels, eps, keep_probabilities=keep_probabilities,
                            representations=lambda epoch: JoinedRows(
                                [run.representations(int(epoch), s) for s in splits]))
