"""Recording a real training run on digits, reopening it (also in a new process), checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget.data.datasets import load_digits
from dvi_widget.data.run import FORMAT_VERSION, Run

REPO = Path(__file__).resolve().parents[2]
N_EPOCHS = 5
BATCH = 128  # record batch size, also used to compute the expected arrays bit for bit


def make_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def train_one_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: np.ndarray, y: np.ndarray,
                    seed: int) -> None:
    model.train()
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for i in range(0, len(x), 64):
        idx = perm[i : i + 64]
        loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


@torch.no_grad()
def expected_arrays(model: nn.Sequential, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the recorder should store, computed directly (same batches, no hooks)."""
    model.eval()
    reps, logits = [], []
    for i in range(0, len(x), BATCH):
        xb = torch.as_tensor(x[i : i + BATCH])
        h = model[:3](xb)
        reps.append(h.numpy())
        logits.append(model[3](h).numpy())
    model.train()
    return np.concatenate(reps), np.concatenate(logits)


@pytest.fixture(scope="module")
def digits():
    return load_digits(n_train=600, n_test=150, seed=0)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, digits):
    """A 5-epoch MLP run on digits recorded through the training-loop API, with checkpoints."""
    root = tmp_path_factory.mktemp("recorded")
    torch.manual_seed(0)
    model = make_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    noisy = np.zeros(digits.n_train + digits.n_test, dtype=bool)
    noisy[::7] = True
    metadata = {"noisy": noisy, "source": np.where(noisy, "web", "lab")}
    run = Run.create(root / "run", train=digits, metadata=metadata)
    expected = {}
    for epoch in range(N_EPOCHS):
        train_one_epoch(model, opt, digits.x_train, digits.y_train, seed=epoch)
        run.record(model, batch_size=BATCH)  # epoch=None: 0, 1, 2, ...
        assert model.training, "record must restore the training mode"
        expected[epoch] = (expected_arrays(model, digits.x_train),
                           expected_arrays(model, digits.x_test))
        state = {k: v.clone() for k, v in model.state_dict().items()}
        # two checkpoint conventions: a raw state_dict and a dict holding one
        obj = state if epoch % 2 == 0 else {"model_state_dict": state, "epoch": epoch}
        torch.save(obj, root / f"ckpt_epoch_{epoch:02d}.pt")
    return {"root": root, "run": run, "model": model, "expected": expected,
            "metadata": metadata}


def test_record_stores_what_the_model_computes(recorded, digits):
    run = recorded["run"]
    assert run.epochs == list(range(N_EPOCHS))
    assert (run.n_train, run.n_test, run.n_samples) == (600, 150, 750)
    assert run.rep_dim == 32 and run.n_classes == 10 and run.input_shape == (1, 8, 8)
    for epoch, ((tr_rep, tr_log), (te_rep, te_log)) in recorded["expected"].items():
        np.testing.assert_array_equal(run.representations(epoch, "train"), tr_rep)
        np.testing.assert_array_equal(run.representations(epoch, "test"), te_rep)
        np.testing.assert_array_equal(run.logits(epoch, "train"), tr_log)
        np.testing.assert_array_equal(run.logits(epoch, "test"), te_log)
        np.testing.assert_array_equal(run.predictions(epoch, "test"), te_log.argmax(1))
    info = run.epoch_info(N_EPOCHS - 1)
    assert info["layer"] == "3" and info["head"]["spec"][0]["type"] == "Linear"
    # the MLP learns digits: accuracy rises well above chance
    assert info["train_accuracy"] > 0.9 > run.epoch_info(0)["train_accuracy"] - 0.5
    np.testing.assert_array_equal(run.labels("train"), digits.y_train)
    np.testing.assert_array_equal(run.labels("all"), np.concatenate([digits.y_train,
                                                                      digits.y_test]))


def test_arrays_are_memory_mapped_float32(recorded):
    run = Run.open(recorded["run"].path)
    rep = run.representations(2, "train")
    assert isinstance(rep, np.memmap) and rep.dtype == np.float32 and rep.shape == (600, 32)
    assert isinstance(run.logits(2, "test"), np.memmap)
    x = run.inputs("train")
    assert isinstance(x, np.memmap) and x.dtype == np.float32 and x.shape == (600, 1, 8, 8)
    assert run.representations(2, "all").shape == (750, 32)


