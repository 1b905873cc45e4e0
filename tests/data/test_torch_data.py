"""A torch Dataset or DataLoader as a run's split: read once, in the dataset's index order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset, TensorDataset

from dvi_widget.data.run import Run

X = torch.randn(60, 1, 4, 4, generator=torch.Generator().manual_seed(0))
Y = torch.arange(60) % 3


class Animals(Dataset):
    """torchvision-like: (image, int label) items and a ``classes`` list."""

    classes = ["cat", "dog", "bird"]

    def __len__(self) -> int:
        return len(X)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return X[i] * 2, int(Y[i])


def test_a_dataset_and_a_shuffled_loader_are_stored_in_index_order(tmp_path):
    loader = DataLoader(TensorDataset(X, Y), batch_size=7, shuffle=True)
    run = Run.create(tmp_path / "r", train=loader, test=TensorDataset(X[:9], Y[:9]))
    assert (run.n_train, run.n_test) == (60, 9)
    np.testing.assert_array_equal(run.labels("train"), Y.numpy())
    np.testing.assert_array_equal(run.inputs("train"), X.numpy())
    np.testing.assert_array_equal(run.labels("test"), Y[:9].numpy())


def test_class_names_come_from_the_dataset_through_a_subset(tmp_path):
    run = Run.create(tmp_path / "r", train=Subset(Animals(), range(10, 40)))
    assert run.class_names == ["cat", "dog", "bird"]
    np.testing.assert_array_equal(run.inputs("train"), X[10:40].numpy() * 2)  # its transform
    np.testing.assert_array_equal(run.labels("train"), Y[10:40].numpy())
    named = Run.create(tmp_path / "n", train=Animals(), class_names=["a", "b", "c"])
    assert named.class_names == ["a", "b", "c"]  # the caller's names win


def test_dict_items_are_read_by_their_usual_keys(tmp_path):
    class Dicts(Dataset):
        def __len__(self) -> int:
            return 10

        def __getitem__(self, i: int) -> dict[str, object]:
            return {"pixel_values": X[i], "label": int(Y[i]), "id": i}

    run = Run.create(tmp_path / "r", train=DataLoader(Dicts(), batch_size=4))
    np.testing.assert_array_equal(run.inputs("train"), X[:10].numpy())
    np.testing.assert_array_equal(run.labels("train"), Y[:10].numpy())


def test_items_that_are_not_pairs_and_iterable_datasets_name_the_fix(tmp_path):
    class Unnamed(Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> dict[str, object]:
            return {"pixels": X[i], "class": int(Y[i])}

    class Stream(IterableDataset):
        def __iter__(self):  # noqa: ANN204 - a test double
            return iter(zip(X, Y, strict=True))

    with pytest.raises(TypeError, match=r"train yields dicts with keys \['class', 'pixels'\]: "
                                        r"none of .*pixel_values.* for the input"):
        Run.create(tmp_path / "d", train=Unnamed())
    with pytest.raises(TypeError, match="iterable-style dataset.*pass \\(x, y\\) arrays"):
        Run.create(tmp_path / "s", train=(X, Y), test=Stream())
    assert not (tmp_path / "d").exists() and not (tmp_path / "s").exists()
