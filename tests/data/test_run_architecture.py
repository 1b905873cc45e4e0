"""Issue 23 item 5: a run explains wherever it is reopened.

The architecture is stored with the run (``architecture.json``): a ``torch.export`` graph read
back without executing anything from the file, or an already-imported class. A run recorded in
one process is reopened in a fresh one that never defines the model's class, and Grad-CAM and a
what-if path there equal those of the same run reopened with ``model=``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget.data.datasets import load_digits
from dvi_widget.data.run import Run
from dvi_widget.data.run.architecture import ARCH_JSON
from dvi_widget.explain import Explainer, gradcam
from tests.data.toy_run import REPO, Branchy

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(0.1), nn.Linear(8 * 4 * 4, 16), nn.ReLU(),
                         nn.Linear(16, 10))


def _train(model, run, epochs=2):
    x, y = torch.as_tensor(np.array(run.inputs("train"))), torch.as_tensor(run.labels("train"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch)).split(32):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        run.record(model, epoch, device="cpu")
    return model


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    digits = load_digits(seed=0)
    torch.manual_seed(0)
    run = Run.create(tmp_path_factory.mktemp("arch") / "cnn",
                     train=(digits.x_train[:300], digits.y_train[:300]),
                     test=(digits.x_test[:60], digits.y_test[:60]))
    model = _train(cnn(), run)
    return run, model


def python(code: str) -> subprocess.CompletedProcess:
    """A fresh interpreter (the model's class is not defined there)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def branchy(tmp_path_factory):
    """A model torch.export refuses, recorded: its class is stored by import path."""
    digits = load_digits(seed=0)
    run = Run.create(tmp_path_factory.mktemp("arch") / "branchy",
                     train=(digits.x_train[:100], digits.y_train[:100]))
    torch.manual_seed(0)
    run.record(Branchy(), 0)
    return run


@pytest.fixture(scope="module")
def fresh(recorded, branchy, tmp_path_factory):
    """One fresh interpreter that never defines the models' classes reopens both runs: the
    exported CNN (Grad-CAM, a what-if path, logits) and the import-path model (refused until
    its package is imported there); ``import dvi_widget`` imports no training framework."""
    run, _ = recorded
    out = tmp_path_factory.mktemp("fresh") / "fresh.npz"
    done = python(f"""
        import sys
        import numpy as np
        import torch
        import dvi_widget, dvi_widget.integrations
        from dvi_widget.data.run import Run
        from dvi_widget.explain import Explainer, gradcam
        print("FRAMEWORKS", sorted(m for m in ("lightning", "transformers", "av")
                                   if m in sys.modules))
        run = Run.open({str(run.path)!r})
        assert run.has_model
        clf = run.classifier(1, device="cpu")
        cam = gradcam(run, 1, [0, 5, 7])
        path = Explainer(run, device="cpu").what_if(3, 1, "noise", [0.0, 0.3, 0.6])
        np.savez({str(out)!r}, logits=clf(torch.as_tensor(run.inputs_at(
            np.arange(20)))).detach().numpy(), maps=cam.maps, layer=cam.layer,
            conf=path["confidence"].to_numpy(), pred=path["prediction"].to_numpy())
        assert "tests.data.toy_run" not in sys.modules
        try:  # the class's module is not imported here: nothing is imported for the file
            Run.open({str(branchy.path)!r}).classifier(0, device="cpu")
        except ValueError as err:
            print("ERROR", err)
        assert "tests.data.toy_run" not in sys.modules
        import tests.data.toy_run  # the user imports their own package: then it is used
        other = Run.open({str(branchy.path)!r})
        x = torch.as_tensor(other.inputs_at(np.arange(10)))
        print("DIFF", float(np.abs(other.classifier(0, device="cpu")(x).numpy()
                                   - other.logits(0)[:10]).max()))
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, np.load(out)


def test_a_run_reopened_in_a_fresh_process_explains_without_the_model(recorded, fresh):
    run, model = recorded
    record = json.loads((run.path / ARCH_JSON).read_text())
    assert record["kind"] == "torch.export" and record["class"].endswith("Sequential")
    stdout, arrays = fresh
    assert "FRAMEWORKS []" in stdout  # lightning / transformers / av only when used
    # the rebuilt network gives the logits the run recorded for that epoch
    np.testing.assert_allclose(arrays["logits"], run.logits(1, "all")[:20], atol=1e-5)
    # and the same Grad-CAM and what-if path as the run reopened with the user's class
    with_model = Run.open(run.path, model=cnn())
    cam = gradcam(with_model, 1, [0, 5, 7])
    assert str(arrays["layer"]) == cam.layer == "3"  # the last Conv2d, found in the graph too
    assert cam.maps.max() > 0
    np.testing.assert_allclose(arrays["maps"], cam.maps, atol=1e-5)
    path = Explainer(with_model, device="cpu").what_if(3, 1, "noise", [0.0, 0.3, 0.6])
    np.testing.assert_allclose(arrays["conf"], path["confidence"].to_numpy(), atol=1e-5)
    np.testing.assert_array_equal(arrays["pred"], path["prediction"].to_numpy())
    assert model.training  # recording (and the export) left the user's model in train mode


def _copy_run(run, tmp_path):
    import shutil
    target = tmp_path / "copy"
    shutil.copytree(run.path, target)
    return target


@pytest.mark.parametrize(("field", "value", "message"), [
    ("target", "torch.os.system", "not an ATen operator"),
    ("expr_str", "__import__('os').system('touch /tmp/pwned')", "not plain arithmetic"),
])
def test_a_tampered_graph_is_refused_before_torch_reads_it(recorded, tmp_path, field, value,
                                                           message):
    run, _ = recorded
    folder = _copy_run(run, tmp_path)
    record = json.loads((folder / ARCH_JSON).read_text())

    def plant(obj):
        if isinstance(obj, dict):
            for key in obj:
                if key == field:
                    obj[key] = value
                    return True
                if plant(obj[key]):
                    return True
        elif isinstance(obj, list):
            return any(plant(v) for v in obj)
        return False

    assert plant(record["program"])
    (folder / ARCH_JSON).write_text(json.dumps(record))
    reopened = Run.open(folder)
    assert not reopened.has_model
    with pytest.raises(ValueError, match=f"{message}.*Run.open\\(path, model="):
        reopened.classifier(1, device="cpu")
    assert Run.open(folder, model=cnn()).classifier(1, device="cpu") is not None  # the fallback


def test_no_stored_architecture_names_what_is_missing(recorded, tmp_path):
    run, _ = recorded
    folder = _copy_run(run, tmp_path)
    (folder / ARCH_JSON).unlink()
    with pytest.raises(ValueError, match="stores no architecture.*Run.open\\(path, model="):
        gradcam(Run.open(folder), 1, [0])


def test_an_unexportable_model_is_stored_by_its_import_path(branchy, fresh):
    record = json.loads((branchy.path / ARCH_JSON).read_text())
    assert record["kind"] == "import" and record["kwargs_from"] == "no arguments"
    assert record["module"] == Branchy.__module__ == "tests.data.toy_run"
    assert "torch.export failed" in record["export_error"]
    stdout, _ = fresh
    assert "ERROR" in stdout and "not imported in this kernel" in stdout
    assert "run `import tests` first" in stdout
    assert float(stdout.split("DIFF")[1]) < 1e-5


def test_neither_route_says_why(tmp_path):
    """A notebook's own class whose forward export refuses: nothing importable, so the record
    says why, and the error of a panel that needs the model names it and the fallback."""

    class Notebooky(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            h = x.reshape(len(x), -1)
            return self.fc(h if h.sum() > 0 else -h)

    digits = load_digits(seed=0)
    run = Run.create(tmp_path / "nb", train=(digits.x_train[:50], digits.y_train[:50]))
    torch.manual_seed(0)
    run.record(Notebooky(), 0)
    record = json.loads((run.path / ARCH_JSON).read_text())
    assert record["kind"] == "none"
    assert "torch.export failed" in record["reason"] and "not importable" in record["reason"]
    with pytest.raises(ValueError, match=r"could not store its architecture .*torch.export "
                                         r"failed.*Notebooky.*Run.open\(path, model="):
        Run.open(run.path).classifier(0, device="cpu")
    assert Run.open(run.path, model=Notebooky()).classifier(0, device="cpu") is not None
