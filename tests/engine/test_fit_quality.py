"""The properties of DVI §4 on the digits run of ``benchmarks/bench_engine.py`` (10 epochs),
against UMAP warm-started from the previous epoch (UMAP-T, the paper's temporal baseline) on the
same representations. Margins are below the values measured (in comments)."""

import numpy as np
import pytest
import torch

from dvi_widget.data.datasets import load_digits
from dvi_widget.engine import metrics as quality
from dvi_widget.engine.fit import DVI
from tests.digits_runs import train_and_record

pytestmark = pytest.mark.slow
K = 15
EPOCHS = 10


@pytest.fixture(scope="module")
def digits10(tmp_path_factory):
    """The benchmark's digits run, DVI fitted on it, and UMAP-T on the same representations."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = train_and_record(tmp_path_factory.mktemp("digits10") / "run", load_digits(seed=0),
                               hidden=(128, 64), epochs=EPOCHS, lr=1e-3, batch=128,
                               shuffle=True)
        dvi = DVI(grid_size=64, device="cpu", verbose=False).fit(run)
        umap = pytest.importorskip("umap")
        umap_t, prev = [], None
        for e in run.epochs:
            X = np.array(run.representations(e, "train"), dtype=np.float32)
            fitted = umap.UMAP(n_neighbors=K, random_state=0,
                               init=prev if prev is not None else "spectral").fit(X)
            prev = fitted.embedding_
            umap_t.append((fitted.embedding_, fitted.transform(
                np.array(run.representations(e, "test"), dtype=np.float32))))
    finally:
        torch.set_num_threads(before)
    return run, dvi, umap_t


def _high(run):
    train, test = [], []
    for e in run.epochs:
        X = np.asarray(run.representations(e, "train"), dtype=np.float32)
        train.append(quality.neighbours(X, K))
        test.append(quality.joint_neighbours(
            X, np.asarray(run.representations(e, "test"), dtype=np.float32), K))
    return train, test


def test_temporal_property_beats_warm_started_umap(digits10):
    run, dvi, umap_t = digits10
    n = run.n_train
    high_train, high_test = _high(run)
    ours = dvi.temporal_pv()
    theirs = {
        "train": quality.temporal_pv(None, [u for u, _ in umap_t], K, neighbour_sets=high_train),
        "test": quality.temporal_pv(None, [t for _, t in umap_t], K, neighbour_sets=high_test),
    }
    # Eq. 4 exactly (per sample over the epochs, then the mean), the same from the metrics
    assert ours["train"] == pytest.approx(quality.temporal_pv(
        None, [c[:n] for c in dvi.coords_], K, neighbour_sets=high_train))
    # measured: DVI -0.57 train / -0.48..-0.51 test; UMAP-T -0.43 / -0.43
    for split in ("train", "test"):
        assert ours[split] < -0.4
        assert ours[split] < theirs[split] - 0.03, (ours, theirs)
    # samples whose neighbourhood and prediction stayed the same barely move (measured: median
    # 0.03 units, against 1.0 for those that lost over 40 % of their neighbours)
    preds = np.stack([run.predictions(e, "train") for e in run.epochs])
    stable, changed = [], []
    for t in range(1, len(run.epochs)):
        e = quality.overlap_rate(high_train[t - 1], high_train[t])
        move = np.linalg.norm(dvi.coords_[t, :n] - dvi.coords_[t - 1, :n], axis=1)
        same = preds[t] == preds[t - 1]
        stable.append(move[(e >= 0.95) & same])
        changed.append(move[e < 0.6])
    assert np.median(np.concatenate(stable)) < 0.1 * np.median(np.concatenate(changed))
    # and so do test samples (warm-started from t−1 with their own mobility)
    preds_t = np.stack([run.predictions(e, "test") for e in run.epochs])
    stable, changed = [], []
    for t in range(1, len(run.epochs)):
        e = quality.overlap_rate(high_test[t - 1], high_test[t])
        move = np.linalg.norm(dvi.coords_[t, n:] - dvi.coords_[t - 1, n:], axis=1)
        stable.append(move[(e >= 0.95) & (preds_t[t] == preds_t[t - 1])])
        changed.append(move[e < 0.6])
    assert np.median(np.concatenate(stable)) < 0.1 * np.median(np.concatenate(changed))


def test_boundary_points_decode_onto_the_models_boundary(digits10):
    """ψ_t at a boundary point's 2-D position decodes onto g_t's δ-boundary (Def. 2): the
    landscape's white band is where the model's boundary is."""
    from dvi_widget.engine.boundary import boundary_gap

    run, dvi, _ = digits10
    rates = []
    for t, e in enumerate(dvi.epochs_):
        decoded = dvi.inverse_transform(dvi.boundary_[t], e)
        with torch.no_grad():
            gap = boundary_gap(run.head(e)(torch.as_tensor(decoded, dtype=torch.float32)))
        rates.append(float((gap <= dvi.delta).float().mean()))
    # measured per epoch with boundary_weight 2: 0.625-0.958, mean 0.774 (weight 1: 0.604-0.896,
    # mean 0.728; without the boundary term 0.10-0.59). 144 boundary points per epoch: one point
    # is 0.007 and the binomial standard error at 0.6 is 0.04, so the 0.55 (asked of
    # Fashion-MNIST) is held at every epoch with two standard errors to spare at the worst
    assert np.mean(rates) >= 0.65 and min(rates) >= 0.55, rates


def test_neighbours_and_predictions_are_kept_for_train_and_new_samples(digits10):
    run, dvi, umap_t = digits10
    n = run.n_train
    high_train, high_test = _high(run)
    for t, e in enumerate(run.epochs):
        coords = dvi.coords_[t]
        nn_train = quality.overlap_rate(high_train[t], quality.neighbours(coords[:n], K)).mean()
        nn_test = quality.overlap_rate(
            high_test[t], quality.joint_neighbours(coords[:n], coords[n:], K)).mean()
        u_train = quality.overlap_rate(high_train[t], quality.neighbours(umap_t[t][0], K)).mean()
        u_test = quality.overlap_rate(
            high_test[t], quality.joint_neighbours(umap_t[t][0], umap_t[t][1], K)).mean()
        # measured: train 0.51-0.56 vs UMAP-T 0.54-0.57; test 0.45-0.51 vs UMAP.transform 0.47-0.50
        assert nn_train > u_train - 0.05, (e, nn_train, u_train)
        assert nn_test > u_test - 0.05, (e, nn_test, u_test)
        # PPR (measured 0.961-0.999 train, the lowest at epochs 0-1, where the model is barely
        # decided: 0.983 / 0.961, against 0.976 / 0.965 before crossing neighbours repelled,
        # ENGINE.md; test 0.992-1.0 since test samples settle onto their prediction's cell, and
        # 0.939-0.992 before)
        for split, rows in (("train", slice(0, n)), ("test", slice(n, None))):
            decoded = dvi.inverse(coords[rows], e)[1].argmax(axis=1)
            rate = (decoded == run.predictions(e, split)).mean()
            assert rate >= (0.95 if split == "train" else 0.98), (e, split, rate)
    # project() of new inputs lands them where the fit shows the test samples
    last = run.epochs[-1]
    placed = dvi.project(run.inputs("test")[:50], last)
    assert np.allclose(placed, dvi.coords_[-1, n : n + 50], atol=1e-4)
