"""DeepView (issue 20) on a small Fashion-MNIST run: candidate-pair DiDi against all pairs,
Theorem 2's π⁻¹ (Q_data), the fitted state, its saved folder, and the widget on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget.contract import Visualization
from dvi_widget.data.datasets import load_fashion_mnist
from dvi_widget.data.run import Run
from dvi_widget.engine.deepview import DeepView
from dvi_widget.engine.deepview.didi import term_scales
from dvi_widget.engine.deepview.graph import all_pairs_graph, candidate_graph, layout, recall
from dvi_widget.engine.metrics import q_knn

pytest.importorskip("umap")  # the deepview extra (in dev, so CI has it)
pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.slow]

FAST = dict(grid_size=48, n_epochs=200, device="cpu", verbose=False)


def fashion_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 32),
                         nn.ReLU(), nn.Linear(32, 10))


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A small MLP on 1,000 + 300 Fashion-MNIST images, 2 epochs recorded (inputs kept)."""
    try:
        data = load_fashion_mnist(n_train=1000, n_test=300, seed=0)
    except FileNotFoundError as err:  # pragma: no cover - Debian's dataset-fashion-mnist
        pytest.skip(str(err))
    torch.manual_seed(0)
    model = fashion_mlp()
    run = Run.create(tmp_path_factory.mktemp("fashion") / "run", train=data)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    for epoch in range(2):
        for _ in range(2):
            for i in range(0, len(x), 64):
                loss = nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64])
                opt.zero_grad()
                loss.backward()
                opt.step()
        run.record(model, epoch, device="cpu")
    return run


@pytest.fixture(scope="module")
def fitted(fashion_run: Run) -> DeepView:
    return DeepView(**FAST).fit(fashion_run)


def test_candidate_pairs_match_all_pairs_on_1000_samples(fashion_run: Run) -> None:
    X = np.array(fashion_run.representations(1, "train")[:1000], np.float32)
    head = fashion_run.head(1)
    pred = head(torch.as_tensor(X)).argmax(1).numpy()

    def proba(t: torch.Tensor) -> torch.Tensor:
        return torch.softmax(head(t), dim=1)

    scales = term_scales(proba, X, 5, device="cpu")
    kw = dict(lam=0.65, n_steps=5, scales=scales, device="cpu")
    ci, cd, cinfo = candidate_graph(X, proba, 30, widen=3, **kw)
    ai, ad, ainfo = all_pairs_graph(X, proba, 30, **kw)
    assert ainfo["pairs"] == 1000 * 999 // 2
    assert cinfo["pairs"] < ainfo["pairs"] / 6  # at most 90 candidates a row, symmetrised
    # most of the exact DiDi neighbours are among the Euclidean candidates (measured 0.9x)
    assert recall(ci, ai) > 0.85
    same = ci[:, 1:, None] == ai[:, None, 1:]  # a pair both graphs hold: the same distance
    np.testing.assert_allclose(np.broadcast_to(cd[:, 1:, None], same.shape)[same],
                               np.broadcast_to(ad[:, None, 1:], same.shape)[same], rtol=1e-6)
    # UMAP's own run-to-run spread of Q_kNN on 1,000 samples is about ±0.01, so both graphs
    # are laid out with the same three seeds and compared on the mean: two means of three such
    # runs differ by 0.008 (one standard error) by chance alone, hence the bound of 0.02
    # (measured 0.874 / 0.885 with umap-learn 0.5.12 and pynndescent 0.7; closer before)
    Yc = [layout(ci, cd, n_epochs=100, seed=s) for s in range(3)]
    Ya = [layout(ai, ad, n_epochs=100, seed=s) for s in range(3)]
    qc = np.mean([q_knn(Y, pred) for Y in Yc])
    qa = np.mean([q_knn(Y, pred) for Y in Ya])
    assert abs(qc - qa) <= 0.02, (qc, qa)
    assert qa > 0.85
    from sklearn.manifold import trustworthiness

    tc = trustworthiness(X, Yc[0], n_neighbors=10)
    ta = trustworthiness(X, Ya[0], n_neighbors=10)
    assert abs(tc - ta) < 0.02, (tc, ta)


