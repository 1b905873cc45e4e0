"""numpy <-> torch at the edge, resolving ``device="auto"``, and keeping the caller's random
state."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import numpy as np
import torch

from ._checks import as_array

DeviceLike = str | torch.device | None
#: what the numeric functions accept: numpy arrays (memmaps included) or torch tensors
ArrayLike = np.ndarray | torch.Tensor


def bfloat16_is_fast(device: torch.device) -> bool:
    """Whether bfloat16 matrix products run natively on ``device``: a CUDA device that
    supports them, or a CPU with AVX512-BF16 or AMX (Linux's ``/proc/cpuinfo`` flags).
    Elsewhere bfloat16 is emulated and slower than float32."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return device.type == "cpu" and _cpu_has_bfloat16()


@functools.cache
def _cpu_has_bfloat16() -> bool:
    """AVX512-BF16 or AMX among the CPU's flags (read once)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


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


@contextlib.contextmanager
def own_rng(device: torch.device) -> Iterator[None]:
    """Torch's global random state as it was on entry, restored on exit (the CPU's, and every
    GPU's when ``device`` is one: ``torch.manual_seed`` seeds them all): code that seeds it for
    a reproducible result, or draws from it through a library that takes no generator
    (``nn.Linear``'s initialisation, ``torch.pca_lowrank``, Kornia's augmentations), leaves
    the caller's training sequence untouched."""
    devices = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


def to_tensor(
    x: ArrayLike, device: torch.device | None, dtype: torch.dtype | None = torch.float32
) -> torch.Tensor:
    """Move an array or tensor to ``device`` as ``dtype`` (no copy when already there).

    ``device=None`` keeps a tensor where it is (numpy goes to the CPU); ``dtype=None`` keeps
    the dtype.
    """
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    arr = np.ascontiguousarray(x)
    if not arr.flags.writeable:  # a read-only memmap: torch warns on sharing it, so copy
        arr = arr.copy()
    return torch.as_tensor(arr, dtype=dtype, device=device)


def to_numpy(x: ArrayLike) -> np.ndarray:
    """Detach a tensor and bring it to host memory as numpy (arrays pass unchanged)."""
    return as_array(x, "array")


def row_batches(
    *arrays: ArrayLike,
    batch_size: int,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> Iterator[tuple[int, tuple[torch.Tensor, ...]]]:
    """Aligned row slices of ``arrays`` as tensors on ``device``: yields ``(start, slices)``.

    Arrays may be numpy memmaps: only one batch at a time is read and copied to the device.
    ``dtype=None`` keeps each array's dtype (so index arrays stay integer).
    """
    if not arrays:
        raise ValueError("row_batches() needs at least one array")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        lengths = [len(a) for a in arrays]
        raise ValueError(f"row_batches() got arrays of different lengths {lengths}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    for start in range(0, n, int(batch_size)):
        yield start, tuple(
            to_tensor(a[start : start + batch_size], device, dtype) for a in arrays
        )


Batch = torch.Tensor | tuple[torch.Tensor, ...] | dict[str, torch.Tensor]


@torch.no_grad()
def batched(
    fn: Callable[..., Batch],
    *arrays: ArrayLike,
    batch_size: int = 4096,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> Batch:
    """Apply ``fn`` to aligned row slices of ``arrays`` and join the results along rows.

    ``fn(*slices)`` returns a tensor, a tuple of tensors or a dict of tensors; the result has
    the same form, each part concatenated over the batches. Runs under ``torch.no_grad``.
    Slicing as in :func:`row_batches` (memmaps are read one batch at a time).
    """
    outs = [fn(*rows) for _, rows in row_batches(*arrays, batch_size=batch_size, device=device,
                                                  dtype=dtype)]
    if not outs:
        raise ValueError("batched() got an empty input (0 rows).")
    first = outs[0]
    if isinstance(first, tuple):
        return tuple(torch.cat(parts) for parts in zip(*outs, strict=True))
    if isinstance(first, dict):
        return {key: torch.cat([o[key] for o in outs]) for key in first}
    return torch.cat(outs)
