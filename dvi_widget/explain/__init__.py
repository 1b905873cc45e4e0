"""Explain a selection: Grad-CAM, what-if and adversarial paths on the landscape, robustness
curves and local surrogates (issue 14; VATUN, DeepVID and the Grad-CAM lecture).

Everything runs on epoch t's classifier rebuilt from the run (:func:`epoch_classifier`), batched
on one device; perturbed inputs are new inputs, placed on epoch t's landscape by ``f_t`` then
``φ_t``. The public :class:`~dvi_widget.DVI` (:mod:`dvi_widget.explain.doors`, the engine's
estimator plus these doors) opens them on a fit::

    dvi.what_if(12, epoch=5, kind="rotate")          # DataFrame; attrs["first_flip"]
    dvi.adversarial(12, epoch=5, target="Shirt")     # a PGD path toward a class
    dvi.robustness("Shirt", epoch=5, kind="blur")    # mean softmax per class vs strength
    dvi.surrogate(12, epoch=5).weights_image()       # DeepVID's linear student
    gradcam(run, 5, [12, 40])                        # Grad-CAM heat maps (no DVI needed)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._tensor import DeviceLike
from ..contract import Explaining
from ..data.run.model import EpochClassifier, epoch_classifier
from .explainer import ATTACKS, PAYLOAD_KINDS, Explainer
from .gradcam import GradCAM
from .perturb import FAMILIES, perturb
from .surrogate import Surrogate

__all__ = [
    "ATTACKS",
    "FAMILIES",
    "PAYLOAD_KINDS",
    "EpochClassifier",
    "Explainer",
    "Explaining",
    "GradCAM",
    "Surrogate",
    "epoch_classifier",
    "gradcam",
    "perturb",
]


def gradcam(run: Any, epoch: int, indices: Sequence[int] | np.ndarray,  # noqa: ANN401 - a Run
            layer: str | None = None, target: int | str | Sequence[int] | None = None, *,
            device: DeviceLike = "auto") -> GradCAM:
    """Grad-CAM heat maps of samples ``indices`` for epoch ``epoch``'s classifier.

    Parameters
    ----------
    run : a :class:`~dvi_widget.Run` recorded with an image model and its inputs.
    epoch : recorded epoch.
    indices : global sample indices (train first, then test), a boolean mask, or inputs
        ``(n, *input_shape)``.
    layer : module name of a layer with a ``(n, C, H, W)`` output; default: the last
        ``nn.Conv2d`` before the representation layer. A model without one (an MLP) raises a
        ``ValueError`` listing its layers.
    target : class explained: None (each sample's prediction at ``epoch``), a class id or name,
        or one id per sample.
    device : where it runs, batched.

    Returns
    -------
    :class:`GradCAM` with ``maps`` (n, H, W) float32, ``targets``, ``predictions``, ``layer``.
    """
    return Explainer(run, device=device).gradcam(epoch, indices, layer=layer, target=target)
