"""Bad input to Run gets a clear error, and nothing already recorded is lost."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget.data.run import Run
from tests.data.toy_run import XT, YT, X, Y, mlp


@pytest.fixture
def run(tmp_path):
    r = Run.create(tmp_path / "run", train=(X, Y), test=(XT, YT))
    r.record(mlp())  # epoch 0, the thing that must survive every failure below
    return r


def snapshot(r: Run) -> dict[str, np.ndarray]:
    return {s: np.array(r.representations(0, s)) for s in ("train", "test")}


def assert_intact(r: Run, before: dict[str, np.ndarray]) -> None:
    assert r.epochs == [0]
    for s, arr in before.items():
        np.testing.assert_array_equal(r.representations(0, s), arr)
    leftovers = [p.name for p in (r.path / "epochs").iterdir() if p.name != "0000"]
    assert leftovers == [], f"temporary folders left behind: {leftovers}"


def test_unknown_layer_lists_valid_names(run):
    before = snapshot(run)
    with pytest.raises(ValueError, match=r"layer='fc9'.*Valid names: '0', '1', '2'"):
        run.record(mlp(), layer="fc9")
    assert_intact(run, before)


def test_model_without_linear_needs_a_layer(tmp_path):
    r = Run.create(tmp_path / "r", train=(X, Y))
    with pytest.raises(ValueError, match="no nn.Linear"):
        r.record(nn.Sequential(nn.ReLU()))


class Diverged(nn.Module):
    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where
        self.body = nn.Linear(6, 5)
        self.fc = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        if self.where == "representations":
            h = h.clone()
            h[3, 1] = float("nan")
        out = self.fc(h)
        return out


def test_nan_representations_are_refused(run):
    before = snapshot(run)
    with pytest.raises(ValueError, match="representations contains NaN or Inf"):
        run.record(Diverged("representations"))
    assert_intact(run, before)


def test_inf_logits_are_refused(run):
    before = snapshot(run)
    model = mlp()
    with torch.no_grad():
        model[2].bias[1] = float("inf")
    with pytest.raises(ValueError, match="logits contains NaN or Inf"):
        run.record(model, 1)
    assert_intact(run, before)


def test_representation_width_must_match_between_epochs(run):
    before = snapshot(run)
    with pytest.raises(ValueError, match="width 6 but earlier epochs"):
        run.record(mlp(), layer="0", head_fn=lambda h: h[:, :3])  # input of layer 0: 6-d
    assert_intact(run, before)


def test_sample_counts_must_match(run):
    before = snapshot(run)
    with pytest.raises(ValueError, match="has 39 rows but the run has 40 samples"):
        run.record_arrays(representations=(np.zeros((39, 5)), np.zeros((10, 5))),
                          logits=(np.zeros((39, 3)), np.zeros((10, 3))))
    model = mlp()
    with pytest.raises(ValueError, match="feature_fn returned 3 rows for a batch of 40"):
        run.record(model, feature_fn=lambda x: model[:2](x)[:3], head_fn=model[2])
    assert_intact(run, before)


def test_logits_width_must_match_the_classes(tmp_path):
    r = Run.create(tmp_path / "r", train=(X, Y), class_names=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="logits have 3 columns but the run has 4 classes"):
        r.record(mlp())
    assert r.epochs == []


@pytest.mark.parametrize(
    ("labels", "class_names", "error", "match"),
    [
        (np.arange(40) % 5, ["a", "b", "c"], ValueError, "labels go up to 4 but class_names"),
        (np.r_[-1, np.arange(39) % 3], None, ValueError, "negative class ids"),
        ((np.arange(40) % 3) / 2, None, TypeError, "integer class ids.*fractional values"),
        (np.r_[np.nan, np.arange(39) % 3], None, TypeError, "NaN or infinite"),
        (np.array(["cat", "dog"] * 20), None, TypeError,
         r"holds class names \('cat', 'dog', ...\); pass the integer class ids the model"),
        (np.arange(39) % 3, None, ValueError, "39 labels but the inputs have 40"),
        (np.zeros((40, 3), dtype=int), None, ValueError, "1-D array of class ids"),
    ],
)
def test_bad_labels(tmp_path, labels, class_names, error, match):
    with pytest.raises(error, match=match):
        Run.create(tmp_path / "r", train=(X, labels), class_names=class_names)
    assert not (tmp_path / "r").exists()


def test_whole_number_labels_in_floats_or_objects_are_class_ids(tmp_path):
    # BCEWithLogitsLoss targets (0.0 / 1.0) and a pandas object column of ints
    for labels in ((np.arange(40) % 2).astype(np.float32), (np.arange(40) % 3).astype(object)):
        r = Run.create(tmp_path / str(labels.dtype), train=(X, labels))
        np.testing.assert_array_equal(r.labels("train"), (np.arange(40) % len(set(labels))))
        assert r.labels("train").dtype == np.int64


def test_empty_train_set(tmp_path):
    with pytest.raises(ValueError, match="train has 0 samples"):
        Run.create(tmp_path / "r", train=(X[:0], Y[:0]))


def test_non_finite_inputs(tmp_path):
    bad = X.copy()
    bad[2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        Run.create(tmp_path / "r", train=(bad, Y))


def test_bad_metadata(tmp_path):
    with pytest.raises(ValueError, match="metadata has 40 rows but the run has"):
        Run.create(tmp_path / "r", train=(X, Y), test=(XT, YT), metadata={"noisy": np.ones(40)})
    with pytest.raises(ValueError, match="reserved"):
        Run.create(tmp_path / "r", train=(X, Y), metadata={"label": np.ones(40)})


def test_epoch_recorded_twice_needs_overwrite(run):
    before = snapshot(run)
    other = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    with pytest.raises(FileExistsError, match="epoch 0 is already recorded.*overwrite=True"):
        run.record(other, 0)
    assert_intact(run, before)
    run.record(other, 0, overwrite=True)
    assert run.epochs == [0]
    assert not np.array_equal(run.representations(0), before["train"])
    with pytest.raises(ValueError, match="non-negative integer"):
        run.record(other, -1)


def test_failed_overwrite_keeps_the_old_epoch(run):
    before = snapshot(run)
    with pytest.raises(ValueError, match="NaN"):
        run.record(Diverged("representations"), 0, overwrite=True)
    assert_intact(run, before)


class _ScaledInForward(nn.Module):
    def __init__(self, temperature: float | None) -> None:
        super().__init__()
        self.body = nn.Linear(6, 5)
        self.fc = nn.Linear(5, 3)
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.fc(torch.relu(self.body(x)))
        if self.temperature is None:  # the PyTorch MNIST example's F.log_softmax
            return torch.log_softmax(logits, dim=1)
        return logits / self.temperature


def test_head_that_does_not_reproduce_the_output(tmp_path):
    r = Run.create(tmp_path / "r", train=(X, Y))
    model = _ScaledInForward(temperature=3.0)
    with pytest.raises(ValueError, match="does not reproduce the model's output.*head_fn"):
        r.record(model)
    assert r.epochs == []
    # the documented fix works
    r.record(model, head_fn=lambda h: model.fc(h) / 3.0)
    assert r.epochs == [0]


def test_a_forward_ending_in_log_softmax_records_the_heads_logits(tmp_path):
    # log-probabilities are the logits shifted per row: the same softmax, argmax and margins
    r = Run.create(tmp_path / "r", train=(X, Y))
    model = _ScaledInForward(temperature=None)
    r.record(model)
    with torch.no_grad():
        out = model(torch.as_tensor(X, dtype=torch.float32))
        fc = model.fc(torch.relu(model.body(torch.as_tensor(X, dtype=torch.float32))))
    np.testing.assert_allclose(r.logits(0, "train"), fc.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.exp(out.numpy()), torch.softmax(fc, 1).numpy(), atol=1e-5)


class _Packed(nn.Module):
    """Returns its logits packed with other tensors, as many models do."""

    def __init__(self, pack: str) -> None:
        super().__init__()
        self.body = nn.Linear(6, 5)
        self.fc = nn.Linear(5, 3)
        self.pack = pack

    def forward(self, x: torch.Tensor) -> object:
        h = torch.relu(self.body(x))
        logits = self.fc(h)
        if self.pack == "features first":
            return h, logits
        if self.pack == "dict":
            return {"features": h, "logits": logits}
        if self.pack == "wrong":
            return h, logits * 2
        return {"note": "no tensor here"}


@pytest.mark.parametrize("pack", ["features first", "dict"])
def test_logits_packed_with_other_outputs_are_found(tmp_path, pack):
    r = Run.create(tmp_path / "r", train=(X, Y))
    model = _Packed(pack)
    r.record(model)
    with torch.no_grad():
        fc = model.fc(torch.relu(model.body(torch.as_tensor(X, dtype=torch.float32))))
    np.testing.assert_allclose(r.logits(0, "train"), fc.numpy(), atol=1e-5)


def test_packed_outputs_without_the_heads_logits_name_the_fix(tmp_path):
    r = Run.create(tmp_path / "r", train=(X, Y))
    with pytest.raises(ValueError, match=r"vs \(\d+, 5\), \(\d+, 3\), max difference .*head_fn"):
        r.record(_Packed("wrong"))
    with pytest.raises(TypeError, match="returned dict holding no tensor.*head_fn"):
        r.record(_Packed("none"))
    assert r.epochs == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit's own deprecation
def test_a_torchscript_module_names_the_eager_model(tmp_path):
    r = Run.create(tmp_path / "r", train=(X, Y))
    with pytest.raises(TypeError, match="TorchScript.*record the eager nn.Module"):
        r.record(torch.jit.trace(mlp(), torch.as_tensor(X[:2])))
    assert r.epochs == []


class _Sigmoid(nn.Module):
    """A binary classifier with one logit (trained with BCEWithLogitsLoss), squeezed or not."""

    def __init__(self, squeeze: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Linear(6, 5)
        self.fc = nn.Linear(5, 1)
        self.squeeze = squeeze

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc(torch.relu(self.body(x)))
        return z.squeeze(1) if self.squeeze else z


@pytest.mark.parametrize("squeeze", [False, True])
def test_a_single_logit_is_recorded_as_two_class_logits(tmp_path, squeeze):
    y = (X[:, 0] > 0).astype(np.int64)
    r = Run.create(tmp_path / "r", train=(X, y))
    model = _Sigmoid(squeeze)
    r.record(model)
    with torch.no_grad():
        z = model(torch.as_tensor(X)).reshape(-1).numpy()
    logits = r.logits(0, "train")
    np.testing.assert_allclose(logits, np.stack([np.zeros_like(z), z], 1), atol=1e-6)
    assert r.epoch_info(0)["train_accuracy"] == pytest.approx(((z > 0) == y).mean())
    # g rebuilt from the run alone gives the same two columns: softmax((0, z)) = (1-σ, σ)
    with torch.no_grad():
        rebuilt = r.head(0)(torch.as_tensor(r.representations(0, "train")))
    np.testing.assert_allclose(rebuilt.numpy(), logits, atol=1e-5)
    np.testing.assert_allclose(torch.softmax(rebuilt, 1)[:, 1].numpy(),
                               torch.sigmoid(torch.as_tensor(z)).numpy(), atol=1e-5)


class _WithAuxiliary(nn.Module):
    """A classifier (fc) with an auxiliary output defined after it: unused, or returned
    beside the logits."""

    def __init__(self, returned: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(6, 8), nn.ReLU())
        self.fc = nn.Linear(8, 3)
        self.aux = nn.Linear(8, 1)
        self.returned = returned

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return (self.fc(h), self.aux(h)) if self.returned else self.fc(h)


@pytest.mark.parametrize("returned", [False, True])
def test_the_default_layer_is_the_classifier_not_a_later_auxiliary_output(tmp_path, returned):
    r = Run.create(tmp_path / "r", train=(X, Y))  # 3 classes
    model = _WithAuxiliary(returned)
    r.record(model)
    assert r.epoch_info(0)["layer"] == "fc"
    with torch.no_grad():
        logits = model.fc(model.body(torch.as_tensor(X)))
    np.testing.assert_allclose(r.logits(0, "train"), logits.numpy(), atol=1e-6)


def test_a_single_linear_model_says_how_to_record_its_inputs(tmp_path):
    r = Run.create(tmp_path / "r", train=(X, Y))
    model = nn.Linear(6, 3)
    with pytest.raises(ValueError, match=r"single nn.Linear.*feature_fn=lambda x: x.flatten"):
        r.record(model)
    r.record(model, feature_fn=lambda x: x.flatten(1), head_fn=model)  # as the message says
    with torch.no_grad():
        np.testing.assert_allclose(r.logits(0, "train"), model(torch.as_tensor(X)).numpy(),
                                   atol=1e-6)


def test_the_default_layer_of_a_binary_classifier_may_have_one_output():
    from dvi_widget.data.run.cut import last_linear

    net = nn.Sequential(nn.Linear(6, 2), nn.ReLU(), nn.Linear(2, 1), nn.Linear(2, 7))
    assert last_linear(net) == "3"  # the last, whatever its width
    assert last_linear(net, n_classes=2) == "2"  # one logit: a sigmoid classifier's
    assert last_linear(net, n_classes=4) == "3"  # none has 4 outputs: the last


@pytest.mark.parametrize("given", ["logits (n, 1)", "logits (n,) in one array", "head"])
def test_record_arrays_takes_a_single_logit_as_two_class_logits(tmp_path, given):
    y = (X[:, 0] > 0).astype(np.int64)
    r = Run.create(tmp_path / "r", train=(X[:30], y[:30]), test=(X[30:], y[30:]))
    torch.manual_seed(0)
    head = nn.Linear(6, 1)
    with torch.no_grad():
        z = head(torch.as_tensor(X)).numpy()  # (n, 1)
    reps = (X[:30], X[30:])
    if given == "head":
        r.record_arrays(representations=reps, head=head)
    elif given == "logits (n, 1)":
        r.record_arrays(representations=reps, logits=(z[:30], z[30:]))
    else:
        r.record_arrays(representations=X, logits=z[:, 0])
    expected = np.concatenate([np.zeros_like(z), z], 1)
    np.testing.assert_allclose(r.logits(0, "train"), expected[:30], atol=1e-6)
    np.testing.assert_allclose(r.logits(0, "test"), expected[30:], atol=1e-6)
    assert r.epoch_info(0)["test_accuracy"] == pytest.approx(((z[30:, 0] > 0) == y[30:]).mean())
    if given == "head":  # g rebuilt from the run gives the same two columns
        with torch.no_grad():
            rebuilt = r.head(0)(torch.as_tensor(X[:30]))
        np.testing.assert_allclose(rebuilt.numpy(), expected[:30], atol=1e-5)


@pytest.mark.parametrize("ending", ["nn.Softmax", "F.softmax", "nn.Sigmoid of one logit"])
def test_a_model_that_outputs_probabilities_records_its_logits(tmp_path, ending):
    torch.manual_seed(0)
    one = ending.endswith("one logit")
    body = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 1 if one else 3))
    if ending == "F.softmax":
        class Probabilities(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = body

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.softmax(self.net(x), dim=1)

        model: nn.Module = Probabilities()
    else:
        model = nn.Sequential(*body, nn.Sigmoid() if one else nn.Softmax(dim=1))
    y = (X[:, 0] > 0).astype(np.int64) if one else Y
    r = Run.create(tmp_path / "r", train=(X, y))
    r.record(model)
    with torch.no_grad():
        z = body(torch.as_tensor(X)).numpy()
    expected = np.concatenate([np.zeros_like(z), z], 1) if one else z
    np.testing.assert_allclose(r.logits(0, "train"), expected, atol=1e-5)  # logits, not probs
    # g stops before the normaliser
    assert r.epoch_info(0)["head"]["modules"] == ["net.2" if ending == "F.softmax" else "2"]


def test_a_rescaled_single_logit_is_still_refused(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 1))

    class Tempered(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x) / 3.0

    r = Run.create(tmp_path / "r", train=(X, (X[:, 0] > 0).astype(np.int64)))
    with pytest.raises(ValueError, match="does not reproduce the model's output.*head_fn"):
        r.record(Tempered())


def test_a_model_failing_on_the_inputs_is_told_in_the_runs_terms(tmp_path):
    x = np.random.default_rng(0).random((12, 8, 8, 3), dtype=np.float32)  # channels last
    r = Run.create(tmp_path / "r", train=(x, np.arange(12) % 3))
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 3))
    with pytest.raises(RuntimeError, match=r"epoch 0: the model failed on the run's inputs, "
                       r"each shaped \(8, 8, 3\); they look channels-last.*transpose\(0, 3, 1, "
                       r"2\).*The model said: .*channels"):
        r.record(cnn, 0)
    assert r.epochs == []
    r2 = Run.create(tmp_path / "r2", train=(x.transpose(0, 3, 1, 2), np.arange(12) % 3))
    r2.record(cnn, 0)
    assert r2.epochs == [0]


def test_unwritable_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="cannot create the run folder"):
        Run.create(blocker / "run", train=(X, Y))
    # tests run as root, where chmod does not stop writes: make os.access say no instead
    r = Run.create(tmp_path / "run", train=(X, Y))
    r.record(mlp())
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="not writable"):
        r.record(mlp())
    with pytest.raises(PermissionError, match="not writable"):
        Run.create(tmp_path / "run2", train=(X, Y))
    monkeypatch.undo()
    assert r.epochs == [0]


def test_existing_folders_are_not_clobbered(tmp_path, run):
    with pytest.raises(FileExistsError, match="already holds a run.*Run.open"):
        Run.create(run.path, train=(X, Y))
    assert run.epochs == [0]
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_text("x")
    with pytest.raises(FileExistsError, match="not a run folder"):
        Run.create(other, train=(X, Y), overwrite=True)
    assert (other / "cat.jpg").exists()
    fresh = Run.create(run.path, train=(X, Y), overwrite=True)
    assert fresh.epochs == []


def test_incompatible_format_version(run):
    meta_file = run.path / "run.json"
    meta = json.loads(meta_file.read_text())
    meta["format_version"] = 99
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format version 99.*reads format version 1"):
        Run.open(run.path)
    meta_file.unlink()
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        Run.open(run.path)


def test_missing_checkpoint_files(tmp_path):
    model = mlp()
    good = tmp_path / "epoch_1.pt"
    torch.save(model.state_dict(), good)
    missing = tmp_path / "epoch_2.pt"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        Run.from_checkpoints(tmp_path / "r", [good, missing], mlp, train=(X, Y), quiet=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint file matches"):
        Run.from_checkpoints(tmp_path / "r", str(tmp_path / "nope_*.pt"), mlp, train=(X, Y))
    assert not (tmp_path / "r").exists()  # nothing was created
    with pytest.raises(ValueError, match="epoch number"):
        Run.from_checkpoints(tmp_path / "r", [tmp_path / "final.pt"], mlp, train=(X, Y))


def test_bad_checkpoint_contents(tmp_path):
    torch.save({"optimizer": {"lr": 0.1}}, tmp_path / "epoch_0.pt")
    with pytest.raises(ValueError, match="neither a state_dict"):
        Run.from_checkpoints(tmp_path / "r", str(tmp_path / "epoch_*.pt"), mlp, train=(X, Y),
                             quiet=True)
    wrong = nn.Sequential(nn.Linear(6, 7), nn.ReLU(), nn.Linear(7, 3))
    torch.save(wrong.state_dict(), tmp_path / "epoch_0.pt")
    with pytest.raises(ValueError, match="does not fit the model architecture"):
        Run.from_checkpoints(tmp_path / "r2", str(tmp_path / "epoch_*.pt"), mlp, train=(X, Y),
                             quiet=True)


def test_unrecorded_epoch_and_bad_split(run):
    with pytest.raises(KeyError, match="epoch 7 is not recorded"):
        run.representations(7)
    with pytest.raises(ValueError, match="split must be"):
        run.logits(0, "validation")


def test_feature_model_with_wrong_architecture(run):
    wrong = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    with pytest.raises(ValueError, match="does not match epoch 0's state_dict"):
        Run.open(run.path, model=wrong).feature_model(0)


def test_record_restores_training_mode_after_an_error(run):
    model = Diverged("representations")
    model.train()
    model.fc.eval()  # a deliberately frozen part keeps its own mode
    with pytest.raises(ValueError):
        run.record(model, 1)
    assert model.training and model.body.training and not model.fc.training
    assert os.path.isdir(run.path / "epochs" / "0000")
