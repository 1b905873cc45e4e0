"""Neural patterns (VATUN, Park et al., EuroVis 2021, section 4.3).

Per input, the index of the most activated unit in each conv (global-average-pooled) or
linear layer makes a sequence; the frequent sub-sequences of those sequences over a set of
inputs are the *neural patterns*, each with its support, its samples, their classes and the
images that activate it most. The last linear layer's unit is the predicted class, so a
misclassified sample's patterns say which inner units it shares with the predicted class.

Mining: every sequence has exactly one unit per layer, so a sub-sequence (layers kept in order,
gaps allowed) is the set of its ``(layer, unit)`` items, and the frequent sub-sequences are
exactly the frequent itemsets of the transactions ``{(l, seq[l]) for each layer l}``. They are
mined with mlxtend's FP-growth (rasbt/mlxtend: maintained, released 2026, tested; already
depending only on numpy/pandas/scikit-learn here) rather than a PrefixSpan package: PyPI's
``prefixspan`` was last released in 2018, and PrefixSpan's gap and order handling is what the
fixed positions make unnecessary.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data.run import inside as _store

#: the layers a sequence is made of
PATTERN_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)

_CACHE: dict[tuple, tuple[list[str], np.ndarray, np.ndarray]] = {}


def epoch_network(run: Any, epoch: int, device: str | torch.device = "cpu") -> nn.Module:  # noqa: ANN401
    """The user's architecture with epoch ``epoch``'s weights (eval mode, frozen); a clear error
    says what is missing (the epoch, its stored weights, the architecture)."""
    if int(epoch) not in run.epochs:
        raise ValueError(f"epoch={epoch!r} is not recorded in {run.path}; epochs: {run.epochs}")
    state = run.state_dict(int(epoch))
    if state is None:
        raise ValueError(f"epoch {epoch} of {run.path} was recorded without the model's weights "
                         "(save_inputs=False, or record_arrays); record it with "
                         "run.record(model, epoch) on a run created with save_inputs=True")
    if not run.has_model:
        raise ValueError(f"no model architecture is attached to the run {run.path}, so epoch "
                         f"{epoch}'s network cannot be rebuilt from its weights; reopen it with "
                         "Run.open(path, model=YourModel()) (the architecture it was recorded "
                         "with)")
    network = copy.deepcopy(run.architecture()).cpu()
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"the attached model does not match epoch {epoch}'s weights "
                         f"({str(err).splitlines()[0][:200]}); attach the architecture the run "
                         "was recorded with") from None
    network = network.to(device).float().eval()
    for p in network.parameters():
        p.requires_grad_(False)
    return network


def pattern_layers(network: nn.Module) -> list[str]:
    return [n for n, m in network.named_modules() if n and isinstance(m, PATTERN_LAYERS)]


@torch.no_grad()
def sequences_of(network: nn.Module, x: np.ndarray, layers: Sequence[str] | None = None,
                 batch_size: int = 512) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(layers, sequences (n, L) int64, strength (n, L) float32)``: per input, the most
    activated unit of each layer (conv outputs averaged over positions first) and its value."""
    names = list(layers) if layers is not None else pattern_layers(network)
    if not names:
        raise ValueError("the model has no conv or linear layer to take neural patterns from")
    modules = dict(network.named_modules())
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise ValueError(f"unknown layers {unknown}; choose from {pattern_layers(network)}")
    got: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    seen: set[str] = set()

    def hook(name: str) -> Any:  # noqa: ANN401
        def f(mod: nn.Module, args: Any, out: Any) -> None:  # noqa: ANN401
            if name in seen or not isinstance(out, torch.Tensor):
                return
            seen.add(name)
            got[name].append(_store.unit_view(out.float()).mean(dim=2))
        return f

    handles = [modules[n].register_forward_hook(hook(n)) for n in names]
    dev = next((p.device for p in network.parameters()), torch.device("cpu"))
    dtype = next((p.dtype for p in network.parameters() if p.is_floating_point()), torch.float32)
    try:
        for start in range(0, len(x), batch_size):
            seen.clear()
            network(torch.as_tensor(np.asarray(x[start:start + batch_size]), dtype=dtype,
                                    device=dev))
    finally:
        for h in handles:
            h.remove()
    seq = np.empty((len(x), len(names)), np.int64)
    strength = np.empty((len(x), len(names)), np.float32)
    for j, n in enumerate(names):
        if not got[n]:
            raise ValueError(f"layer {n!r} did not run in the model's forward pass")
        a = torch.cat(got[n])
        v, i = a.max(dim=1)
        seq[:, j] = i.cpu().numpy()
        strength[:, j] = v.cpu().numpy()
    return names, seq, strength


