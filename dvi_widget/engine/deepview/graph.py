"""DeepView's neighbourhood graph and layout, on candidate pairs rather than all pairs.

The paper computes DiDi distances between all pairs ("squared in the number of data", about 90 s
for a few hundred samples) and hands the full matrix to UMAP. UMAP itself only reads each
sample's ``n_neighbors`` nearest neighbours, so here the DiDi distance is computed only on
candidate pairs: each sample's ``widen * n_neighbors`` nearest samples in the Euclidean metric of
the same space (:func:`dvi_widget.engine.complex.knn`: exact batched torch up to 20k samples,
pynndescent beyond), symmetrised (j is a candidate of i when i is one of j's), each pair computed
once. The ``n_neighbors`` smallest DiDi distances of each row (the sample itself first, at
distance 0, as UMAP's own kNN) go to ``umap.UMAP(precomputed_knn=(indices, distances))``, the
route umap-learn documents for a precomputed kNN graph. :func:`all_pairs_graph` is the paper's
route on the same footing, for comparing the two.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..._tensor import ArrayLike, DeviceLike
from .didi import Proba, mix, pair_terms


def _nearest_per_row(n: int, rows: np.ndarray, cols: np.ndarray, dist: np.ndarray,
                     k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k - 1`` nearest among the undirected pairs ``(rows, cols, dist)`` after the
    row itself (distance 0): ``(n, k)`` int64 indices and float32 distances."""
    r = np.concatenate([rows, cols])
    c = np.concatenate([cols, rows])
    d = np.concatenate([dist, dist])
    order = np.lexsort((c, d, r))  # by row, then distance (ties: lower index)
    r, c, d = r[order], c[order], d[order]
    start = np.searchsorted(r, np.arange(n))
    counts = np.diff(np.append(start, r.size))
    if counts.min() < k - 1:
        raise ValueError(f"a sample has only {int(counts.min())} candidate neighbours; need "
                         f"{k - 1} (more samples or a smaller n_neighbors)")
    take = start[:, None] + np.arange(k - 1)[None, :]
    idx = np.concatenate([np.arange(n)[:, None], c[take]], axis=1).astype(np.int64)
    dst = np.concatenate([np.zeros((n, 1)), d[take]], axis=1).astype(np.float32)
    return idx, dst