def test_fit_gives_the_contract_and_q_data_of_theorem_2(fitted: DeepView, fashion_run: Run
                                                        ) -> None:
    n = fashion_run.n_train + fashion_run.n_test
    assert fitted.epochs_ == [0, 1]
    assert fitted.coords_.shape == (2, n, 2)
    vis = fitted.visualization()
    assert isinstance(vis, Visualization)
    assert vis.landscape.shape == (2, 48, 48, 4) and vis.boundary is None
    assert vis.images is not None and vis.inspector is not None
    scores = fitted.score()
    # π⁻¹ of a sample's own position is classified as the sample (Q_data, paper: 98.6 % on
    # Fashion-MNIST); measured 0.99-1.0 here
    assert (scores["q_data"] >= 0.95).all(), scores["q_data"]
    # held-out 30 %: their position's π⁻¹ comes from the fitted neighbours' prototypes
    assert (scores["q_not_data"] > 0.8).all(), scores["q_not_data"]
    assert (scores["q_knn"] > 0.85).all(), scores["q_knn"]
    assert len(fitted.fit_rows_) == round(0.7 * n) and len(fitted.held_rows_) == round(0.3 * n)
    assert not set(fitted.fit_rows_) & set(fitted.held_rows_)
    # the landscape under the samples shows their predicted class for most of them
    probs = vis.inspector.probabilities(vis.coords[1], 1)
    assert np.mean(probs.argmax(1) == vis.predictions[1]) > 0.9
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_same_columns_as_dvi_score(fitted: DeepView) -> None:
    from dvi_widget.engine.metrics import evaluate_epoch

    cols = list(fitted.score().columns)
    # DVI's columns: evaluate_epoch's keys for both splits, then DeepView's three
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    dvi_keys = evaluate_epoch(X, Y, X_test=X, Y_test=Y, B=X, B_2d=Y, pred_train=np.zeros(40),
                              pred_train_rec=np.zeros(40), pred_test=np.zeros(40),
                              pred_test_rec=np.zeros(40), device="cpu")
    assert set(cols) == set(dvi_keys) | {"q_knn", "q_data", "q_not_data"}
    assert fitted.score()[[c for c in cols if c.startswith("boundary_pv")]].isna().all().all()


def test_inverse_into_input_space_and_transform(fitted: DeepView, fashion_run: Run) -> None:
    vis_coords = fitted.coords_[1]
    rows = fitted.fit_rows_[:200]
    images = fitted.inverse(vis_coords[rows], 1, space="input")
    assert images.shape == (200, 1, 28, 28) and images.dtype == np.float32
    # the whole model on π⁻¹ into the input space agrees with its prediction on the sample
    clf = fitted.embedding_.classifier(1)
    with torch.no_grad():
        pred = clf(torch.as_tensor(images)).argmax(1).numpy()
    recorded = fitted.embedding_.predictions(1)[rows]
    assert np.mean(pred == recorded) > 0.9
    # and it looks like the sample it was fitted on: nearer to it than to a random other one
    inputs = np.concatenate([fashion_run.inputs("train"), fashion_run.inputs("test")])[rows]
    own = np.linalg.norm((images - inputs).reshape(200, -1), axis=1)
    other = np.linalg.norm((images - np.roll(inputs, 1, 0)).reshape(200, -1), axis=1)
    assert np.mean(own < other) > 0.95
    reps = fitted.inverse(vis_coords[rows[:5]], 1)
    assert reps.shape == (5, fashion_run.rep_dim)
    # a recorded sample lands on its own position; a slightly moved one near it
    X = fitted.embedding_.all_representations(1)
    np.testing.assert_allclose(fitted.transform(X[:20], 1), vis_coords[:20], atol=1e-4)
    moved = fitted.transform(X[:20] * 1.01, 1)
    side = float(fitted.extent_[1] - fitted.extent_[0])
    assert np.median(np.linalg.norm(moved - vis_coords[:20], axis=1)) < 0.05 * side


