"""DeepView's inverse projection π⁻¹ (Schulz, Hinder & Hammer 2019, §4.2, Theorem 2).

π⁻¹(y) minimises ``Σ_i KL(w_i(y) ‖ v_i(x))`` with ``w_i(y) = (1 + a‖ρ_i - y‖^{2b})^{-1}`` (UMAP's
low-dimensional similarity) and ``v_i(x) = exp(-‖θ_i - x‖² / σ_i)``; Theorem 2 shows that the
minimiser of its bound is the radial-basis-function network

    π⁻¹(y) = Σ_i (w_i(y) / σ_i) θ_i / Σ_j (w_j(y) / σ_j),

with centres ``ρ_i`` in the plane, prototypes ``θ_i`` in the data space and widths ``σ_i``,
"found such that π⁻¹ fits π on our observations": ``Σ ‖π⁻¹(π(x_i)) - x_i‖² -> min``.

:class:`RBFInverse` is that network, one centre per fitted sample: ρ_i the sample's position and
σ_i = 1 (as the authors' code), θ fitted by least squares (:func:`fit_inverse`). Where it departs
from the paper: the sums run over each point's ``neighbors`` nearest
centres in the plane (found with a k-d tree) rather than over all n, so that a 256² landscape of a
60k-sample run stays a few seconds of work; ``a`` is set relative to the layout,
``a = 1 / (width · s)^2`` with ``s`` the median distance between a centre and its nearest other
centre (the paper chooses ``a`` as "the smallest value that does not lead to a large drop in
Q_data"; the authors' code uses ``a = 500 / range``), and ``b = 1`` as in the paper.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..._tensor import DeviceLike, resolve_device

#: points of one forward pass (each gathers ``neighbors`` prototypes)
FORWARD_BATCH = 2048


class RBFInverse(torch.nn.Module):
    """π⁻¹: ``(n, 2)`` points -> ``(n, D)`` rows of the data space (DeepView Theorem 2).

    Parameters
    ----------
    centres : (M, 2) ρ_i, the fitted samples' positions.
    prototypes : (M, D) θ_i, the fitted samples.
    a, b : the similarity ``(1 + a d^{2b})^{-1}``.
    neighbors : centres each point sums over (its nearest in the plane).
    """

    def __init__(self, centres: np.ndarray, prototypes: np.ndarray, a: float, b: float = 1.0,
                 neighbors: int = 16, log_sigma: np.ndarray | None = None) -> None:
        super().__init__()
        centres = np.asarray(centres, np.float32)
        prototypes = np.asarray(prototypes, np.float32).reshape(len(centres), -1)
        self.rho = torch.nn.Parameter(torch.from_numpy(centres.copy()))
        self.theta = torch.nn.Parameter(torch.from_numpy(prototypes.copy()))
        sig = np.zeros(len(centres), np.float32) if log_sigma is None else log_sigma
        self.log_sigma = torch.nn.Parameter(torch.as_tensor(np.asarray(sig, np.float32)).clone())
        self.a, self.b = float(a), float(b)
        self.neighbors = int(min(neighbors, len(centres)))
        self._tree: cKDTree | None = None

    def state(self) -> dict[str, np.ndarray]:
        """Plain arrays that :meth:`from_state` rebuilds it from (nothing pickled)."""
        return {"rho": self.rho.detach().cpu().numpy(),
                "theta": self.theta.detach().cpu().numpy(),
                "log_sigma": self.log_sigma.detach().cpu().numpy(),
                "ab_neighbors": np.array([self.a, self.b, self.neighbors], np.float64)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> RBFInverse:
        a, b, k = (float(v) for v in state["ab_neighbors"])
        return cls(state["rho"], state["theta"], a, b, int(k), log_sigma=state["log_sigma"])

    def nearest(self, points: torch.Tensor) -> torch.Tensor:
        """Indices ``(n, neighbors)`` of each point's nearest centres (k-d tree over ρ)."""
        if self._tree is None:
            self._tree = cKDTree(self.rho.detach().cpu().numpy().astype(np.float64))
        _, idx = self._tree.query(points.detach().cpu().numpy().astype(np.float64),
                                  k=self.neighbors)
        idx = np.asarray(idx).reshape(len(points), self.neighbors)
        return torch.as_tensor(idx, dtype=torch.int64, device=self.rho.device)

    def forward(self, points: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        """π⁻¹ of ``(n, 2)`` points (one batch; :meth:`decode` batches)."""
        points = points.to(self.rho.device, torch.float32)
        if idx is None:
            idx = self.nearest(points)
        return torch.einsum("nk,nkd->nd", _weights(self, points, idx), self.theta[idx])

    @torch.no_grad()
    def decode(self, points: torch.Tensor | np.ndarray) -> torch.Tensor:
        """π⁻¹ of any number of points, in batches of ``FORWARD_BATCH``."""
        pts = torch.as_tensor(np.asarray(points, np.float32) if not isinstance(
            points, torch.Tensor) else points).float()
        out = [self(pts[s : s + FORWARD_BATCH]) for s in range(0, len(pts), FORWARD_BATCH)]
        return torch.cat(out) if out else torch.empty(0, self.theta.shape[1])

    def invalidate(self) -> None:
        """Forget the k-d tree (after ρ changed)."""
        self._tree = None


def _weights(inv: RBFInverse, points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """The normalised weights ``(w_i(y)/σ_i) / Σ_j (w_j(y)/σ_j)`` of each point's centres."""
    d2 = ((inv.rho[idx] - points.unsqueeze(1)) ** 2).sum(-1)
    w = 1.0 / (1.0 + inv.a * d2.clamp_min(0.0) ** inv.b) * torch.exp(-inv.log_sigma[idx])
    return w / w.sum(dim=1, keepdim=True)


@torch.no_grad()
def fit_inverse(
    positions: np.ndarray,
    data: np.ndarray,
    *,
    width: float = 0.5,
    b: float = 1.0,
    neighbors: int = 16,
    steps: int = 30,
    device: DeviceLike = "auto",
    progress: bool = False,
) -> RBFInverse:
    """Fit π⁻¹ on ``positions (n, 2)`` -> ``data (n, D)`` (see the module doc).

    One centre per sample at its position (ρ_i = y_i, σ_i = 1, as the authors' code), and the
    prototypes θ that minimise ``Σ_j ‖π⁻¹(y_j) - x_j‖²`` — a linear least-squares problem in θ
    with a sparse weight matrix ``W`` (``n x n``, ``neighbors`` entries a row), solved by
    ``steps`` iterations of conjugate gradients on the normal equations (CGLS, all D columns at
    once, batched torch) from θ = x. Few iterations regularise, as the authors' 2,000 gradient
    steps do: an exact solution would interpolate the samples with wild prototypes between
    them.
    """
    pos = np.asarray(positions, np.float32)
    X = np.asarray(data, np.float32).reshape(len(pos), -1)
    if len(pos) < 2:
        raise ValueError("π⁻¹ needs at least 2 fitted samples")
    dev = resolve_device(device)
    tree = cKDTree(pos.astype(np.float64))
    spacing = tree.query(pos.astype(np.float64), k=2)[0][:, 1]
    s = float(np.median(spacing[spacing > 0])) if (spacing > 0).any() else 1.0
    a = 1.0 / (float(width) * s) ** 2
    inv = RBFInverse(pos, X, a, b, neighbors).to(dev)
    if steps <= 0:
        return inv.eval()
    n, k = len(pos), inv.neighbors
    anchor = torch.as_tensor(pos, device=dev)
    idx = inv.nearest(anchor)
    w = _weights(inv, anchor, idx)
    rows = torch.arange(n, device=dev).repeat_interleave(k)
    with warnings.catch_warnings():  # "CSR support is in beta"; the indices are ours, valid
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
        coo = torch.sparse_coo_tensor(torch.stack([rows, idx.reshape(-1)]), w.reshape(-1),
                                      (n, n), check_invariants=True)
        W = coo.coalesce().to_sparse_csr()
        Wt = coo.t().coalesce().to_sparse_csr()
    target = torch.as_tensor(X, device=dev)
    theta = target.clone()
    r = target - W @ theta
    g = Wt @ r
    p = g.clone()
    gamma = (g * g).sum(0)
    it = range(int(steps))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="π⁻¹", unit="step", leave=False)
    for _ in it:
        q = W @ p
        alpha = gamma / (q * q).sum(0).clamp_min(1e-30)
        theta += alpha * p
        r -= alpha * q
        g = Wt @ r
        gamma_new = (g * g).sum(0)
        p = g + (gamma_new / gamma.clamp_min(1e-30)) * p
        gamma = gamma_new
    inv.theta.data.copy_(theta)
    return inv.eval()
