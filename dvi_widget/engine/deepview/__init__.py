"""DeepView (Schulz, Hinder & Hammer, IJCAI 2019) as a second engine beside DVI.

- :mod:`.didi`: the discriminative distance (Definition 1), batched torch, classifier as a
  black box;
- :mod:`.graph`: DiDi only on candidate pairs of a widened Euclidean kNN graph, the kNN graph
  fed to UMAP (``precomputed_knn``), per epoch with the previous positions as ``init``;
- :mod:`.inverse`: π⁻¹ of Theorem 2 (an RBF network), into the representation and input spaces;
- :mod:`.embedding`: the fitted state :class:`DeepViewEmbedding` (the contract, ``transform``,
  ``inverse``, ``score``) and its :class:`DeepViewInspector`;
- :mod:`.estimator`: :class:`DeepView` (``fit(run)`` / ``load(run)``); :mod:`.store`: its folder.
"""

from __future__ import annotations

from .estimator import DeepView

__all__ = ["DeepView"]