def test_metadata_and_splits(recorded, digits):
    md = Run.open(recorded["run"].path).metadata
    assert len(md) == 750 and list(md.index[:3]) == [0, 1, 2]
    assert list(md.columns[:3]) == ["split", "label", "class_name"]
    assert (md["split"].iloc[:600] == "train").all() and (md["split"].iloc[600:] == "test").all()
    np.testing.assert_array_equal(md["noisy"].to_numpy(), recorded["metadata"]["noisy"])
    assert list(md["source"]) == list(recorded["metadata"]["source"])
    assert md["class_name"].iloc[0] == str(digits.y_train[0])
    splits = recorded["run"].splits()
    assert splits.shape == (750,) and (splits[:600] == "train").all() and splits[600] == "test"


REOPEN_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, torch
    from torch import nn
    from dvi_widget import Run

    run_path, out = sys.argv[1], sys.argv[2]
    run = Run.open(run_path)
    arrays = {"labels": run.labels("all"), "epochs": np.array(run.epochs),
              "noisy": run.metadata["noisy"].to_numpy(),
              "source": run.metadata["source"].to_numpy().astype(str),
              "split": run.splits().astype(str)}
    head_err, feat_err = [], []
    assert run.has_model  # the architecture stored with the run (issue 23), no model= needed
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    with_model = Run.open(run_path, model=model)
    for e in run.epochs:
        for s in ("train", "test"):
            arrays[f"rep_{e}_{s}"] = np.asarray(run.representations(e, s))
            arrays[f"log_{e}_{s}"] = np.asarray(run.logits(e, s))
        with torch.no_grad():
            rep = torch.as_tensor(np.array(run.representations(e, "train")))
            head_err.append(float((run.head(e)(rep) - torch.as_tensor(
                np.asarray(run.logits(e, "train")))).abs().max()))
            x = torch.as_tensor(np.array(run.inputs("train")))
            feat_err.append(max(float((with_model.feature_model(e)(x) - rep).abs().max()),
                                float((run.feature_model(e)(x) - rep).abs().max())))
    arrays["head_err"] = np.array(head_err)
    arrays["feat_err"] = np.array(feat_err)
    np.savez(out, **arrays)
    """
)


def test_reopen_in_a_new_process_gives_identical_arrays(recorded, digits, tmp_path):
    out = tmp_path / "reopened.npz"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", REOPEN_SCRIPT, str(recorded["run"].path), str(out)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = np.load(out)
    np.testing.assert_array_equal(got["epochs"], np.arange(N_EPOCHS))
    np.testing.assert_array_equal(got["labels"], np.concatenate([digits.y_train, digits.y_test]))
    np.testing.assert_array_equal(got["noisy"], recorded["metadata"]["noisy"])
    np.testing.assert_array_equal(got["source"], recorded["metadata"]["source"])
    assert (got["split"][:600] == "train").all() and (got["split"][600:] == "test").all()
    for epoch, ((tr_rep, tr_log), (te_rep, te_log)) in recorded["expected"].items():
        assert np.array_equal(got[f"rep_{epoch}_train"], tr_rep)
        assert np.array_equal(got[f"rep_{epoch}_test"], te_rep)
        assert np.array_equal(got[f"log_{epoch}_train"], tr_log)
        assert np.array_equal(got[f"log_{epoch}_test"], te_log)
    # g_t rebuilt from the folder alone, and f_t rebuilt from the architecture + state_dict
    assert got["head_err"].max() < 1e-5
    assert got["feat_err"].max() < 1e-5


def test_head_and_feature_model_in_this_process(recorded, digits):
    run = recorded["run"]  # the live model is attached by record()
    # the stored architecture (issue 23) attaches itself on reopening
    assert run.has_model and Run.open(run.path).has_model
    for epoch in (0, N_EPOCHS - 1):
        head = run.head(epoch)
        assert not head.training
        f = run.feature_model(epoch)
        assert f is not None and not f.training
        with torch.no_grad():
            rep = f(torch.as_tensor(digits.x_test))
            np.testing.assert_allclose(rep.numpy(), run.representations(epoch, "test"),
                                       atol=1e-5)
            np.testing.assert_allclose(head(rep).numpy(), run.logits(epoch, "test"), atol=1e-5)
    # epoch 0's f differs from the last epoch's: the state_dict of *that* epoch was loaded
    with torch.no_grad():
        x = torch.as_tensor(digits.x_test)
        assert not torch.allclose(run.feature_model(0)(x), run.feature_model(4)(x))
    # the feature model is differentiable (boundary synthesis may need gradients)
    x = torch.as_tensor(digits.x_test[:4]).requires_grad_(True)
    run.feature_model(1)(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_from_checkpoints_matches_live_recording(recorded, digits, tmp_path):
    root = recorded["root"]
    run = Run.from_checkpoints(
        tmp_path / "ckpt_run", str(root / "ckpt_epoch_*.pt"), make_mlp,
        train=(digits.x_train, digits.y_train), test=(digits.x_test, digits.y_test),
        batch_size=BATCH, quiet=True,
    )
    assert run.epochs == list(range(N_EPOCHS))
    live = recorded["run"]
    for epoch in run.epochs:
        for split in ("train", "test"):
            np.testing.assert_array_equal(run.representations(epoch, split),
                                          live.representations(epoch, split))
            np.testing.assert_array_equal(run.logits(epoch, split), live.logits(epoch, split))
    # a dict {epoch: path} with other epoch numbers, and a module instead of a factory
    files = {10 * e: root / f"ckpt_epoch_{e:02d}.pt" for e in (1, 3)}
    template = make_mlp()
    before = [p.clone() for p in template.parameters()]
    run2 = Run.from_checkpoints(tmp_path / "dict_run", files, template,
                                train=(digits.x_train, digits.y_train), quiet=True,
                                batch_size=BATCH)
    assert run2.epochs == [10, 30] and run2.n_test == 0
    np.testing.assert_array_equal(run2.logits(30), live.logits(3))
    assert all(torch.equal(a, b) for a, b in zip(before, template.parameters(), strict=True))


@pytest.mark.parametrize(("name", "epoch"), [
    ("ckpt_epoch_03.pt", 3), ("epoch=2-step=480.ckpt", 2), ("Epoch_7_acc_0.91.pt", 7),
    ("model_12.pt", 12), ("checkpoint-500/model.safetensors", 500)])
def test_checkpoint_epochs_are_read_from_their_names(tmp_path, name, epoch):
    from dvi_widget.data.run.checkpoints import checkpoint_files

    file = tmp_path / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.touch()
    assert checkpoint_files([file]) == {epoch: str(file)}


@pytest.mark.parametrize(("state", "epoch"), [('{"epoch": 2.0, "global_step": 80}', 1),
                                             ('{"epoch": 1.5, "global_step": 60}', 60),
                                             ("not json", 60)])
def test_a_trainer_checkpoint_is_numbered_by_the_epoch_it_ended(tmp_path, state, epoch):
    from dvi_widget.data.run.checkpoints import checkpoint_files

    file = tmp_path / "checkpoint-60" / "model.safetensors"
    file.parent.mkdir()
    file.touch()
    (file.parent / "trainer_state.json").write_text(state)
    assert checkpoint_files([file]) == {epoch: str(file)}


def test_from_checkpoints_reads_safetensors(recorded, digits, tmp_path):
    """The Hugging Face Trainer's checkpoint-STEP/model.safetensors folders: tensors only."""
    save_file = pytest.importorskip("safetensors.torch").save_file
    live = recorded["run"]
    for step, epoch in ((100, 1), (300, 3)):
        folder = tmp_path / "out" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        state = torch.load(recorded["root"] / f"ckpt_epoch_{epoch:02d}.pt", weights_only=True)
        state = state.get("model_state_dict", state)
        save_file({k: v.contiguous() for k, v in state.items()}, folder / "model.safetensors")
    run = Run.from_checkpoints(tmp_path / "run", str(tmp_path / "out" / "*" / "model.safetensors"),
                               make_mlp, train=(digits.x_train, digits.y_train), quiet=True,
                               batch_size=BATCH)
    assert run.epochs == [100, 300]
    np.testing.assert_array_equal(run.logits(300), live.logits(3))
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="bad.safetensors cannot be read"):
        Run.from_checkpoints(tmp_path / "run2", {0: tmp_path / "bad.safetensors"}, make_mlp,
                             train=(digits.x_train, digits.y_train), quiet=True)
    assert not (tmp_path / "run2").exists()


