"""numpy <-> torch at the edge, and resolving ``device="auto"``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

DeviceLike = str | torch.device | None


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """Turn ``"auto"``/``None``/a name into a usable :class:`torch.device`.

    ``"auto"`` (or ``None``) means CUDA when it is available, else the CPU. A device that does
    not exist on this machine raises ``ValueError`` naming it.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is not a valid torch device: {err}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this machine; "
                "use device='cpu' or device='auto'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)."
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was requested but MPS is not available.")
    return dev


def to_tensor(
    x: np.ndarray | torch.Tensor, device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Move an array or tensor to ``device`` as ``dtype`` (no copy when already there)."""
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    arr = np.ascontiguousarray(x)
    if not arr.flags.writeable:  # a read-only memmap: torch warns on sharing it, so copy
        arr = arr.copy()
    return torch.as_tensor(arr, dtype=dtype, device=device)


def to_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Detach a tensor and bring it to host memory as numpy."""
    if isinstance(x, np.ndarray):
        return x
    return x.detach().cpu().numpy()


@torch.no_grad()
def batched(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: np.ndarray | torch.Tensor,
    device: torch.device,
    batch_size: int = 4096,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Apply ``fn`` to ``x`` in batches of rows on ``device``; returns one tensor on ``device``.

    ``x`` may be a numpy memmap: only one batch at a time is copied to the device.
    """
    n = len(x)
    if n == 0:
        raise ValueError("batched() got an empty input (0 rows).")
    outs = [fn(to_tensor(x[i : i + batch_size], device, dtype)) for i in range(0, n, batch_size)]
    return torch.cat(outs, dim=0)