def candidate_pairs(X: ArrayLike, n_candidates: int, *, method: str = "auto",
                    device: DeviceLike = "auto", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The undirected Euclidean candidate pairs ``(rows, cols)`` (rows < cols, each once): every
    sample with its ``n_candidates`` nearest others."""
    from ..complex import knn

    Xn = np.asarray(X, np.float32)
    n = len(Xn)
    c = min(int(n_candidates), n - 1)
    nbr, _ = knn(Xn, c, method=method, device=device, seed=seed)
    i = np.repeat(np.arange(n, dtype=np.int64), c)
    j = np.asarray(nbr, np.int64).reshape(-1)
    keep = i != j
    lo, hi = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    key = np.unique(lo * n + hi)
    return key // n, key % n


def candidate_graph(
    X: ArrayLike,
    proba: Proba,
    n_neighbors: int = 30,
    *,
    widen: float = 3.0,
    lam: float = 0.65,
    n_steps: int = 5,
    scales: tuple[float, float] = (1.0, 1.0),
    knn_method: str = "auto",
    device: DeviceLike = "auto",
    seed: int = 0,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """The DiDi kNN graph from candidate pairs: ``(indices (n, k), distances (n, k), info)``.

    ``k = n_neighbors`` counts the sample itself (column 0, distance 0), as UMAP's does;
    ``widen * n_neighbors`` Euclidean candidates per sample; ``scales = (js_scale,
    euclid_scale)`` divide the two DiDi terms (see :func:`dvi_widget.engine.deepview.didi.mix`).
    ``info`` holds ``pairs`` (DiDi distances computed).
    """
    n = int(np.shape(X)[0])
    if n <= n_neighbors:
        raise ValueError(f"{n} samples but n_neighbors={n_neighbors}; need more samples")
    rows, cols = candidate_pairs(X, int(np.ceil(widen * n_neighbors)), method=knn_method,
                                 device=device, seed=seed)
    js, eu = pair_terms(proba, X, rows, cols, n_steps, device=device, progress=progress)
    d = mix(js, eu, lam, *scales)
    idx, dst = _nearest_per_row(n, rows, cols, d, n_neighbors)
    return idx, dst, {"pairs": int(rows.size)}


def all_pairs_graph(
    X: ArrayLike,
    proba: Proba,
    n_neighbors: int = 30,
    *,
    lam: float = 0.65,
    n_steps: int = 5,
    scales: tuple[float, float] = (1.0, 1.0),
    device: DeviceLike = "auto",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """The paper's route: DiDi distances of all ``n (n-1) / 2`` pairs, then each row's
    ``n_neighbors`` nearest (same format as :func:`candidate_graph`)."""
    n = int(np.shape(X)[0])
    rows, cols = np.triu_indices(n, 1)
    js, eu = pair_terms(proba, X, rows, cols, n_steps, device=device, progress=progress)
    d = mix(js, eu, lam, *scales)
    idx, dst = _nearest_per_row(n, rows.astype(np.int64), cols.astype(np.int64), d,
                                n_neighbors)
    return idx, dst, {"pairs": int(rows.size)}


def layout(
    knn_indices: np.ndarray,
    knn_dists: np.ndarray,
    *,
    init: np.ndarray | str = "spectral",
    min_dist: float = 0.1,
    spread: float = 1.0,
    n_epochs: int | None = None,
    seed: int = 0,
    verbose: bool = False,
    umap_kwargs: dict | None = None,
) -> np.ndarray:
    """UMAP of a precomputed kNN graph: ``(n, 2)`` float32 positions. ``init`` is "spectral" or
    the previous epoch's positions (UMAP-T style, so consecutive epochs stay aligned)."""
    try:
        import umap
    except ImportError as err:  # pragma: no cover - umap-learn is the deepview extra
        raise ImportError("DeepView needs umap-learn: pip install 'dvi_widget[deepview]' (or "
                          "umap-learn)") from err

    n, k = knn_indices.shape
    back = None
    if not isinstance(init, str):
        # umap-learn rescales an init array to [0, 10] per axis before optimising; undo that
        # afterwards so that the result sits in the previous epoch's frame
        init = np.asarray(init, np.float32)
        lo, hi = init.min(axis=0), init.max(axis=0)
        back = (lo, np.where(hi > lo, hi - lo, 1.0) / 10.0)
    model = umap.UMAP(n_neighbors=k, precomputed_knn=(knn_indices, knn_dists), init=init,
                      min_dist=min_dist, spread=spread, n_epochs=n_epochs, random_state=seed,
                      verbose=verbose, **(umap_kwargs or {}))
    placeholder = np.zeros((n, 1), np.float32)  # UMAP reads only the graph (and n) from here
    # numba's OpenMP layer shares libgomp with torch: UMAP's numba.set_num_threads (its n_jobs,
    # then the numba default of one thread per core) would leave torch on every core, which on
    # a busy machine made the π⁻¹ fit after it 25x slower (measured); torch's count is restored
    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*knn_search_index.*")
            warnings.filterwarnings("ignore", message=".*n_jobs value.*")
            Y = model.fit_transform(placeholder).astype(np.float32)
    finally:
        torch.set_num_threads(threads)
    if back is not None:
        Y = (Y * back[1] + back[0]).astype(np.float32)
    return Y


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row's exact neighbours (column 0, the sample itself, left out) that
    ``found`` also holds."""
    a, b = found[:, 1:], exact[:, 1:]
    hits = (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1)
    return float((hits / b.shape[1]).mean())


__all__: list[str] = ["all_pairs_graph", "candidate_graph", "candidate_pairs", "layout",
                      "recall"]
