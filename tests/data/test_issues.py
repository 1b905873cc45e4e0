"""Label issues ranked on hand-made dynamics: every method's score and the combined rank."""

from __future__ import annotations

import numpy as np
import pytest

from dvi_widget._random import subset_rng
from dvi_widget.data.dynamics import compute_dynamics
from dvi_widget.data.issues import (
    auroc,
    half_memorised,
    label_issues,
    neighbour_votes,
    neighbours_to_ask,
    noise_concentration,
    precision_at_k,
    reference_epochs,
    territory,
)

C = 3


def make(T=6, seed=0):
    """12 train + 4 test samples. Train 0 and 1 are 'flipped': the model predicts their true
    class 2 for three epochs, then memorises the given label; the others are learned at once."""
    rng = np.random.default_rng(seed)
    labels = np.array([0, 1] + [i % C for i in range(10)] + [0, 1, 2, 0])
    lg = rng.normal(scale=0.1, size=(T, 16, C)).astype(np.float32)
    lg[:, np.arange(16), labels] += 3.0
    lg[:3, :2, :] = 0.0
    lg[:3, :2, 2] = 3.0  # predicted class 2 before memorisation
    lg[3:, 12:, :] = 0.0  # the test split gets worse after epoch 2 (memorisation starts)
    lg[3:, 12:, 2] = 1.0
    split = np.array(["train"] * 12 + ["test"] * 4)
    return compute_dynamics(lg, labels, keep_probabilities=True), split, lg


def test_scores_rank_the_flipped_samples_first():
    dyn, split, _ = make()
    df = label_issues(dyn, split=split, class_names=["a", "b", "c"])
    assert set(df["sample"].tolist()[:2]) == {0, 1} and df["combined_rank"].tolist()[:2] == [1, 2]
    assert len(df) == 12 and set(df["sample"]) == set(range(12))
    first = df.set_index("sample").loc[0]
    assert first["given_label"] == 0 and first["suggested_label"] == 2
    assert first["suggested_name"] == "c"
    # AUM of sample 0 by hand: margins -3, -3, -3, then about +3 three times -> about 0
    assert first["score_aum"] == pytest.approx(-dyn.aum[-1, 0])
    assert -3.5 < dyn.aum[2, 0] < -2.5
    # cleanlab's reference: test accuracy peaks at epoch 0..2, so epochs 0, 1, 2 are averaged
    assert df.attrs["cleanlab"] == [0, 1, 2]
    assert df.attrs["combined"] == ["pre-memorisation log margin", "aum"]
    # the combined score by hand, as a rank percentile: minus (log p of the given label minus κ
    # times log p of the largest other) on the reference records' mean probabilities, plus κ⁴
    # times minus the AUM up to h
    from scipy.stats import rankdata

    train = split == "train"
    y = dyn.labels[train]
    probs = dyn.probabilities[:3][:, train].mean(axis=0)
    probs /= probs.sum(axis=1, keepdims=True)
    other = probs.copy()
    other[np.arange(12), y] = -1
    kappa = noise_concentration(y, probs)  # tested on its own below
    assert df.attrs["noise_concentration"] == pytest.approx(kappa)
    pre = np.log(probs[np.arange(12), y]) - kappa * np.log(other.max(axis=1))
    # AUM up to the record where half the pre-memorisation errors are fitted: epoch 3
    assert df.attrs["combined_aum"] == [0, 1, 2, 3]
    raw = -pre + kappa ** 4 * -dyn.aum[3, train]
    np.testing.assert_allclose(df.sort_values("sample")["combined_score"],
                               (rankdata(raw) - 1) / 11, atol=1e-9)
    assert df["cleanlab_issue"].dtype == bool  # confident learning flags nothing this small
    flipped = np.zeros(16, bool)
    flipped[:2] = True
    assert precision_at_k(df, flipped) == 1.0 and auroc(df, flipped) == 1.0
    assert precision_at_k(df, flipped, "score_forgetting") == 1.0  # never forgotten, but
    # sample 0 and 1 were wrong at first: 0 forgettings, 3/6 wrong -> above the others' 0


