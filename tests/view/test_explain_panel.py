"""The Explain panel's kernel side (dvi_widget/view/explain/) without a browser: paths drawn where
the map places them (their start on the drawn sample), the synced traits every view draws, the
requests' replies through the one envelope (dvi_widget/view/protocol.py) and their errors,
Widget.what_if.

The inspector here is a fake that implements the contract's Explaining protocol with known
numbers (the real one, on a fitted DVI, is exercised in tests/explain/test_explain.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dvi_widget.contract import Explaining, Inspector, Visualization
from dvi_widget.view import explain
from dvi_widget.view import widget as widget_module
from dvi_widget.view.frame import to_view
from dvi_widget.view.serialize import tree_from_json, tree_to_json
from dvi_widget.view.widget import Widget

needs_bundle = pytest.mark.skipif(
    not widget_module.BUNDLE_PATH.is_file(),
    reason="front-end bundle not built (cd js && npm ci && npm run build)",
)

T, N, C = 2, 40, 3
EPOCHS = [3, 7]
#: a path moves this far per unit of strength
STEP = np.array([0.05, 0.02])
FLIP_AT = 90.0
KINDS = {
    "rotate": {"unit": "degrees", "identity": 0.0, "default": [0.0, 180.0], "steps": 32,
               "description": "rotation"},
    "brightness": {"unit": "× value range", "identity": 0.0, "default": [0.0, 0.8],
                   "steps": 32, "description": "brightness"},
    "contrast": {"unit": "factor", "identity": 1.0, "default": [1.0, 0.0], "steps": 32,
                 "description": "contrast"},
    "pgd": {"unit": "step", "identity": 0.0, "default": [0.0, 20.0], "steps": 21,
            "description": "PGD"},
}


class FakeInspector:
    """Explaining with known answers: sample i's φ(x) is exactly where it is drawn (as the one
    map places every recorded sample), a path walks from there by STEP per unit of strength and
    flips to the next class at FLIP_AT; sample 13 was 'recorded from arrays'."""

    def __init__(self, vis_coords: np.ndarray, split: np.ndarray, labels: np.ndarray) -> None:
        self.coords, self.split, self.labels = vis_coords, split, labels
        self.requests: list[dict] = []

    # Inspector
    def probabilities(self, points, epoch):
        return np.full((len(points), C), 1 / C, np.float32)

    def neighbors(self, indices, epoch, k=10):
        return np.zeros((len(indices), k), np.int64), np.zeros((len(indices), k), np.float32)

    def events(self, **thresholds):
        return pd.DataFrame()

    # Explaining
    def phi(self, index: int, epoch: int) -> np.ndarray:
        pos = EPOCHS.index(epoch)
        return self.coords[pos, index].astype(np.float64)

    def what_if_payload(self, index, epoch, kind="rotate", strengths=None, target=None):
        return self.explain({"what": "path", "index": index, "epoch": epoch, "kind": kind,
                             "strengths": strengths, "target": target})

    def explain(self, request):
        self.requests.append(dict(request))
        what = request["what"]
        if what == "kinds":
            return KINDS
        if request.get("index") == 13:
            raise ValueError("epoch 3 of /runs/x was recorded from arrays (record_arrays), so "
                             "there is no model to explain")
        if what == "path":
            kind, index, epoch = request["kind"], int(request["index"]), int(request["epoch"])
            if kind not in KINDS:
                raise ValueError(f"kind={kind!r} is not a perturbation")
            if kind == "pgd":
                s = np.arange(int(request.get("steps", 20)) + 1, dtype=np.float32)
            elif request.get("strengths") is not None:
                s = np.asarray(request["strengths"], np.float32)
            else:
                lo, hi = KINDS[kind]["default"]
                s = np.linspace(lo, hi, 32, dtype=np.float32)
            original = int(self.labels[index])
            pos = self.phi(index, epoch) + np.abs(s - KINDS[kind]["identity"])[:, None] * STEP
            pred = np.where(np.abs(s) >= FLIP_AT, (original + 1) % C, original).astype(np.int32)
            flips = np.flatnonzero(pred != original)
            return {"index": index, "epoch": epoch, "kind": kind, "unit": KINDS[kind]["unit"],
                    "strengths": s, "positions": pos.astype(np.float32), "predictions": pred,
                    "confidence": np.linspace(0.9, 0.5, len(s), dtype=np.float32),
                    "original_prediction": original,
                    "first_flip": float(s[flips[0]]) if flips.size else None,
                    "first_flip_index": int(flips[0]) if flips.size else -1,
                    "target": request.get("target"), "reached_index": -1,
                    # picture k of the path: 2 x 2 pixels of value k (the strength's position)
                    "images": np.repeat(np.arange(len(s), dtype=np.uint8), 4).reshape(-1, 2, 2),
                    "eps": request.get("eps")}
        if what == "robustness":
            s = np.linspace(0, 180, 16, dtype=np.float32)
            mean = np.tile(np.array([0.7, 0.2, 0.1], np.float32), (16, 1))
            sel = request["selection"]
            n = 1 if np.ndim(sel) == 0 else len(sel)
            return {"strengths": s, "mean_probability": mean,
                    "flipped": np.linspace(0, 1, 16, dtype=np.float32),
                    "accuracy": np.linspace(1, 0, 16, dtype=np.float32), "n_samples": n}
        if what == "surrogate":
            classes = request.get("classes") or [int(self.labels[request["index"]])]
            n = 50
            base = self.phi(int(request["index"]), int(request["epoch"]))
            pos = base + np.linspace(-0.5, 0.5, n)[:, None] * np.array([1.0, 0.0])
            return {"weights": np.arange(len(classes) * 16, dtype=np.float32).reshape(-1, 4, 4),
                    "classes": classes, "fidelity": {"r2": 0.9, "agreement": 0.95},
                    "positions": pos.astype(np.float32),
                    "predictions": np.zeros(n, np.int32), "proximity": np.ones(n, np.float32),
                    # the sample's picture: a 4 x 4 ramp 0, 16, ..., 240
                    "image": (16 * np.arange(16, dtype=np.uint8)).reshape(4, 4)}
        raise ValueError(f"unknown {what}")


def make_vis(inspector: bool = True) -> Visualization:
    rng = np.random.default_rng(0)
    coords = rng.uniform(-3, 3, size=(T, N, 2)).astype(np.float32)
    labels = np.arange(N) % C
    split = np.array(["train"] * 30 + ["test"] * 10)
    vis = Visualization.from_arrays(coords=coords, labels=labels, epochs=np.array(EPOCHS),
                                    split=split, extent=(-4, 6, -5, 5),
                                    class_names=["a", "b", "c"])
    if not inspector:
        return vis
    ins = FakeInspector(vis.coords, vis.split, vis.labels)
    return Visualization.from_arrays(coords=coords, labels=labels, epochs=np.array(EPOCHS),
                                     split=split, extent=(-4, 6, -5, 5),
                                     class_names=["a", "b", "c"], inspector=ins)


def make_widget(inspector: bool = True, **kwargs) -> tuple[Widget, list]:
    w = Widget(make_vis(inspector), **kwargs)
    sent: list = []
    w.send = lambda content, buffers=None: sent.append((content, buffers or []))
    w._sent = sent
    return w, sent


def shown(w: Widget, trait: str) -> dict | None:
    """A synced trait as the front end rebuilds it (serialized, then decoded: js/src/codecs.js)."""
    return tree_from_json(tree_to_json(getattr(w, trait)))


def request(w: Widget, **content) -> tuple[dict, list]:
    """Send the panel's request through the envelope; returns the one reply and its buffers."""
    buffers = content.pop("_buffers", [])
    sent = w._sent
    n = len(sent)
    w._handle_custom_msg({"panel": "explain", "id": "v-1", **content}, buffers)
    assert len(sent) == n + 1, "one reply per request"
    reply, out = sent[-1]
    assert reply["panel"] == "explain" and reply["reply"] == "v-1"
    return reply, out