def test_epochs_are_aligned_for_playback(fitted: DeepView) -> None:
    side = float(fitted.extent_[1] - fitted.extent_[0])
    moved = np.linalg.norm(fitted.coords_[1] - fitted.coords_[0], axis=1) / side
    # initialised with the previous positions, most samples stay where they were
    assert np.median(moved) < 0.1, np.median(moved)


def test_load_reads_the_fit_back(fitted: DeepView, fashion_run: Run) -> None:
    back = DeepView.load(fashion_run, device="cpu")
    assert back.epochs_ == fitted.epochs_
    np.testing.assert_array_equal(back.coords_, fitted.coords_)
    np.testing.assert_array_equal(back.landscape_, fitted.landscape_)
    np.testing.assert_array_equal(back.fit_rows_, fitted.fit_rows_)
    pts = fitted.coords_[0][:10]
    np.testing.assert_allclose(back.inverse(pts, 0, space="input"),
                               fitted.inverse(pts, 0, space="input"), rtol=1e-6)
    assert back.score().equals(fitted.score())
    assert back.get_params() == {**fitted.get_params(), "verbose": False}


def test_widget_opens_on_a_deepview_visualization(fitted: DeepView) -> None:
    from dvi_widget.view.widget import Widget

    vis = fitted.visualization()
    w = Widget(vis)
    assert w.n_samples == vis.coords.shape[1]
    x, y = (float(v) for v in fitted.coords_[1][3])
    got = w.inspect(x, y, epoch=1)
    want = fitted.probabilities(np.array([[x, y]]), 1)[0]
    assert got["prediction"] == int(want.argmax())
    # the click popover names DeepView's map, not DVI's ψ_t
    replies = []
    w.send = lambda content, buffers=None: replies.append(content)
    w._on_front_end_msg(w, {"panel": "inspect", "id": 1, "x": 0.5, "y": 0.5, "epoch": 1}, [])
    assert replies[-1]["reply"] == 1 and replies[-1]["decoder"] == "π⁻¹ → g_t"


def test_inspector_answers_neighbours_and_events(fitted: DeepView) -> None:
    ins = fitted.visualization().inspector
    idx, dist = ins.neighbors(np.array([0, 5]), 1, k=4)
    X = fitted.embedding_.all_representations(1)
    d = np.linalg.norm(X - X[5], axis=1)
    d[5] = np.inf
    np.testing.assert_allclose(dist[1], np.sort(d)[:4], rtol=1e-5)
    events = ins.events(move=0.05)
    assert {"epoch", "sample", "kind", "size"} <= set(events.columns)
    assert set(events["epoch"]) <= {1}
    moved = events[events["kind"] == "move"]
    side = float(fitted.extent_[1] - fitted.extent_[0])
    step = np.linalg.norm(fitted.coords_[1] - fitted.coords_[0], axis=1) / side
    assert set(moved["sample"]) == set(np.flatnonzero(step >= 0.05))


def test_distances_on_the_input_space_with_the_whole_model(fashion_run: Run) -> None:
    from dvi_widget.engine.metrics import q_knn_e

    # 15 neighbours from 30 candidates: a quarter of the default's pairs (each pair is six
    # passes of the whole MLP over 784-d inputs)
    dv = DeepView(space="input", n_neighbors=15, widen=2, **FAST).fit(fashion_run, epochs=[1])
    scores = dv.score()
    assert dv.space_ == "input" and dv.landscape_.shape == (1, 48, 48, 4)
    assert scores.loc[1, "q_data"] >= 0.95, scores
    assert dv.inverse(dv.coords_[0][:3], 1).shape == (3, 1, 28, 28)  # the fit's space
    # the discriminative layout keeps the model's classes together better than a Euclidean
    # UMAP of the same inputs (the paper's Q_kNN against Q_kNN-E)
    inputs = np.concatenate([fashion_run.inputs("train"), fashion_run.inputs("test")])
    pred = dv.embedding_.predictions(1)
    euclidean = q_knn_e(inputs.reshape(len(inputs), -1), pred, n_neighbors=15)
    # measured: Q_kNN 0.875 against Q_kNN-E 0.796 (Q_data 0.999, Q_¬data 0.844)
    assert scores.loc[1, "q_knn"] > euclidean + 0.02, (scores.loc[1, "q_knn"], euclidean)