def _concentration_example() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(given labels, likely true classes, probabilities) of 3 classes × 6 labelled samples,
    p = 0.9 on the likely true class and 0.05 elsewhere."""
    y = np.repeat([0, 1, 2], 6)
    true = y.copy()
    true[[0, 1]] = 1
    true[[6, 7]] = [0, 2]
    true[12] = 1
    probs = np.full((18, 3), 0.05)
    probs[np.arange(18), true] = 0.9
    return y, true, probs


def test_noise_concentration_is_the_share_of_flips_on_each_rows_partner():
    """3 classes × 6 labelled samples, p = 0.9 on the likely true class and 0.05 elsewhere.
    Flips: two 0s look like 1s, one 2 looks like a 1, one 1 looks like a 0 and one like a 2.
    Every sample passes its class's threshold, so the confident joint's off-diagonal is
    (0→1) 2, (1→0) 1, (1→2) 1, (2→1) 1, and the rows' largest entries hold 2 + 1 + 1 of 5."""
    y, _, probs = _concentration_example()
    assert noise_concentration(y, probs) == pytest.approx(0.8)
    clean = np.full((18, 3), 0.05)
    clean[np.arange(18), y] = 0.9  # nothing looks flipped
    probs = clean
    assert noise_concentration(y, probs) == 0.0


def test_combined_weighs_the_rival_and_the_late_records_by_the_noise_concentration():
    """The 18 samples above (κ = 0.8) as logits: three records with p = 0.9 on the likely true
    class, then three memorised ones (0.9 on the given label); three test samples right until
    the memorisation starts, so the reference records are the first three."""
    y, true, probs = _concentration_example()
    T = 6
    lg = np.empty((T, 21, 3))
    memorised = np.full((18, 3), 0.05)
    memorised[np.arange(18), y] = 0.9
    lg[:3, :18] = np.log(probs)
    lg[3:, :18] = np.log(memorised)
    lg[:, 18:] = np.log(np.full((3, 3), 0.05) + 0.85 * np.eye(3))  # labels 0, 1, 2, right ...
    lg[3:, 18:] = np.roll(lg[3:, 18:], 1, axis=2)  # ... then wrong
    labels = np.concatenate([y, [0, 1, 2]])
    dyn = compute_dynamics(lg.astype(np.float32), labels, keep_probabilities=True)
    df = label_issues(dyn, split=["train"] * 18 + ["test"] * 3).sort_values("sample")
    assert df.attrs["noise_concentration"] == pytest.approx(0.8)
    assert df.attrs["cleanlab"] == [0, 1, 2]
    other = probs.copy()
    other[np.arange(18), y] = -1
    pre = np.log(probs[np.arange(18), y]) - 0.8 * np.log(other.max(axis=1))
    assert df.attrs["combined_aum"] == [0, 1, 2, 3]  # all five flips fitted at epoch 3
    raw = -pre + 0.8 ** 4 * -dyn.aum[3, :18]
    from scipy.stats import rankdata

    np.testing.assert_allclose(df["combined_score"], (rankdata(raw) - 1) / 17, atol=1e-6)
    # the five flips are the five most suspicious
    assert set(df.nlargest(5, "combined_score")["sample"]) == set(np.flatnonzero(y != true))


def test_only_epochs_up_to_t_count():
    """Ranking at epoch 2 of six records equals ranking the first three records alone."""
    dyn, split, lg = make()
    at2 = label_issues(dyn, epoch=2, split=split).sort_values("sample")
    cut = label_issues(compute_dynamics(lg[:3], dyn.labels, keep_probabilities=True),
                       split=split).sort_values("sample")
    for col in [c for c in at2.columns if c.startswith("score_")] + ["combined_score"]:
        np.testing.assert_allclose(at2[col].to_numpy(), cut[col].to_numpy(), rtol=1e-6,
                                   err_msg=col)
    assert at2.attrs["aum"] == [0, 1, 2]