def sequences(run: Any, epoch: int, layers: Sequence[str] | None = None  # noqa: ANN401
              ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """:func:`sequences_of` for every sample of ``run`` (train then test) at ``epoch``,
    cached while the epoch's files are unchanged."""
    key = (str(run.path), int(epoch), run.epoch_stamp(int(epoch)),
           None if layers is None else tuple(layers))
    if key not in _CACHE:
        x = run.inputs("all")
        if x is None:
            raise ValueError(f"the run {run.path} does not store its inputs (save_inputs=False), "
                             "so neural patterns cannot be computed; create it with "
                             "save_inputs=True")
        _CACHE.clear()  # one epoch at a time: the widget moves through epochs
        _CACHE[key] = sequences_of(epoch_network(run, epoch), x, layers)
    return _CACHE[key]


def mine(seq: np.ndarray, min_support: float = 0.05, min_len: int = 2,
         max_len: int | None = None, closed: bool = True) -> pd.DataFrame:
    """Frequent sub-sequences of ``seq`` (n, L): DataFrame ``items`` (tuple of (layer position,
    unit), by position), ``length``, ``count`` and ``support`` (count / n), most frequent first.

    ``closed`` keeps only patterns no longer pattern has with the same count (the others are
    implied by them)."""
    from mlxtend.frequent_patterns import fpgrowth

    seq = np.asarray(seq, np.int64)
    n, L = seq.shape
    if n == 0:
        raise ValueError("no sequences to mine; select at least one sample")
    if not 0 < float(min_support) <= 1:
        raise ValueError(f"min_support must be in (0, 1], got {min_support}")
    items = sorted({(j, int(u)) for j in range(L) for u in np.unique(seq[:, j])})
    onehot = np.zeros((n, len(items)), bool)
    col = {it: k for k, it in enumerate(items)}
    for j in range(L):
        onehot[np.arange(n), [col[(j, int(u))] for u in seq[:, j]]] = True
    freq = fpgrowth(pd.DataFrame(onehot, columns=range(len(items))),
                    min_support=float(min_support), max_len=max_len)
    rows = []
    for sup, sets in zip(freq["support"].to_numpy(), freq["itemsets"], strict=True):
        its = tuple(sorted(items[k] for k in sets))
        if len(its) >= min_len:
            rows.append((its, len(its), int(round(sup * n)), float(sup)))
    df = pd.DataFrame(rows, columns=["items", "length", "count", "support"])
    if closed and len(df):
        df = df[_closed_mask(df)]
    return df.sort_values(["count", "length", "items"], ascending=[False, False, True],
                          ignore_index=True)


def _closed_mask(df: pd.DataFrame) -> np.ndarray:
    """True where no strict superset in ``df`` has the same count."""
    sets = [frozenset(i) for i in df["items"]]
    by_count: dict[int, list[int]] = {}
    for k, c in enumerate(df["count"]):
        by_count.setdefault(int(c), []).append(k)
    keep = np.ones(len(df), bool)
    for group in by_count.values():
        for a in group:
            if any(len(sets[b]) > len(sets[a]) and sets[a] < sets[b] for b in group):
                keep[a] = False
    return keep


def members(seq: np.ndarray, items: Sequence[tuple[int, int]]) -> np.ndarray:
    """Row positions of ``seq`` that hold every ``(layer position, unit)`` of a pattern."""
    mask = np.ones(len(seq), bool)
    for j, u in items:
        mask &= seq[:, j] == u
    return np.flatnonzero(mask)


def neural_patterns(run: Any, epoch: int, indices: Sequence[int] | np.ndarray | None = None,  # noqa: ANN401
                    *, layers: Sequence[str] | None = None, min_support: float = 0.05,
                    min_len: int = 2, max_len: int | None = None, closed: bool = True,
                    top: int = 8) -> pd.DataFrame:
    """The neural patterns of the samples ``indices`` (global, train then test; None: all) at
    ``epoch``.

    Returns a DataFrame, most frequent first, one row per pattern: ``layers`` and ``units``
    (the pattern's layer names and unit indices, model order), ``length``, ``count`` and
    ``support`` (over ``indices``), ``samples`` (their global indices), ``classes``
    (``{class name: count}`` of their labels, largest first), ``top`` (the ``top`` samples whose
    pattern units are most strongly activated, per layer standardised). ``df.attrs`` holds
    ``layers`` (every layer of the sequences) and ``sequences`` ((n, L) of ``indices``).

    Needs the model: reopen the run with ``Run.open(path, model=Architecture())`` (or use the
    Run that recorded it) and record with stored inputs (the default).
    """
    names, seq_all, strength_all = sequences(run, epoch, layers)
    idx = (np.arange(len(seq_all)) if indices is None
           else np.asarray(run_indices(run, indices), np.int64))
    seq, strength = seq_all[idx], strength_all[idx]
    found = mine(seq, min_support, min_len, max_len, closed)
    z = (strength - strength.mean(0)) / (strength.std(0) + 1e-8)
    labels = run.labels("all")[idx]
    cls = np.asarray(run.class_names, dtype=object)
    out = []
    for items, length, count, support in found.itertuples(index=False):
        rows = members(seq, items)
        pos = [j for j, _ in items]
        order = rows[np.argsort(-z[rows][:, pos].sum(1), kind="stable")][:top]
        ids, counts = np.unique(labels[rows], return_counts=True)
        classes = {str(cls[i]): int(c) for i, c in sorted(zip(ids, counts, strict=True),
                                                          key=lambda t: (-t[1], t[0]))}
        out.append({"layers": [names[j] for j in pos], "units": [int(u) for _, u in items],
                    "length": int(length), "count": int(count), "support": float(support),
                    "samples": idx[rows], "classes": classes, "top": idx[order]})
    df = pd.DataFrame(out, columns=["layers", "units", "length", "count", "support", "samples",
                                    "classes", "top"])
    df.attrs["layers"] = names
    df.attrs["sequences"] = seq
    return df


def run_indices(run: Any, indices: Sequence[int] | np.ndarray) -> np.ndarray:  # noqa: ANN401
    from ..data.run.folder import check_indices

    return check_indices(indices, run.n_samples)


def recommend(patterns: pd.DataFrame, selected: Sequence[int] | np.ndarray,
              k: int = 10) -> pd.DataFrame:
    """The patterns the ``selected`` samples share (VATUN's recommendation): those holding at
    least one of them, ranked by the Jaccard similarity of their samples and the selection
    (so a pattern nearly every sample holds ranks below one that singles the selection out),
    then by how many selected samples they hold. Adds the columns ``shared`` and ``jaccard``."""
    sel = np.unique(np.asarray(selected, np.int64))
    shared = np.array([np.isin(s, sel).sum() for s in patterns["samples"]], np.int64)
    union = np.array([len(s) for s in patterns["samples"]], np.int64) + len(sel) - shared
    out = patterns.assign(shared=shared, jaccard=shared / np.maximum(union, 1))
    out = out[out["shared"] > 0]
    return out.sort_values(["jaccard", "shared"], ascending=False, kind="stable").head(k)
