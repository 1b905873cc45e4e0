"""Grad-CAM heat maps (Selvaraju et al., ICCV 2017) of epoch t's classifier, with Captum.

For class c and a convolutional layer with activations A^k (k = channels), Grad-CAM weighs each
channel by its average gradient, ``α_c^k = 1/Z Σ_ij ∂y^c/∂A^k_ij``, and keeps the positive part of
the weighted sum, ``L^c = ReLU(Σ_k α_c^k A^k)`` (the lecture's slides; the paper's Eq. 1–2).
:class:`captum.attr.LayerGradCam` computes ``L^c`` at the layer's resolution; it is then
upsampled bilinearly to the input's height and width. The default layer is the last
``nn.Conv2d`` that runs before the representation layer (found by one probing forward pass).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.run.model import EpochClassifier


@dataclass(frozen=True)
class GradCAM:
    """Grad-CAM heat maps of a batch of inputs.

    Attributes
    ----------
    maps : float32 (n, H, W)
        ``ReLU(Σ_k α_c^k A^k)`` upsampled to the input's height and width (not normalised; see
        :meth:`normalized`).
    targets : int64 (n,)
        The class each map explains.
    predictions : int64 (n,)
        Epoch t's predicted class of each input.
    layer : str
        The layer's name in the model.
    epoch : int
    indices : int64 (n,) or None
        Global sample indices, when the inputs came from the run.
    """

    maps: np.ndarray
    targets: np.ndarray
    predictions: np.ndarray
    layer: str
    epoch: int
    indices: np.ndarray | None = None

    def normalized(self) -> np.ndarray:
        """Each map divided by its maximum (float32 in [0, 1]; an all-zero map stays zero)."""
        peak = self.maps.reshape(len(self.maps), -1).max(axis=1)
        return (self.maps / np.where(peak > 0, peak, 1)[:, None, None]).astype(np.float32)


def conv_layers(network: nn.Module) -> list[str]:
    """Names of the ``nn.Conv2d`` modules of ``network``, in registration order (a network
    rebuilt from a run's stored graph names each module's ``original_type``)."""
    return [name for name, m in network.named_modules()
            if isinstance(m, nn.Conv2d) or getattr(m, "original_type", None) == "Conv2d"]


def _layer_list(network: nn.Module) -> str:
    return ", ".join(f"{n!r} ({type(m).__name__})" for n, m in network.named_modules() if n)


def resolve_layer(clf: EpochClassifier, x: torch.Tensor, layer: str | None) -> str:
    """The layer Grad-CAM uses: ``layer`` (checked) or the last ``Conv2d`` run before the
    representation layer. Raises ``ValueError`` naming the layers to choose from."""
    network = clf.network
    convs = conv_layers(network)
    if layer is not None:
        modules = dict(network.named_modules())
        if layer not in modules or layer == "":
            raise ValueError(f"layer={layer!r} is not a module of the model; convolutional layers: "
                             f"{convs or 'none'}; all layers: {_layer_list(network)}")
        candidates = [layer]
    else:
        if not convs:
            raise ValueError(
                "Grad-CAM needs a convolutional layer, but this model has no nn.Conv2d (an MLP?). "
                f"Layers: {_layer_list(network)}. Pass layer='<name>' of a layer whose output is "
                "a (n, C, H, W) feature map"
            )
        candidates = convs
    calls: list[tuple[str, tuple[int, ...]]] = []
    hooks = [network.get_submodule(name).register_forward_hook(
        lambda m, a, out, name=name: calls.append((name, tuple(out.shape))))
        for name in candidates]
    try:
        with torch.no_grad():
            clf.features(x[:1])
    finally:
        for h in hooks:
            h.remove()
    if not calls:
        raise ValueError(
            f"none of the layers {candidates} runs before the representation layer "
            f"{clf.representation_layer!r}, so Grad-CAM cannot use them; convolutional layers: "
            f"{convs or 'none'}")
    name, shape = calls[-1]
    if len(shape) != 4:
        raise ValueError(f"layer {name!r} outputs shape {shape}; Grad-CAM needs a spatial "
                         f"(n, C, H, W) output. Convolutional layers: {convs or 'none'}")
    return name


def gradcam_maps(clf: EpochClassifier, x: torch.Tensor, layer: str | None = None,
                 target: int | np.ndarray | None = None, batch_size: int = 512,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Grad-CAM of ``clf`` on inputs ``x`` ``(n, *input_shape)`` (already on ``clf``'s device).

    ``target``: None explains each input's predicted class; an int one class for all; an array
    one class per input. Returns ``(maps (n, H, W), targets, predictions, layer)``.
    """
    from captum.attr import LayerAttribution, LayerGradCam

    name = resolve_layer(clf, x, layer)
    n = len(x)
    height, width = x.shape[-2:]
    cam = LayerGradCam(clf, clf.network.get_submodule(name))
    maps, targets, preds = [], [], []
    n_classes = None
    for start in range(0, n, batch_size):  # chunks of rows, bounded memory
        xb = x[start : start + batch_size]
        with torch.no_grad():
            logits = clf(xb)
        n_classes = logits.shape[1]
        pred = logits.argmax(dim=1)
        if target is None:
            tb = pred
        else:
            t = torch.as_tensor(np.asarray(target), dtype=torch.long, device=xb.device)
            tb = t.expand(len(xb)) if t.ndim == 0 else t[start : start + batch_size]
        if (tb < 0).any() or (tb >= n_classes).any():
            raise ValueError(f"target must be class ids in [0, {n_classes}), got {target!r}")
        attr = cam.attribute(xb, target=tb, relu_attributions=True)
        up = LayerAttribution.interpolate(attr, (height, width), interpolate_mode="bilinear")
        maps.append(up.sum(dim=1).detach())
        targets.append(tb)
        preds.append(pred)
    return (torch.cat(maps).cpu().numpy().astype(np.float32),
            torch.cat(targets).cpu().numpy().astype(np.int64),
            torch.cat(preds).cpu().numpy().astype(np.int64), name)