def test_landscape_method_reads_the_territory_under_each_sample():
    dyn, split, _ = make()
    # 2 view epochs, a 1x3 landscape over [0, 3] x [0, 1]: column j shows class j. Every
    # sample sits in its given label's column, but the flipped 0 and 1, in class 2's
    land = np.array([[[0, 1, 2]]] * 2, dtype=np.int16)
    x = np.where(np.arange(16) < 2, 2.5, dyn.labels + 0.5)
    coords = np.stack([np.stack([x, np.full(16, 0.5)], axis=1)] * 2).astype(np.float32)
    terr = territory(coords, land, np.array([0, 3, 0, 1]))
    assert terr[0, :6].tolist() == [2, 2, 0, 1, 2, 0]
    df = label_issues(dyn, split=split, coords=coords, landscape_classes=land,
                      extent=np.array([0, 3, 0, 1]), view_epochs=[2, 5], methods="landscape")
    s = df.set_index("sample")["score_landscape"]
    # 0.5 × share of the shown epochs before memorisation off their label's territory + 0.5 ×
    # share of 2-D neighbours with another label: the flipped samples are off (≥ 0.5), the
    # others never (≤ 0.5)
    assert s[[0, 1]].min() > 0.5 >= s.drop([0, 1]).max()
    # the suggestion comes from the territory: class 2
    assert df.set_index("sample").loc[[0, 1], "suggested_label"].tolist() == [2, 2]
    # the reference records end at epoch 2 (memorisation starts at 3), so the shown epoch 5 is
    # not read: the memorised picture there (the flips moved into their given label's column)
    # changes nothing
    assert df.attrs["landscape"] == [2]
    moved = coords.copy()
    moved[1, :2, 0] = dyn.labels[:2] + 0.5
    again = label_issues(dyn, split=split, coords=moved, landscape_classes=land,
                         extent=np.array([0, 3, 0, 1]), view_epochs=[2, 5], methods="landscape")
    np.testing.assert_array_equal(again.set_index("sample")["score_landscape"].sort_index(),
                                  s.sort_index())
    assert label_issues(dyn, split=split, coords=moved, landscape_classes=land,
                        extent=np.array([0, 3, 0, 1]), view_epochs=[5, 6],
                        methods="landscape").attrs["landscape"] == [5]  # none that early
    with pytest.raises(ValueError, match="needs coords, landscape_classes and extent"):
        label_issues(dyn, split=split, methods=["landscape"])
    with pytest.raises(ValueError, match="unknown method"):
        label_issues(dyn, split=split, methods=["magic"])


