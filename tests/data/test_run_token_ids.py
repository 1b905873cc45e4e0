"""Models whose first layer looks up token ids (nn.Embedding / nn.EmbeddingBag): recorded with
int64 inputs, rebuilt to take them, and their boundary points mixed in representation space."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dvi_widget import DVI
from dvi_widget.data.run import Run

VOCAB, LENGTH = 30, 8
G = torch.Generator().manual_seed(0)
IDS = torch.randint(0, VOCAB, (120, LENGTH), generator=G)
LABELS = (IDS[:, 0] < VOCAB // 2).long()


class BagOfWords(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.EmbeddingBag(VOCAB, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.embed(ids)))


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    model = BagOfWords()
    run = Run.create(tmp_path_factory.mktemp("text") / "r", train=(IDS[:100], LABELS[:100]),
                     test=(IDS[100:], LABELS[100:]))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for epoch in range(2):
        opt.zero_grad()
        nn.functional.cross_entropy(model(IDS[:100]), LABELS[:100]).backward()
        opt.step()
        run.record(model, epoch)
    return run, model


def test_token_ids_are_recorded_as_int64_and_the_classifier_takes_them(text_run):
    run, model = text_run
    assert run.epoch_info(1)["token_ids"] is True
    with torch.no_grad():
        np.testing.assert_allclose(run.logits(1, "test"), model(IDS[100:]).numpy(), atol=1e-5)
        # rebuilt from the stored weights; the run's inputs are float32, fed as token ids
        clf = run.classifier(1, device="cpu")
        logits = clf(torch.from_numpy(np.array(run.inputs("train"))))
    np.testing.assert_allclose(logits.numpy(), run.logits(1, "train"), atol=1e-5)


def test_image_like_whole_numbers_stay_floats(tmp_path):
    # uint8 pixels are whole numbers too: a model that takes floats gets floats
    x = torch.randint(0, 256, (20, 6), dtype=torch.uint8, generator=G)
    run = Run.create(tmp_path / "r", train=(x, torch.arange(20) % 2))
    torch.manual_seed(0)
    run.record(nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2)), 0)
    assert run.epoch_info(0)["token_ids"] is False


@pytest.fixture(scope="module")
def text_dvi(text_run):
    return DVI(hidden=16, grid_size=16, max_steps=60, warm_max_steps=20, device="cpu",
               verbose=False).fit(text_run[0])


def test_token_ids_boundary_points_are_mixed_in_representation_space(text_dvi):
    for e in text_dvi.epochs_:
        info = text_dvi.epoch_info_[e]
        assert info["boundary_space"] == "representation", info["boundary_note"]
        assert info["n_boundary"] == 10


def test_perturbing_token_ids_is_refused_with_the_reason(text_dvi):
    reason = "changes input values, but epoch 1 was recorded from token ids"
    with pytest.raises(ValueError, match=reason):
        text_dvi.what_if(3, 1, kind="noise")
    with pytest.raises(ValueError, match=reason):
        text_dvi.adversarial(3, 1)
    with pytest.raises(ValueError, match=reason):
        text_dvi.surrogate(3, 1)
    # placing a token-id sample's representation still works
    xy = text_dvi.transform(text_dvi.run_.representations(1, "train")[:3], 1)
    assert np.isfinite(xy).all() and xy.shape == (3, 2)


def test_token_ids_reach_the_inside_records_as_int64(tmp_path):
    from dvi_widget.inside import GradientMonitor

    model = BagOfWords()
    monitor = GradientMonitor(model)
    run = Run.create(tmp_path / "r", train=(IDS, LABELS))
    nn.functional.cross_entropy(model(IDS), LABELS).backward()
    run.record(model, 0, gradients=monitor)  # the probe's activations run the model on ids
    monitor.close()
    assert run.epoch_info(0)["token_ids"] is True
    assert (run.path / "epochs" / "0000" / "inside.npz").is_file()



def test_the_explain_panel_is_not_offered_on_token_ids_and_says_why(text_dvi):
    from dvi_widget import Widget
    from dvi_widget.view.explain.panel import handle

    assert text_dvi.run_.recorded_from_token_ids() and text_dvi.run_.recorded_from_token_ids(1)
    w = Widget(text_dvi)
    assert "explain" not in w.panels  # not shown by default: nothing to perturb
    # added by hand, it asks for the kinds and shows the reason (the envelope's error reply)
    with pytest.raises(ValueError, match="epoch 1 was recorded from token ids"):
        handle(w, {"type": "kinds"}, [])


def test_a_run_recorded_from_arrays_offers_no_explain_panel(tmp_path):
    from dvi_widget import Widget

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    run = Run.create(tmp_path / "r", train=(x, (x[:, 0] > 0).astype(np.int64)))
    head = nn.Linear(4, 2)
    for e in range(2):
        run.record_arrays(e, representations=x + e, head=head)
    dvi = DVI(hidden=8, grid_size=8, max_steps=20, warm_max_steps=10, device="cpu",
              verbose=False).fit(run)
    with pytest.raises(ValueError, match="recorded from arrays"):
        dvi.explainer().kinds()
    assert "explain" not in Widget(dvi).panels