# ------------------------------------------------------------------ Widget.what_if
@needs_bundle
def test_panel_is_shown_by_default_only_with_a_model_to_ask():
    w, _ = make_widget()
    assert isinstance(w.vis.inspector, Explaining) and isinstance(w.vis.inspector, Inspector)
    from dvi_widget.view.panels import DEFAULT_PANELS

    assert w.panels == [*DEFAULT_PANELS, "explain"]
    assert make_widget(inspector=False)[0].panels == list(DEFAULT_PANELS)
    assert make_widget(panels=["legend"])[0].panels == ["legend"]


@needs_bundle
def test_what_if_draws_the_path_and_returns_it_as_a_dataframe():
    w, sent = make_widget(panels=["legend"], epoch=3)
    i = 4  # a training sample
    df = w.what_if(i, kind="rotate")
    assert w.panels == ["legend", "explain"] and w.panel_open
    assert list(df.columns) == ["strength", "x", "y", "prediction", "class_name", "confidence",
                                "flipped"]
    assert len(df) == 32 and w.explanations["path"] is df
    # strength 0 is the sample's drawn position; each step moves STEP per unit of strength
    drawn = w.vis.coords[0, i]
    np.testing.assert_allclose(df[["x", "y"]].to_numpy(float),
                               drawn + df.strength.to_numpy()[:, None] * STEP, atol=1e-4)
    assert df.strength[0] == 0 and "anchor_offset" not in df.attrs
    label = int(w.vis.labels[i])
    assert (df.prediction == np.where(df.strength >= FLIP_AT, (label + 1) % C, label)).all()
    assert df.attrs["first_flip"] == pytest.approx(df.strength[df.strength >= FLIP_AT].min())

    # what every view draws: the explain_path trait, arrays as binary buffers
    wire = tree_to_json(w.explain_path)
    assert all(isinstance(wire[k]["view"], memoryview) for k in
               ("positions", "predictions", "confidence", "strengths"))
    p = shown(w, "explain_path")
    assert p["epoch"] == 3 and p["kind"] == "rotate" and p["index"] == i
    assert "raw" not in p and "anchor" not in p
    assert {k: (p[k].dtype.name, p[k].shape) for k in
            ("positions", "predictions", "confidence", "strengths")} == {
        "positions": ("float32", (32, 2)), "predictions": ("uint16", (32,)),
        "confidence": ("float32", (32,)), "strengths": ("float32", (32,))}
    # positions in the widget's normalised frame: strength 0 exactly where the widget draws the
    # sample, every point where the map placed it (no shift)
    np.testing.assert_allclose(p["positions"][0], w.coords[0, i], atol=1e-6)
    np.testing.assert_allclose(p["positions"], to_view(w.vis, df[["x", "y"]].to_numpy()),
                               atol=1e-6)
    np.testing.assert_array_equal(p["predictions"], df.prediction)
    k = p["first_flip_index"]
    assert p["strengths"][k] == p["first_flip"] and p["predictions"][k] != label
    assert sent == []  # no message: the state is the trait