def test_neighbour_votes_count_the_given_labels_of_the_nearest_others():
    """Three clusters along three axes (cosine); sample 0 sits in cluster 2 but is labelled 0."""
    rng = np.random.default_rng(0)
    centre = np.eye(3) * 10
    which = np.repeat(np.arange(3), 6)
    which[0] = 2
    x = centre[which] + rng.normal(scale=0.1, size=(18, 3))
    labels = np.repeat(np.arange(3), 6)
    votes = neighbour_votes(x, labels, 3, k=5)
    assert votes.sum(axis=1).tolist() == [5] * 18
    assert votes[0].tolist() == [0, 0, 5]  # its five nearest are cluster 2's, not itself
    # a cluster-0 sample: its five nearest are the other five of cluster 0 less sample 0
    # (moved away), so four 0s and one vote of cluster 0's nearest outsider
    assert votes[1, 0] == 4 and votes[1].sum() == 5
    assert votes[12].tolist() == [1, 0, 4]  # cluster 2 holds sample 0 (label 0) too
    # with fewer voters than samples (a fixed subset of 9), every row still counts k votes
    few = neighbour_votes(x, labels, 3, k=3, max_voters=9)
    assert few.sum(axis=1).tolist() == [3] * 18
    # with k = 8 a voter's votes are the other eight voters' labels: never its own
    voters = np.sort(subset_rng().choice(18, 9, replace=False))
    every = neighbour_votes(x, labels, 3, k=8, max_voters=9)
    for i in voters:
        others = np.bincount(labels[voters[voters != i]], minlength=3)
        assert every[i].tolist() == others.tolist(), i
    # a pool of rows inside a larger array votes as those rows alone (no copy of the pool),
    # and a batch smaller than the queries gives the same counts
    padded = np.concatenate([rng.normal(size=(4, 3)), x, rng.normal(size=(3, 3))])
    pooled = neighbour_votes(padded, labels, 3, k=5, pool=np.arange(4, 22), batch=4)
    assert pooled.tolist() == votes.tolist()
    asked = neighbour_votes(padded, labels, 3, k=5, pool=np.arange(4, 22), queries=x[:2])
    # a query is not a voter, so sample 0 asked as a query meets its own row (label 0) too
    assert asked[0].tolist() == [1, 0, 4]
    with pytest.raises(ValueError, match="labels has 17 entries for 18 pool rows"):
        neighbour_votes(padded, labels[1:], 3, pool=np.arange(4, 22))


def test_the_voter_subset_is_not_a_draw_the_user_made_with_seed_0():
    """12,000 samples, 1,200 of them 'flipped' to label 1 by ``default_rng(0).choice``, as a
    benchmark draws its flips; 500 voters. Asked by an outside query with k = 500, the votes are
    the voters' label counts: about 10 % label 1. With seed 0 the voters would all be flipped
    samples (at these sizes numpy's draw of 500 is the start of its draw of 1,200)."""
    n, flips, m = 12_000, 1_200, 500
    labels = np.zeros(n, dtype=np.int64)
    labels[np.random.default_rng(0).choice(n, flips, replace=False)] = 1
    x = np.random.default_rng(1).normal(size=(n, 4))
    votes = neighbour_votes(x, labels, 2, k=m, max_voters=m, queries=x[:1])
    assert votes.sum() == m
    assert votes[0, 1] <= 100, votes  # binomial(500, 0.1): 50 expected; 500 with seed 0


def test_a_long_neighbour_search_shows_its_progress(capsys, monkeypatch) -> None:  # noqa: ANN001
    """A bar over the searched samples when asked, or by default above PROGRESS_PAIRS pairs;
    none for a short search; the votes are the same either way."""
    import dvi_widget.data.issues as issues

    x = np.random.default_rng(0).normal(size=(30, 4))
    labels = np.arange(30) % 3
    quiet = neighbour_votes(x, labels, 3, k=4)
    assert "nearest" not in capsys.readouterr().err
    shown = neighbour_votes(x, labels, 3, k=4, progress=True, batch=8)
    err = capsys.readouterr().err
    assert "label issues: 4 nearest of 30 voters" in err and "/30 " in err
    assert shown.tolist() == quiet.tolist()
    dyn0, split, lg = make()
    dyn = compute_dynamics(lg, dyn0.labels, keep_probabilities=True,
                           representations=lambda e: np.eye(3)[dyn0.labels])
    label_issues(dyn, split=split)
    assert "nearest" not in capsys.readouterr().err  # 12 × 12 pairs: below the threshold
    monkeypatch.setattr(issues, "PROGRESS_PAIRS", 100)
    dyn.memo.clear()
    label_issues(dyn, split=split)
    assert "label issues: 2 nearest of 12 voters" in capsys.readouterr().err
    dyn.memo.clear()
    label_issues(dyn, split=split, progress=False)
    assert "nearest" not in capsys.readouterr().err


