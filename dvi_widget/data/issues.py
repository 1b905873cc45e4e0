"""Label issues, ranked: which training samples are probably mislabeled, by six methods and
their combination, from the per-epoch records (:mod:`dvi_widget.data.dynamics`).

Every score is "higher = more likely mislabeled" and uses the records of epochs ``<= epoch``
only (logits of the evaluation pass at each recorded epoch):

``aum``          minus the area under the margin (Pleiss et al. 2020)
``cartography``  1 − μ − σ: hard-to-learn samples (low confidence *and* low variability) score
                 high, ambiguous ones (high σ) and easy ones (high μ) low (Swayamdipta et al.
                 2020)
``forgetting``   forgetting events (Toneva et al. 2019), never learned = inf, ties broken by the
                 share of epochs predicted wrong
``cleanlab``     1 − cleanlab's label quality (self-confidence, ``cleanlab.rank``) and its
                 confident-learning flag (``cleanlab.filter.find_label_issues``) on the
                 probabilities *before memorisation*: the mean softmax over the recorded epochs
                 up to the one with the best test accuracy (at or before ``epoch``). Training-set
                 probabilities late in training are in-sample (the model has memorised the
                 flipped labels, so they look confident and right); the test split is held out,
                 so its accuracy peaks about where memorisation starts (early stopping). With
                 few flips it may not: memorising them costs no measurable test accuracy, and
                 the reference then ends where the model has fitted half of the training errors
                 it still made when its test accuracy stopped improving measurably
                 (:func:`reference_epochs`). Without a test split: the first half of the epochs
                 up to ``epoch``.
``landscape``    ★ what only the 2-D view has: the share of the shown epochs before memorisation
                 (up to the end of cleanlab's reference records, and ``<= epoch``) whose
                 landscape cell under the sample shows another class than its given label (a
                 noisy sample sits in its true class's territory, which its neighbours define,
                 until the model memorises it), averaged with the share of its nearest training
                 samples *in the 2-D map* whose given label differs (at the last of those shown
                 epochs). Needs the visualization's ``coords`` and ``landscape_classes``. Read
                 over every shown epoch up to ``epoch`` instead, it ranked 0.03–0.07 lower on
                 the MNIST CNN's look-alike flips once memorisation had set in.
``neighbours``   deep k-NN (Bahri et al. 2020): −log of the share of the sample's 25 nearest
                 training samples (fewer in a small run: :func:`neighbours_to_ask`; cosine, in
                 the representation space f_t of a reference record, i.e. before memorisation:
                 :func:`representation_epoch`) that carry its given label
                 (smoothed: (votes + ½) / (k + ½C)). A flipped sample still sits among its true
                 class there, and its neighbours' *given* labels say so without the head g_t.
                 Needs the dynamics' ``representations`` (:func:`dynamics_from_run` provides
                 them).

The combined score joins the kinds of evidence the benchmark runs show to be strongest (as a
rank percentile, 0 = least suspicious, 1 = most):

    combined = −(log p̃_y − κ · log max_{j≠y} p̃_j)  +  κ⁴ · (−AUM up to h),   p̃ ∝ √(p̄ · q)

p̄ are cleanlab's pre-memorisation probabilities (the mean softmax of the reference records), q
the neighbours method's smoothed label shares (p̃ = p̄ without representations: two estimates of
the true class, the head's and the representation space's, pooled as a product of experts: the
normalised geometric mean, so a class either estimate rules out stays unlikely; they weigh the
same: on the benchmark runs both are within 0.013 of each other's test accuracy, and weights
from those accuracies, log(a(C−1)/(1−a)) as for independent voters, ranked as equal ones did;
nor did q with each vote weighted by the voter's own p̄ of its given label, or with the voters'
p̄ as soft labels: +0.001 and +0.000 on the mean of 72 cases retrained at a later stop, at or
above the per-case best in 60 of them against 63; nor did q from the two best reference
records instead of the best one, pooled as their normalised geometric mean: it ranks 0.005
better as a single method on the mean of the 72 cases, and the combination 0.0002 worse, at or
above the per-case best in 60 of them); the first term is how unlikely the given
label was before the model could memorise it, the second the AUM up to h
(:func:`half_memorised`: the record where the model has fitted half of what it got wrong at the
end of the reference records): how long the label resisted being fitted. κ
(:func:`noise_concentration`, in ``attrs``) is the share of confident learning's
estimated noise that goes to one partner class per given class. When flips spread over unrelated
classes (κ ≈ 0.2–0.35 on the benchmark runs), a flip's given label is near-impossible before
memorisation (its own probability is the evidence: cleanlab's self-confidence, best there), and
the late records only add hard clean samples that are never fitted. When flips go to a
look-alike (κ ≈ 0.9–1: shirt ↔ T-shirt), a flip and an ambiguous clean sample both share their
probability with the look-alike, so the first term becomes the margin against it (AUM's margin
on p̄), and how late the label is fitted is what tells them apart (AUM's own argument, best
there). The AUM stops at h because once a model has memorised its flips, every later record adds
the same confident margin to flips and clean samples alike: a wide MLP that memorises all of
MNIST's look-alike flips by epoch 12 of 60 drops AUM's precision@k from 0.84–0.88 (at h) to
0.52–0.55 (at the end). AUM's weight κ⁴ falls off fast as the flips spread (0.002–0.008 at κ ≈
0.2–0.3, 0.66–1 at κ ≈ 0.9–1): alone it ranks symmetric flips 0.11 below cleanlab on
Fashion-MNIST, and at κ² it still cost the combination 0.003 there. Every term is in logit
units, so the sum needs no rescaling.

When the noise is concentrated (κ > 1/2: :data:`CONCENTRATED`), the samples that confident
learning flags (``cleanlab_issue``: ``find_label_issues`` with ``prune_by_noise_rate`` on p̄)
lead the ranking, the flagged and the others each in the order above. Confident learning
estimates from the confident joint how many samples of each (given, likely true) class pair are
flipped and flags that many in each pair, by margin; a global ranking cannot know those per-pair
counts and over-picks pairs that are merely confusable. When flips go to look-alikes each pair's
count is large and well estimated (its flags are 0.74 precise on Fashion-MNIST's shirt ↔ T-shirt
flips, against the ranking's 0.72 at the same size; 0.96–0.98 against 0.92–0.96 on MNIST); when
they spread, every cell holds a handful and the flags are worse than the ranking (0.70 against
0.85 on symmetric Fashion-MNIST flips; seed 0, last epoch), so they do not lead there.

How it fares (``benchmarks/bench_label_issues.py`` on its cached runs: digits, MNIST (4,000
images) with the wide MLP and Fashion-MNIST 10k, symmetric and class-conditional flips, seeds
0–8 (10 %; seed 6 15 %, seed 4 20 %), and the MNIST CNN at seeds 0–2; each at the last epoch and
at half memorisation: 120 cases), against the best of the six single methods in each case
(landscape left out: it needs a DVI fit): mean precision@k 0.013 above that per-case best, at or
above it in 101 cases, at most 0.010 below (4 samples of 400); on look-alike flips at or above
it in 59 of 60 cases; on the mean at or above it in every kind of run; the mean combined
precision@k 0.895. On a 60k Fashion-MNIST run (MLP, seed 0): 0.772 against AUM's 0.733
(look-alike flips), 0.896 against cleanlab's 0.889 (symmetric). The first rule (without q, the
flags, and with the AUM over every record), against the other five methods: 0.001 above on the
mean, 71 cases at or above, up to 0.094 below (the MNIST MLP's look-alike flips at the last
epoch); mean 0.876. With q as the plain mean (p̄ + q) / 2, AUM at κ² and no flags: 0.008 above,
93 cases at or above; without the flags: 0.009 above, 97 cases, 0.012 above on Fashion-MNIST's
look-alike flips (0.038 with them); 60k 0.743. q's size (25 neighbours) was chosen on other
draws of the digits, Fashion-MNIST and MNIST-CNN runs, h on seeds 0–3 (seeds 4–8, held out,
confirmed both); the pooling and κ⁴ on these 120 cases, with the 60k run held out; the flags'
threshold has no value to choose (any κ between 0.34 and 0.85 ranks every case alike).
On noise rates none of it was chosen on (3 %, 5 %, 30 %; 44 cases of digits, MNIST and
Fashion-MNIST): 0.011 above the per-case best on the mean, worst −0.033 (after the reference
records' cap of :func:`reference_epochs`, which those runs called for: without it −0.140).
Retrained on a second machine (seeds 0–11 at 10 %, 143 cases; seeds 6–11 trained after every
choice here): on the mean of each kind of run and moment the combined rank is at or above every
single method; at or above each case's best in 116 cases (53 of the 71 held out), worst −0.014
(2 of digits' 144 flips). Ending the reference records at the first record within one standard
error of the best test accuracy instead of at the best (capped) helped symmetric Fashion-MNIST
(+0.009) and lost elsewhere (51 of the 71 held out); pooling the reference records by geometric
mean or median instead of the mean softmax lost 0.001 on the mean; a linear probe's
out-of-fold probabilities on the neighbours' representations (cleanlab's usual practice) ranked
0.06 below the neighbours alone and cost the combination 0.009 as a third expert: none kept.
Cartography, forgetting and the landscape method rank the same samples less precisely on those
runs (the landscape method, measured on the digits and MNIST-CNN runs with ``--landscape``, from
0.037 below AUM to 0.007 above), so they are reported but left out of the combination. With a
subset of the methods, the combined score is the mean rank percentile of those run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._random import subset_rng
from .dynamics import Dynamics, JoinedRows

#: the methods, in the order the DataFrame lists their scores
METHODS = ("aum", "cartography", "forgetting", "cleanlab", "landscape", "neighbours")
#: 2-D neighbours the landscape method asks
NEIGHBOURS = 10
#: nearest training samples in the representation space the neighbours method asks
REPRESENTATION_NEIGHBOURS = 25
#: above this many training samples, the neighbours are drawn from a fixed random subset of
#: this size; each sample's label share is then estimated over a wider neighbourhood. The
#: exact search costs about 5 ns per (sample, voter) pair at 512-d on 2 cores: 18 s over all
#: pairs at 60k, 1.5 s over 5k voters. On the benchmark's 120 cases (Fashion-MNIST 10k being
#: the ones above 5k) 5k voters rank as 10k do (mean combined precision@k +0.0003); on its 60k
#: Fashion-MNIST run, 5k, 10k, 20k and all 60k voters give 0.747 / 0.747 / 0.751 / 0.750
#: (look-alike flips) and 0.895 / 0.890 / 0.892 / 0.893 (symmetric)
MAX_VOTERS = 5_000
#: above this many (sample, voter) pairs (about 5 s on 2 cores), the neighbours' search shows a
#: progress bar unless told not to (``label_issues(progress=False)``)
PROGRESS_PAIRS = 1_000_000_000
#: the neighbours method's record is chosen among this many reference records, by the k-NN
#: accuracy on this many test samples with this many voters (coarser than the ranking itself:
#: it only compares records). With 10 records, 2,000 queries and the ranking's voters instead,
#: the 120 cases' mean combined precision@k is 0.0002 higher, the 60k run's 0.001–0.002.
CANDIDATE_RECORDS, CANDIDATE_QUERIES, CANDIDATE_VOTERS = 5, 1_000, 2_000
#: above this noise concentration κ (:func:`noise_concentration`), confident learning's flagged
#: samples lead the combined rank (the module docstring says why); the benchmark runs have κ
#: 0.17–0.34 (symmetric flips) or 0.85–1 (look-alike flips), and any value between ranks alike
CONCENTRATED = 0.5


def _percentile(score: np.ndarray) -> np.ndarray:
    """Rank percentile in [0, 1] (ties share their mean rank; inf ranks top)."""
    s = pd.Series(np.where(np.isnan(score), -np.inf, score))
    r = s.rank(method="average").to_numpy()
    return (r - 1) / max(len(r) - 1, 1)


def pre_memorisation_margin(y: np.ndarray, probs: np.ndarray, rival: float = 1.0
                            ) -> np.ndarray:
    """log p̄_y − rival · log max_{j≠y} p̄_j on the mean probabilities ``probs`` (N, C) of the
    records before memorisation: AUM's margin in log-probability (the units of logits) at
    ``rival`` = 1, cleanlab's self-confidence in log at ``rival`` = 0."""
    n = np.arange(len(y))
    other = probs.copy()
    other[n, y] = -1.0
    tiny = np.finfo(np.float64).tiny
    return (np.log(np.maximum(probs[n, y], tiny))
            - rival * np.log(np.maximum(other.max(axis=1), tiny)))