@needs_bundle
def test_a_saved_page_keeps_the_drawn_path_and_the_explanations(tmp_path):
    w, _ = make_widget(epoch=3)
    w.what_if(4, kind="rotate")
    request(w, type="surrogate", index=4, epoch=3, classes=[1])
    state = w.get_state()
    assert state["explain_path"]["positions"]["shape"] == [32, 2]
    assert state["explain_surrogate"]["weights"]["shape"] == [1, 4, 4]
    html = w.save_html(tmp_path / "page.html").read_text()
    assert '"explain_path": {"index": 4' in html and ".dvi-root .dvi-explain" in html


@needs_bundle
def test_strengths_without_the_identity_are_asked_as_given():
    w, _ = make_widget(epoch=7)
    i = 35  # a test sample
    df = w.what_if(i, kind="contrast", strengths=[0.8, 0.5], epoch=7)
    # nothing is added to find where the path starts: the map starts it on the sample
    asked = [r for r in w.vis.inspector.requests if r["what"] == "path"][-1]
    assert asked["strengths"] == pytest.approx([0.8, 0.5])
    assert df.strength.tolist() == pytest.approx([0.8, 0.5]) and len(df) == 2
    np.testing.assert_allclose(shown(w, "explain_path")["positions"],
                               to_view(w.vis, df[["x", "y"]].to_numpy()), atol=1e-6)
    assert w.explain_path["first_flip_index"] == -1 and df.attrs["first_flip"] is None


