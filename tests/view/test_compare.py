"""``dvi_widget.compare``: the methods side by side, linked in the kernel, and the table of
measures, whose numbers are each engine's own ``score()``."""

from __future__ import annotations

import numpy as np
import pytest

import dvi_widget
from dvi_widget.data.datasets import load_digits
from dvi_widget.engine.baselines import NO_LANDSCAPE
from dvi_widget.engine.metrics import q_knn
from dvi_widget.view import widget as widget_module
from tests.digits_runs import train_and_record

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.skipif(
    not widget_module.BUNDLE_PATH.is_file(), reason="front-end bundle not built")]

N_TRAIN = 240
FAST_DVI = dict(hidden=32, grid_size=40, max_steps=120, warm_max_steps=60, layout_iters=80,
                warm_layout_iters=40, device="cpu", verbose=False)


@pytest.fixture(scope="module")
def cmp(tmp_path_factory):
    run = train_and_record(tmp_path_factory.mktemp("cmp") / "run",
                           load_digits(n_train=N_TRAIN, n_test=60), epochs=3)
    return dvi_widget.compare(run, methods=("dvi", "deepview", "umap", "pca", "tsne"),
                              dvi_params=FAST_DVI,
                              deepview_params={"grid_size": 48, "verbose": False})


def test_the_table_holds_each_engines_own_score(cmp):
    comparison = cmp.comparison
    run = comparison.run
    for epoch in (0, 2):
        table = comparison.table(epoch)
        assert table.index.tolist() == ["dvi", "deepview", "umap", "pca", "tsne"]
        for method, fit in comparison.fits.items():
            own = fit.score().loc[epoch]
            for col in ("nn_pv_15_train", "nn_pv_15_test", "boundary_pv_15_train", "ppr_train",
                        "ppr_test", "q_knn", "q_data", "q_not_data"):
                np.testing.assert_equal(table.loc[method, col], own[col])
            assert table.loc[method, "temporal_pv_train"] == fit.temporal_pv()["train"]
            pred = np.concatenate([run.predictions(epoch, "train"), run.predictions(epoch, "test")])
            assert table.loc[method, "q_knn"] == own["q_knn"] == q_knn(fit.coords_[epoch], pred)
            assert table.loc[method, "fit_seconds"] > 0
    t = comparison.table(2)
    # methods with an inverse have a PPR and Q_data (= PPR of the fitted samples); others none
    assert t.loc["dvi", "q_data"] == t.loc["dvi", "ppr_train"] > 0.8
    assert t.loc["pca", "q_not_data"] == t.loc["pca", "ppr_test"]
    assert np.isnan(t.loc[["umap", "tsne"], ["ppr_train", "q_data"]].to_numpy()).all()
    # Q_kNN-E is the Euclidean UMAP's Q_kNN, the same reference in every row
    assert (t["q_knn_e"] == t.loc["umap", "q_knn"]).all()
    # the view's table is the comparison's at the shown epoch
    assert cmp.epoch == 2 and cmp.table().equals(t)
    assert "Q_¬data" in cmp.table_html.value and "fit seconds" in cmp.table_html.value


def test_views_without_an_inverse_say_they_have_no_landscape(cmp):
    notes = cmp.comparison.notes
    assert notes["umap"] == notes["tsne"] == NO_LANDSCAPE
    for m in ("umap", "tsne"):
        vis = cmp.widgets[m].vis
        assert vis.landscape.shape[1:3] == (1, 1) and not vis.landscape.any()
        assert vis.landscape_classes is None and vis.inspector is None
        centre = vis.coords[2].mean(axis=0)
        assert cmp.widgets[m].inspect(*centre)["source"] == "none"
    for m in ("dvi", "deepview", "pca"):
        assert cmp.widgets[m].vis.landscape.any() and notes[m] != NO_LANDSCAPE
    cells = cmp.children[2].children                  # the grid: one cell per view, then the table
    titles = {m: cells[i].children[0].value for i, m in enumerate(cmp.widgets)}
    assert NO_LANDSCAPE in titles["umap"] and NO_LANDSCAPE in titles["tsne"]
    assert NO_LANDSCAPE not in titles["dvi"] + titles["deepview"] + titles["pca"]


def test_a_lasso_in_one_view_selects_the_same_samples_in_all(cmp):
    lasso = np.array([3, 17, 250, 41], np.uint32)
    cmp.widgets["tsne"].selection = lasso          # as the front end sets it after a lasso
    for w in cmp.widgets.values():
        assert w.selection.tolist() == sorted(lasso.tolist())
    cmp.widgets["pca"].selection = np.zeros(0, np.uint32)   # cleared in one: cleared in all
    assert all(len(w.selection) == 0 for w in cmp.widgets.values())


def test_one_epoch_and_one_colouring(cmp):
    cmp.widgets["umap"].epoch = 1
    assert {w.epoch for w in cmp.widgets.values()} == {1} and cmp.slider.value == 1
    assert cmp.table_html.value != "" and cmp.table().attrs["epoch"] == 1
    cmp.slider.value = 0
    assert {w.epoch for w in cmp.widgets.values()} == {0}
    cmp.widgets["dvi"].color_by = "prediction"
    assert {w.color_by for w in cmp.widgets.values()} == {"prediction"}
    cmp.epoch = 2


def test_a_click_shows_the_sample_in_every_view(cmp):
    # a click on a point of the UMAP view: that sample is focused and selected everywhere
    # (the front end selects a clicked point in its own view; the kernel selects it elsewhere)
    cmp.widgets["umap"].selection = np.array([12], np.uint32)
    cmp.widgets["umap"].focus_sample = 12
    assert cmp.focus == 12
    for w in cmp.widgets.values():
        assert w.focus_sample == 12 and w.selection.tolist() == [12]
    # a click on an empty spot of the PCA view focuses the sample nearest to it there, and
    # leaves the PCA view's own selection alone (a new one would close the click's popover)
    pca = cmp.widgets["pca"]
    x, y = pca.vis.coords[2, 200] + 1e-4
    pca.clicked = {"epoch": 2, "x": float(x), "y": float(y)}
    assert cmp.focus == 200 and pca.focus_sample == 200 and pca.selection.tolist() == [12]
    assert all(w.selection.tolist() == [200] for m, w in cmp.widgets.items() if m != "pca")
