"""k-nearest neighbours, UMAP's fuzzy simplicial set and the (k)-BAVR complex (DVI 5.2, Def. 3).

Exact kNN is batched torch (matmul distances + ``topk``); pynndescent is used only for large
inputs on the CPU, and is imported lazily so that numba's compile (30–40 s per process) is paid
only when it is actually used.

The smooth-kNN / fuzzy-union step is hand-written (vectorised over all points) instead of calling
``umap.umap_.fuzzy_simplicial_set`` because umap-learn is not a runtime dependency and its numba
kernels would add the same compile cost; the tests check it against umap's implementation.

Why one module of about 600 lines: the kNN search, the memberships and the complex are one
computation (the complex's edges are the kNN's, weighted by its memberships), and
:func:`query_memberships` repeats it for new samples against a fitted complex.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._checks import check_finite
from .._tensor import ArrayLike, DeviceLike, batched, resolve_device, to_numpy, to_tensor

#: Exact kNN is used by ``method="auto"`` up to this many points on the CPU (always on a GPU).
EXACT_MAX_POINTS = 20_000
#: pynndescent's graph holds this many neighbours beyond the k asked for, and its queries search
#: with this ``epsilon`` (its default: 0.1). Measured on 60,000 Fashion-MNIST CNN
#: representations (512-d, 2 threads), recall@15 against the exact search and build time:
#: graphs of 30 / 20 / 16 neighbours 0.9999 / 0.9991 / 0.998 in 3.2 / 2.0 / 1.4 s; queries of
#: 10,000 test samples into the 20-neighbour graph 0.976 / 0.986 / 0.992 at epsilon 0.1 / 0.15 /
#: 0.2 (0.34 / 0.42 / 0.49 s), and of the 60,000 samples into 6,000 boundary points 0.932 /
#: 0.958 / 0.976 (0.9 s each); the 30-neighbour graph at epsilon 0.1 gave 0.983 and 0.948
NNDESCENT_EXTRA, NNDESCENT_EPSILON = 5, 0.2
_SMOOTH_K_TOLERANCE = 1e-5  # umap-learn's constants, so memberships match it
_MIN_K_DIST_SCALE = 1e-3


def _check_matrix(name: str, x: ArrayLike) -> None:
    if not isinstance(x, np.ndarray | torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}.")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_points, n_features), got shape {tuple(x.shape)}.")
    check_finite(x, name, "clean or drop those rows first.")


def _sq_norms(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(dim=1)


def _refine(
    q: torch.Tensor, X: torch.Tensor, idx: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact distances from rows of ``q`` to their candidate rows ``X[idx]``, sorted per row.

    Recomputed from differences, so without the cancellation error of the matmul form.
    """
    sub = max(1, (1 << 25) // (4 * idx.shape[1] * max(X.shape[1], 1)))
    with _one_cpu_thread(q.device):  # memory-bound: threads only add hand-off cost
        dist = batched(lambda qb, ib: torch.linalg.vector_norm(qb.unsqueeze(1) - X[ib], dim=2),
                       q, idx, batch_size=sub)
    dist, order = torch.sort(dist, dim=1)
    return torch.gather(idx, 1, order), dist


def _finish(
    q: torch.Tensor, X: torch.Tensor, d2: torch.Tensor, idx: torch.Tensor, tol: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort candidates, take square roots, and recompute exactly the rows with near-duplicates.

    The matmul form ``|q|² - 2 q·x + |x|²`` (on centred data) is accurate to about
    ``1e-7 · |x|²``; only distances far below the data's scale (``d² < tol``) suffer, so
    only rows whose nearest candidate is that close are recomputed from differences (gathering
    ``X[idx]`` for every row would cost more than the matmul).
    """
    d2, order = torch.sort(d2, dim=1)
    idx = torch.gather(idx, 1, order)
    dist = d2.clamp_min(0.0).sqrt()
    close = (d2[:, 0] < tol).nonzero(as_tuple=True)[0]
    if close.numel():
        ri, rd = _refine(q[close], X, idx[close])
        idx[close] = ri
        dist[close] = rd
    return idx, dist


@torch.no_grad()
def _exact_knn(
    X: torch.Tensor, Q: torch.Tensor, k: int, exclude_self: bool, chunk_bytes: int = 1 << 28
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact kNN of rows of ``Q`` among rows of ``X`` (Euclidean), chunked over ``Q``.

    Candidates come from ``|q|² - 2 q·x + |x|²`` (one matmul per chunk) and ``topk``, on data
    centred at X's mean (smaller norms, smaller cancellation error); see :func:`_finish`.
    """
    mu = X.mean(dim=0, keepdim=True)
    same = Q is X
    X = X - mu
    Q = X if same else Q - mu
    xx = _sq_norms(X)
    tol = 1e-3 * float(xx.mean()) + 1e-30
    if exclude_self and X.device.type == "cpu" and X.shape[0] > 4096:
        return _exact_self_knn_blocked(X, k, xx, tol)
    n = X.shape[0]
    rows = max(1, min(Q.shape[0], chunk_bytes // (4 * max(n, 1))))

    def chunk(q: torch.Tensor, at: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d2 = torch.addmm(xx.unsqueeze(0), q, X.T, beta=1.0, alpha=-2.0)
        d2.add_(_sq_norms(q).unsqueeze(1))
        if exclude_self:  # ``at``: the rows' own indices
            d2[torch.arange(q.shape[0], device=q.device), at] = float("inf")
        v, idx = torch.topk(d2, k, dim=1, largest=False, sorted=False)
        del d2
        return _finish(q, X, v, idx, tol)

    return batched(chunk, Q, torch.arange(Q.shape[0], device=Q.device), batch_size=rows)


def _exact_self_knn_blocked(
    X: torch.Tensor, k: int, xx: torch.Tensor, tol: float, block: int = 2048
) -> tuple[torch.Tensor, torch.Tensor]:
    """Self-kNN (self excluded) that computes each symmetric block of distances once.

    Block (I, J) with J >= I gives candidates to the rows of I (topk along rows) and of J
    (topk along columns): half the matmul work of the plain chunked search.
    """
    n = X.shape[0]
    starts = list(range(0, n, block))
    cand_v: list[list[torch.Tensor]] = [[] for _ in starts]
    cand_i: list[list[torch.Tensor]] = [[] for _ in starts]
    for bi, s in enumerate(starts):
        xi = X[s : s + block]
        for bj in range(bi, len(starts)):
            t = starts[bj]
            xj = X[t : t + block]
            d2 = torch.addmm(xx[t : t + block].unsqueeze(0), xi, xj.T, beta=1.0, alpha=-2.0)
            d2.add_(xx[s : s + block].unsqueeze(1))
            if bi == bj:
                d2.fill_diagonal_(float("inf"))
            v, i = torch.topk(d2, min(k, d2.shape[1]), dim=1, largest=False, sorted=False)
            cand_v[bi].append(v)
            cand_i[bi].append(i + t)
            if bj != bi:
                d2t = d2.T.contiguous()  # topk along rows is much faster than along dim 0
                v, i = torch.topk(d2t, min(k, d2t.shape[1]), dim=1, largest=False, sorted=False)
                cand_v[bj].append(v)
                cand_i[bj].append(i + s)
    out_idx, out_dist = [], []
    for bi, s in enumerate(starts):
        v = torch.cat(cand_v[bi], dim=1)
        i = torch.cat(cand_i[bi], dim=1)
        vk, pos = torch.topk(v, k, dim=1, largest=False, sorted=False)
        idx, dist = _finish(X[s : s + block], X, vk, torch.gather(i, 1, pos), tol)
        out_idx.append(idx)
        out_dist.append(dist)
    return torch.cat(out_idx), torch.cat(out_dist)


#: whether this process has built a pynndescent index (see :func:`nndescent_compiles_next`)
_nndescent_built = False


def nndescent_compiles_next(n: int, d: int, method: str = "auto",
                            device: DeviceLike = "auto") -> bool:
    """Whether a kNN search among ``n`` rows of ``d`` dimensions (``method``, ``device`` as
    :func:`knn`) builds this process's first pynndescent index. That build compiles
    pynndescent's search first: 17–18 s on 2 cores, against 3 s for the build itself at
    60,000 × 512 (its ``nn_descent`` takes the metric as an argument, so numba cannot cache it
    between processes)."""
    approx = method == "nndescent" or (method == "auto" and resolve_device(device).type == "cpu"
                                       and not _exact_is_cheap(n, n, d))
    return approx and not _nndescent_built


def _nndescent_index(X: np.ndarray, k: int, seed: int) -> Any:  # noqa: ANN401 - NNDescent
    global _nndescent_built
    from pynndescent import NNDescent  # lazy: importing compiles numba kernels

    index = NNDescent(X, n_neighbors=max(k + NNDESCENT_EXTRA, 15), random_state=seed,
                      metric="euclidean")
    _nndescent_built = True
    return index


def _own_graph(index: Any, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN401
    """The index's neighbour graph truncated to k, each row's own index dropped (normally
    column 0; rows that miss it lose the last column)."""
    idx, dist = index.neighbor_graph
    idx, dist = idx[:, : k + 1], dist[:, : k + 1]
    own = idx == np.arange(n)[:, None]
    own[~own.any(axis=1), -1] = True
    return idx[~own].reshape(n, k), dist[~own].reshape(n, k)


def _nndescent_knn(
    X: np.ndarray, Q: np.ndarray | None, k: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    index = _nndescent_index(X, k, seed)
    if Q is None:
        return _own_graph(index, len(X), k)
    index.prepare()
    return index.query(Q, k=k, epsilon=NNDESCENT_EPSILON)


def knn_and_query(
    X: ArrayLike,
    k: int,
    query: ArrayLike,
    *,
    method: str = "auto",
    device: DeviceLike = "auto",
    seed: int = 0,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """X's own kNN (self excluded) and the kNN of ``query``'s rows among X, as two :func:`knn`
    searches would give them (tensors on ``device``), from one pynndescent index when both
    would use it: building the index is most of either search (at 60,000 × 512 on 2 threads:
    2.0 s, the query of 10,000 rows on it 0.5 s)."""
    dev = resolve_device(device)
    n, m, d = X.shape[0], query.shape[0], X.shape[1]
    approx = method == "nndescent" or (
        method == "auto" and dev.type == "cpu" and not _exact_is_cheap(n, n, d)
        and not _exact_is_cheap(n, m, d))
    kw = dict(method=method, device=dev, seed=seed, return_tensors=True)
    if not approx:
        return knn(X, k, **kw), knn(X, k, query=query, **kw)
    _check_knn_args(X, k, None, method)  # X's own search: k + 1 rows
    _check_knn_args(X, k, query, method)
    index = _nndescent_index(np.ascontiguousarray(to_numpy(X), dtype=np.float32), k, seed)
    gi, gd = _own_graph(index, n, k)
    index.prepare()
    qi, qd = index.query(np.ascontiguousarray(to_numpy(query), dtype=np.float32), k=k,
                         epsilon=NNDESCENT_EPSILON)

    def tensors(i: np.ndarray, dd: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.as_tensor(i.astype(np.int64), device=dev),
                torch.as_tensor(dd.astype(np.float32), device=dev))

    return tensors(gi, gd), tensors(qi, qd)


def _check_knn_args(X: ArrayLike, k: int, query: ArrayLike | None, method: str) -> None:
    """:func:`knn`'s checks of its arguments (``query=None``: X's own neighbours, which need
    ``k + 1`` rows)."""
    if method not in ("auto", "exact", "nndescent"):
        raise ValueError(f"method must be 'auto', 'exact' or 'nndescent', got {method!r}.")
    _check_matrix("X", X)
    if query is not None:
        _check_matrix("query", query)
        if query.shape[1] != X.shape[1]:
            raise ValueError(
                f"query has {query.shape[1]} features but X has {X.shape[1]}; they must match."
            )
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    n = X.shape[0]
    need = k + 1 if query is None else k
    if n < need:
        raise ValueError(
            f"k={k} neighbours need at least {need} points in X, but X has {n}; use a smaller k."
        )


def _exact_is_cheap(n: int, m: int, d: int) -> bool:
    """Whether the exact search of m rows among n in d dimensions is within the CPU budget:
    its matmul grows with d, pynndescent's cost much less (at 60,000 × 6,000 in 512-D the
    exact search took 3.2 s, pynndescent 0.7 s at 0.99 recall)."""
    return n * m * max(int(d), 128) <= EXACT_MAX_POINTS**2 * 128


def knn(
    X: ArrayLike,
    k: int,
    *,
    query: ArrayLike | None = None,
    method: str = "auto",
    device: DeviceLike = "auto",
    seed: int = 0,
    return_tensors: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[torch.Tensor, torch.Tensor]:
    """k nearest neighbours (Euclidean) of each row of ``query`` among the rows of ``X``.

    Parameters
    ----------
    X : (n, d) array or tensor
        Points to search.
    k : int
        Number of neighbours.
    query : (m, d) array or tensor, optional
        Points whose neighbours are wanted. ``None`` means ``X`` itself, each point excluding
        itself (DVI Def. 1: ``N_k(x_i)`` is taken over ``{1..N} \\ {i}``).
    method : {"auto", "exact", "nndescent"}
        ``"exact"``: batched torch on ``device``. ``"nndescent"``: pynndescent (CPU,
        approximate). ``"auto"``: exact on a GPU, and on the CPU while the search costs no
        more than 20,000 rows against 20,000 in 128 dimensions (``n · m · max(d, 128) <=
        20000² · 128``: 20,000 rows of up to 128 features, 10,000 of 512), else nndescent.
        pynndescent is imported only when it is used.
    device : str or torch.device
        Where the exact search runs (``"auto"``: CUDA if available).
    seed : int
        Random state of pynndescent.
    return_tensors : bool
        Return torch tensors on ``device`` instead of numpy arrays.

    Returns
    -------
    indices : (m, k) int64
    dists : (m, k) float32, ascending along each row.
    """
    _check_knn_args(X, k, query, method)
    n = X.shape[0]
    dev = resolve_device(device)
    m = n if query is None else query.shape[0]
    use_exact = method == "exact" or (
        method == "auto" and (_exact_is_cheap(n, m, X.shape[1]) or dev.type != "cpu")
    )
    if use_exact:
        Xt = to_tensor(X, dev)
        Qt = Xt if query is None else to_tensor(query, dev)
        idx, dist = _exact_knn(Xt, Qt, int(k), exclude_self=query is None)
        if return_tensors:
            return idx, dist
        return to_numpy(idx).astype(np.int64), to_numpy(dist).astype(np.float32)
    Xn = np.ascontiguousarray(to_numpy(X), dtype=np.float32)
    Qn = None if query is None else np.ascontiguousarray(to_numpy(query), dtype=np.float32)
    idx, dist = _nndescent_knn(Xn, Qn, int(k), seed)
    idx, dist = idx.astype(np.int64), dist.astype(np.float32)
    if return_tensors:
        return torch.as_tensor(idx, device=dev), torch.as_tensor(dist, device=dev)
    return idx, dist


@contextmanager
def cpu_threads(device: torch.device, n: int = 1) -> Iterator[None]:
    """Run a stretch of CPU tensor code on ``n`` intra-op threads (no-op on other devices).

    Loops of many small or memory-bound ops (1e3–1e5 elements) would otherwise open a parallel
    region per op; on a busy 2-core machine those hand-offs cost up to 30x the arithmetic
    (measured: smooth-kNN of 10k x 15 takes 1 s on 2 threads vs 30 ms on one).
    """
    if device.type != "cpu" or n == torch.get_num_threads():
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _one_cpu_thread(device: torch.device) -> contextlib.AbstractContextManager[None]:
    return cpu_threads(device, 1)


@torch.no_grad()
def smooth_knn_memberships(
    dists: ArrayLike, n_iter: int = 64, device: DeviceLike = "cpu"
) -> torch.Tensor:
    """UMAP's smooth-kNN membership of each row's k neighbours (directed, before the union).

    For row i with neighbour distances ``d_i1 <= ... <= d_ik`` (self excluded), ``rho_i`` is the
    smallest non-zero distance (``local_connectivity=1``) and ``sigma_i`` solves
    ``sum_j exp(-max(0, d_ij - rho_i) / sigma_i) = log2(k + 1)`` by binary search, all rows at once
    with a fixed iteration budget. The membership is ``exp(-max(0, d_ij - rho_i) / sigma_i)``.
    This equals umap-learn with ``n_neighbors = k + 1`` on the kNN that includes each point
    itself at distance 0 (umap's convention), including its ``1e-3 * mean distance`` floor on
    sigma.
    """
    dev = resolve_device(device)
    with _one_cpu_thread(dev):
        return _smooth_knn(to_tensor(dists, dev, torch.float64), n_iter)


def _smooth_knn(d: torch.Tensor, n_iter: int) -> torch.Tensor:
    dev = d.device
    n, k = d.shape
    if n == 0:
        return torch.zeros((0, k), dtype=torch.float32, device=dev)
    target = math.log2(k + 1)
    positive = torch.where(d > 0, d, torch.full_like(d, float("inf")))
    rho = positive.min(dim=1).values
    rho = torch.where(torch.isinf(rho), torch.zeros_like(rho), rho)
    shifted = (d - rho.unsqueeze(1)).clamp_min(0.0)
    lo = torch.zeros(n, dtype=torch.float64, device=dev)
    hi = torch.full((n,), float("inf"), dtype=torch.float64, device=dev)
    mid = torch.ones(n, dtype=torch.float64, device=dev)
    done = torch.zeros(n, dtype=torch.bool, device=dev)
    for _ in range(n_iter):
        psum = torch.exp(-shifted / mid.unsqueeze(1)).sum(dim=1)
        done |= (psum - target).abs() < _SMOOTH_K_TOLERANCE
        if bool(done.all()):
            break
        too_big = (psum > target) & ~done
        too_small = (psum <= target) & ~done
        hi = torch.where(too_big, mid, hi)
        lo = torch.where(too_small, mid, lo)
        new_mid = torch.where(torch.isinf(hi), mid * 2.0, (lo + hi) / 2.0)
        mid = torch.where(done, mid, new_mid)
    # umap's floor on sigma; its means include the self column (distance 0), hence k + 1
    row_mean = d.sum(dim=1) / (k + 1)
    global_mean = d.sum() / (n * (k + 1))
    floor = torch.where(rho > 0, row_mean, global_mean) * _MIN_K_DIST_SCALE
    sigma = torch.maximum(mid, floor)
    w = torch.exp(-shifted / sigma.unsqueeze(1))
    w = torch.where(sigma.unsqueeze(1) > 0, w, torch.ones_like(w))
    return w.to(torch.float32)


def _fuzzy_union_undirected(
    rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, n_vertices: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fuzzy union ``w = a + aᵀ - a∘aᵀ`` of directed memberships, one entry per undirected edge.

    Uses ``1 - w = (1 - a_ij)(1 - a_ji)`` so duplicates fold with one scatter; returns edges with
    ``head < tail``.
    """
    keep = rows != cols
    rows, cols, vals = rows[keep], cols[keep], vals[keep].to(torch.float64)
    lo = torch.minimum(rows, cols)
    hi = torch.maximum(rows, cols)
    key = lo * n_vertices + hi
    uniq, inv = torch.unique(key, return_inverse=True)
    comp = torch.ones(uniq.shape[0], dtype=torch.float64, device=vals.device)
    comp.scatter_reduce_(0, inv, 1.0 - vals, reduce="prod", include_self=True)
    w = (1.0 - comp).to(torch.float32)
    return uniq // n_vertices, uniq % n_vertices, w


def fuzzy_simplicial_set(
    indices: ArrayLike, dists: ArrayLike, n_vertices: int, *, device: DeviceLike = "cpu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UMAP's fuzzy simplicial set of a kNN graph: smooth-kNN memberships, then fuzzy union.

    Parameters
    ----------
    indices, dists : (n, k)
        kNN of vertices ``0..n-1`` **excluding each vertex itself** (as :func:`knn` returns).
        Entries ``-1`` in ``indices`` are ignored.
    n_vertices : int
        Number of vertices (``>= n`` and ``> indices.max()``).

    Returns
    -------
    rows, cols : int64, weights : float32
        Symmetric sparse matrix in COO form (both ``(i, j)`` and ``(j, i)`` present), zeros
        removed; equal to ``umap.umap_.fuzzy_simplicial_set`` with ``n_neighbors = k + 1`` on the
        same graph with the self column prepended.
    """
    dev = resolve_device(device)
    idx = to_tensor(indices, dev, torch.int64)
    if idx.ndim != 2 or tuple(idx.shape) != tuple(dists.shape):
        raise ValueError(
            f"indices and dists must be 2-D with equal shapes, got {tuple(idx.shape)} and "
            f"{tuple(dists.shape)}."
        )
    if idx.numel() and int(idx.max()) >= n_vertices:
        raise ValueError(f"indices reference vertex {int(idx.max())} but n_vertices={n_vertices}.")
    a = smooth_knn_memberships(dists, device=dev)
    rows = torch.arange(idx.shape[0], device=dev).unsqueeze(1).expand_as(idx)
    valid = (idx >= 0) & (a > 0)
    head, tail, w = _fuzzy_union_undirected(rows[valid], idx[valid], a[valid], n_vertices)
    keep = w > 0
    head, tail, w = head[keep], tail[keep], w[keep]
    r = torch.cat([head, tail])
    c = torch.cat([tail, head])
    return to_numpy(r), to_numpy(c), to_numpy(torch.cat([w, w]))


@dataclass
class Complex:
    """Edges of the (k)-BAVR complex with fuzzy membership weights (DVI 5.2, Def. 3).

    Vertex ids: ``0..n_x-1`` are the samples X, ``n_x..n_x+n_b-1`` the boundary points B. Each
    undirected 1-simplex appears once, with ``head < tail`` (so X–B edges have the X vertex as
    head); use :meth:`both_directions` for a directed edge list. ``knn_indices``/``knn_dists``
    keep the X→X kNN of relation (a) (self excluded) so callers need not recompute it.
    """

    head: np.ndarray  # (E,) int64
    tail: np.ndarray  # (E,) int64
    weight: np.ndarray  # (E,) float32 in (0, 1]; negative: a pair the layout pushes apart
    n_x: int
    n_b: int
    knn_indices: np.ndarray | None = None  # (n_x, k) int64: the X→X kNN used for (a)
    knn_dists: np.ndarray | None = None  # (n_x, k) float32
    #: (m, k) the kNN among X of other rows searched with it (the test samples', by the fit)
    query_indices: np.ndarray | None = None
    query_dists: np.ndarray | None = None

    @property
    def n_vertices(self) -> int:
        return self.n_x + self.n_b

    @property
    def n_edges(self) -> int:
        return int(self.head.shape[0])

    def edge_kinds(self) -> np.ndarray:
        """Per edge: 0 for X–X, 1 for X–B, 2 for B–B."""
        return (self.head >= self.n_x).astype(np.int64) + (self.tail >= self.n_x).astype(np.int64)

    def both_directions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(head, tail, weight)`` with every edge listed in both directions."""
        return (
            np.concatenate([self.head, self.tail]),
            np.concatenate([self.tail, self.head]),
            np.concatenate([self.weight, self.weight]),
        )


def bavr_complex(
    X: ArrayLike,
    B: ArrayLike | None,
    k: int = 15,
    *,
    method: str = "auto",
    device: DeviceLike = "auto",
    seed: int = 0,
    min_weight: float = 1e-4,
    xb_weight: float = 1.0,
    x_knn: tuple[ArrayLike, ArrayLike] | None = None,
) -> Complex:
    """Build the (k)-BAVR complex on ``U = X ∪ B`` (DVI 5.2, Def. 3) as a fuzzy simplicial set.

    Edges: (a) each x to its k nearest samples in X, (b) each x to its k nearest boundary points
    in B, (c) each b to its k nearest boundary points in B (``min(k, M-1)`` when B is small).

    Memberships: (a) and (c) are UMAP's fuzzy simplicial sets of the X- and B-kNN graphs
    (smooth-kNN, then fuzzy union). For (b) the smooth-kNN is run on each x's distances to its
    k nearest boundary points (its own ``rho``/``sigma`` over B). This is what the DVI reference
    implementation gets by passing the X→B kNN to UMAP over ``U`` — that relation is bipartite
    and B has no out-edges in it, so the fuzzy union leaves ``a(x, b)`` unchanged — and it
    keeps X–B weights on the same [0, 1] scale whatever ``|B|/|X|`` is, whereas a joint kNN over
    U would let the ~10x more numerous X crowd boundary points out of the neighbourhoods (the
    edges Def. 3 asks for would mostly vanish). ``xb_weight`` scales the memberships of (b):
    at 1.0 (the reference) each sample's pull towards boundary points is as strong as its pull
    towards its own neighbours, which costs neighbour preservation; :class:`dvi_widget.DVI`
    uses 0.3 (see its ``boundary_edge_weight``). Edges with weight below ``min_weight`` are
    dropped.

    Parameters
    ----------
    X : (N, h) representations; B : (M, h) boundary points or ``None``/empty (only X–X edges).
    k : neighbours per relation. ``method``/``device``/``seed`` go to :func:`knn`.
    x_knn : X's own kNN ``(indices, distances)``, each ``(N, k)``, when already searched
        (:func:`knn_and_query`).

    Returns
    -------
    Complex with vertex ids X first, then B.
    """
    _check_matrix("X", X)
    n = X.shape[0]
    if n < k + 1:
        raise ValueError(
            f"bavr_complex needs more samples than k: X has {n} rows but k={k} needs at least "
            f"{k + 1}; lower k."
        )
    m = 0 if B is None else B.shape[0]
    if m:
        _check_matrix("B", B)
        if B.shape[1] != X.shape[1]:
            raise ValueError(
                f"B has {B.shape[1]} features but X has {X.shape[1]}; they must be in the same "
                "representation space."
            )
    if not 0 <= xb_weight <= 1:
        raise ValueError(f"xb_weight must be in [0, 1], got {xb_weight!r}")
    dev = resolve_device(device)
    kw = dict(method=method, device=dev, seed=seed, return_tensors=True)
    heads, tails, weights = [], [], []

    if x_knn is None:
        idx, dist = knn(X, k, **kw)
    else:
        idx, dist = to_tensor(x_knn[0], dev).long(), to_tensor(x_knn[1], dev).float()
        if tuple(idx.shape) != (n, k) or tuple(dist.shape) != (n, k):
            raise ValueError(f"x_knn must be two ({n}, {k}) arrays, got {tuple(idx.shape)} "
                             f"and {tuple(dist.shape)}")
    x_knn = (to_numpy(idx).astype(np.int64), to_numpy(dist).astype(np.float32))
    a = smooth_knn_memberships(dist, device=dev)
    rows = torch.arange(n, device=dev).unsqueeze(1).expand_as(idx)
    h, t, w = _fuzzy_union_undirected(rows.reshape(-1), idx.reshape(-1), a.reshape(-1), n)
    heads.append(h)
    tails.append(t)
    weights.append(w)

    if m:
        kb = min(k, m)
        Xt = to_tensor(X, dev)
        Bt = to_tensor(B, dev)
        idx, dist = knn(Bt, kb, query=Xt, **kw)
        a = smooth_knn_memberships(dist, device=dev)
        rows = torch.arange(n, device=dev).unsqueeze(1).expand_as(idx)
        heads.append(rows.reshape(-1))
        tails.append(idx.reshape(-1) + n)
        weights.append(a.reshape(-1) * float(xb_weight))
        if m >= 2:
            kbb = min(k, m - 1)
            idx, dist = knn(Bt, kbb, **kw)
            a = smooth_knn_memberships(dist, device=dev)
            rows = torch.arange(m, device=dev).unsqueeze(1).expand_as(idx)
            h, t, w = _fuzzy_union_undirected(rows.reshape(-1), idx.reshape(-1), a.reshape(-1), m)
            heads.append(h + n)
            tails.append(t + n)
            weights.append(w)

    head = torch.cat(heads)
    tail = torch.cat(tails)
    weight = torch.cat(weights).to(torch.float32)
    keep = weight >= min_weight
    return Complex(
        head=to_numpy(head[keep]).astype(np.int64),
        tail=to_numpy(tail[keep]).astype(np.int64),
        weight=to_numpy(weight[keep]).astype(np.float32),
        n_x=int(n),
        n_b=int(m),
        knn_indices=x_knn[0],
        knn_dists=x_knn[1],
    )


def separate_predictions(
    cx: Complex, classes_x: np.ndarray, pairs_b: np.ndarray | None = None, factor: float = 0.1,
    repulsion: float = 0.0,
) -> Complex:
    """Scale the membership of edges that join different predicted classes by ``factor``.

    A sample's vertex carries its predicted class; a boundary point's its two classes. An X–X
    edge crosses when the two predictions differ, an X–B edge when the sample's prediction is
    not one of the boundary point's classes; B–B edges are kept. Like umap-learn's supervised
    intersection with a label graph (which scales such edges by ``exp(-5)``), but soft: the
    layout then keeps each predicted class together, so the landscape decoded by ψ around a
    sample shows the class g predicts for it (PPR, DVI §6), at a small cost in neighbour
    preservation. ``factor=1`` returns the complex unchanged.

    ``repulsion > 0``: a crossing X–X edge gets the *negative* weight ``-repulsion · w``
    instead, which the layout (:func:`dvi_widget.engine.layout.umap_layout`) reads as a pair to
    push apart; crossing X–B edges are only scaled (a boundary point belongs between its
    classes).
    """
    if factor >= 1 and repulsion <= 0:
        return cx
    cls = np.asarray(classes_x, dtype=np.int64).reshape(-1)
    if cls.shape[0] != cx.n_x:
        raise ValueError(f"classes_x has {cls.shape[0]} entries for {cx.n_x} samples")
    head, tail = cx.head, cx.tail
    kinds = cx.edge_kinds()
    cross = np.zeros(len(head), dtype=bool)
    xx = kinds == 0
    cross[xx] = cls[head[xx]] != cls[tail[xx]]
    xb = kinds == 1
    if xb.any() and pairs_b is not None and len(pairs_b):
        pb = np.asarray(pairs_b, dtype=np.int64).reshape(-1, 2)[tail[xb] - cx.n_x]
        c = cls[head[xb]]
        cross[xb] = (pb[:, 0] != c) & (pb[:, 1] != c)
    weight = np.where(cross, cx.weight * np.float32(factor), cx.weight).astype(np.float32)
    if repulsion > 0:
        weight = np.where(cross & xx, -np.float32(repulsion) * cx.weight, weight).astype(np.float32)
    return dataclasses.replace(cx, weight=weight)


def join_own_class(
    cx: Complex,
    X: ArrayLike,
    classes_x: np.ndarray,
    knn_indices: np.ndarray,
    k: int,
    *,
    method: str = "auto",
    device: DeviceLike = "auto",
    seed: int = 0,
) -> tuple[Complex, int]:
    """Give each *outlying* sample edges to its ``k`` nearest samples of its own predicted class.

    A sample is outlying when fewer than half of its nearest neighbours (``knn_indices``, X's
    own kNN) share its predicted class: a low-margin sample among another class's samples.
    :func:`separate_predictions` scales all of its edges alike, so the layout would still put it
    among the other class, where no smooth ψ can decode it as its own (the misses of PPR, DVI
    §6: at 60k Fashion-MNIST half of ψ's misses were such samples, 3.8 % of all). The new edges
    (membership 1, each undirected pair once, none that the complex already has) pull it to the
    edge of its own class's region nearest to it, which is where the model puts it. ``k=0``
    returns the complex unchanged.

    Returns the complex and the number of outlying samples.
    """
    cls = np.asarray(classes_x, dtype=np.int64).reshape(-1)
    nbr = np.asarray(knn_indices, dtype=np.int64)
    if cls.shape[0] != cx.n_x or nbr.shape[0] != cx.n_x:
        raise ValueError(f"classes_x ({cls.shape[0]}) and knn_indices ({nbr.shape[0]}) need one "
                         f"row per sample ({cx.n_x})")
    outlying = np.flatnonzero((cls[nbr] == cls[:, None]).mean(axis=1) < 0.5)
    if k <= 0 or not len(outlying):
        return cx, len(outlying)
    Xn = to_numpy(X)
    heads, tails = [], []
    for c in np.unique(cls[outlying]):
        members = np.flatnonzero(cls == c)
        rows = outlying[cls[outlying] == c]
        m = min(k + 1, len(members))  # + 1: a sample is among its own class's members
        if m < 2:
            continue
        idx = knn(Xn[members], m, query=Xn[rows], method=method, device=device, seed=seed)[0]
        nb = members[np.asarray(idx, dtype=np.int64)]
        own = nb == rows[:, None]
        own[~own.any(axis=1), -1] = True  # not found (a duplicate hid it): drop the farthest
        heads.append(np.repeat(rows, m - 1))
        tails.append(nb[~own])
    if not heads:
        return cx, len(outlying)
    h, t = np.concatenate(heads), np.concatenate(tails)
    lo, hi = np.minimum(h, t), np.maximum(h, t)
    n = np.int64(cx.n_vertices)
    key = np.unique(lo * n + hi)
    head, tail = to_numpy(cx.head).astype(np.int64), to_numpy(cx.tail).astype(np.int64)
    key = key[~np.isin(key, head * n + tail)]
    return dataclasses.replace(
        cx, head=np.concatenate([head, key // n]), tail=np.concatenate([tail, key % n]),
        weight=np.concatenate([to_numpy(cx.weight).astype(np.float32),
                               np.ones(len(key), np.float32)])), len(outlying)


def query_memberships(
    queries: ArrayLike,
    classes_q: np.ndarray,
    X: ArrayLike,
    classes_x: np.ndarray,
    B: ArrayLike | None = None,
    pairs_b: np.ndarray | None = None,
    k: int = 15,
    *,
    xb_weight: float = 1.0,
    separation: float = 1.0,
    method: str = "auto",
    device: DeviceLike = "auto",
    seed: int = 0,
    x_knn: tuple[torch.Tensor, torch.Tensor] | None = None,
    repulsion: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The edges a new sample would have in the (k)-BAVR complex of ``X ∪ B`` (Def. 3 (a), (b)).

    For each query row: its k nearest samples in ``X`` with UMAP's smooth-kNN memberships, and
    its k nearest boundary points in ``B`` with theirs scaled by ``xb_weight``, exactly as
    :func:`bavr_complex` weighs a training sample's edges; edges to a different predicted class
    (a sample of another class, a boundary point not between the query's class and another) are
    scaled by ``separation`` as in :func:`separate_predictions`, and with ``repulsion > 0`` the
    edges to samples of another class get the negative membership ``-repulsion · w`` (pushed
    apart, as the layout does with the complex's crossing edges). This is what UMAP's
    ``transform`` computes for new points (their memberships to the training data), here over
    the whole complex.

    Returns ``(neighbours (m, K), memberships (m, K))`` as tensors on ``device``: indices into
    ``X`` then ``B`` (``B``'s offset by ``len(X)``), ``K = k + min(k, len(B))``. ``x_knn``: the
    queries' k nearest samples in ``X`` (indices, distances) when already searched.
    """
    _check_matrix("queries", queries)
    dev = resolve_device(device)
    kw = dict(method=method, device=dev, seed=seed, return_tensors=True)
    cq = torch.as_tensor(np.asarray(classes_q, dtype=np.int64).reshape(-1), device=dev)
    cx = torch.as_tensor(np.asarray(classes_x, dtype=np.int64).reshape(-1), device=dev)
    if x_knn is None:
        idx, dist = knn(X, k, query=queries, **kw)
    else:
        idx, dist = (t.to(dev) for t in x_knn)
    w = smooth_knn_memberships(dist, device=dev)
    crossing = cx[idx] != cq.unsqueeze(1)
    repelled = torch.where(crossing, w * -float(repulsion), w) if repulsion > 0 else None
    w = torch.where(crossing, w * float(separation), w)
    m = 0 if B is None else int(B.shape[0])
    if m:
        kb = min(k, m)
        ib, db = knn(B, kb, query=queries, **kw)
        wb = smooth_knn_memberships(db, device=dev) * float(xb_weight)
        if pairs_b is not None and len(pairs_b):
            pb = torch.as_tensor(np.asarray(pairs_b, dtype=np.int64).reshape(-1, 2),
                                 device=dev)[ib]
            c = cq.unsqueeze(1)
            wb = torch.where((pb[..., 0] != c) & (pb[..., 1] != c), wb * float(separation), wb)
        idx = torch.cat([idx, ib + int(X.shape[0])], dim=1)
        w = torch.cat([w, wb], dim=1)
        if repelled is not None:
            repelled = torch.cat([repelled, wb], dim=1)
    if repelled is not None:
        # a row with nothing left to pull it (every neighbour of another class) keeps the
        # separated weights: pushed by all, it would have nowhere to go
        held = (repelled.clamp_min(0).sum(dim=1, keepdim=True) > 0)
        w = torch.where(held, repelled, w)
    return idx, w.to(torch.float32)