def test_cnn_with_trailing_softmax_head_rebuilds_without_code(digits, tmp_path):
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(8 * 4 * 4, 24), nn.Tanh(),
        nn.Sequential(nn.Dropout(0.2), nn.Linear(24, 10)), nn.Softmax(dim=1),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    run = Run.create(tmp_path / "cnn", train=(digits.x_train, digits.y_train))
    for epoch in range(2):
        train_one_epoch(model, opt, digits.x_train, digits.y_train, seed=epoch)
        run.record(model, epoch)
    info = run.epoch_info(1)
    assert info["layer"] == "6.1" and info["rep_dim"] == 24
    # the trailing Softmax turns logits into probabilities: g stops before it, so the run
    # holds logits whose softmax is the model's output
    assert [m["type"] for m in info["head"]["spec"]] == ["Linear"]
    logits = run.logits(1)
    with torch.no_grad():
        probs = model.eval()(torch.as_tensor(digits.x_train)).numpy()
    np.testing.assert_allclose(torch.softmax(torch.as_tensor(logits), 1).numpy(), probs,
                               atol=1e-5)
    assert np.abs(logits.sum(1) - 1).max() > 0.1  # logits, not probabilities
    head = Run.open(run.path).head(1)
    with torch.no_grad():
        out = head(torch.as_tensor(np.array(run.representations(1)))).numpy()
    np.testing.assert_allclose(out, logits, atol=1e-6)
    # a named layer inside the features: the head is everything after it in the Sequential
    run_b = Run.create(tmp_path / "cnn_b", train=(digits.x_train, digits.y_train))
    run_b.record(model, layer="4")
    assert [m["type"] for m in run_b.epoch_info(0)["head"]["spec"]] == [
        "Linear", "Tanh", "Dropout", "Linear"]
    assert run_b.rep_dim == 128


