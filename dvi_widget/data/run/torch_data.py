"""A torch ``Dataset`` or ``DataLoader`` given as a run's split, read into ``(x, y)`` arrays.

A run stores its inputs once and feeds exactly those to the model at every record, so a
dataset is read once, in its own index order (sample ``i`` is ``dataset[i]``), whatever the
loader's sampler or shuffling. What its transforms do to an item is what is stored: pass the
evaluation transforms, not the random training augmentations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset, IterableDataset
from torch.utils.data.dataloader import default_collate
from tqdm.auto import tqdm

from ..._tensor import to_numpy

#: rows per batch when a Dataset (not a DataLoader) is read
READ_BATCH = 256
#: the keys of dict items (Hugging Face style) that hold the input and the label, in order
INPUT_KEYS = ("pixel_values", "input_ids", "image", "images", "input", "inputs", "x")
LABEL_KEYS = ("label", "labels", "target", "targets", "y")
#: fewer items than this are read without a progress bar
QUIET_BELOW = 5000


def is_torch_data(split: object) -> bool:
    """True for a torch ``Dataset`` or ``DataLoader`` (not for a tensor or an ``(x, y)`` pair)."""
    return isinstance(split, DataLoader | Dataset)


def read_split(split: Dataset | DataLoader, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of every item of ``split`` (a map-style Dataset whose items are ``(x, y, ...)``
    or dicts such as ``{"pixel_values": x, "label": y}``, or a DataLoader over one), stacked in
    the dataset's index order.

    Raises ``TypeError`` naming ``name`` and the fix for an iterable-style dataset (no index
    order to keep) and for items that are not ``(x, y)`` pairs (e.g. dicts).
    """
    if isinstance(split, DataLoader):
        dataset, batch, collate = split.dataset, split.batch_size or READ_BATCH, split.collate_fn
    else:
        dataset, batch, collate = split, READ_BATCH, default_collate
    if isinstance(dataset, IterableDataset):
        raise TypeError(f"{name} is an iterable-style dataset: its samples have no index, so a "
                        "run cannot keep them in order; pass (x, y) arrays")
    loader = DataLoader(dataset, batch_size=batch, shuffle=False, collate_fn=collate,
                        num_workers=0)
    n = len(dataset)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for item in tqdm(loader, desc=f"reading {name}", unit="batch", disable=n < QUIET_BELOW,
                     leave=False):
        x, y = _pair(item, name)
        xs.append(to_numpy(x))
        ys.append(to_numpy(y).reshape(-1))
    if not xs:
        raise ValueError(f"{name} has 0 samples")
    return np.concatenate(xs), np.concatenate(ys)


def _pair(item: object, name: str) -> tuple[object, object]:
    """The input and the label of a batch: ``(x, y, ...)``, or a dict with one of
    :data:`INPUT_KEYS` and one of :data:`LABEL_KEYS`."""
    if isinstance(item, Mapping):
        x_key = next((k for k in INPUT_KEYS if k in item), None)
        y_key = next((k for k in LABEL_KEYS if k in item), None)
        if x_key is not None and y_key is not None:
            return item[x_key], item[y_key]
        raise TypeError(f"{name} yields dicts with keys {sorted(item)}: none of {INPUT_KEYS} "
                        f"for the input or none of {LABEL_KEYS} for the label; pass (x, y) "
                        "arrays, or items (input, label)")
    if not isinstance(item, tuple | list) or len(item) < 2:
        raise TypeError(f"{name} yields {type(item).__name__}, not (x, y) pairs; pass (x, y) "
                        "arrays, or a dataset whose items are (input, label)")
    return item[0], item[1]


def class_names_of(split: Dataset | DataLoader) -> list[str] | None:
    """The dataset's own class names (torchvision's ``.classes``, also through a ``Subset``)."""
    dataset: Any = split.dataset if isinstance(split, DataLoader) else split
    while dataset is not None:
        names = getattr(dataset, "classes", None)
        if isinstance(names, list | tuple) and names and all(isinstance(c, str) for c in names):
            return list(names)
        dataset = getattr(dataset, "dataset", None)
    return None

