"""One object that explains a run's predictions and places the explanations on DVI's landscape.

:class:`Explainer` holds a run, an optional projector (a fitted :class:`~dvi_widget.DVI`: anything
with ``transform(representations, epoch) -> (n, 2)``) and a device, and caches each epoch's
rebuilt classifier. Its methods return DataFrames and arrays for Python cells; :meth:`payload`
answers the widget's custom messages with plain arrays (see :data:`PAYLOAD_KINDS`). Every entry
point refuses sizes beyond the caps of :mod:`dvi_widget.explain.limits` (strengths per path,
attack steps, Grad-CAM inputs, robustness samples × strengths, surrogate neighbours) and
nonsensical numbers (``step_size <= 0``, NaN) with a ``ValueError`` naming the argument, before
any work: a cell and a widget request alike.

A perturbed input is a new input: ``f_t`` gives its representation, ``g_t`` its prediction and
the projector's one map (``DVI.transform``, :mod:`dvi_widget.engine.mapping`) its position on
epoch t's landscape: on a cell of its own prediction, continuous while the prediction holds, and
exactly where the sample is drawn at the identity strength.

Why one module of about 600 lines: one entry point per explanation, each with its checks and
the payload the widget asks for; the techniques themselves live beside it (``gradcam``,
``perturb``, ``surrogate``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .._tensor import DeviceLike, resolve_device
from ..data.run.folder import check_indices
from ..data.run.model import EpochClassifier, check_recorded_with_model, epoch_classifier
from . import perturb as pert
from .gradcam import GradCAM, gradcam_maps
from .limits import check_cap, positive, whole
from .surrogate import (
    Surrogate,
    default_patch,
    fidelity,
    fit_student,
    generate_neighbors,
    patch_features,
    pixel_weights,
)

#: the longest side (pixels) of a path's perturbed-input pictures (larger inputs are subsampled)
PATH_IMAGE_SIDE = 64
#: adversarial path methods (Captum's FGSM steps; PGD adds the projection onto the ε-ball)
ATTACKS = ("fgsm", "pgd")
#: what :meth:`Explainer.payload` answers: ``request["what"]`` -> the method it calls
PAYLOAD_KINDS = ("path", "gradcam", "robustness", "surrogate", "kinds")


class Explainer:
    """Grad-CAM, what-if and adversarial paths, robustness curves and local surrogates.

    Parameters
    ----------
    run : dvi_widget.Run
        Recorded with the model and its inputs (see :func:`epoch_classifier` for the errors).
    projector : object with ``transform(representations, epoch)``, optional
        Usually the fitted :class:`~dvi_widget.DVI`; without one, positions are NaN.
    device : "auto", str or torch.device
        Where everything runs, batched (``"auto"``: CUDA when available).
    value_range : (low, high), optional
        The inputs' value range (clipping, noise and attack scales, the fill of geometric
        perturbations); default: the min and max of the stored training inputs.

    Examples
    --------
    >>> ex = dvi.explainer()                      # or Explainer(run, projector=dvi)
    >>> ex.what_if(12, epoch=5, kind="rotate")    # DataFrame: strength, x, y, prediction, ...
    """

    def __init__(self, run: Any, projector: Any = None, *, device: DeviceLike = "auto",  # noqa: ANN401
                 value_range: tuple[float, float] | None = None) -> None:
        self.run = run
        self.projector = projector
        self.device = resolve_device(device)
        self._value_range = None if value_range is None else _check_range(value_range)
        self._classifiers: dict[int, tuple[tuple, EpochClassifier]] = {}
        self._train_reps: dict[int, tuple[tuple, torch.Tensor]] = {}

    # ---------------------------------------------------------------- shared pieces
    def classifier(self, epoch: int) -> EpochClassifier:
        """Epoch ``epoch``'s ``g_t ∘ f_t`` on this explainer's device (cached while the epoch's
        files are unchanged)."""
        epoch = int(epoch)
        stamp = self.run.epoch_stamp(epoch)  # the cache holds while the epoch's files do
        cached = self._classifiers.get(epoch)
        if cached is None or cached[0] != stamp:
            self._classifiers[epoch] = (stamp, epoch_classifier(self.run, epoch, self.device))
        return self._classifiers[epoch][1]

    @property
    def value_range(self) -> tuple[float, float]:
        """``(low, high)`` of the inputs (see the class docstring)."""
        if self._value_range is None:
            x = self.run.inputs("train")
            if x is None:
                raise ValueError("the run stores no inputs; pass value_range=(low, high)")
            lo, hi = float(np.min(x)), float(np.max(x))
            self._value_range = (lo, hi if hi > lo else lo + 1.0)
        return self._value_range

    @property
    def input_shape(self) -> tuple[int, ...]:
        shape = self.run.input_shape
        if shape is None:
            raise ValueError(f"the run {self.run.path} stores no inputs (save_inputs=False)")
        return tuple(shape)

    def _inputs(self, index_or_input: Any) -> tuple[torch.Tensor, int | None]:  # noqa: ANN401
        """One input as a ``(1, *input_shape)`` tensor on the device, and its sample index."""
        if isinstance(index_or_input, int | np.integer) and not isinstance(index_or_input, bool):
            idx = int(check_indices([int(index_or_input)], int(self.run.n_samples), "index")[0])
            x = self.run.inputs_at([idx])
            return torch.as_tensor(x, device=self.device), idx
        arr = (index_or_input.detach().cpu().numpy() if isinstance(index_or_input, torch.Tensor)
               else np.asarray(index_or_input, dtype=np.float32))
        shape = self.input_shape
        if arr.shape == shape:
            arr = arr[None]
        if arr.shape != (1, *shape):
            raise ValueError(f"index_or_input must be a sample index or one input shaped {shape} "
                             f"(or (1, *{shape})), got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("the input contains NaN or Inf values")
        return torch.as_tensor(arr.astype(np.float32), device=self.device), None

    def _project(self, reps: torch.Tensor, epoch: int) -> np.ndarray:
        """Where the representations land on epoch ``epoch``'s view: the projector's one map
        (``transform``), exact at a recorded sample, continuous while the prediction holds and
        on a landscape cell of each point's own prediction — so a path crosses the white band
        in the step its prediction changes."""
        if self.projector is None:
            return np.full((len(reps), 2), np.nan, dtype=np.float32)
        return np.asarray(self.projector.transform(reps.detach(), int(epoch)), dtype=np.float32)

    def _check_projectable(self, epoch: int) -> None:
        """Fail before any work when the projector has not fitted ``epoch``."""
        fitted = getattr(self.projector, "epochs_", None)
        if fitted is not None and int(epoch) not in fitted:
            raise ValueError(f"epoch={epoch!r} is not fitted by the projector; fitted epochs are "
                             f"{list(fitted)}")

    def _check_continuous(self, epoch: int, what: str) -> None:
        """Fail when epoch ``epoch`` was recorded from token ids: ``what`` changes input
        values, and there is no value between two tokens."""
        if self._token_ids(int(epoch)):
            raise ValueError(
                f"{what} changes input values, but epoch {epoch} was recorded from token ids "
                "(a model that looks up embeddings): between two tokens there is no input. "
                "Place edited inputs with dvi.transform(model-representations, epoch) instead")

    def _token_ids(self, epoch: int | None = None) -> bool:
        """Whether the run was recorded from token ids (at ``epoch``; default: any epoch)."""
        recorded = getattr(self.run, "recorded_from_token_ids", None)
        return recorded is not None and bool(recorded(epoch))

    def _classify(self, clf: EpochClassifier, x: torch.Tensor, batch_size: int = 4096
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(representations, softmax probabilities)`` of ``x`` in batches of rows."""
        reps, probs = [], []
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                r, z = clf.forward_both(x[start : start + batch_size])
                reps.append(r)
                probs.append(torch.softmax(z.float(), dim=1))
        return torch.cat(reps), torch.cat(probs)

    def _class_id(self, cls: int | str) -> int:
        names = list(self.run.class_names)
        if isinstance(cls, str):
            if cls not in names:
                raise ValueError(f"class {cls!r} is not one of {names}")
            return names.index(cls)
        if isinstance(cls, bool) or not isinstance(cls, int | np.integer) or not (
                0 <= int(cls) < len(names)):
            raise ValueError(f"class must be a class name or an id in [0, {len(names)}), "
                             f"got {cls!r}")
        return int(cls)

    def _path_frame(self, strengths: np.ndarray, positions: np.ndarray, probs: torch.Tensor,
                    original: int) -> pd.DataFrame:
        conf, pred = probs.max(dim=1)
        pred_np = pred.cpu().numpy().astype(np.int64)
        names = np.asarray(self.run.class_names, dtype=object)
        return pd.DataFrame({
            "strength": strengths.astype(np.float32), "x": positions[:, 0], "y": positions[:, 1],
            "prediction": pred_np, "class_name": names[pred_np],
            "confidence": conf.cpu().numpy().astype(np.float32), "flipped": pred_np != original,
        })

    # ---------------------------------------------------------------- Grad-CAM
    def gradcam(self, epoch: int, indices: Sequence[int] | np.ndarray | Any,  # noqa: ANN401
                layer: str | None = None, target: int | str | Sequence[int] | None = None,
                ) -> GradCAM:
        """Grad-CAM heat maps of samples ``indices`` (or inputs ``(n, *input_shape)``) at
        ``epoch``; see :func:`dvi_widget.explain.gradcam`."""
        arr = np.asarray(indices) if not isinstance(indices, torch.Tensor) else indices
        shape = self.input_shape
        given = isinstance(arr, torch.Tensor) or (arr.ndim == 1 + len(shape)
                                                  and tuple(arr.shape[1:]) == shape)
        n = len(arr) if given else int(arr.sum()) if arr.dtype == np.bool_ else int(arr.size)
        hint = "ask for chunks of samples"
        check_cap(n, "MAX_GRADCAM_INPUTS", "Grad-CAM inputs", hint)
        h, w = pert.image_size(shape)
        check_cap(n * h * w, "MAX_GRADCAM_PIXELS", "Grad-CAM heat-map pixels", hint)
        clf = self.classifier(epoch)
        if given:
            x = torch.as_tensor(np.asarray(arr, dtype=np.float32), device=self.device)
            idx = None
        else:
            idx = check_indices(indices, int(self.run.n_samples))
            x = torch.as_tensor(self.run.inputs_at(idx), device=self.device)
        if len(shape) not in (2, 3):
            raise ValueError(f"Grad-CAM needs image inputs (C, H, W) or (H, W); this run's inputs "
                             f"have shape {shape}")
        if isinstance(target, str):
            target = self._class_id(target)
        elif target is not None and np.ndim(target) == 1:
            target = np.asarray(target)
            if len(target) != len(x):
                raise ValueError(f"target has {len(target)} entries for {len(x)} inputs")
        elif target is not None:
            target = self._class_id(int(target))
        maps, targets, preds, name = gradcam_maps(clf, x, layer, target)
        return GradCAM(maps=maps, targets=targets, predictions=preds, layer=name,
                       epoch=int(epoch), indices=idx)

    # ---------------------------------------------------------------- what-if paths
    def what_if(self, index_or_input: Any, epoch: int, kind: str = "rotate",  # noqa: ANN401
                strengths: Sequence[float] | np.ndarray | None = None, *,
                center: tuple[float, float] | None = None, seed: int = 0) -> pd.DataFrame:
        """One input perturbed at every strength, classified by ``g_t ∘ f_t`` and placed by φ_t.

        Parameters
        ----------
        index_or_input : global sample index, or one input shaped like the run's inputs.
        epoch : the shown epoch.
        kind : a family of :data:`dvi_widget.explain.perturb.FAMILIES` (rotate, translate_x,
            translate_y, scale, brightness, contrast, noise, blur, occlude, and slide: a patch
            moved over the image).
        strengths : default: 32 steps over the family's default range from its identity.
        center : (row, col) of the occlusion patch; default the image centre.
        seed : the noise pattern of ``kind="noise"``.

        Returns
        -------
        DataFrame with columns strength, x, y, prediction, class_name, confidence, flipped
        (prediction differs from the unperturbed input's); ``df.attrs`` holds ``first_flip`` (the
        strength closest to the identity whose prediction flipped, or None), ``kind``, ``unit``,
        ``identity``, ``epoch``, ``index`` and ``original_prediction``.
        """
        fam = pert.family(kind)
        seed = whole(seed, "seed", 0)
        self._check_projectable(epoch)
        self._check_continuous(epoch, f"what_if(kind={kind!r})")
        s = pert.check_strengths(strengths, kind, self.input_shape)
        x, idx = self._inputs(index_or_input)
        clf = self.classifier(epoch)
        xs = pert.perturb(x, kind, s, value_range=self.value_range, seed=seed, center=center)[0]
        reps, probs = self._classify(clf, torch.cat([x, xs]))
        original = int(probs[0].argmax())
        df = self._path_frame(s, self._project(reps[1:], epoch), probs[1:], original)
        df.attrs.update(kind=kind, unit=fam.unit, identity=fam.identity, epoch=int(epoch),
                        index=idx, original_prediction=original,
                        first_flip=pert.first_flip(s, df["flipped"].to_numpy(), fam.identity))
        return df

    def perturbed(self, index_or_input: Any, kind: str = "rotate",  # noqa: ANN401
                  strengths: Sequence[float] | np.ndarray | None = None, *,
                  center: tuple[float, float] | None = None, seed: int = 0) -> np.ndarray:
        """The perturbed inputs of :meth:`what_if` themselves, ``(S, *input_shape)`` float32."""
        seed = whole(seed, "seed", 0)
        s = pert.check_strengths(strengths, kind, self.input_shape)
        x, _ = self._inputs(index_or_input)
        out = pert.perturb(x, kind, s, value_range=self.value_range, seed=seed, center=center)[0]
        return out.cpu().numpy()

    def adversarial(self, index_or_input: Any, epoch: int, target: int | str | None = None,  # noqa: ANN401
                    *, method: str = "pgd", steps: int = 20, eps: float | None = None,
                    step_size: float | None = None, norm: str = "Linf") -> pd.DataFrame:
        """An adversarial path: ``steps`` gradient-sign steps (Captum's ``FGSM``) toward class
        ``target`` (away from the predicted class when None), each placed by φ_t.

        ``method="pgd"`` projects every step onto the ``eps``-ball around the input (Captum's
        ``PGD``, one step at a time so that the path is kept); ``"fgsm"`` takes plain iterated
        FGSM steps (bounded by the value range only). Defaults: ``eps`` = 0.3 × value range
        (``norm="Linf"``) or 0.1 × value range × √D (``"L2"``); ``step_size`` = 2.5 · 0.3 × value
        range / steps (Madry et al.'s 2.5 ε / steps). ``steps`` is a whole number in
        ``[1, MAX_ATTACK_STEPS]`` (:mod:`~dvi_widget.explain.limits`); ``eps`` and ``step_size``
        must be finite and > 0 (a negative step would walk away from the target).

        Returns the :meth:`what_if` columns with strength = step (0 = the input) plus ``linf``
        and ``l2`` (distance from the input) and ``target_probability``; ``df.attrs`` holds
        ``first_flip`` (first step whose prediction changed), ``reached`` (first step predicted
        as ``target``, or None), ``target``, ``method``, ``eps``, ``step_size``.
        """
        if method not in ATTACKS:
            raise ValueError(f"method must be one of {ATTACKS}, got {method!r}")
        if norm not in ("Linf", "L2"):
            raise ValueError(f"norm must be 'Linf' or 'L2', got {norm!r}")
        steps = whole(steps, "steps", 1, "MAX_ATTACK_STEPS")
        if eps is not None:
            eps = positive(eps, "eps")
        if step_size is not None:  # <= 0 would walk away from the target
            step_size = positive(step_size, "step_size")
        self._check_projectable(epoch)
        self._check_continuous(epoch, f"an adversarial path ({method})")
        x, idx = self._inputs(index_or_input)
        from captum.robust import PGD  # after the checks: its first import takes seconds

        clf = self.classifier(epoch)
        lo, hi = self.value_range
        span = hi - lo
        dim = int(np.prod(self.input_shape))
        if eps is None:
            eps = 0.3 * span if norm == "Linf" else 0.1 * span * float(np.sqrt(dim))
        if step_size is None:
            step_size = 2.5 * 0.3 * span / int(steps)
        with torch.no_grad():
            original = int(clf(x).argmax(dim=1))
        goal = original if target is None else self._class_id(target)
        targeted = target is not None
        attack = PGD(clf, loss_func=lambda out, t: torch.nn.functional.cross_entropy(
            out, t, reduction="none"), lower_bound=lo, upper_bound=hi)
        label = torch.tensor([goal], device=self.device)
        path = [x]
        adv = x
        for _ in range(int(steps)):  # sequential by nature: each step starts from the last
            adv = attack.fgsm.perturb(adv.detach().requires_grad_(), float(step_size), label,
                                      targeted=targeted)
            if method == "pgd":  # Captum PGD's projection onto the ball around the input
                diff = adv - x
                diff = (diff.clamp(-eps, eps) if norm == "Linf"
                        else torch.renorm(diff, 2, 0, float(eps)))
                adv = attack.bound(x + diff)
            adv = adv.detach()
            path.append(adv)
        xs = torch.cat(path)
        reps, probs = self._classify(clf, xs)
        df = self._path_frame(np.arange(len(xs), dtype=np.float32),
                              self._project(reps, epoch), probs, original)
        delta = (xs - x).reshape(len(xs), -1)
        df["linf"] = delta.abs().amax(dim=1).cpu().numpy()
        df["l2"] = delta.norm(dim=1).cpu().numpy()
        df["target_probability"] = probs[:, goal].cpu().numpy()
        hit = np.flatnonzero(df["prediction"].to_numpy() == goal) if targeted else np.array([])
        flips = np.flatnonzero(df["flipped"].to_numpy())
        df.attrs.update(kind=method, unit="step", identity=0.0, epoch=int(epoch), index=idx,
                        original_prediction=original, target=goal if targeted else None,
                        method=method, norm=norm, eps=float(eps), step_size=float(step_size),
                        first_flip=float(flips[0]) if flips.size else None,
                        reached=int(hit[0]) if hit.size else None)
        self._last_attack_inputs = xs.detach().cpu().numpy()  # path_payload shows them
        return df

    # ---------------------------------------------------------------- robustness curves
    def _selection(self, indices_or_class: Any, split: str) -> np.ndarray:  # noqa: ANN401
        if isinstance(indices_or_class, str) or (
                isinstance(indices_or_class, int | np.integer)
                and not isinstance(indices_or_class, bool)):
            cls = self._class_id(indices_or_class)
            labels = np.asarray(self.run.labels("all"))
            splits = np.asarray(self.run.splits())
            keep = (labels == cls) & ((splits == split) if split != "all" else True)
            idx = np.flatnonzero(keep)
            if idx.size == 0:
                raise ValueError(f"class {indices_or_class!r} has no samples in split {split!r}")
            return idx
        return check_indices(indices_or_class, int(self.run.n_samples), "indices_or_class")

    def robustness(self, indices_or_class: Any, epoch: int, kind: str = "rotate",  # noqa: ANN401
                   strengths: Sequence[float] | np.ndarray | None = None, *,
                   split: str = "all", max_samples: int | None = 1000, seed: int = 0,
                   batch_size: int = 8192) -> pd.DataFrame:
        """VATUN's simulation view: a perturbation over its strength range applied to every
        selected sample; the mean softmax of each class and the share that flipped.

        ``indices_or_class``: sample indices (or a boolean mask), or a class (its name, or its
        id as a bare int) meaning every sample with that label in ``split``. At most
        ``max_samples`` of them are used (a seeded random subset; None: all). Strengths default
        to 16 steps over the family's range. Batches of ``batch_size`` perturbed inputs run on
        the device.

        Returns a DataFrame indexed by strength: one column per class name (mean softmax),
        ``flipped`` (share whose prediction differs from the unperturbed one) and ``accuracy``
        (share predicted as their given label); ``df.attrs``: kind, unit, epoch, n_samples,
        indices.
        """
        fam = pert.family(kind)
        seed, batch_size = whole(seed, "seed", 0), whole(batch_size, "batch_size", 1)
        self._check_continuous(epoch, f"robustness(kind={kind!r})")
        if max_samples is not None:
            max_samples = whole(max_samples, "max_samples", 1)
        s = pert.check_strengths(strengths, kind, self.input_shape, pert.ROBUSTNESS_STEPS)
        idx = self._selection(indices_or_class, split)
        if max_samples is not None and len(idx) > max_samples:
            rng = np.random.default_rng(seed)
            idx = np.sort(rng.choice(idx, size=max_samples, replace=False))
        check_cap(len(idx) * len(s), "MAX_ROBUSTNESS_INPUTS",
                  f"robustness: {len(idx):,} samples × {len(s):,} strengths",
                  "pass max_samples= or fewer strengths")
        clf = self.classifier(epoch)
        labels = torch.as_tensor(np.asarray(self.run.labels("all"))[idx], device=self.device)
        n_cls = int(self.run.n_classes)
        prob_sum = torch.zeros(len(s), n_cls, dtype=torch.float64, device=self.device)
        flipped = torch.zeros(len(s), dtype=torch.float64, device=self.device)
        correct = torch.zeros(len(s), dtype=torch.float64, device=self.device)
        chunk = max(1, int(batch_size) // (len(s) + 1))
        for start in range(0, len(idx), chunk):  # chunks of samples: bounded memory
            x = torch.as_tensor(self.run.inputs_at(idx[start : start + chunk]),
                                device=self.device)
            xs = pert.perturb(x, kind, s, value_range=self.value_range, seed=seed + start)
            with torch.no_grad():
                base = clf(x).argmax(dim=1)
                probs = torch.softmax(clf(xs.reshape(-1, *x.shape[1:])).float(), dim=1)
            probs = probs.reshape(len(x), len(s), n_cls)
            pred = probs.argmax(dim=2)
            prob_sum += probs.sum(dim=0).double()
            flipped += (pred != base[:, None]).sum(dim=0).double()
            correct += (pred == labels[start : start + chunk, None]).sum(dim=0).double()
        n = float(len(idx))
        df = pd.DataFrame((prob_sum / n).cpu().numpy(), columns=list(self.run.class_names),
                          index=pd.Index(s, name="strength"))
        df["flipped"] = (flipped / n).cpu().numpy()
        df["accuracy"] = (correct / n).cpu().numpy()
        df.attrs.update(kind=kind, unit=fam.unit, epoch=int(epoch), n_samples=len(idx),
                        indices=idx)
        return df

    # ---------------------------------------------------------------- local surrogate
    def surrogate(self, index_or_input: Any, epoch: int, *, n_neighbors: int = 500,  # noqa: ANN401
                  k: int = 10, mix: float = 0.5, noise: float = 0.1, patch: int | None = None,
                  student: str = "ridge", alpha: float | None = None, seed: int = 0,
                  ) -> Surrogate:
        """A local linear student of ``g_t ∘ f_t`` around one input (DeepVID; see
        :mod:`dvi_widget.explain.surrogate` for the recipe).

        Parameters
        ----------
        n_neighbors : generated neighbours (labelled by the model, projected by φ_t).
        k : nearest training samples (in epoch t's representation space) to mix towards.
        mix : the largest share of the way towards a nearest sample.
        noise : the largest noise std, × value range.
        patch : feature patch side in pixels; default: the smallest with at most
            ``n_neighbors / 2`` features (1 for 8×8 digits, 2 for 28×28 with 500 neighbours).
        student : ``"ridge"`` (dense) or ``"lasso"`` (sparse).
        alpha : relative regularisation (see :func:`~dvi_widget.explain.surrogate.fit_student`).
        """
        n_neighbors = whole(n_neighbors, "n_neighbors", 2, "MAX_SURROGATE_NEIGHBORS")
        k = whole(k, "k", 1, "MAX_SURROGATE_K")
        self._check_continuous(epoch, "a surrogate (its neighbours are mixed and noised inputs)")
        seed = whole(seed, "seed", 0)
        mix, noise = positive(mix, "mix", zero=True), positive(noise, "noise", zero=True)
        if mix > 1:
            raise ValueError(f"mix must lie in [0, 1], got {mix!r}")
        if alpha is not None:
            alpha = positive(alpha, "alpha", zero=True)
        self._check_projectable(epoch)
        x, idx = self._inputs(index_or_input)
        shape = self.input_shape
        patch = (default_patch(shape, n_neighbors) if patch is None
                 else whole(patch, "patch", 1))
        clf = self.classifier(epoch)
        gen = torch.Generator().manual_seed(int(seed))
        pool = self._nearest_training_inputs(clf, x, epoch, int(k), exclude=idx)
        nbrs = generate_neighbors(x, pool, int(n_neighbors), mix=float(mix), noise=float(noise),
                                  patch=patch, value_range=self.value_range, generator=gen)
        with torch.no_grad():
            prediction = int(clf(x).argmax(dim=1))
            reps, logits = [], []
            for start in range(0, len(nbrs), 4096):
                r, z = clf.forward_both(nbrs[start : start + 4096])
                reps.append(r)
                logits.append(z.float())
            reps, logits = torch.cat(reps), torch.cat(logits)
        centred = (logits - logits.mean(dim=1, keepdim=True)).cpu().numpy().astype(np.float64)
        dist = (nbrs - x).reshape(len(nbrs), -1).pow(2).mean(dim=1).sqrt()
        width = dist.median().clamp_min(1e-12)
        proximity = torch.exp(-(dist / width) ** 2).cpu().numpy().astype(np.float64)
        feats = patch_features(nbrs, patch).cpu().numpy().astype(np.float64)
        coef, intercept, fitted = fit_student(feats, centred, proximity, student=student,
                                              alpha=alpha)
        return Surrogate(
            weights=pixel_weights(coef, shape, patch), intercept=intercept,
            input=x[0].cpu().numpy(), prediction=prediction,
            fidelity=fidelity(centred, fitted, proximity, prediction),
            neighbor_positions=(None if self.projector is None else self._project(reps, epoch)),
            neighbor_predictions=centred.argmax(axis=1).astype(np.int64),
            student_predictions=fitted.argmax(axis=1).astype(np.int64),
            proximity=proximity.astype(np.float32), neighbors=nbrs.cpu().numpy(), patch=patch,
            class_names=list(self.run.class_names), epoch=int(epoch), index=idx,
        )

    def _nearest_training_inputs(self, clf: EpochClassifier, x: torch.Tensor, epoch: int,
                                 k: int, exclude: int | None) -> torch.Tensor:
        """The ``k`` training inputs nearest to ``x`` in epoch t's representation space."""
        stamp = self.run.epoch_stamp(epoch)  # the cache holds while the epoch's files do
        cached = self._train_reps.get(int(epoch))
        if cached is None or cached[0] != stamp:
            reps = np.array(self.run.representations(int(epoch), "train"), dtype=np.float32)
            self._train_reps[int(epoch)] = (stamp, torch.as_tensor(reps, device=self.device))
        train = self._train_reps[int(epoch)][1]
        with torch.no_grad():
            d = torch.cdist(clf.features(x).float(), train)[0]
        if exclude is not None and exclude < len(train):
            d[exclude] = float("inf")
        k = max(1, min(int(k), len(train) - (exclude is not None and exclude < len(train))))
        nearest = torch.topk(d, k, largest=False).indices.cpu().numpy()
        return torch.as_tensor(self.run.inputs_at(nearest), device=self.device)

    # ---------------------------------------------------------------- the widget's requests
    def kinds(self) -> dict[str, dict[str, Any]]:
        """What a path request may ask for: each perturbation family and attack with its unit,
        identity, default ``[start, stop]`` and number of steps (for the widget's controls).

        Raises ``ValueError`` with the reason where nothing can be perturbed: the run's last
        epoch was recorded from token ids (no input lies between two tokens) or without a
        model to run (from arrays, without its weights: :func:`check_recorded_with_model`; read
        from the record alone, so asking costs nothing)."""
        last = int(self.run.epochs[-1])
        self._check_continuous(last, "what-if paths, robustness curves and surrogates")
        if hasattr(self.run, "epoch_info"):
            check_recorded_with_model(self.run, last)
        h, w = pert.image_size(self.input_shape)
        image = len(self.input_shape) in (2, 3)
        out = {
            name: {"unit": f.unit, "identity": f.identity, "default": list(f.default(h, w)),
                   "steps": pert.DEFAULT_STEPS, "description": f.description}
            for name, f in pert.FAMILIES.items() if image or not f.image
        }
        for name in ATTACKS:
            out[name] = {"unit": "step", "identity": 0.0, "default": [0.0, 20.0], "steps": 21,
                         "description": f"{name.upper()} steps toward a target class"}
        return out

    def path_images(self, inputs: np.ndarray) -> np.ndarray | None:
        """Perturbed inputs ``(S, *input_shape)`` as displayable uint8 ``(S, h, w[, 3|4])``
        (the run's value range mapped to 0..255, every side at most ``PATH_IMAGE_SIDE`` pixels),
        or None when the inputs are not images."""
        from ..data.images import ImageArray

        try:
            img = ImageArray(np.asarray(inputs, np.float32), value_range=self.value_range)
        except (ValueError, TypeError):
            return None
        out = img[np.arange(len(img))]
        step = max(1, -(-max(out.shape[1:3]) // PATH_IMAGE_SIDE))
        return np.ascontiguousarray(out[:, ::step, ::step])

    def path_payload(self, index: int, epoch: int, kind: str = "rotate",
                     strengths: Sequence[float] | None = None, *, target: int | None = None,
                     steps: int = 20, center: tuple[float, float] | None = None,
                     eps: float | None = None,
                     ) -> dict[str, Any]:
        """A what-if (``kind`` a perturbation family) or adversarial (``"fgsm"``/``"pgd"``,
        toward ``target``) path of sample ``index`` at ``epoch``, as plain arrays.

        Returns ``{"index", "epoch", "kind", "unit", "strengths" float32 (S,), "positions"
        float32 (S, 2), "predictions" int32 (S,), "confidence" float32 (S,),
        "original_prediction" int, "first_flip" float | None, "first_flip_index" int (-1: none),
        "target" int | None, "reached_index" int (-1: not reached or untargeted), "images"
        uint8 (S, h, w[, c]) the perturbed inputs as pictures (None: not images), "eps"}``.
        ``eps`` is the attack's ε (PGD: the radius of the ball around the input; default
        0.3 × the value range).
        """
        if kind in ATTACKS:
            df = self.adversarial(int(index), epoch, target, method=kind, steps=steps, eps=eps)
            images = self.path_images(self._last_attack_inputs)
        else:
            df = self.what_if(int(index), epoch, kind, strengths, center=center)
            images = self.path_images(self.perturbed(int(index), kind, df["strength"].to_numpy(),
                                                     center=center))
        s = df["strength"].to_numpy(np.float32)
        flip = df.attrs["first_flip"]
        reached = df.attrs.get("reached")
        return {
            "index": int(index), "epoch": int(epoch), "kind": kind, "unit": df.attrs["unit"],
            "strengths": s, "positions": df[["x", "y"]].to_numpy(np.float32),
            "predictions": df["prediction"].to_numpy(np.int32),
            "confidence": df["confidence"].to_numpy(np.float32),
            "original_prediction": int(df.attrs["original_prediction"]),
            "first_flip": flip,
            "first_flip_index": -1 if flip is None else int(np.flatnonzero(s == flip)[0]),
            "target": df.attrs.get("target"),
            "reached_index": -1 if reached is None else int(reached),
            "images": images, "eps": df.attrs.get("eps"),
        }

    def what_if_payload(self, index: int, epoch: int, kind: str = "rotate",
                        strengths: Sequence[float] | None = None, target: int | None = None,
                        ) -> dict[str, Any]:
        """:meth:`path_payload` under the :class:`Explaining` protocol's name."""
        return self.path_payload(index, epoch, kind, strengths, target=target)

    def explain(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`payload` under the :class:`Explaining` protocol's name."""
        return self.payload(request)

    def payload(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Answer one custom message of the widget with plain arrays and numbers.

        ``request["what"]`` is one of :data:`PAYLOAD_KINDS`:

        - ``"path"``: ``index``, ``epoch``, ``kind`` and optional ``strengths``, ``target``,
          ``steps``, ``center`` -> :meth:`path_payload`;
        - ``"gradcam"``: ``indices``, ``epoch``, optional ``layer``, ``target`` ->
          ``{"maps" float32 (n, H, W) in [0, 1], "targets" int32, "predictions" int32, "layer"}``;
        - ``"robustness"``: ``selection`` (indices or a class), ``epoch``, ``kind``, optional
          ``strengths`` -> ``{"strengths", "mean_probability" float32 (S, C), "flipped" (S,),
          "accuracy" (S,), "n_samples"}``;
        - ``"surrogate"``: ``index``, ``epoch``, optional ``classes`` (ids; default the
          predicted one) -> ``{"weights" float32 (len(classes), H, W), "classes", "fidelity",
          "positions" float32 (n, 2), "predictions" int32 (n,), "proximity" float32 (n,),
          "image" uint8 (h, w[, c]) or None}`` (``image``: the sample's input as a path's
          pictures show it, :meth:`path_images`);
        - ``"kinds"``: -> :meth:`kinds`.
        """
        what = request.get("what")
        args = {k: v for k, v in request.items() if k != "what"}
        if what == "path":
            return self.path_payload(**args)
        if what == "gradcam":
            cam = self.gradcam(args["epoch"], args["indices"], layer=args.get("layer"),
                               target=args.get("target"))
            return {"maps": cam.normalized(), "targets": cam.targets.astype(np.int32),
                    "predictions": cam.predictions.astype(np.int32), "layer": cam.layer}
        if what == "robustness":
            df = self.robustness(args["selection"], args["epoch"], args.get("kind", "rotate"),
                                 args.get("strengths"))
            names = list(self.run.class_names)
            return {"strengths": df.index.to_numpy(np.float32),
                    "mean_probability": df[names].to_numpy(np.float32),
                    "flipped": df["flipped"].to_numpy(np.float32),
                    "accuracy": df["accuracy"].to_numpy(np.float32),
                    "n_samples": int(df.attrs["n_samples"])}
        if what == "surrogate":
            asked = list(args.get("classes") or [])
            n_classes = len(self.run.class_names)
            if len(asked) > n_classes:
                raise ValueError(f"classes: {len(asked):,} ids asked, but there are only "
                                 f"{n_classes} classes (ask for each at most once)")
            asked = [self._class_id(c) for c in asked]
            sur = self.surrogate(int(args["index"]), args["epoch"])
            classes = asked or [sur.prediction]
            own = self.path_images(self._inputs(int(args["index"]))[0].cpu().numpy())
            return {"weights": np.stack([sur.weights_image(c) for c in classes]),
                    "classes": classes, "fidelity": dict(sur.fidelity),
                    "positions": (sur.neighbor_positions if sur.neighbor_positions is not None
                                  else np.full((len(sur.proximity), 2), np.nan, np.float32)),
                    "predictions": sur.neighbor_predictions.astype(np.int32),
                    "proximity": sur.proximity, "image": None if own is None else own[0]}
        if what == "kinds":
            return self.kinds()
        raise ValueError(f"request['what'] must be one of {PAYLOAD_KINDS}, got {what!r}")


def _check_range(value_range: Any) -> tuple[float, float]:  # noqa: ANN401
    """``(low, high)``: finite, low < high (clipping, noise scales and fills depend on it)."""
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be a pair (low, high), got {value_range!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"value_range must be finite with low < high, got {value_range!r}")
    return lo, hi