def noise_concentration(y: np.ndarray, probs: np.ndarray) -> float:
    """κ in [0, 1]: how much of confident learning's estimated noise goes to one partner class.

    Off the diagonal of cleanlab's confident joint (given label × likely true label, from the
    pre-memorisation probabilities), the share of all off-diagonal counts that falls on each
    row's largest entry: about 1 / (C − 1) plus confusion when flips spread over the classes,
    1 when every class's flips go to one look-alike; 0 when nothing looks flipped.
    """
    from cleanlab.count import compute_confident_joint

    joint = compute_confident_joint(np.asarray(y), probs).astype(np.float64)
    np.fill_diagonal(joint, 0.0)
    total = joint.sum()
    return float(joint.max(axis=1).sum() / total) if total > 0 else 0.0


def reference_epochs(dyn: Dynamics, pos: int, test: np.ndarray | None,
                     train: np.ndarray | None = None) -> np.ndarray:
    """Positions of the records the cleanlab method averages: up to the best test accuracy at
    or before position ``pos``, or earlier where memorisation is under way before it (see the
    module docstring).

    The cap: from the first record whose test accuracy is within one standard error of the best
    (Breiman's one-standard-error rule: where the test accuracy stopped improving measurably),
    the record where the model has fitted half of the training errors it still made there
    (:func:`half_memorised`); the reference ends before it, and never before the first. With
    few flips memorising them costs the test accuracy nothing measurable, so its best can come
    long after memorisation began (a wide MLP on MNIST with 5 % look-alike flips: best test
    accuracy at epoch 33 of 60, 93 % of the flips memorised there; capped: epoch 11). ``train``
    (default: every sample not in ``test``) are the training samples."""
    if test is None or not test.any():
        return np.arange(max(pos // 2, 0) + 1)
    acc = (dyn.predictions[: pos + 1, test] == dyn.labels[test]).mean(axis=1)
    best = len(acc) - 1 - int(np.argmax(acc[::-1]))  # the last of equally good epochs
    top = float(acc.max())
    settled = int(np.flatnonzero(acc >= top - np.sqrt(top * (1.0 - top) / int(test.sum())))[0])
    half = half_memorised(dyn, settled, pos, ~test if train is None else train)
    if half is not None:
        best = max(min(best, half - 1), settled)
    return np.arange(best + 1)


def neighbour_votes(representations: np.ndarray | JoinedRows, labels: np.ndarray, n_classes: int,
                    k: int = REPRESENTATION_NEIGHBOURS, max_voters: int = MAX_VOTERS,
                    queries: np.ndarray | None = None, batch: int = 2048,
                    pool: np.ndarray | None = None, progress: bool = False) -> np.ndarray:
    """Counts (Q, C) of each label among the ``k`` nearest voters of every query (cosine
    similarity). The voters are the rows ``pool`` of ``representations`` (default: every row;
    ``labels`` has one entry per pool row); above ``max_voters`` pool rows they are a fixed
    random subset of that size (:func:`dvi_widget._random.subset_rng`). Without ``queries``
    the pool's own rows are asked, each without its own vote (Q = len(pool)). ``progress``: a
    bar over the queries.

    An exact batched search in torch, written here rather than through pynndescent: at the sizes
    it searches (≤ ``max_voters`` candidates) a matrix product is as fast as building an index,
    and pynndescent compiles for ~20 s in every new process. Only the voters and one batch of
    queries are copied and normalised at a time (at 60k × 512 a copy of the pool is 123 MB).
    """
    import torch

    def unit(a: np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(a, dtype=np.float32))
        return torch.nn.functional.normalize(t.reshape(len(t), -1), dim=1)

    rows = np.arange(len(representations)) if pool is None else np.asarray(pool)
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if len(y) != len(rows):
        raise ValueError(f"labels has {len(y)} entries for {len(rows)} pool rows")
    n = len(rows)
    voters = (np.sort(subset_rng().choice(n, max_voters, replace=False))
              if n > max_voters else np.arange(n))
    vx, vy = unit(representations[rows[voters]]), y[torch.as_tensor(voters)]
    n_asked = n if queries is None else len(queries)
    slot = np.full(n_asked, -1, dtype=np.int64)  # a query's own column among the voters
    if queries is None:
        slot[voters] = np.arange(len(voters))
    k = min(int(k), len(voters) - (1 if queries is None else 0))
    out = np.zeros((n_asked, n_classes))
    if k < 1:
        return out
    from tqdm.auto import tqdm

    bar = tqdm(total=n_asked, disable=not progress, unit="sample", leave=False,
               desc=f"label issues: {k} nearest of {len(voters)} voters")
    for i in range(0, n_asked, batch):
        asked = (representations[rows[i : i + batch]] if queries is None
                 else queries[i : i + batch])
        sim = unit(asked) @ vx.T
        own = slot[i : i + batch]
        hit = np.flatnonzero(own >= 0)
        sim[torch.as_tensor(hit), torch.as_tensor(own[hit])] = -np.inf  # not its own vote
        near = vy[sim.topk(k, dim=1).indices]  # (batch, k) labels; counted without one-hot
        counts = torch.zeros(len(near), n_classes, dtype=torch.float64)
        out[i : i + len(sim)] = counts.scatter_add_(
            1, near, torch.ones(near.shape, dtype=torch.float64)).numpy()
        bar.update(len(sim))
    bar.close()
    return out


def neighbours_to_ask(n_voters: int, n_classes: int, max_voters: int = MAX_VOTERS) -> int:
    """:data:`REPRESENTATION_NEIGHBOURS`, at most half a class of the voters that
    :func:`neighbour_votes` with the same ``max_voters`` asks (a small run's neighbourhood stays
    local instead of spanning classes)."""
    return max(1, min(REPRESENTATION_NEIGHBOURS, min(n_voters, max_voters) // (2 * n_classes)))


def _n_classes(dyn: Dynamics) -> int:
    return (dyn.probabilities.shape[2] if dyn.probabilities is not None
            else int(dyn.labels.max()) + 1)


def _representations(dyn: Dynamics, epoch: int) -> np.ndarray | JoinedRows:
    """The dynamics' (N, h) representations of recorded epoch ``epoch``, rows checked: an
    array, or anything with ``len`` and row indexing (a :class:`JoinedRows` reads only the rows
    asked)."""
    reps = dyn.representations(epoch)
    if not hasattr(reps, "shape"):  # a list, say; arrays and JoinedRows are read as they are
        reps = np.asarray(reps)
    if len(reps) != dyn.n_samples:
        raise ValueError(f"representations of epoch {epoch} have {len(reps)} rows; the "
                         f"dynamics have N={dyn.n_samples} samples (train then test, as the "
                         "labels)")
    return reps


def representation_epoch(dyn: Dynamics, ref: np.ndarray, train: np.ndarray,
                         test: np.ndarray, candidates: int = CANDIDATE_RECORDS,
                         queries: int = CANDIDATE_QUERIES, voters: int = CANDIDATE_VOTERS
                         ) -> tuple[int, np.ndarray | JoinedRows]:
    """(position, its (N, h) representations) of the record the neighbours method reads: among
    (up to ``candidates`` evenly spaced) reference records, the one whose k-NN classifier
    (training samples voting with their given labels) is most accurate on the test split
    (≤ ``queries`` test samples and ≤ ``voters`` training samples, fixed subsets); the first of
    equals, being the least memorised. Without a test split, the last reference record.

    The head's test accuracy picks the reference records, but representations can start to
    memorise before the head's accuracy peaks (the training samples pull their flipped
    neighbours' representations along), so the neighbours are chosen by their own held-out
    accuracy. Each candidate is read once; only the best one's representations are kept.
    """
    if not test.any() or len(ref) == 1:
        return int(ref[-1]), _representations(dyn, int(dyn.epochs[ref[-1]]))
    pick = np.unique(np.linspace(0, len(ref) - 1, min(candidates, len(ref))).round().astype(int))
    tidx = np.flatnonzero(test)
    if len(tidx) > queries:
        tidx = np.sort(subset_rng().choice(tidx, queries, replace=False))
    C = _n_classes(dyn)
    pool = np.flatnonzero(train)
    k = neighbours_to_ask(len(pool), C, max_voters=voters)
    best_acc, best = -1.0, (-1, np.empty(0))
    for p in ref[pick]:
        reps = _representations(dyn, int(dyn.epochs[p]))
        votes = neighbour_votes(reps, dyn.labels[pool], C, k, max_voters=voters,
                                queries=reps[tidx], pool=pool)
        acc = float((votes.argmax(axis=1) == dyn.labels[tidx]).mean())
        if acc > best_acc:  # strictly: the first of equals
            best_acc, best = acc, (int(p), reps)
    return best


def half_memorised(dyn: Dynamics, ref_end: int, pos: int, train: np.ndarray) -> int | None:
    """Position where the model has fitted half of what it got wrong before memorising: the
    first record after ``ref_end`` and up to ``pos`` whose training error against the given
    labels is at most half of that at ``ref_end``; None when no record up to ``pos`` is. On the
    benchmark runs it lands within 0–7 records of where half the *known* flips are predicted as
    their given label."""
    err = (dyn.predictions[: pos + 1, train] != dyn.labels[train]).mean(axis=1)
    after = np.flatnonzero((np.arange(pos + 1) > ref_end) & (err <= err[ref_end] / 2))
    return int(after[0]) if after.size else None


def territory(coords: np.ndarray, landscape_classes: np.ndarray, extent: np.ndarray
              ) -> np.ndarray:
    """(T, N) class of the landscape cell under each sample at each epoch (outside the frame:
    the nearest edge cell), from coords (T, N, 2), landscape_classes (T, H, W) and extent
    (x0, x1, y0, y1), cells as :func:`dvi_widget.contract.landscape_cells` lays them out."""
    pts = np.asarray(coords, dtype=np.float64)
    x0, x1, y0, y1 = (float(v) for v in extent)
    T, H, W = landscape_classes.shape
    col = np.clip(np.floor((pts[..., 0] - x0) / (x1 - x0) * W), 0, W - 1).astype(np.int64)
    row = np.clip(np.floor((y1 - pts[..., 1]) / (y1 - y0) * H), 0, H - 1).astype(np.int64)
    return np.asarray(landscape_classes)[np.arange(T)[:, None], row, col]


def _landscape(labels: np.ndarray, train: np.ndarray, terr: np.ndarray, coords: np.ndarray,
               upto: int) -> tuple[np.ndarray, np.ndarray]:
    """(score, suggested) of the landscape method over the train samples."""
    from scipy.spatial import cKDTree

    y = labels[train]
    off = (terr[: upto + 1, train] != y[None, :]).mean(axis=0)
    pts = coords[upto, train]
    k = min(NEIGHBOURS + 1, len(pts))
    _, nn = cKDTree(pts).query(pts, k=k)
    nn = np.atleast_2d(nn)[:, 1:]
    neigh = y[nn]
    disagree = (neigh != y[:, None]).mean(axis=1) if nn.shape[1] else np.zeros(len(y))
    # suggestion: the other class most often under the sample, else among its neighbours
    C = int(max(labels.max(), terr.max())) + 1
    counts = np.zeros((len(y), C))
    np.add.at(counts, (np.repeat(np.arange(len(y)), upto + 1), terr[: upto + 1, train].T.ravel()),
              1.0)
    np.add.at(counts, (np.repeat(np.arange(len(y)), neigh.shape[1]), neigh.ravel()), 0.5)
    counts[np.arange(len(y)), y] = -1
    return 0.5 * off + 0.5 * disagree, counts.argmax(axis=1)


def label_issues(dyn: Dynamics, *, epoch: int | None = None,
                 split: Sequence[str] | np.ndarray | None = None,
                 coords: np.ndarray | None = None, landscape_classes: np.ndarray | None = None,
                 extent: np.ndarray | None = None, view_epochs: Sequence[int] | None = None,
                 methods: Sequence[str] | str | None = None,
                 class_names: Sequence[str] | None = None,
                 progress: bool | None = None) -> pd.DataFrame:
    """Training samples ranked by how likely their given label is wrong.

    Parameters
    ----------
    dyn : the run's dynamics over every sample (train then test), with ``probabilities``
        (``keep_probabilities=True``) for the cleanlab method.
    epoch : recorded epoch number to rank at (default: the last); records after it are unused.
    split : "train"/"test" per sample (default: all "train"); only training samples are ranked,
        the test split picks the cleanlab method's reference epochs.
    coords, landscape_classes, extent, view_epochs : the visualization's (T', N, 2) positions,
        (T', H, W) landscape classes, frame and epoch numbers, for the landscape method
        (skipped without them).
    methods : which to run (default: every available one: ``landscape`` with the
        visualization's arrays, ``neighbours`` with the dynamics' ``representations``); the
        combined rank uses them all.
    class_names : names for the ``given_name`` / ``suggested_name`` columns.
    progress : a bar over the neighbours' search (default: when it asks more than
        :data:`PROGRESS_PAIRS` sample–voter pairs).

    Returns
    -------
    DataFrame sorted by ``combined_rank`` (1 = most suspicious), one row per training sample:
    ``sample`` (global index), ``given_label``, ``suggested_label`` (the class the
    pre-memorisation probabilities favour among the others), ``score_<method>``,
    ``combined_score``, ``combined_rank``, ``cleanlab_issue`` (confident learning's flag);
    ``attrs`` say which epochs each method used,
    ``noise_concentration`` (κ) and ``flags_first`` (whether the flagged samples lead).
    """
    pos = dyn.position(epoch)
    N = dyn.n_samples
    sp = np.full(N, "train") if split is None else np.asarray(split).astype(str)
    if sp.shape != (N,):
        raise ValueError(f"split must have N={N} entries, got shape {sp.shape}")
    train = sp == "train"
    test = sp == "test"
    have_land = coords is not None and landscape_classes is not None and extent is not None
    wanted = list(METHODS if methods is None else ([methods] if isinstance(methods, str)
                                                   else methods))
    unknown = sorted(set(wanted) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    if methods is None and not have_land:
        wanted.remove("landscape")
    if methods is None and dyn.representations is None:
        wanted.remove("neighbours")
    if "neighbours" in wanted and dyn.representations is None:
        raise ValueError("the neighbours method needs the run's representations: build the "
                         "dynamics with dynamics_from_run(run, ...) or compute_dynamics(..., "
                         "representations=<epoch -> (N, h) array>)")
    if "landscape" in wanted and not have_land:
        raise ValueError("the landscape method needs coords, landscape_classes and extent "
                         "(a Visualization fitted with its landscape classes)")
    if "cleanlab" in wanted and dyn.probabilities is None:
        raise ValueError("the cleanlab method needs the dynamics' probabilities: "
                         "compute_dynamics(..., keep_probabilities=True)")
    y = dyn.labels[train]
    idx = np.flatnonzero(train)
    scores: dict[str, np.ndarray] = {}
    used: dict[str, Any] = {"source": "logits of the evaluation pass at each recorded epoch",
                            "epoch": int(dyn.epochs[pos])}

    ref = reference_epochs(dyn, pos, test, train)
    probs_ref = None
    if dyn.probabilities is not None:
        probs_ref = dyn.probabilities[ref][:, train].mean(axis=0).astype(np.float64)
        probs_ref /= probs_ref.sum(axis=1, keepdims=True)
    probs_head = probs_ref  # the head's own, before the neighbours' shares join them
    if "aum" in wanted:
        scores["aum"] = -dyn.aum[pos, train].astype(np.float64)
        used["aum"] = dyn.epochs[: pos + 1].tolist()
    if "cartography" in wanted:
        scores["cartography"] = (1.0 - dyn.mean_confidence[pos, train]
                                 - dyn.variability[pos, train]).astype(np.float64)
        used["cartography"] = dyn.epochs[: pos + 1].tolist()
    if "forgetting" in wanted:
        f = dyn.forgetting[pos, train].astype(np.float64)
        f = np.where(np.isinf(f), pos + 2.0, f)  # above any finite count
        scores["forgetting"] = f + (1.0 - dyn.correctness[pos, train])
        used["forgetting"] = dyn.epochs[: pos + 1].tolist()
    flags = np.zeros(len(y), dtype=bool)
    if "cleanlab" in wanted:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

        quality = get_label_quality_scores(y, probs_ref, method="self_confidence")
        scores["cleanlab"] = 1.0 - quality
        if len(np.unique(y)) == probs_ref.shape[1]:
            flags = find_label_issues(y, probs_ref, filter_by="prune_by_noise_rate", n_jobs=1)
        used["cleanlab"] = dyn.epochs[ref].tolist()
    shares = None  # the neighbours' smoothed label shares q (N_train, C)
    if "neighbours" in wanted:
        # the same for later epochs with the same reference records and split
        key = ("neighbours", tuple(ref.tolist()), train.tobytes(), test.tobytes())
        if key not in dyn.memo:
            rep_pos, reps = representation_epoch(dyn, ref, train, test)
            rep_epoch = int(dyn.epochs[rep_pos])
            C = _n_classes(dyn)
            pairs = len(y) * min(len(y), MAX_VOTERS)
            votes = neighbour_votes(reps, y, C, neighbours_to_ask(len(y), C), pool=idx,
                                    progress=pairs > PROGRESS_PAIRS if progress is None
                                    else progress)
            k = votes.sum(axis=1, keepdims=True)
            dyn.memo[key] = rep_epoch, (votes + 0.5) / (k + 0.5 * C)
        rep_epoch, shares = dyn.memo[key]
        scores["neighbours"] = -np.log(shares[np.arange(len(y)), y])
        used["neighbours"] = rep_epoch
    suggested = None
    if probs_ref is not None:
        if shares is not None:  # the two posteriors pooled (the module docstring says why)
            probs_ref = np.sqrt(probs_ref * shares)
            probs_ref /= probs_ref.sum(axis=1, keepdims=True)
        other = probs_ref.copy()
        other[np.arange(len(y)), y] = -1
        suggested = other.argmax(axis=1)
    if "landscape" in wanted:
        ve = np.asarray(dyn.epochs if view_epochs is None else view_epochs)
        upto = int(np.searchsorted(ve, dyn.epochs[pos], side="right")) - 1
        if upto < 0:
            raise ValueError(f"no shown epoch at or before {dyn.epochs[pos]}")
        # the shown epochs before memorisation: up to the end of the reference records (the
        # first shown epoch if none is that early)
        upto = min(upto, max(int(np.searchsorted(ve, dyn.epochs[ref[-1]], side="right")) - 1, 0))
        terr = territory(coords, landscape_classes, extent)
        scores["landscape"], land_suggest = _landscape(dyn.labels, train, terr,
                                                       np.asarray(coords), upto)
        used["landscape"] = ve[: upto + 1].tolist()
        if suggested is None:
            suggested = land_suggest
    if not scores:
        raise ValueError("no method to run")
    if suggested is None:  # no probabilities: the latest wrong prediction
        suggested = dyn.predictions[pos, train].copy()

    # the combined rank (the module docstring says why this form and how it fares)
    if "aum" in scores and "cleanlab" in scores:
        kappa = noise_concentration(y, probs_head)
        h = half_memorised(dyn, int(ref[-1]), pos, train)
        h = pos if h is None else h  # not half yet: the AUM up to the ranked record
        raw = (-pre_memorisation_margin(y, probs_ref, kappa)
               - kappa ** 4 * dyn.aum[h, train].astype(np.float64))
        used["combined_aum"] = dyn.epochs[: h + 1].tolist()
        combined = _percentile(raw)
        used["flags_first"] = bool(kappa > CONCENTRATED and flags.any())
        if used["flags_first"]:  # confident learning's flags first, each part in that order
            combined = _percentile(2.0 * flags + combined)
        used["combined"] = ["pre-memorisation log margin", "aum"] + (
            ["neighbours' label shares"] if shares is not None else []) + (
            ["confident learning's flags first"] if used["flags_first"] else [])
        used["noise_concentration"] = kappa
    else:  # a subset of the methods: equal-weight rank percentiles of those run
        combined = np.mean([_percentile(v) for v in scores.values()], axis=0)
        used["combined"] = list(scores)
    names = [m for m in METHODS if m in scores]  # METHODS order

    df = pd.DataFrame({"sample": idx, "given_label": y, "suggested_label": suggested})
    if class_names is not None:
        cn = np.asarray(list(class_names), dtype=object)
        df["given_name"] = cn[y]
        df["suggested_name"] = cn[suggested]
    for m in names:
        df[f"score_{m}"] = scores[m]
    df["combined_score"] = combined
    df["cleanlab_issue"] = flags
    order = np.lexsort((idx, -combined))
    df = df.iloc[order].reset_index(drop=True)
    df["combined_rank"] = np.arange(1, len(df) + 1)
    df.attrs.update(used)
    return df


def top_rows(df: pd.DataFrame, column: str, k: int) -> np.ndarray:
    """Positions (in ``df``) of the ``k`` highest ``column`` scores, ties by sample index, NaN
    lowest, inf highest: the top k that :func:`precision_at_k` measures."""
    s = df[column].to_numpy(dtype=np.float64)
    return np.lexsort((df["sample"].to_numpy(), -np.nan_to_num(s, posinf=1e300)))[:k]


def precision_at_k(df: pd.DataFrame, flipped: np.ndarray, column: str = "combined_score",
                   k: int | None = None) -> float:
    """Share of true flips among the ``k`` (default: the number of flips) highest ``column``
    scores (:func:`top_rows`); ``flipped`` is a boolean mask over global sample indices."""
    truth = np.asarray(flipped)[df["sample"].to_numpy()]
    k = int(truth.sum()) if k is None else int(k)
    return float(truth[top_rows(df, column, k)].mean()) if k else float("nan")


def auroc(df: pd.DataFrame, flipped: np.ndarray, column: str = "combined_score") -> float:
    """Area under the ROC curve of ``column`` for finding the flips (0.5 = chance)."""
    truth = np.asarray(flipped)[df["sample"].to_numpy()]
    pos, neg = truth.sum(), (~truth).sum()
    if not pos or not neg:
        return float("nan")
    r = _percentile(df[column].to_numpy(dtype=np.float64)) * (len(truth) - 1) + 1
    return float((r[truth].sum() - pos * (pos + 1) / 2) / (pos * neg))