def test_half_memorised_is_where_half_the_early_errors_are_fitted():
    """12 training samples (and 2 test ones) of label 0; the first 6, 5, 4, 3, 2, 1 are
    predicted as class 1 at the six records. From the reference end at position 2 (4 wrong),
    half (2 wrong) is first reached at position 4."""
    labels = np.zeros(14, dtype=np.int64)
    lg = np.zeros((6, 14, 2), dtype=np.float32)
    lg[..., 0] = 1.0
    for t, w in enumerate([6, 5, 4, 3, 2, 1]):
        lg[t, :w, 1] = 2.0
    dyn = compute_dynamics(lg, labels)
    train = np.arange(14) < 12
    assert half_memorised(dyn, 2, 5, train) == 4
    assert half_memorised(dyn, 2, 3, train) is None  # not by the ranked record (3 > 4 / 2)
    assert half_memorised(dyn, 4, 5, train) == 5  # 1 wrong <= 2 / 2, at the ranked record
    assert half_memorised(dyn, 5, 5, train) is None  # no record after it


def _accuracy_dynamics(test_acc: list[float], train_err: list[float], n_test: int = 400,
                       n_train: int = 100):
    """Records of 2 classes: at record t the first ``train_err[t]`` of the training samples
    and all but the first ``test_acc[t]`` of the test samples are predicted as class 1, the
    rest as class 0; every label is 0 but the last training sample's (1, never fitted: so
    both classes are given, as confident learning needs)."""
    T, n = len(test_acc), n_train + n_test
    lg = np.zeros((T, n, 2), dtype=np.float32)
    lg[..., 0] = 1.0
    for t, (a, e) in enumerate(zip(test_acc, train_err, strict=True)):
        lg[t, : round(e * n_train), 1] = 2.0
        lg[t, n_train + round(a * n_test):, 1] = 2.0
    labels = np.zeros(n, dtype=np.int64)
    labels[n_train - 1] = 1
    test = np.arange(n) >= n_train
    return compute_dynamics(lg, labels, keep_probabilities=True), test


def test_reference_records_end_before_memorisation_even_when_the_test_accuracy_creeps_up():
    """The test accuracy (400 samples) reaches 0.90 at record 1 and creeps to 0.905 at the last
    (7): within one standard error (0.015) of the best from record 1 on. The training error
    against the given labels falls from 0.21 there to 0.10 at record 3: half of what the model
    got wrong at record 1 is fitted, memorisation under way, so the reference ends at record 2
    instead of the best test accuracy's 7. Where the training error never halves, or the test
    accuracy rises measurably to its best, the reference ends at the best."""
    acc = [0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.905]
    memorising = [0.5, 0.2, 0.15, 0.09, 0.05, 0.02, 0.0, 0.0]
    dyn, test = _accuracy_dynamics(acc, memorising)
    assert reference_epochs(dyn, 7, test).tolist() == [0, 1, 2]
    assert reference_epochs(dyn, 2, test).tolist() == [0, 1, 2]  # up to the ranked record
    df = label_issues(dyn, split=np.where(test, "test", "train"), methods=["aum", "cleanlab"])
    assert df.attrs["cleanlab"] == [0, 1, 2]  # the cleanlab method reads the capped records
    dyn, test = _accuracy_dynamics(acc, [0.5, 0.2, 0.19, 0.18, 0.17, 0.16, 0.15, 0.12])
    assert reference_epochs(dyn, 7, test).tolist() == list(range(8))
    # half fitted exactly at the ranked record: the reference ends before it too
    dyn, test = _accuracy_dynamics(acc, [0.5, 0.2, 0.19, 0.18, 0.17, 0.16, 0.15, 0.09])
    assert reference_epochs(dyn, 7, test).tolist() == list(range(7))
    # a measurable rise (0.90 -> 0.95: over 3 standard errors): the first record within one
    # of the best is the best itself
    dyn, test = _accuracy_dynamics([0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.95], memorising)
    assert reference_epochs(dyn, 7, test).tolist() == list(range(8))