class LayerNormHead(nn.Module):
    """A model whose head (LayerNorm + Linear) is not a plain Linear stack."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU())
        self.classifier = nn.Sequential(nn.LayerNorm(16), nn.Linear(16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x))


def test_custom_head_needs_the_architecture(digits, tmp_path):
    torch.manual_seed(2)
    model = LayerNormHead()
    run = Run.create(tmp_path / "ln", train=(digits.x_train, digits.y_train),
                     test=(digits.x_test, digits.y_test))
    run.record(model, layer="classifier")
    assert run.epoch_info(0)["head"]["spec"] is None
    reps = torch.as_tensor(np.array(run.representations(0, "test")))
    with torch.no_grad():  # the architecture stored with the run (issue 23) rebuilds it
        np.testing.assert_allclose(Run.open(run.path).head(0)(reps).numpy(),
                                   run.logits(0, "test"), atol=1e-5)
    (run.path / "architecture.json").unlink()  # as a run recorded before it was stored
    with pytest.raises(ValueError, match=r"Run.open\(path, model="):
        Run.open(run.path).head(0)
    head = Run.open(run.path, model=LayerNormHead()).head(0)  # fresh weights get replaced
    with torch.no_grad():
        out = head(reps).numpy()
    np.testing.assert_allclose(out, run.logits(0, "test"), atol=1e-5)


def test_feature_fn_and_head_fn_callables(digits, tmp_path):
    torch.manual_seed(3)
    model = make_mlp()
    run = Run.create(tmp_path / "fns", train=(digits.x_train, digits.y_train))
    # feature_fn only: the head is still the default layer, verified against the output
    run.record(model, feature_fn=lambda x: model[:3](x))
    # both callables, no model: logits are head_fn(representations); a Linear head is stored
    run.record(None, feature_fn=lambda x: model[:3](x), head_fn=model[3])
    for epoch in (0, 1):
        np.testing.assert_allclose(run.logits(epoch), run.logits(0), atol=1e-6)
        assert run.feature_model(epoch) is None  # feature_fn cannot be rebuilt
    assert run.epoch_info(1)["head"]["spec"][0]["type"] == "Linear"
    # head_fn with a layer hook: the representation is the hooked input
    run.record(model, head_fn=lambda h: 2 * model[3](h), layer="3")
    np.testing.assert_allclose(run.logits(2), 2 * run.logits(0), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="came from head_fn and cannot be rebuilt"):
        run.head(2)


def test_record_arrays_and_overwrite(digits, tmp_path):
    run = Run.create(tmp_path / "arr", train=(digits.x_train, digits.y_train),
                     test=(digits.x_test, digits.y_test), save_inputs=False)
    rng = np.random.default_rng(0)
    head = nn.Linear(5, 10)
    reps = rng.normal(size=(750, 5)).astype(np.float32)
    run.record_arrays(representations=reps, head=head)
    with torch.no_grad():
        expected = head(torch.as_tensor(reps)).numpy()
    np.testing.assert_allclose(run.logits(0, "all"), expected, atol=1e-6)
    np.testing.assert_allclose(run.head(0)[0].weight.detach().numpy(), head.weight.detach().numpy())
    # overwrite replaces the epoch atomically; no temporary folders are left behind
    run.record_arrays(0, representations=(reps[:600] + 1, reps[600:] + 1), head=head,
                      overwrite=True)
    np.testing.assert_allclose(run.representations(0), reps[:600] + 1)
    assert sorted(p.name for p in (run.path / "epochs").iterdir()) == ["0000"]
    reopened = Run.open(run.path)
    assert reopened.inputs() is None and reopened.input_shape is None
    assert reopened.state_dict(0) is None and reopened.feature_model(0) is None
    with pytest.raises(ValueError, match="save_inputs=False"):
        reopened.record(make_mlp())


def test_run_folder_layout(recorded):
    path = recorded["run"].path
    meta = json.loads((path / "run.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION and meta["n_train"] == 600
    epoch_dir = path / "epochs" / "0002"
    assert sorted(p.name for p in epoch_dir.iterdir()) == [
        "epoch.json", "head.pt", "state_dict.pt", "test_logits.npy",
        "test_representations.npy", "train_logits.npy", "train_representations.npy",
    ]
    state = torch.load(epoch_dir / "state_dict.pt", weights_only=True)
    assert set(state) == set(make_mlp().state_dict())
    assert Run.open(path).state_dict(2)["3.weight"].shape == (10, 32)


def test_reopened_run_keeps_recording(recorded, digits, tmp_path):
    import shutil

    path = tmp_path / "copy"
    shutil.copytree(recorded["run"].path, path)
    run = Run.open(path)
    model = recorded["model"]
    run.record(model, batch_size=BATCH)  # inputs come from the folder
    assert run.epochs == list(range(N_EPOCHS + 1))
    np.testing.assert_array_equal(run.logits(N_EPOCHS), run.logits(N_EPOCHS - 1))
    assert run.has_model and run.feature_model(N_EPOCHS) is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_recording_on_the_gpu_matches_the_cpu(digits, tmp_path):
    torch.manual_seed(4)
    model = make_mlp()
    cpu_run = Run.create(tmp_path / "cpu", train=digits)
    cpu_run.record(model)
    gpu_run = Run.create(tmp_path / "gpu", train=digits)
    gpu_run.record(model.cuda())  # device="auto" records where the model lives
    for split in ("train", "test"):
        np.testing.assert_allclose(gpu_run.logits(0, split), cpu_run.logits(0, split),
                                   atol=1e-4)
    assert next(model.parameters()).is_cuda  # the user's model stays on its device
    head = gpu_run.head(0, device="cuda")
    assert next(head.parameters()).is_cuda
    f = gpu_run.feature_model(0, device="cuda")
    with torch.no_grad():
        rep = f(torch.as_tensor(digits.x_test, device="cuda")).cpu().numpy()
    np.testing.assert_allclose(rep, gpu_run.representations(0, "test"), atol=1e-4)