@needs_bundle
def test_what_if_sets_the_shown_epoch_and_attacks_take_a_target_name():
    w, _ = make_widget(epoch=7)
    df = w.what_if(2, kind="pgd", target="c", steps=5, epoch=3)
    assert w.epoch == 3 and len(df) == 6 and df.attrs["target"] == 2
    asked = [r for r in w.vis.inspector.requests if r["what"] == "path"][-1]
    assert asked == {"what": "path", "index": 2, "epoch": 3, "kind": "pgd", "target": 2,
                     "steps": 5}
    np.testing.assert_allclose(df.loc[0, ["x", "y"]].to_numpy(float),  # step 0: the sample
                               w.vis.coords[0, 2], atol=1e-5)
    assert w.explain_path["request"]["target"] == 2 and w.explain_path["request"]["steps"] == 5


@needs_bundle
def test_what_if_errors_name_what_is_missing():
    w, _ = make_widget(inspector=False)
    with pytest.raises(ValueError, match="No model to ask.*run.record\\(model, epoch\\)"):
        w.what_if(0)
    w, _ = make_widget()
    with pytest.raises(ValueError, match="epoch 4 was not recorded; choose one of \\[3, 7\\]"):
        w.what_if(0, epoch=4)
    with pytest.raises(ValueError, match="index must lie in \\[0, 40\\)"):
        w.what_if(40)
    with pytest.raises(ValueError, match="target 'z' is not one of"):
        w.what_if(0, kind="pgd", target="z")
    with pytest.raises(ValueError, match="kind='spin' is not a perturbation or attack.*rotate"):
        w.what_if(0, kind="spin")
    with pytest.raises(ValueError, match="record_arrays"):
        w.what_if(13)


@needs_bundle
def test_clear_what_if_erases_the_path_and_the_neighbours():
    w, _ = make_widget()
    w.what_if(1)
    request(w, type="surrogate", index=1, epoch=7)
    assert w.explain_path is not None and w.explain_surrogate is not None
    assert w.clear_what_if() is w
    assert w.explain_path is None and w.explain_surrogate is None
    assert w.explanations["path"].attrs["index"] == 1  # the user's DataFrame stays


# ------------------------------------------------------------------ the panel's requests
@needs_bundle
def test_kinds_request_answers_the_families_or_what_is_missing():
    w, _ = make_widget()
    reply, _ = request(w, type="kinds")
    assert reply["kinds"] == KINDS
    w2, _ = make_widget(inspector=False, panels=["explain"])
    reply, _ = request(w2, type="kinds")
    assert reply["error"] == explain.NO_INSPECTOR


@needs_bundle
def test_path_request_from_the_panel_sets_the_trait_once():
    w, _ = make_widget()
    reply, out = request(w, type="path", index=6, epoch=7, kind="rotate", start=0, stop=120,
                         steps=9)
    assert reply["compute_ms"] >= 0 and out == []
    p = shown(w, "explain_path")
    np.testing.assert_allclose(p["strengths"], np.linspace(0, 120, 9))
    np.testing.assert_allclose(p["positions"][0], w.coords[1, 6], atol=1e-6)
    assert p["request"]["strengths"] == pytest.approx(np.linspace(0, 120, 9).tolist())
    assert w.explanations["path"].attrs["epoch"] == 7
    # a second view following the epoch asks for the same path: answered without the model
    n = len(w.vis.inspector.requests)
    follow = {"index": 6, "epoch": 7, "kind": "rotate", "strengths": p["request"]["strengths"],
              "target": None, "steps": 20, "center": None}
    reply, _ = request(w, type="path", follow=True, **follow)
    assert reply["cached"] and len(w.vis.inspector.requests) == n
    reply, _ = request(w, type="path", **follow)  # Show path: computed again
    assert "cached" not in reply and len(w.vis.inspector.requests) > n
    reply, _ = request(w, type="path", index=6, epoch=7, kind="rotate", start=0, stop=1,
                       steps=1000)
    assert reply == {"panel": "explain", "reply": "v-1",
                     "error": "steps must lie in [2, 512], got 1000"}