def test_neighbours_method_reads_the_representations_before_memorisation():
    """make(): samples 0 and 1 are flipped; their representations sit among class 2's. The
    method reads the representations of cleanlab's last reference epoch (2) only, and the
    combined rank pools the neighbours' label shares with the head's probabilities."""
    dyn0, split, lg = make()
    rng = np.random.default_rng(1)
    true = dyn0.labels.copy()
    true[:2] = 2
    reps = np.eye(3)[true] * 5 + rng.normal(scale=0.1, size=(16, 3))
    noise = rng.normal(size=(16, 3))
    asked = []

    def representations(epoch: int) -> np.ndarray:
        # epochs 0 and 1: no class structure yet (the k-NN classifier is poor on the test
        # split); from epoch 2 on, every sample sits with its true class
        asked.append(epoch)
        return (reps if epoch >= 2 else noise).astype(np.float32)

    dyn = compute_dynamics(lg, dyn0.labels, keep_probabilities=True,
                           representations=representations)
    df = label_issues(dyn, split=split).set_index("sample")
    # the candidates are the reference records 0..2 (their k-NN test accuracy picks 2), each
    # read once, and the votes are counted on epoch 2's; nothing after them is read
    assert asked == [0, 1, 2] and df.attrs["neighbours"] == 2
    # ranking at epoch 4 has the same reference records: the shares are reused, nothing read
    at4 = label_issues(dyn, epoch=4, split=split).set_index("sample")
    assert asked == [0, 1, 2] and at4.attrs["neighbours"] == 2
    np.testing.assert_array_equal(at4["score_neighbours"].sort_index(),
                                  df["score_neighbours"].sort_index())
    assert df.attrs["combined"] == ["pre-memorisation log margin", "aum",
                                    "neighbours' label shares"]
    s = df["score_neighbours"]
    # 12 training samples of 3 classes: 2 neighbours each. A flipped sample's two nearest are
    # among the rest of its cluster (samples 4, 7, 10 labelled 2 and the other flip):
    # -log((votes for its label + 1/2) / (2 + 3/2)), at most one vote for its label
    assert neighbours_to_ask(12, 3) == 2
    # a search capped at fewer voters asks fewer: half a class of the voters it reads
    assert neighbours_to_ask(60_000, 10) == 25
    assert neighbours_to_ask(60_000, 10, max_voters=100) == 5
    votes = neighbour_votes(reps[:12], dyn.labels[:12], 3, k=2)
    assert votes[0, 2] >= 1 and votes[0, 0] == 0 and votes[1, 1] == 0
    assert s[0] == pytest.approx(-np.log(0.5 / 3.5))
    # the clean samples of classes 0 and 1 sit with their own labels: two votes for it
    clean = s[[2, 3, 5, 6, 8, 9, 11]]
    assert clean.max() == pytest.approx(-np.log(2.5 / 3.5)) and clean.max() < s[0]
    # the suggestion and the combined rank still put the flips first
    assert df.loc[[0, 1], "suggested_label"].tolist() == [2, 2]
    assert set(df.nsmallest(2, "combined_rank").index) == {0, 1}
    # without representations the method is not run, and asking for it says what to pass
    plain = label_issues(dyn0, split=split)
    assert "score_neighbours" not in plain.columns
    with pytest.raises(ValueError, match="needs the run's representations"):
        label_issues(dyn0, split=split, methods="neighbours")
    bad = compute_dynamics(lg, dyn0.labels, keep_probabilities=True,
                           representations=lambda e: reps[:5])
    with pytest.raises(ValueError, match="have 5 rows"):
        label_issues(bad, split=split)


