"""Distributions over epochs (TensorBoard's dashboard) and the flags read from them.

:func:`distributions` turns the per-epoch records of :mod:`dvi_widget.data.run.inside` into one
tidy table ``(epoch, layer, statistic, value)``; :func:`flags` names vanishing and exploding
gradients and dead ReLU units, each with its layer and epochs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data.run import inside as _store

KINDS = ("weight", "bias", "grad", "activation")
#: the quantile statistics' names, from the stored levels (p0, p7, p16, p31, p50, ...)
Q_NAMES = tuple(f"p{round(q * 100)}" for q in _store.QUANTILES)


def _layer_of(parameter: str) -> tuple[str, str]:
    """``("features.0", "weight")`` from ``"features.0.weight"``; ``(name, "weight")`` for a
    parameter not named ``weight``/``bias`` at the end (it counts as a weight)."""
    head, _, last = parameter.rpartition(".")
    if last in ("weight", "bias"):
        return head or last, last
    return parameter, "weight"


def hist_quantiles(hist: np.ndarray, lo: float, hi: float,
                   levels: tuple[float, ...] = _store.QUANTILES) -> np.ndarray:
    """Quantiles of a fixed-bin histogram over ``[lo, hi]``, linear within a bin."""
    counts = np.asarray(hist, np.float64)
    total = counts.sum()
    if total <= 0:
        return np.full(len(levels), np.nan, np.float32)
    edges = np.linspace(lo, hi, len(counts) + 1)
    cdf = np.concatenate([[0.0], np.cumsum(counts) / total])
    nz = np.flatnonzero(counts)
    first, last = edges[nz[0]], edges[nz[-1] + 1]
    out = np.interp(levels, cdf, edges)
    out[0], out[-1] = first, last  # the occupied range, not the bins' edges
    return np.clip(out, first, last).astype(np.float32)


def _epoch_rows(epoch: int, meta: dict[str, Any], arrays: dict[str, np.ndarray],
                kind: str) -> list[tuple[int, str, str, float]]:
    rows: list[tuple[int, str, str, float]] = []
    if kind in ("weight", "bias"):
        for i, name in enumerate(meta["parameters"]):
            layer, what = _layer_of(name)
            if what != kind:
                continue
            q, st = arrays["param_quantiles"][i], arrays["param_stats"][i]
            rows += [(epoch, layer, s, float(v)) for s, v in zip(Q_NAMES, q, strict=True)]
            rows += [(epoch, layer, s, float(v)) for s, v in zip(("mean", "std", "norm"), st,
                                                                 strict=True)]
    elif kind == "grad":
        if "grad_hist" not in arrays:
            return rows
        for i, name in enumerate(meta["parameters"]):
            layer, what = _layer_of(name)
            steps = arrays["grad_stats"][i, 3]
            if what != "weight" or steps == 0:
                continue
            lo, hi = arrays["grad_range"][i]
            q = hist_quantiles(arrays["grad_hist"][i], float(lo), float(hi))
            rows += [(epoch, layer, s, float(v)) for s, v in zip(Q_NAMES, q, strict=True)]
            rows += [(epoch, layer, s, float(v)) for s, v in
                     zip(("mean_abs", "max_abs", "norm", "steps"), arrays["grad_stats"][i],
                         strict=True)]
    elif kind == "activation":
        for i, layer in enumerate(meta["layers"]):
            name = layer["name"]
            q = arrays["act_quantiles"][i]
            active = _store.unit_values(arrays, "act_active", i)
            rows += [(epoch, name, s, float(v)) for s, v in zip(Q_NAMES, q, strict=True)]
            rows += [(epoch, name, "mean", float(_store.unit_values(arrays, "act_mean", i).mean())),
                     (epoch, name, "units", float(len(active))),
                     (epoch, name, "dead_units", float((active == 0).sum()))]
    return rows


def distributions(run: Any, kind: str = "weight") -> pd.DataFrame:  # noqa: ANN401 - a Run
    """Per layer and epoch, the distribution of ``kind`` as a tidy table.

    Parameters
    ----------
    run : a :class:`~dvi_widget.data.run.Run` recorded with
        ``run.record(model, epoch, gradients=GradientMonitor(model))``.
    kind : ``"weight"`` / ``"bias"`` (the parameters at record time), ``"grad"`` (the weights'
        gradients over the epoch's steps, from the fixed-bin histograms) or ``"activation"``
        (every conv/linear layer's and activation function's outputs on the probe subset).

    Returns
    -------
    DataFrame with columns ``epoch`` (int), ``layer`` (module name; ``name#k`` for the k-th
    call of a module run more than once), ``statistic`` and ``value`` (float). Statistics:
    the quantiles ``p0 p7 p16 p31 p50 p69 p84 p93 p100`` (TensorBoard's bands: min, ±1.5σ,
    ±1σ, ±0.5σ, median, max of a normal), then ``mean std norm`` (weight, bias),
    ``mean_abs max_abs norm steps`` (grad: ``norm`` is the mean over steps of ``||g||₂``) or
    ``mean units dead_units`` (activation: a unit is dead when it is never > 0 on the probe).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    epochs = _store.epochs_with_inside(run)
    if not epochs:
        raise ValueError(
            f"no epoch of {run.path} holds weights, gradients or activations; record them with "
            "monitor = dvi_widget.inside.GradientMonitor(model) before training and "
            "run.record(model, epoch, gradients=monitor) after each epoch")
    rows: list[tuple[int, str, str, float]] = []
    for e in epochs:
        meta, arrays = _store.read(run, e)
        rows += _epoch_rows(e, meta, arrays, kind)
    df = pd.DataFrame(rows, columns=["epoch", "layer", "statistic", "value"])
    if kind == "grad" and df.empty:
        raise ValueError(f"no recorded epoch of {run.path} saw a backward pass: the "
                         "GradientMonitor records gradients between loss.backward() and "
                         "run.record(..., gradients=monitor)")
    df["epoch"] = df["epoch"].astype(np.int64)
    df["value"] = df["value"].astype(np.float64)
    return df


def layer_order(df: pd.DataFrame) -> list[str]:
    """The table's layers in the order the model runs them (first appearance)."""
    return list(dict.fromkeys(df["layer"].tolist()))


def _wide(df: pd.DataFrame, statistic: str) -> pd.DataFrame:
    """epoch × layer of one statistic (layers in model order)."""
    sub = df[df["statistic"] == statistic]
    return sub.pivot(index="epoch", columns="layer", values="value")[layer_order(sub)]


def _runs(epochs: list[int]) -> str:
    return ", ".join(str(e) for e in epochs)


def flags(run: Any, *, vanishing: float = 1e-3, min_epochs: int = 3,  # noqa: ANN401
          exploding: float = 100.0) -> pd.DataFrame:
    """What the distributions warn about, one row per flag and layer.

    - ``vanishing``: the layer's gradient norm is below ``vanishing`` times the largest layer's
      at the same epoch, in at least ``min_epochs`` epochs (all of them when fewer are
      recorded);
    - ``exploding``: the layer's gradient norm is non-finite, or above ``exploding`` times its
      own median over the recorded epochs;
    - ``dead``: a ReLU's units never active on the probe subset at some epochs (the detail
      gives the most units dead at once).

    Returns a DataFrame with columns ``flag``, ``layer``, ``epochs`` (list of int), ``detail``
    (text); empty when nothing is flagged. Gradients flags need a GradientMonitor; without
    one only ``dead`` is checked.
    """
    out: list[dict[str, Any]] = []
    try:
        grad = distributions(run, "grad")
    except ValueError:
        grad = None
    if grad is not None:
        norm = _wide(grad, "norm")
        need = min(int(min_epochs), len(norm))
        ratio = norm.div(norm.max(axis=1), axis=0)
        for layer in norm.columns:
            low = ratio.index[(ratio[layer] < vanishing).to_numpy()].tolist()
            if len(low) >= need and need > 0:
                worst = float(ratio.loc[low, layer].min())
                out.append({"flag": "vanishing", "layer": layer, "epochs": low,
                            "detail": f"gradient norm {worst:.1e} of the largest layer's "
                                      f"(< {vanishing:g}) at epochs {_runs(low)}"})
            col = norm[layer]
            med = float(np.nanmedian(col.to_numpy())) if col.notna().any() else np.nan
            high = col.index[(~np.isfinite(col.to_numpy())) |
                             (col.to_numpy() > exploding * med)].tolist()
            if high:
                out.append({"flag": "exploding", "layer": layer, "epochs": high,
                            "detail": f"gradient norm above {exploding:g}x its median "
                                      f"({med:.2e}) or not finite at epochs {_runs(high)}"})
    act = distributions(run, "activation")
    kinds = _activation_kinds(run)
    dead = act[act["statistic"] == "dead_units"]
    units = act[act["statistic"] == "units"].set_index(["epoch", "layer"])["value"]
    for layer in layer_order(dead):
        if kinds.get(layer) not in _store.RECTIFIERS:
            continue
        rows = dead[(dead["layer"] == layer) & (dead["value"] > 0)]
        if rows.empty:
            continue
        most = rows.loc[rows["value"].idxmax()]
        n = int(units.loc[(int(most["epoch"]), layer)])
        eps = rows["epoch"].astype(int).tolist()
        out.append({"flag": "dead", "layer": layer, "epochs": eps,
                    "detail": f"up to {int(most['value'])} of {n} units never active on the "
                              f"probe at epochs {_runs(eps)}"})
    return pd.DataFrame(out, columns=["flag", "layer", "epochs", "detail"])


def _activation_kinds(run: Any) -> dict[str, str]:  # noqa: ANN401
    epochs = _store.epochs_with_inside(run)
    meta, _ = _store.read(run, epochs[-1])
    return {layer["name"]: layer["kind"] for layer in meta["layers"]}


def dead_units(run: Any, epoch: int) -> dict[str, np.ndarray]:  # noqa: ANN401
    """Per ReLU layer, the indices of units never active on the probe at ``epoch``."""
    meta, arrays = _store.read(run, int(epoch))
    return {layer["name"]: np.flatnonzero(_store.unit_values(arrays, "act_active", i) == 0)
            for i, layer in enumerate(meta["layers"]) if layer["kind"] in _store.RECTIFIERS}