@needs_bundle
def test_robustness_of_a_selection_buffer_or_a_class():
    w, _ = make_widget()
    sel = np.array([1, 5, 9], np.uint32)
    reply, _ = request(w, type="robustness", epoch=3, kind="rotate",
                       _buffers=[memoryview(sel.tobytes())])
    assert "error" not in reply, reply
    robustness = lambda: [r for r in w.vis.inspector.requests if r["what"] == "robustness"]  # noqa: E731
    assert robustness()[-1]["selection"].tolist() == [1, 5, 9]
    r = shown(w, "explain_robustness")
    assert r["of"] == "3 selected" and r["n_samples"] == 3 and r["unit"] == "degrees"
    assert r["mean_probability"].shape == (16, 3) and r["flipped"].shape == (16,)
    df = w.explanations["robustness"]
    assert list(df.columns) == ["a", "b", "c", "flipped", "accuracy"]
    assert df.index.name == "strength" and df["a"].iloc[0] == pytest.approx(0.7)
    request(w, type="robustness", epoch=3, kind="rotate", **{"class": 2})
    assert robustness()[-1]["selection"] == 2
    assert w.explain_robustness["of"] == "class c"
    reply, _ = request(w, type="robustness", epoch=3, kind="rotate")
    assert "no index buffer" in reply["error"]


@needs_bundle
def test_surrogate_neighbours_are_drawn_where_the_map_places_them():
    w, _ = make_widget()
    reply, _ = request(w, type="surrogate", index=4, epoch=3, classes=[1, 2])
    assert "error" not in reply, reply
    s = shown(w, "explain_surrogate")
    assert s["classes"] == [1, 2] and s["fidelity"] == {"r2": 0.9, "agreement": 0.95}
    assert s["weights"].shape == (2, 4, 4) and s["positions"].shape == (50, 2)
    out = w.explanations["surrogate"]
    nb = out["neighbors"]
    assert list(nb.columns) == ["x", "y", "prediction", "class_name", "proximity"]
    # the sample's own picture travels with it (drawn at once, and kept by a saved page)
    assert s["image"].dtype == np.uint8 and s["image"].tolist() == (
        16 * np.arange(16)).reshape(4, 4).tolist()
    # the fake's neighbours lie on a line through the sample's drawn position, 1 / 49 apart
    np.testing.assert_allclose(nb.y, w.vis.coords[0, 4, 1], atol=1e-5)
    np.testing.assert_allclose(np.diff(nb.x), 1 / 49, atol=1e-5)
    np.testing.assert_allclose(s["positions"], to_view(w.vis, nb[["x", "y"]].to_numpy()),
                               atol=1e-6)


@needs_bundle
def test_failures_become_error_replies():
    w, _ = make_widget()
    assert "record_arrays" in request(w, type="path", index=13, epoch=3, kind="rotate")[0][
        "error"]
    assert request(w, type="dance")[0]["error"].startswith("unknown explain request type 'dance'")
    assert request(w, type="surrogate", index="4", epoch=3)[0]["error"] == (
        "index must be one sample index (an int), got '4'")

    def broken(request):
        raise RuntimeError("CUDA out of memory")

    w.vis.inspector.explain = broken
    reply, _ = request(w, type="path", index=1, epoch=3, kind="rotate")
    assert reply["error"] == "RuntimeError: CUDA out of memory"


# ------------------------------------------------------------------ real browsers
ROOT = Path(__file__).resolve().parents[2]
BROWSER_MARKS = (
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium not installed"),
    pytest.mark.skipif(not (ROOT / "js" / "node_modules" / "playwright-core").exists(),
                       reason="js/node_modules missing (run `cd js && npm ci`)"),
    pytest.mark.skipif(shutil.which("node") is None, reason="node not on PATH"),
    needs_bundle,
)


def in_browser(test):  # noqa: ANN001, ANN201 - a decorator
    """The marks of tests/view/test_browser.py: skipped only without chromium, node, bundle."""
    for mark in BROWSER_MARKS:
        test = mark(test)
    return test