@pytest.mark.parametrize(("params", "message"), [
    ({"lam": 1.5}, r"lam must be a finite number in \[0, 1\], got 1.5"),
    ({"n_neighbors": 1}, r"n_neighbors must be an int >= 2 and at most 1000, got 1"),
    ({"space": "pixels"}, r'space must be one of "representation", "input"'),
    ({"holdout": 1.0}, r"holdout must be a finite number in \[0, 1\), got 1.0"),
    ({"n_epochs": 0}, r"n_epochs must be None or an int"),
    ({"knn_method": "ball"}, r'knn_method must be one of "auto", "exact", "nndescent"'),
])
def test_bad_parameters_are_named_before_any_work(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeepView(**params).fit("/nonexistent/run")


def test_parameters_round_trip_and_an_unfitted_deepview_says_so() -> None:
    from dvi_widget.engine.fit import NotFittedError

    dv = DeepView(lam=0.5)
    assert dv.get_params()["lam"] == 0.5 and set(dv.get_params()) >= {"lam", "space", "device"}
    assert dv.set_params(n_steps=7) is dv and dv.n_steps == 7
    with pytest.raises(ValueError, match="unknown parameter 'lambda'"):
        dv.set_params(**{"lambda": 1})
    with pytest.raises(NotFittedError, match="DeepView instance is not fitted"):
        _ = dv.coords_
    assert dv._params_hash() != DeepView()._params_hash()
    assert DeepView(verbose=False)._params_hash() == DeepView()._params_hash()  # not hashed


def test_a_refit_reuses_saved_epochs_and_an_interrupted_fit_resumes(
        fashion_run: Run, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import dvi_widget.engine.deepview.graph as graph

    shutil.copytree(fashion_run.path, tmp_path / "run",
                    ignore=shutil.ignore_patterns("deepview", "dvi"))
    run = Run.open(tmp_path / "run")
    params = {**FAST, "n_steps": 3, "inverse_inputs": False}
    whole = DeepView(**params).fit(run, resume=False)
    real, calls = graph.layout, []

    # a refit with the same parameters reuses every saved epoch
    def no_layout(*args: object, **kwargs: object) -> None:
        raise AssertionError("a saved epoch was fitted again")

    monkeypatch.setattr(graph, "layout", no_layout)
    again = DeepView(**params).fit(run)
    np.testing.assert_array_equal(again.coords_, whole.coords_)
    np.testing.assert_array_equal(again.landscape_, whole.landscape_)

    # interrupted while laying out epoch 1: epoch 0 stays saved, the next fit resumes there
    shutil.rmtree(tmp_path / "run" / "deepview")

    def interrupted(*args: object, **kwargs: object) -> np.ndarray:
        calls.append(kwargs.get("init") is None)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(graph, "layout", interrupted)
    with pytest.warns(UserWarning, match=r"interrupted; the finished epochs \[0\] are saved"), \
            pytest.raises(KeyboardInterrupt):
        DeepView(**params).fit(run)
    assert sorted(p.name for p in (tmp_path / "run" / "deepview").iterdir()) == [
        "epoch_00000.json", "epoch_00000.npz"]  # no fit.json: the fit is not complete
    calls.clear()
    monkeypatch.setattr(graph, "layout", lambda *a, **k: (
        calls.append(k.get("init") is None), real(*a, **k))[1])
    resumed = DeepView(**params).fit(run)
    assert calls == [False]  # only epoch 1 was laid out, warm-started from the saved epoch 0
    np.testing.assert_allclose(resumed.coords_, whole.coords_, atol=1e-5)
    assert DeepView.load(run).epochs_ == [0, 1]
    # epoch 0 refitted alone: epoch 1 followed the old one, so the next fit lays it out again
    DeepView(**params).fit(run, epochs=[0], resume=False)
    calls.clear()
    DeepView(**params).fit(run)
    assert calls == [False]