def test_combined_pools_the_head_and_the_neighbours_as_a_product_of_experts(monkeypatch):
    """Random dynamics (60 training samples, 4 classes, 20 test samples) and random
    representations: the combined score is, by hand, the rank percentile of
    −(log p̃_y − κ log max_{j≠y} p̃_j) − κ⁴ AUM(h) with p̃ the normalised geometric mean of the
    head's reference probabilities and the neighbours' smoothed shares; with the noise
    concentrated (κ above ``CONCENTRATED``), confident learning's flagged samples first, each
    part in that order. The arithmetic mean or κ² ranks these samples differently, so the test
    tells the forms apart."""
    from cleanlab.filter import find_label_issues
    from scipy.stats import rankdata

    from dvi_widget.data import issues

    rng = np.random.default_rng(5)
    T, n_train, n_test, K = 8, 60, 20, 4
    labels = rng.integers(0, K, n_train + n_test)
    lg = rng.normal(scale=1.5, size=(T, n_train + n_test, K)).astype(np.float32)
    lg[:, np.arange(n_train + n_test), labels] += np.linspace(0.0, 3.0, T)[:, None]
    reps = rng.normal(size=(n_train + n_test, 6)).astype(np.float32)
    reps[np.arange(n_train + n_test), labels % 6] += 1.5
    dyn = compute_dynamics(lg, labels, keep_probabilities=True, representations=lambda e: reps)
    split = np.array(["train"] * n_train + ["test"] * n_test)
    df = label_issues(dyn, split=split).sort_values("sample")

    train = split == "train"
    y = labels[train]
    ref = df.attrs["cleanlab"]
    head = dyn.probabilities[ref][:, train].mean(axis=0).astype(np.float64)
    head /= head.sum(axis=1, keepdims=True)
    k = neighbours_to_ask(n_train, K)
    votes = neighbour_votes(reps[train], y, K, k)
    shares = (votes + 0.5) / (k + 0.5 * K)
    np.testing.assert_allclose(df["score_neighbours"], -np.log(shares[np.arange(n_train), y]))
    kappa = df.attrs["noise_concentration"]
    assert kappa == pytest.approx(noise_concentration(y, head)) and 0.5 < kappa < 0.9
    h = df.attrs["combined_aum"][-1]
    flags = find_label_issues(y, head, filter_by="prune_by_noise_rate", n_jobs=1)
    np.testing.assert_array_equal(df["cleanlab_issue"], flags)
    assert 5 <= flags.sum() <= 15

    def ranks(pooled: np.ndarray, weight: float) -> np.ndarray:
        other = pooled.copy()
        other[np.arange(n_train), y] = -1
        raw = (-(np.log(pooled[np.arange(n_train), y]) - kappa * np.log(other.max(axis=1)))
               - weight * dyn.aum[h, train])
        return (rankdata(raw) - 1) / (n_train - 1)

    def flags_first(r: np.ndarray) -> np.ndarray:
        return (rankdata(2.0 * flags + r) - 1) / (n_train - 1)

    geometric = np.sqrt(head * shares)
    geometric /= geometric.sum(axis=1, keepdims=True)
    assert df.attrs["flags_first"] and "confident learning's flags first" in df.attrs["combined"]
    np.testing.assert_allclose(df["combined_score"], flags_first(ranks(geometric, kappa ** 4)),
                               atol=1e-9)
    assert set(df.nlargest(int(flags.sum()), "combined_score")["sample"]) == set(
        np.flatnonzero(flags))
    assert not np.allclose(df["combined_score"],
                           flags_first(ranks(0.5 * (head + shares), kappa ** 4)))
    assert not np.allclose(df["combined_score"], flags_first(ranks(geometric, kappa ** 2)))
    # the same run read as spread noise: the flags join nothing
    monkeypatch.setattr(issues, "CONCENTRATED", 0.9)
    dyn.memo.clear()
    spread = label_issues(dyn, split=split).sort_values("sample")
    assert not spread.attrs["flags_first"]
    np.testing.assert_allclose(spread["combined_score"], ranks(geometric, kappa ** 4), atol=1e-9)