@in_browser
def test_panel_and_overlay_in_headless_chromium(tmp_path):
    """tests/browser/explain.test.mjs: paths drawn at their payload positions in their
    predictions' colours, slider, first flip, epoch following, errors, curves, surrogate."""
    proc = subprocess.run(["node", str(ROOT / "tests" / "browser" / "explain.test.mjs"),
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    print(proc.stdout)
    assert proc.returncode == 0, f"browser tests failed:\n{proc.stdout}\n{proc.stderr}"
    assert "all 6 passed" in proc.stdout


@pytest.mark.slow
@in_browser
def test_show_path_in_jupyterlab_draws_the_kernels_path(tmp_path):
    """Real JupyterLab and kernel (a DVI fitted on a small digits CNN): the panel's Show path
    draws, at the kernel's positions and in its predictions' colours, the path the kernel keeps
    in w.explanations["path"] (tests/browser/jupyter_whatif.mjs)."""
    import importlib.util

    def load(name):
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "browser" /
                                                      f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    (tmp_path / "nb").mkdir()
    load("whatif_notebook").write(tmp_path / "nb" / "whatif.ipynb")
    with load("jupyter_server").jupyter(tmp_path / "nb", tmp_path) as (base, token):
        proc = subprocess.run(
            ["node", str(ROOT / "tests" / "browser" / "jupyter_whatif.mjs"), base, token,
             "whatif.ipynb", "2", str(tmp_path / "whatif.png")],
            cwd=ROOT, capture_output=True, text=True, timeout=600)
    print(proc.stdout)
    assert proc.returncode == 0, (f"JupyterLab test failed:\n{proc.stdout}\n{proc.stderr}\n"
                                  + (tmp_path / "server.log").read_text()[-3000:])
    assert "all 1 passed" in proc.stdout


def test_paths_carry_the_perturbed_inputs_pictures_and_pgd_takes_eps():
    """Issue 25 item 3: the drawn path holds the picture of the perturbed input at every point
    (the hover card and the strip show them), aligned with its strengths; a PGD request's ε
    reaches the model and is part of the path's identity (a follow with another ε recomputes)."""
    w, _ = make_widget()
    w.what_if(4, "rotate", strengths=[30, 60, 90, 120], epoch=3)
    p = shown(w, "explain_path")
    assert p["images"].shape == (4, 2, 2) and p["images"].dtype == np.uint8
    assert p["images"][:, 0, 0].tolist() == [0, 1, 2, 3]  # the model's pictures, in order
    assert p["strengths"].tolist() == [30, 60, 90, 120]
    ins = w.vis.inspector
    reply, _ = request(w, type="path", index=5, epoch=3, kind="pgd", steps=6, eps=0.05)
    assert "error" not in reply
    assert ins.requests[-1]["eps"] == 0.05 and ins.requests[-1]["steps"] == 6
    p = shown(w, "explain_path")
    assert p["request"]["eps"] == 0.05 and p["eps"] == 0.05 and p["images"].shape == (7, 2, 2)
    n = len(ins.requests)
    request(w, type="path", index=5, epoch=3, kind="pgd", steps=6, eps=0.05, follow=True)
    assert len(ins.requests) == n, "the drawn path answers a follow with the same ε"
    request(w, type="path", index=5, epoch=3, kind="pgd", steps=6, eps=0.2, follow=True)
    assert len(ins.requests) == n + 1 and ins.requests[-1]["eps"] == 0.2
    df = w.what_if(5, "pgd", steps=3, eps=0.1)
    assert len(df) == 4 and ins.requests[-1]["eps"] == 0.1


def test_path_images_are_displayable_pictures_of_the_inputs():
    """Explainer.path_images: inputs in the run's value range -> uint8 pictures, channels last,
    large ones subsampled to at most PATH_IMAGE_SIDE pixels a side; non-images -> None."""
    from types import SimpleNamespace

    from dvi_widget.explain.explainer import PATH_IMAGE_SIDE, Explainer

    ex = SimpleNamespace(value_range=(-1.0, 1.0))
    x = np.zeros((3, 1, 6, 6), np.float32)
    x[1] = 1.0
    x[2, 0, :3] = -1.0
    out = Explainer.path_images(ex, x)
    assert out.shape == (3, 6, 6) and out.dtype == np.uint8
    assert out[0, 0, 0] in (127, 128) and out[1].min() == 255 and out[2, 0, 0] == 0
    big = Explainer.path_images(ex, np.zeros((2, 3, 200, 150), np.float32))
    assert big.shape[1] <= PATH_IMAGE_SIDE and big.shape[2] <= PATH_IMAGE_SIDE and big.shape[3] == 3
    assert Explainer.path_images(ex, np.zeros((2, 7), np.float32)) is None
