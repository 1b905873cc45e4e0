"""The recorded training run: :class:`Run` composes the run folder's parts.

A classifier is split into a feature function ``f`` (input -> representation) and a head ``g``
(representation -> logits), as in DeepVisualInsight (section 4). A run stores, per epoch, the
representations ``f_t(x)`` of every train and test sample, the logits ``g_t(f_t(x))``, the head's
weights (so ``g_t`` can be rebuilt in a new kernel) and, when the inputs are stored, the full
``state_dict`` (so ``f_t`` can be rebuilt for boundary synthesis in input space).

One module per part:

- :mod:`.folder`: the folder's format (paths, ``run.json``) and reading it back;
- :mod:`.record`: writing it (a new run, one epoch from a model or from arrays);
- :mod:`.checkpoints`: importing per-epoch checkpoint files;
- :mod:`.cut`: cutting a user's model into ``f`` and ``g`` for a recording;
- :mod:`.model`: rebuilding a recorded epoch's head, ``f_t`` and ``g_t ∘ f_t``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..._io import remove_stale_temporaries, staged_folder
from ..._tensor import ArrayLike
from . import architecture as _architecture
from . import checkpoints as _checkpoints
from . import cut as _cut
from . import model as _model
from . import record as _record
from .cut import TensorFn
from .folder import (
    EPOCHS,
    FORMAT_NAME,
    FORMAT_VERSION,
    RECREATE,
    RunFolder,
    inputs_file,
    load_npy,
    read_meta,
)
from .model import EpochClassifier, epoch_classifier
from .record import NewRun, Split, check_dtype, check_target

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "EpochClassifier", "Run", "epoch_classifier"]


class Run(RunFolder):
    """A recorded training run on disk: per-epoch representations, logits and heads.

    Build one with :meth:`create` (then :meth:`record` once per epoch from a training loop),
    :meth:`from_checkpoints`, or reopen one with :meth:`open`.

    Attributes
    ----------
    path : Path
    epochs : list[int]              recorded epochs, sorted (read from the folder)
    n_train, n_test, n_samples : int
    n_classes : int
    class_names : list[str]
    rep_dim : int | None            representation width (None before the first record)
    input_shape : tuple | None      shape of one input (None when inputs were not stored)
    has_model : bool                whether a model architecture is attached (feature_model)

    Reading is :class:`~dvi_widget.data.run.folder.RunFolder`'s; this class adds creating,
    recording and rebuilding an epoch's model.
    """

    def __init__(self, path: str | Path, *, _meta: dict[str, Any]) -> None:
        super().__init__(path, _meta=_meta)
        self._model: nn.Module | None = None
        #: the architecture stored with the run (rebuilt once, on first need), or why not
        self._stored: nn.Module | None = None
        self._stored_error: str | None = None

    # ---------------------------------------------------------------- construction

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        train: Split | Any,  # noqa: ANN401 - a (x, y) pair or a dvi_widget.Dataset
        test: Split | None = None,
        class_names: list[str] | None = None,
        n_classes: int | None = None,
        metadata: pd.DataFrame | Mapping[str, Any] | None = None,
        save_inputs: bool = True,
        overwrite: bool = False,
        dtype: str = "float32",
    ) -> Run:
        """Start a new run folder, storing labels, splits, metadata and (optionally) inputs.

        Parameters
        ----------
        path : folder to create (must not exist or be empty, unless ``overwrite=True`` and it
            is a run folder; the old run is replaced only once the new one is written).
        train, test : ``(x, y)`` pairs; x of shape (n, *input_shape), converted to float32 as
            given (this is what :meth:`record` feeds the model), y integer class ids.
            ``train`` may also be a :class:`dvi_widget.Dataset` (then ``test`` and
            ``class_names`` come from it). Either may be a torch ``Dataset`` or ``DataLoader``
            of ``(input, label)`` items: read once, in the dataset's index order (sample ``i``
            is ``dataset[i]``, whatever the loader's shuffling), through its transforms (give
            the evaluation ones), class names from its ``classes`` (torchvision's).
        class_names : one name per class; default ``"0" .. str(n_classes - 1)``.
        n_classes : the number of classes when ``class_names`` is not given; default
            ``max(label) + 1``, which is refused when it is far above the number of distinct
            labels (a stray label would make many empty classes).
        metadata : DataFrame or dict of columns with ``n_train + n_test`` rows (train first).
        save_inputs : store the inputs (float32) so that ``f_t`` can be rebuilt for boundary
            synthesis in input space, and so that the run can be re-recorded after reopening.
        overwrite : replace an existing run folder at ``path``: only one that dvi_widget wrote
            (``run.json`` with its format marker and version, nothing but the run's own files);
            otherwise a ``FileExistsError`` names the folder and the unknown entries.
        dtype : how every epoch's representations are stored: ``"float32"`` (default) or
            ``"float16"`` (half the disk and memory-mapped reads, for large runs; logits stay
            float32, the engine computes in float32; the README's "Large runs" gives its
            precision).

        Inputs are written after a free-space check: a full disk raises ``OSError`` naming the
        file and the space needed, and nothing is left behind. What a killed ``create`` left
        beside the run (a hidden ``.tmp-p<pid>-...`` folder) is removed by the next create or
        open in that folder.
        """
        new = NewRun(train, test, class_names, n_classes, metadata)
        dtype = check_dtype(dtype)
        path = Path(path)
        check_target(path, overwrite)
        remove_stale_temporaries(path.parent)
        with staged_folder(path) as tmp:
            meta = new.write(tmp, save_inputs, dtype)
        run = cls(path, _meta=meta)
        run._live_inputs = (new.x_train, new.x_test)
        return run

    @classmethod
    def open(cls, path: str | Path, model: nn.Module | None = None) -> Run:
        """Reopen a run folder (for example in a new kernel), read-only folders included.

        ``model`` (optional) attaches the architecture: then :meth:`feature_model` can rebuild
        ``f_t`` from each epoch's stored state_dict, and :meth:`head` can rebuild heads that are
        not plain Linear/Sequential stacks. Without it, the architecture the run stored when it
        was recorded (``architecture.json``, see :mod:`dvi_widget.data.run.architecture`: a
        ``torch.export`` graph read without executing code from the file, or an importable
        class) is used, so Grad-CAM, what-if and the surrogate work in a new kernel. Opening
        and reading write nothing, except that, when
        the folder is writable, what a killed recording or create left behind (temporary folders
        of a process of this project that no longer runs, in the run and beside it) is removed.
        Every file name ``run.json`` stores must lie inside the run folder.
        """
        path = Path(path)
        meta = read_meta(path)
        remove_stale_temporaries(path / EPOCHS)
        remove_stale_temporaries(path.parent)
        run = cls(path, _meta=meta)
        if model is not None:
            if not isinstance(model, nn.Module):
                raise TypeError(f"model must be a torch.nn.Module, got {type(model)!r}")
            run._model = _cut.unwrap(model)[0]  # the network inside torch.compile / DDP
        return run

    @classmethod
    def from_checkpoints(
        cls,
        path: str | Path,
        checkpoints: _checkpoints.Checkpoints,
        model: nn.Module | Callable[[], nn.Module],
        *,
        train: Split | Any,  # noqa: ANN401 - (x, y) or a Dataset
        test: Split | None = None,
        class_names: list[str] | None = None,
        n_classes: int | None = None,
        metadata: pd.DataFrame | Mapping[str, Any] | None = None,
        layer: str | None = None,
        feature_fn: TensorFn | None = None,
        head_fn: TensorFn | None = None,
        save_inputs: bool = True,
        device: str | torch.device = "auto",
        batch_size: int = 512,
        overwrite: bool = False,
        quiet: bool = False,
        dtype: str = "float32",
        executor: str | None = None,
    ) -> Run:
        """Build a run from per-epoch checkpoints (state_dicts) and the model architecture.

        The whole run is written into a temporary folder and moved to ``path`` only when every
        checkpoint is recorded: a failure leaves nothing behind (a retry starts afresh).

        Parameters
        ----------
        checkpoints : a glob pattern (``"ckpt/epoch_*.pt"``), a list of files, or a dict
            ``{epoch: file}``. Without a dict the epoch is the number after "epoch" in each
            file name (Lightning's ``epoch=3-step=480.ckpt``: 3); a Hugging Face Trainer's
            ``checkpoint-500/model.safetensors`` saved at the end of an epoch gets that epoch
            from its ``trainer_state.json`` (0-based, as the callbacks number epochs), one
            saved mid-epoch its step (500); else the name's last number. Files are read with
            ``torch.load(..., weights_only=True, map_location="cpu")`` (``.safetensors`` files
            with safetensors) and
            may hold a state_dict or a dict with a ``"state_dict"``/``"model_state_dict"`` entry;
            keys saved through a wrapper (``module.``, ``_orig_mod.``, a LightningModule's
            attribute) are matched to the architecture's.
        model : an ``nn.Module`` of the right architecture (its weights are not modified: a
            copy is loaded with each checkpoint), or a zero-argument factory returning one.
        executor : None records the checkpoints one after the other here; ``"ray"`` records
            the first here and the others as Ray tasks in parallel (an initialised Ray, or a
            local one started on first use; the extra ``dvi_widget[ray]``), each into its own
            epoch folder of the same staged run folder, which on a cluster must be on a path every
            worker sees. The files written are the same.
        Other arguments as in :meth:`create` and :meth:`record`; ``quiet`` hides the progress bar.
        """
        files = _checkpoints.checkpoint_files(checkpoints)
        new = NewRun(train, test, class_names, n_classes, metadata)
        dtype = check_dtype(dtype)
        path = Path(path)
        check_target(path, overwrite)
        remove_stale_temporaries(path.parent)
        return _checkpoints.from_checkpoints(
            cls, path, files, model, new, save_inputs=save_inputs, device=device, quiet=quiet,
            dtype=dtype, executor=executor,
            record={"layer": layer, "feature_fn": feature_fn, "head_fn": head_fn,
                    "batch_size": batch_size})

    # ---------------------------------------------------------------- the model

    @property
    def has_model(self) -> bool:
        return self._architecture() is not None

    def architecture(self) -> nn.Module | None:
        """The model architecture (the one given to :meth:`open`, else the one stored with the
        run), or None; its weights are not any epoch's: load ``state_dict(epoch)`` into a copy."""
        return self._architecture()

    def _architecture(self) -> nn.Module | None:
        """The model given in this session, else the one stored with the run (rebuilt once
        with the first stored state_dict), else None (``_stored_error`` says why)."""
        if self._model is not None:
            return self._model
        if self._stored is None and self._stored_error is None:
            epochs = [e for e in self.epochs if self.epoch_info(e).get("has_state_dict")]
            if not epochs:
                self._stored_error = "no epoch stores the model's weights"
                return None
            try:
                self._stored = _architecture.load(self.path, self.state_dict(epochs[0]))
            except ValueError as err:
                self._stored_error = str(err)
            except Exception as err:  # noqa: BLE001 - torch's deserializer, any version
                self._stored_error = (f"the stored architecture could not be rebuilt "
                                      f"({type(err).__name__}: {str(err)[:300]}); reopen it "
                                      "with Run.open(path, model=YourModel())")
        return self._stored

    def __repr__(self) -> str:
        return (
            f"Run({str(self.path)!r}, epochs={self.epochs}, n_train={self.n_train}, "
            f"n_test={self.n_test}, n_classes={self.n_classes}, rep_dim={self.rep_dim})"
        )

    def head(self, epoch: int, device: str | torch.device = "cpu") -> nn.Module:
        """``g_t`` in eval mode: (n, h) float32 representations -> (n, C) float32 logits.

        Heads made of ``nn.Linear`` and parameter-free layers (ReLU, Tanh, Dropout, Softmax,
        ...) are rebuilt from the stored JSON spec and weights, without the user's code. Other
        heads need the model architecture: ``Run.open(path, model=...)``.
        """
        return _model.head(self, epoch, self._architecture(), device)

    def feature_model(self, epoch: int, device: str | torch.device = "cpu") -> nn.Module | None:
        """``f_t``: inputs -> float32 representations (n, h), in eval mode, or None.

        Available when a model architecture is attached (the model passed to :meth:`record` /
        :meth:`from_checkpoints` in this session, or ``Run.open(path, model=...)``), the epoch's
        state_dict is stored and the representation was taken at a named layer (not a
        ``feature_fn`` callable). Otherwise None: boundary synthesis then works in
        representation space.
        """
        return _model.feature_model(self, epoch, self._architecture(), device)

    def classifier(self, epoch: int, device: str | torch.device = "auto") -> EpochClassifier:
        """``g_t ∘ f_t`` of epoch ``epoch`` on inputs (eval mode, frozen), for explanations;
        see :func:`dvi_widget.data.run.model.epoch_classifier` for what it needs."""
        return epoch_classifier(self, epoch, device)

    # ---------------------------------------------------------------- recording

    def _recording_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        if self._live_inputs is not None:
            return self._live_inputs
        if self._meta.get("inputs_saved"):
            return tuple(load_npy(inputs_file(self.path, s), RECREATE) for s in ("train", "test"))
        raise ValueError(
            f"the run {self.path} was created with save_inputs=False and this Run object does "
            "not hold the inputs; record from the Run returned by Run.create, or use "
            "record_arrays(...)"
        )

    def record(
        self,
        model: nn.Module | None,
        epoch: int | None = None,
        *,
        layer: str | None = None,
        feature_fn: TensorFn | None = None,
        head_fn: TensorFn | None = None,
        device: str | torch.device = "auto",
        batch_size: int = 512,
        overwrite: bool = False,
        scalars: Mapping[str, float] | None = None,
        gradients: Any = None,  # noqa: ANN401 - a dvi_widget.inside.GradientMonitor
    ) -> None:
        """Record one epoch: representations, logits and the head of ``model`` on all samples.

        Parameters
        ----------
        model : the classifier (any ``nn.Module``, float32, float64 or float16; inside
            ``torch.compile`` / ``DataParallel`` / DDP the network itself is recorded); it is put in
            eval mode for one batched forward pass under ``torch.no_grad`` and its training
            mode is restored afterwards. Inputs are cast to its dtype; representations and
            logits are stored as float32.
        epoch : epoch number; default: the last recorded epoch + 1 (0 for the first).
        layer : name (as in ``model.named_modules()``) of the layer whose *input* is the
            representation; default: the last ``nn.Linear`` with as many outputs as the run
            has classes (or one, on a two-class run), else the last ``nn.Linear``. The head
            ``g`` is that layer followed by the modules after it in enclosing ``nn.Sequential``
            containers (for a
            typical classifier: just the last Linear). ``head(representation)`` is checked
            against the model's output once per call, up to a shift per row (a forward that
            ends in ``F.log_softmax`` returns the same classifier's log-probabilities; the
            head's logits are recorded); an output that packs the logits with other tensors
            (a tuple, a dict or ``.logits``) is searched for them; if none matches, a
            ValueError asks for ``head_fn`` or another ``layer``. A single logit ``z`` (a
            sigmoid binary classifier) is recorded as the two-class logits ``(0, z)``.
        feature_fn : callable inputs -> representations, used instead of the layer hook.
        head_fn : callable representations -> logits, used instead of the layer; the logits
            are then ``head_fn(representations)``. An ``nn.Linear``/``nn.Sequential`` head_fn is
            stored so that ``head(epoch)`` can rebuild it.
        device : "auto" runs where the model's parameters are (so a model trained on the GPU
            is recorded on the GPU); another device runs a copy of the model there.
        batch_size : rows per forward pass.
        overwrite : replace an epoch that is already recorded (atomically).
        scalars : numbers of this epoch to keep with it, e.g. ``{"loss": running_loss, "lr":
            lr}``; read back by :meth:`scalars`, shown as training curves.
        gradients : a :class:`dvi_widget.inside.GradientMonitor` on ``model`` (created before
            training): its gradient statistics since the last record are stored with the epoch,
            with the weights' distributions and the activations of every conv/linear layer and
            activation function on a fixed probe subset of 512 training samples
            (``epochs/NNNN/inside.npz``, :mod:`.inside`); read by :mod:`dvi_widget.inside`.

        The epoch is written into a temporary folder and moved into place when complete; an
        error (NaN, a wrong shape, a full disk: ``OSError`` naming the file and the space
        needed) leaves the run as it was.
        """
        _record.record(self, model, epoch, layer=layer, feature_fn=feature_fn, head_fn=head_fn,
                       device=device, batch_size=batch_size, overwrite=overwrite,
                       scalars=scalars, gradients=gradients)

    def record_arrays(
        self,
        epoch: int | None = None,
        *,
        representations: tuple[ArrayLike, ArrayLike | None] | ArrayLike,
        logits: tuple[ArrayLike, ArrayLike | None] | ArrayLike | None = None,
        head: nn.Module | None = None,
        overwrite: bool = False,
        device: str | torch.device = "cpu",
        batch_size: int = 4096,
        scalars: Mapping[str, float] | None = None,
    ) -> None:
        """Record an epoch from precomputed arrays (train, test) instead of a model.

        ``representations`` is ``(train (n_train, h), test (n_test, h))`` (or one array of N
        rows, train first). ``logits`` likewise, or None to compute them with ``head`` (an
        ``nn.Module``, run in batches of ``batch_size``; a Linear/Sequential head is stored and
        rebuildable by :meth:`head`); on a two-class run a single logit ``z`` per sample
        (``(n, 1)`` or ``(n,)``, a sigmoid classifier's) is recorded as ``(0, z)``, as
        :meth:`record` does. ``scalars`` as in :meth:`record`.
        """
        _record.record_arrays(self, epoch, representations=representations, logits=logits,
                              head=head, overwrite=overwrite, device=device,
                              batch_size=batch_size, scalars=scalars)
