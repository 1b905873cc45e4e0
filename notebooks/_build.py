"""Write the case-study notebooks (quickstart, noisy labels, active learning) from plain Python.

Run ``python notebooks/_build.py`` after editing a cell here; the .ipynb files are written
without outputs. Cells tagged ``engine`` need ``dvi_widget.engine.fit``, cells tagged ``widget`` the
widget and its front end (``scripts/run_notebook.py`` stops before them while those are missing).
Every notebook reads ``DVI_NOTEBOOK_SMALL=1`` (reduced sizes, for the tests) and ``DVI_OUT_DIR``
(where runs and HTML files go; default ``out/`` beside the notebook).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip())


def code(text: str, *tags: str) -> nbformat.NotebookNode:
    cell = new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


SETUP = '''
import os
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import torch
from torch import nn

from dvi_widget import DVI, Run, Widget, load_fashion_mnist

SMALL = os.environ.get("DVI_NOTEBOOK_SMALL") == "1"  # reduced sizes for the test suite
OUT = Path(os.environ.get("DVI_OUT_DIR", "out"))
OUT.mkdir(parents=True, exist_ok=True)
# the reduced setting also takes fewer optimisation steps per epoch of the visualization model
DVI_PARAMS = (
    {"max_steps": 200, "warm_max_steps": 100, "verbose": False} if SMALL else {}
)
torch.manual_seed(0)
'''

CNN = '''
def small_cnn(n_classes: int = 10) -> nn.Sequential:
    """A small CNN; the representation is the 64-d input of the last Linear layer."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 5 * 5, 64), nn.ReLU(),
        nn.Linear(64, n_classes),
    )


def train_one_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                    y: torch.Tensor, gen: torch.Generator, batch_size: int = 32) -> float:
    model.train()
    total = 0.0
    for idx in torch.randperm(len(x), generator=gen).split(batch_size):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    model.eval()
    return total / len(x)
'''

CELL_OF = '''
def cell_of(vis, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of the landscape cell under each 2-D point (row 0 is the top, max y)."""
    x0, x1, y0, y1 = vis.extent
    H, W = vis.landscape.shape[1:3]
    col = np.clip(((points[:, 0] - x0) / (x1 - x0) * W).astype(int), 0, W - 1)
    row = np.clip(((y1 - points[:, 1]) / (y1 - y0) * H).astype(int), 0, H - 1)
    return row, col
'''


def quickstart() -> nbformat.NotebookNode:
    cells = [
        md('''
# Quickstart: watch a CNN learn Fashion-MNIST

We train a small CNN on a Fashion-MNIST subset, **record** its representations after every
epoch, **fit** a DeepVisualInsight (DVI) view — one 2-D layout plus a decision landscape per
epoch, all in one frame — and explore it in the widget.

**What to look at:** play the epochs (▶ in the widget): classes separate, the white
δ-boundary between the coloured territories sharpens, and hard samples (shirt, pullover,
coat) stay near it. Lasso a region to get its samples as a DataFrame and look at their images.
'''),
        code(SETUP.replace("import pandas as pd\n", "") + '''
N_TRAIN, N_TEST, EPOCHS = (600, 200, 5) if SMALL else (2000, 500, 10)
'''),
        code('''
data = load_fashion_mnist(n_train=N_TRAIN, n_test=N_TEST, seed=0)
print(data.name, data.x_train.shape, data.x_test.shape)
print(data.class_names)
'''),
        md('''
## 1. Train and record one epoch at a time

`run.record(model, epoch)` stores, per epoch, the representations (by default the input of the
last `nn.Linear`), the logits and the head's weights, in a folder you can reopen later
(`Run.open(path)`).
'''),
        code(CNN + '''
model = small_cnn(len(data.class_names))
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
gen = torch.Generator().manual_seed(0)
x_train, y_train = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)

run = Run.create(OUT / "runs" / "quickstart", train=(data.x_train, data.y_train),
                 test=(data.x_test, data.y_test), class_names=data.class_names, overwrite=True)
for epoch in range(1, EPOCHS + 1):
    loss = train_one_epoch(model, opt, x_train, y_train, gen)
    run.record(model, epoch)
    test_acc = float((run.predictions(epoch, "test") == data.y_test).mean())
    print(f"epoch {epoch:2d}  loss {loss:.3f}  test accuracy {test_acc:.3f}")
print(run.path, run.epochs)
assert test_acc > 0.55, "the CNN should learn Fashion-MNIST well above chance (0.1)"
'''),
        md('''
## 2. Fit the visualization

For every epoch DVI trains a small autoencoder (warm-started from the previous epoch) so that
neighbours — including synthetic samples on the decision boundary — stay neighbours in 2-D, and
decodes a grid of 2-D points back to representations so the classifier's head can colour it.
'''),
        code('''
dvi = DVI(random_state=0, **DVI_PARAMS).fit(run)
vis = dvi.visualization()
print(f"{vis.n_epochs} epochs, {vis.n_samples} samples, landscape {vis.landscape.shape[1:3]}")
vis.metrics
''', "engine"),
        md('''
## 3. Explore

Hover a point for its class, prediction and image; drag the epoch slider or press ▶; shift+drag
to lasso a group of points (or pick *Lasso* in the toolbar and drag); click anywhere on the
landscape to see what the model predicts there. The **?** button lists every gesture and shortcut.
`w.selection_df()` returns the lassoed samples.
'''),
        code('''
w = Widget(vis)
w
''', "widget"),
        md('''
Here we lasso from Python instead of the mouse: the disc around the middle of the *Trouser*
cluster in the last epoch. Trousers are easy, so the disc should hold (almost) only trousers.
'''),
        code('''
last = vis.n_epochs - 1
xy = vis.coords[last]
trouser = data.class_names.index("Trouser")
members = np.flatnonzero((vis.labels == trouser) & (vis.split == "train"))
center = np.median(xy[members], axis=0)
dist = np.linalg.norm(xy - center, axis=1)
region = np.flatnonzero(dist <= np.sort(dist)[29])  # the 30 points closest to the centre

w.epoch = int(vis.epochs[last])
w.selection = region.astype(np.uint32)
df = w.selection_df()
display(df.head())
assert sorted(df.index.tolist()) == sorted(region.tolist()), "selection_df lists the lassoed rows"
share = float((vis.labels[region] == trouser).mean())
print(f"{len(df)} samples selected, {share:.0%} of them trousers")
assert share >= 0.6, f"a trouser-cluster lasso should hold mostly trousers, got {share:.0%}"
''', "widget"),
        md('''
The selected samples' images (a montage, one tile per row of the DataFrame):
'''),
        code('''
images = np.concatenate([data.x_train, data.x_test])[:, 0]  # global sample index -> image


def montage(idx: np.ndarray, cols: int = 10) -> np.ndarray:
    tiles = images[idx]
    pad = (-len(tiles)) % cols
    tiles = np.concatenate([tiles, np.zeros((pad, *tiles.shape[1:]), tiles.dtype)])
    h, w_ = tiles.shape[1:]
    return tiles.reshape(-1, cols, h, w_).transpose(0, 2, 1, 3).reshape(-1, cols * w_)


fig = px.imshow(montage(df.index.to_numpy()), color_continuous_scale="gray_r",
                title="lassoed samples")
fig.update_layout(coloraxis_showscale=False, width=700)
fig.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False)
fig
''', "widget"),
        md('''
## 4. Play the epochs and share the result

Press ▶ in the widget (or set `w.epoch` from Python) to travel back in time. `save_html` writes
a standalone page with every epoch, viewable without Python.
'''),
        code('''
w.epoch = int(vis.epochs[0])   # back to the first epoch ...
w.epoch = int(vis.epochs[-1])  # ... and to the last, which the saved page opens on
html = Path(w.save_html(OUT / "quickstart.html"))
print(html, f"{html.stat().st_size / 1e6:.1f} MB")
assert html.stat().st_size > 10_000
''', "widget"),
    ]
    return new_notebook(cells=cells, metadata=_kernel_metadata())


def noisy_labels() -> nbformat.NotebookNode:
    cells = [
        md('''
# Noisy labels resist being learned

DVI's case study (paper §7): flip 10% of the training labels to another class, train, and watch
where the mislabelled samples sit in the decision landscape epoch after epoch.

**What to look at:** early on, the network learns the *clean* pattern, so a mislabelled
sample lies in the territory of its **true** class, not of the label it was given; later the
network starts memorising (a wide MLP on a few thousand images does so within twenty epochs),
and the memorised samples move into their given label's territory or grow small islands of it.
The table below checks that the picture tells this story as it happens: for every epoch, the
share of noisy samples the model predicts as their given label, and the share the landscape
under them shows as their given label.
'''),
        code(SETUP + '''
N_TRAIN, N_TEST, EPOCHS = (800, 200, 14) if SMALL else (2000, 500, 20)
NOISE = 0.10
'''),
        code('''
data = load_fashion_mnist(n_train=N_TRAIN, n_test=N_TEST, seed=1)
C = len(data.class_names)
rng = np.random.default_rng(0)
noisy_idx = rng.choice(N_TRAIN, size=int(NOISE * N_TRAIN), replace=False)
y_given = data.y_train.copy()
# symmetric noise: a flipped label is uniform over the other C-1 classes
y_given[noisy_idx] = (y_given[noisy_idx] + rng.integers(1, C, size=len(noisy_idx))) % C
noisy = np.zeros(N_TRAIN, dtype=bool)
noisy[noisy_idx] = True
assert (y_given[noisy] != data.y_train[noisy]).all()
assert (y_given[~noisy] == data.y_train[~noisy]).all()

metadata = pd.DataFrame({
    "noisy": np.concatenate([noisy, np.zeros(N_TEST, dtype=bool)]),
    "true_label": np.concatenate([data.y_train, data.y_test]),
})
metadata["true_class"] = [data.class_names[i] for i in metadata["true_label"]]
print(f"{noisy.sum()} of {N_TRAIN} training labels flipped")
'''),
        code(CNN + '''
# a wide MLP (no convolution, no regularisation) memorises the flipped labels within a few
# minutes on a CPU; the representation is the 256-d input of its last Linear layer
model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 1024), nn.ReLU(), nn.Linear(1024, 256),
                      nn.ReLU(), nn.Linear(256, C))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
gen = torch.Generator().manual_seed(0)
x_train, y_train = torch.as_tensor(data.x_train), torch.as_tensor(y_given)

run = Run.create(OUT / "runs" / "noisy_labels", train=(data.x_train, y_given),
                 test=(data.x_test, data.y_test), class_names=data.class_names,
                 metadata=metadata, overwrite=True)
memorised = []
for epoch in range(1, EPOCHS + 1):
    loss = train_one_epoch(model, opt, x_train, y_train, gen)
    run.record(model, epoch)
    pred = run.predictions(epoch, "train")
    memorised.append(np.mean(pred[noisy] == y_given[noisy]))
    print(f"epoch {epoch:2d}  loss {loss:.3f}  "
          f"noisy samples predicted as given label {memorised[-1]:.2f}, "
          f"as true class {np.mean(pred[noisy] == data.y_train[noisy]):.2f}")
# the story needs memorisation: most flipped labels learned by the end, few at the start
assert memorised[0] < 0.15, memorised
assert memorised[-1] >= (0.25 if SMALL else 0.40), memorised
'''),
        code('''
dvi = DVI(random_state=0, **DVI_PARAMS).fit(run)
vis = dvi.visualization()
assert vis.landscape_classes is not None, "the engine must export the landscape's class per cell"
''', "engine"),
        md('''
## Memorisation: what the model says vs what the picture shows

For each epoch, the landscape class of the cell under each training sample's 2-D position (its
*territory*) is compared with the sample's given label. For the noisy samples, the share whose
territory is their given label should follow the share the model predicts as their given label
(the memorisation gap stays small); clean samples should keep their own class's territory.
'''),
        code(CELL_OF + '''
train = np.flatnonzero(vis.split == "train")
rows = []
for t, epoch in enumerate(vis.epochs):
    pred = vis.predictions[t, train]
    r, c = cell_of(vis, vis.coords[t, train])
    territory = vis.landscape_classes[t, r, c]
    rows.append({
        "epoch": int(epoch),
        "noisy: model says given label": np.mean(pred[noisy] == y_given[noisy]),
        "noisy: picture shows given label": np.mean(territory[noisy] == y_given[noisy]),
        "noisy: picture shows true class": np.mean(territory[noisy] == data.y_train[noisy]),
        "clean: model says label": np.mean(pred[~noisy] == y_given[~noisy]),
        "clean: picture shows label": np.mean(territory[~noisy] == y_given[~noisy]),
    })
gaps = pd.DataFrame(rows).set_index("epoch")
gaps["memorisation gap"] = (gaps["noisy: model says given label"]
                            - gaps["noisy: picture shows given label"]).abs()
gaps["clean gap"] = (gaps["clean: model says label"] - gaps["clean: picture shows label"]).abs()
print(gaps.round(3).to_string())
px.line(gaps.iloc[:, :5], markers=True, labels={"value": "share of samples"},
        title="Noisy samples: memorised by the model, and shown so by the landscape")
''', "engine"),
        code('''
worst = gaps["memorisation gap"].max()
print(f"largest memorisation gap {worst:.3f} (epoch {gaps['memorisation gap'].idxmax()}); "
      f"largest clean gap {gaps['clean gap'].max():.3f}")
assert worst <= 0.05, "the landscape under noisy samples must show what the model predicts"
assert (gaps["clean gap"] <= 0.05).all(), "clean samples keep their own class's territory"
early = gaps.iloc[: max(1, len(gaps) // 3)]
noisy_given = early["noisy: picture shows given label"].mean()
clean_given = early["clean: picture shows label"].mean()
print(f"early epochs: noisy samples in their given label's territory {noisy_given:.2f}, "
      f"in their true class's {early['noisy: picture shows true class'].mean():.2f}; "
      f"clean samples in their own {clean_given:.2f}")
assert noisy_given < clean_given - 0.25, "noisy samples should resist their given label early on"
early_true = early["noisy: picture shows true class"].mean()
assert early_true > noisy_given, "early, noisy samples sit with their true class"
''', "engine"),
        md('''
## In the widget

Points are coloured by the run's `noisy` column (red: flipped label; the legend counts them and
a click highlights them); the trails follow a few of them through the epochs. Play the epochs
and watch them stay with their true class before (some of them) being pulled away.
'''),
        code('''
w = Widget(dvi, color_by="noisy")  # a fitted DVI brings its training dynamics and review marks
w.trails(noisy_idx[:20])
w
''', "widget"),
        md('''
## Which labels are wrong? Ranked

The run recorded the model's logits at every epoch (an evaluation pass after each epoch), so
each sample has its training dynamics: AUM (the mean margin of its given label), cartography's
confidence μ and variability σ, forgetting events, and cleanlab's confident learning on the
probabilities *before memorisation* (up to the epoch of best test accuracy, or earlier where the
model is already memorising). `dvi.label_issues()`
ranks the training samples by each of them, by the landscape under each sample (what only this
view has), by the given labels of each sample's nearest neighbours in the representation space
before memorisation (deep k-NN), and by a combined rank. Since we flipped the labels ourselves,
we can score every method: precision@k (k = number of flips) and AUROC.
'''),
        code('''
from dvi_widget.data.issues import auroc, precision_at_k

issues = dvi.label_issues()
flipped = np.concatenate([noisy, np.zeros(N_TEST, dtype=bool)])  # over every sample index
scores = [c for c in issues.columns if c.startswith("score_")] + ["combined_score"]
quality = pd.DataFrame({
    "precision@k": [precision_at_k(issues, flipped, c) for c in scores],
    "AUROC": [auroc(issues, flipped, c) for c in scores],
}, index=[c.removeprefix("score_").replace("_score", "") for c in scores])
print(f"{noisy.sum()} flipped labels; cleanlab used the epochs {issues.attrs['cleanlab']}")
print(quality.round(3).to_string())
best_single = quality.drop(index="combined")["precision@k"].max()
assert "neighbours" in quality.index, "a run folder brings its representations: deep k-NN runs"
assert quality.loc["combined", "AUROC"] >= 0.85, quality
assert quality.loc["combined", "precision@k"] >= best_single - 0.05, quality
found = issues.head(int(noisy.sum()))
found = found[flipped[found["sample"]]]  # the flips among the top k
right = np.mean(found["suggested_label"].to_numpy() == data.y_train[found["sample"]])
print(f"the suggested label is the true class for {right:.2f} of the flips in the top k")
assert right >= 0.5, "the suggestion should usually be the true class"
issues.head(10)
''', "engine"),
        md('''
## Review the top 20 in the queue

The Selection panel's **review queue** shows these issues as image tiles with the given and the
suggested label; a reviewer marks each *mislabeled* (key `m`, with the corrected class),
*correct* (`c`) or *unsure* (`u`). The marks are saved in the run folder at once, show as the
column `review`, and come back as `w.review_df()` and a CSV of relabels for the next training.
Here the notebook plays the reviewer, who knows the true class.
'''),
        code('''
queue = w.label_issues().head(20)
for s in queue["sample"]:
    if noisy[s]:
        w.mark(s, "mislabeled", label=int(data.y_train[s]))
    else:
        w.mark(s, "correct")
review = w.review_df()
print(review["mark"].value_counts().to_string())
assert len(review) == 20 and (review["mark"] == "mislabeled").sum() == noisy[queue["sample"]].sum()
assert (review.query("mark == 'mislabeled'")["corrected_label"].to_numpy()
        == data.y_train[review.query("mark == 'mislabeled'")["sample"]]).all()
relabels = pd.read_csv(w.relabels_csv(OUT / "noisy_labels_relabels.csv"))
assert relabels["sample"].tolist() == review.query("mark == 'mislabeled'")["sample"].tolist()
w.color_by = "review"
w.filter_samples("review != 'unmarked'")
print(f"{(relabels.given_label != relabels.corrected_label).sum()} relabels written; precision "
      f"of the reviewed top 20: {noisy[queue['sample']].mean():.2f}")
''', "widget"),
        code('''
html = Path(w.save_html(OUT / "noisy_labels.html"))
print(html)
''', "widget"),
    ]
    return new_notebook(cells=cells, metadata=_kernel_metadata())


def active_learning() -> nbformat.NotebookNode:
    cells = [
        md('''
# Active learning: where do the strategies sample?

DVI's second case study (paper §7): from a small labelled pool, each round trains the model
and picks new samples to label with one of three strategies —
**random**, **uncertainty** (smallest top-1/top-2 probability margin) and **core-set**
(k-center greedy on the representations). Each round is recorded as an "epoch", the newly
sampled samples are marked in the metadata, and DVI shows where they fall.

**What to look at:** uncertainty sampling picks samples on the white δ-boundary; random
sampling picks anywhere; core-set spreads over the representation space, covering sparse
regions. The table measures each strategy's distance to the boundary, in 2-D and in
representation space.
'''),
        code(SETUP + '''
import copy

from dvi_widget.engine.boundary import boundary_gap

N_POOL, N_TEST, INIT, BUDGET, ROUNDS, EPOCHS_PER_ROUND = (
    (500, 100, 50, 40, 3, 8) if SMALL else (2000, 500, 100, 100, 4, 10))
'''),
        code(CNN + '''
data = load_fashion_mnist(n_train=N_POOL, n_test=N_TEST, seed=2)
C = len(data.class_names)
x_pool, y_pool = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
x_test = torch.as_tensor(data.x_test)
initial = np.random.default_rng(0).choice(N_POOL, size=INIT, replace=False)


def pick_random(model, labelled, unlabelled, rng):
    return rng.choice(unlabelled, size=BUDGET, replace=False)


def pick_uncertain(model, labelled, unlabelled, rng):
    with torch.no_grad():
        probs = torch.softmax(model(x_pool[unlabelled]), dim=1)
    top2 = probs.topk(2, dim=1).values
    margin = (top2[:, 0] - top2[:, 1]).numpy()
    return unlabelled[np.argsort(margin)[:BUDGET]]


def pick_coreset(model, labelled, unlabelled, rng):
    """k-center greedy (Sener & Savarese 2018) on the 64-d representations."""
    with torch.no_grad():
        reps = model[:-1](x_pool)
    min_dist = torch.cdist(reps[unlabelled], reps[labelled]).min(dim=1).values
    chosen = []
    for _ in range(BUDGET):
        j = int(min_dist.argmax())
        chosen.append(j)
        to_j = torch.cdist(reps[unlabelled], reps[unlabelled[j : j + 1]])[:, 0]
        min_dist = torch.minimum(min_dist, to_j)
    return unlabelled[np.array(chosen)]


STRATEGIES = {"random": pick_random, "uncertainty": pick_uncertain, "core-set": pick_coreset}
'''),
        md('''
## Run the rounds and record them

The model keeps training across rounds on the growing labelled set. After round *r* the model
(recorded as epoch *r*) picks `BUDGET` new samples; `sampled_round` marks them.
'''),
        code('''
runs, accuracy = {}, []
for name, pick in STRATEGIES.items():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = small_cnn(C)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    sampled_round = np.full(N_POOL, -1)
    sampled_round[initial] = 0
    states = {}
    for r in range(1, ROUNDS + 1):
        labelled = np.flatnonzero(sampled_round >= 0)
        for _ in range(EPOCHS_PER_ROUND):
            train_one_epoch(model, opt, x_pool[labelled], y_pool[labelled], gen, batch_size=32)
        states[r] = copy.deepcopy(model.state_dict())
        with torch.no_grad():
            acc = float((model(x_test).argmax(1).numpy() == data.y_test).mean())
        accuracy.append({"strategy": name, "round": r, "labelled": len(labelled),
                         "test accuracy": acc})
        new = pick(model, labelled, np.flatnonzero(sampled_round < 0), rng)
        sampled_round[new] = r
    meta = pd.DataFrame({"sampled_round": sampled_round, "newly_sampled": sampled_round > 0})
    run = Run.create(OUT / "runs" / f"active_{name}", train=(data.x_train, data.y_train),
                     class_names=data.class_names, metadata=meta, overwrite=True)
    for r, state in states.items():
        model.load_state_dict(state)
        model.eval()
        run.record(model, r)
    runs[name] = run
accuracy = pd.DataFrame(accuracy)
print(accuracy.pivot(index="round", columns="strategy", values="test accuracy").round(3))
px.line(accuracy, x="labelled", y="test accuracy", color="strategy", markers=True,
        title="test accuracy per round")
'''),
        code('''
fits = {name: DVI(random_state=0, **DVI_PARAMS).fit(run) for name, run in runs.items()}
vises = {name: dvi.visualization() for name, dvi in fits.items()}
''', "engine"),
        md('''
## Distance of each strategy's new samples to the δ-boundary

*2-D*: distance from a sample's 2-D position, in the round that picked it, to the nearest white
(boundary) landscape cell (0 when it sits on one) and to the nearest synthetic boundary sample,
as a fraction of the frame's width; and the share of samples lying on a white cell.
*Representation space*: the normalised top-1/top-2 logit gap under that round's head g
(DVI Def. 2; 0 = on the boundary). The table shows means over all rounds.
'''),
        code(CELL_OF + '''
def nearest(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    if len(targets) == 0:
        return np.full(len(points), np.nan)
    return torch.cdist(torch.as_tensor(points, dtype=torch.float32),
                       torch.as_tensor(targets, dtype=torch.float32)).min(dim=1).values.numpy()


frames = []
for name, vis in vises.items():
    run = runs[name]
    sampled_round = vis.metadata["sampled_round"].to_numpy()
    x0, x1, y0, y1 = vis.extent
    H, W = vis.landscape.shape[1:3]
    xs = x0 + (np.arange(W) + 0.5) * (x1 - x0) / W
    ys = y1 - (np.arange(H) + 0.5) * (y1 - y0) / H
    for t, epoch in enumerate(vis.epochs):
        new = np.flatnonzero(sampled_round == epoch)
        pts = vis.coords[t, new]
        white = (vis.landscape[t, :, :, :3] == 255).all(axis=-1)
        r_idx, c_idx = np.nonzero(white)
        row, col = cell_of(vis, pts)
        on_white = white[row, col]
        to_white = np.where(on_white, 0.0,
                            nearest(pts, np.stack([xs[c_idx], ys[r_idx]], axis=1)))
        b2d = vis.boundary[t] if vis.boundary is not None else np.empty((0, 2))
        reps = np.asarray(run.representations(int(epoch)))[new]
        with torch.no_grad():
            gap = boundary_gap(run.head(int(epoch))(torch.as_tensor(reps))).numpy()
        frames.append(pd.DataFrame({
            "strategy": name, "round": int(epoch),
            "2-D: on a white cell": on_white,
            "2-D: to white cells": to_white / (x1 - x0),
            "2-D: to boundary samples": nearest(pts, b2d) / (x1 - x0),
            "representation: gap": gap,
        }))
distances = pd.concat(frames, ignore_index=True)
table = distances.drop(columns="round").groupby("strategy").mean()
print(table.round(4).to_string())
table
''', "engine"),
        code('''
unc, rand = table.loc["uncertainty"], table.loc["random"]
assert unc["representation: gap"] < rand["representation: gap"], "uncertainty: low-margin samples"
assert unc["2-D: to white cells"] < 0.8 * rand["2-D: to white cells"], (
    "the 2-D view should place uncertainty samples closer to the boundary than random ones")
assert unc["2-D: on a white cell"] > rand["2-D: on a white cell"]
# the synthetic boundary points are a sparser signal: they gather in thin bands between the
# predicted classes, so the distance to the nearest one separates the strategies less
print("to boundary samples, uncertainty vs random:",
      round(unc["2-D: to boundary samples"], 4), round(rand["2-D: to boundary samples"], 4))
''', "engine"),
        md('''
## In the widget

The uncertainty strategy's run, coloured by the round that sampled each point (`-1`: never
sampled, `0`: the initial pool) with the newly sampled ones highlighted; step through the rounds
to see each round's picks hug the white boundary.
'''),
        code('''
w = Widget(vises["uncertainty"], color_by="sampled_round")
w.highlight("newly_sampled")
w
''', "widget"),
    ]
    return new_notebook(cells=cells, metadata=_kernel_metadata())


# ------------------------------------------------------------------ explain (issue 14)
def explain() -> nbformat.NotebookNode:
    cells = [
        md("""
# Why is this shirt not a shirt? Grad-CAM, a rotation path and a local surrogate

We train a small CNN on Fashion-MNIST, fit the DVI view, pick a **misclassified shirt** and ask
three questions of the model at the last epoch (`dvi_widget.explain`):

1. **Where does it look?** Grad-CAM heat maps for the wrong class it predicts and for *Shirt*.
2. **How far is the boundary?** Rotate the shirt step by step: every rotated image is a new
   input, so `f_t` and `φ_t` place it on the landscape; the path walks across the decision
   boundary at the angle where the prediction flips. A PGD attack toward *Shirt* walks there
   through input space instead.
3. **What would a simple model say?** DeepVID's local linear student, fitted on generated
   neighbours of the shirt, shows which pixels push toward each class.

**What to look at:** the rotation path on the landscape starts at the shirt's own point and
changes colour where it crosses the white δ-boundary, at the first-flip angle; the surrogate's
weight images, red where a pixel raises a class's logit and blue where it lowers it.
"""),
        code(SETUP.replace("import pandas as pd\n", "")
             .replace("import plotly.express as px\n",
                      "import plotly.express as px\nimport plotly.graph_objects as go\n")
             .replace("from torch import nn\n", "from plotly.subplots import make_subplots\n"
                      "from torch import nn\n")
             .replace("from dvi_widget import DVI, Run, Widget, load_fashion_mnist",
                      "from dvi_widget import DVI, Run, Widget, load_fashion_mnist\n"
                      "from dvi_widget.explain import gradcam\n"
                      "from dvi_widget.view.export import build_figure") + """
N_TRAIN, N_TEST, EPOCHS = (600, 200, 3) if SMALL else (3000, 500, 8)
"""),
        code(CNN + """
data = load_fashion_mnist(n_train=N_TRAIN, n_test=N_TEST, seed=0)
model = small_cnn(len(data.class_names))
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
gen = torch.Generator().manual_seed(0)
x_train, y_train = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
run = Run.create(OUT / "runs" / "explain", train=(data.x_train, data.y_train),
                 test=(data.x_test, data.y_test), class_names=data.class_names, overwrite=True)
for epoch in range(1, EPOCHS + 1):
    train_one_epoch(model, opt, x_train, y_train, gen)
    run.record(model, epoch)  # keeps the state_dict, so epoch t's classifier can be rebuilt
print({e: round(run.epoch_info(e)["test_accuracy"], 3) for e in run.epochs})
"""),
        md("""
## Fit the view and pick a misclassified shirt

The reduced run fits only the last epoch (the explanations below need only that one); the full
run fits every epoch, and the rotation path is also drawn on the first epoch's landscape.
"""),
        code("""
dvi = DVI(random_state=0, **DVI_PARAMS).fit(run, epochs=run.epochs[-1:] if SMALL else None)
vis = dvi.visualization()
last = int(vis.epochs[-1])
names = data.class_names
SHIRT = names.index("Shirt")
labels, pred = run.labels("all"), run.predictions(last, "all")
logits = torch.as_tensor(np.asarray(run.logits(last, "all")))
confidence = torch.softmax(logits, dim=1).max(dim=1).values.numpy()
wrong = np.flatnonzero((labels == SHIRT) & (pred != SHIRT) & (vis.split == "test"))
print(f"{len(wrong)} test shirts are misclassified at epoch {last}")
i = int(wrong[np.argmax(confidence[wrong])])  # the most confidently wrong one
PRED = int(pred[i])
image = np.concatenate([data.x_train, data.x_test])[i, 0]
print(f"sample {i}: a shirt predicted as {names[PRED]!r} ({confidence[i]:.0%})")
assert len(wrong) > 0 and PRED != SHIRT
"""),
        md("""
## 1. Grad-CAM: where the evidence for each class sits

`gradcam(run, epoch, indices, target=...)` uses Captum's `LayerGradCam` on the last `Conv2d`
before the representation layer and upsamples the map to 28×28.
"""),
        code("""
cam = gradcam(run, last, [i, i], target=[PRED, SHIRT])
print("layer", cam.layer, "maps", cam.maps.shape)
garment = image > 0.1
on_garment = [float(m[garment].sum() / m.sum()) for m in cam.maps]
print("share of each map's mass on the garment:", np.round(on_garment, 2),
      f"(the garment covers {garment.mean():.0%} of the image)")
fig = make_subplots(rows=1, cols=3, subplot_titles=[
    f"sample {i} (a shirt)", f"Grad-CAM: {names[PRED]}", "Grad-CAM: Shirt"])
fig.add_trace(go.Heatmap(z=image, colorscale="gray_r", showscale=False), 1, 1)
for k, m in enumerate(cam.normalized()):
    fig.add_trace(go.Heatmap(z=m, colorscale="inferno", showscale=False, zmin=0, zmax=1), 1, 2 + k)
fig.update_yaxes(autorange="reversed", showticklabels=False)
fig.update_xaxes(showticklabels=False)
fig.update_layout(width=800, height=300)
fig
"""),
        code("""
assert cam.layer == "3" and cam.maps.shape == (2, 28, 28)
assert list(cam.targets) == [PRED, SHIRT] and (cam.maps.max(axis=(1, 2)) > 0).all()
# the model looks at the garment, not the background, for the class it predicts
assert on_garment[0] > garment.mean(), on_garment
"""),
        md("""
## 2. Rotate it until it flips: the path on the landscape

`dvi.what_if(i, epoch, kind="rotate", strengths=...)` rotates the image with Kornia, classifies
every rotation with `g_t ∘ f_t` and projects it with `φ_t`. `df.attrs["first_flip"]` is the
smallest angle at which the prediction changes.
"""),
        code("""
angles = np.arange(0, 181, 5)
path = dvi.what_if(i, last, kind="rotate", strengths=angles)
flip = path.attrs["first_flip"]
print(f"first flip at {flip}°:", path.loc[path.strength == flip, "class_name"].item())
path.head(12)
"""),
        code("""
def draw_path(fig, df, name, symbol="circle"):
    colors = [f"rgb{tuple(int(v) for v in vis.palette[c])}" for c in df["prediction"]]
    hover = [f"{s:g}: {c}" for s, c in zip(df.strength, df.class_name, strict=True)]
    fig.add_trace(go.Scatter(x=df.x, y=df.y, mode="lines+markers", name=name,
                             line={"color": "black", "width": 1},
                             marker={"color": colors, "size": 7, "symbol": symbol,
                                     "line": {"color": "black", "width": 1}},
                             text=hover))
    return fig


pos = list(vis.epochs).index(last)
fig = build_figure(vis, pos, point_size=3)
draw_path(fig, path, "rotation 0-180°")
adv = dvi.adversarial(i, last, target="Shirt", method="pgd", steps=20)
draw_path(fig, adv, "PGD toward Shirt", symbol="diamond")
fig.add_trace(go.Scatter(x=[vis.coords[pos, i, 0]], y=[vis.coords[pos, i, 1]], mode="markers",
                         marker={"symbol": "star", "size": 16, "color": "gold",
                                 "line": {"color": "black", "width": 1}}, name=f"sample {i}"))
fig.update_layout(width=750, height=650, title=f"epoch {last}: rotation and PGD paths")
fig
"""),
        code("""
rows = path["prediction"].to_numpy()
k = int(np.flatnonzero(angles == flip)[0])
assert flip is not None and 0 < flip <= 180
assert (rows[:k] == PRED).all() and rows[k] != PRED  # the flip is where the class first changes
# the one map places every recorded sample (train or test) exactly where it is drawn, so the
# path (continuous in the angle while the prediction holds) starts on the shirt's own point
start_gap = float(np.linalg.norm(path.loc[0, ["x", "y"]].to_numpy(float) - vis.coords[pos, i]))
print(f"path start {start_gap:.2f} from the drawn shirt; φ's RMS error on training samples "
      f"{dvi.epoch_info_[last]['phi_rms']:.2f}")
assert start_gap <= 3 * dvi.epoch_info_[last]["phi_rms"]
print(f"PGD: predicted Shirt after {adv.attrs['reached']} steps "
      f"(L∞ distance {adv.linf[adv.attrs['reached']]:.3f} of a [0, 1] range)")
assert adv.attrs["reached"] is not None
"""),
        md("""
### The same path in the widget

`Widget(vis)` of a fitted DVI shows an **Explain** panel beside the legend. Click a point (or type
its index), pick a perturbation and press *Show path*: the path is drawn over the landscape of the
shown epoch, coloured by the prediction, the first flip marked by a diamond; the slider walks
along it, and moving the epoch slider recomputes it. The panel's *Robustness* and *Surrogate*
sections chart the curves and the student's weights of the next two sections. From a cell,
`w.what_if(i, kind=..., strengths=...)` draws a path and returns it as a DataFrame.
"""),
        code("""
w = Widget(vis, images=np.concatenate([data.x_train, data.x_test]))
drawn = w.what_if(i, kind="rotate", strengths=angles)
w
""", "widget"),
        code("""
# the widget draws the path dvi.what_if computed, starting on the shirt's own point
assert "explain" in w.panels and w.explanations["path"] is drawn
assert (drawn["prediction"].to_numpy() == path["prediction"].to_numpy()).all()
assert drawn.attrs["first_flip"] == flip
assert np.allclose(drawn.loc[0, ["x", "y"]].to_numpy(float), vis.coords[pos, i], atol=1e-4)
""", "widget"),
        md("""
In the full run the same rotation, drawn on the first epoch's landscape, shows how much more
easily the young network changed its mind:
"""),
        code("""
if len(vis.epochs) > 1:
    first = int(vis.epochs[0])
    early = dvi.what_if(i, first, kind="rotate", strengths=angles)
    print(f"epoch {first}: first flip at {early.attrs['first_flip']}°; "
          f"epoch {last}: at {flip}°")
    fig = draw_path(build_figure(vis, 0, point_size=3), early, "rotation 0-180°")
    fig.update_layout(width=650, height=600, title=f"epoch {first}")
    display(fig)
"""),
        md("""
How robust is the whole class? VATUN's simulation view: the mean softmax of each class as every
shirt is rotated, and the share of shirts whose prediction changed.
"""),
        code("""
curve = dvi.robustness("Shirt", last, kind="rotate")
fig = px.line(curve.reset_index(), x="strength", y=[*names, "flipped"],
              labels={"strength": "rotation (degrees)", "value": "mean softmax / share"})
fig.update_layout(width=750, height=400)
display(fig)
assert curve.loc[0, "flipped"] == 0 and curve["flipped"].max() > 0.5
"""),
        md("""
## 3. A local surrogate (DeepVID)

`dvi.surrogate(i, epoch)` generates 500 neighbours of the shirt (noise and mixing toward its
nearest training samples), labels them with the CNN and fits a weighted ridge student on 2×2
patches. Its weights for the predicted class and for *Shirt* (red raises the class's logit
relative to the others), their difference (the pixels that tip the decision away from *Shirt*),
and its fidelity on the neighbours:
"""),
        code("""
sur = dvi.surrogate(i, last, n_neighbors=500)
print("fidelity:", {k: round(v, 3) for k, v in sur.fidelity.items()})
w_pred, w_shirt = sur.weights_image(PRED), sur.weights_image("Shirt")
lim = float(np.abs(np.stack([w_pred, w_shirt])).max())
fig = make_subplots(rows=1, cols=3, subplot_titles=[
    f"student weights: {names[PRED]}", "student weights: Shirt",
    f"{names[PRED]} minus Shirt"])
for k, w in enumerate([w_pred, w_shirt, w_pred - w_shirt]):
    fig.add_trace(go.Heatmap(z=w, colorscale="RdBu_r", zmid=0, zmin=-lim, zmax=lim,
                             showscale=False), 1, k + 1)
fig.update_yaxes(autorange="reversed", showticklabels=False)
fig.update_xaxes(showticklabels=False)
fig.update_layout(width=800, height=300)
fig
"""),
        code("""
fig = build_figure(vis, pos, point_size=3)
nb = sur.frame()
fig.add_trace(go.Scatter(x=nb.x, y=nb.y, mode="markers", name="surrogate neighbours",
                         marker={"size": 4, "color": "black", "opacity": 0.5}))
fig.update_layout(width=650, height=600, title="the surrogate's neighbours on the landscape")
display(fig)
assert sur.fidelity["agreement"] >= 0.8 and sur.fidelity["r2"] >= 0.5, sur.fidelity
# the student's logit reproduces the CNN's: its weights for the predicted class outweigh Shirt's
student = (sur.weights * sur.input).reshape(len(names), -1).sum(1) + sur.intercept
assert int(np.argmax(student)) == PRED
"""),
    ]
    return new_notebook(cells=cells, metadata=_kernel_metadata())



def explore() -> nbformat.NotebookNode:
    cells = [
        md("""
# Explore: which trousers does the model confuse with dresses?

We train a small CNN on Fashion-MNIST for a few epochs, fit the DVI view, and ask the widget
one question three ways — **which trousers does the model confuse with dresses at epoch 3, what
do they look like, and when did they flip?** — with the mouse, with cells, and with the
training events.

**What to look at:** in the widget, go to epoch 3, click the *Trouser* row / *Dress* column of
the **Confusion matrix**: those samples are selected, the **Selection** panel shows their images
(*Trouser → Dress*), and clicking an image opens its **Sample history** — the coloured strip is
its prediction per epoch, the line under the picture says when it flipped. Click anywhere on the
landscape to see what the model predicts there.
"""),
        code(SETUP + """
N_TRAIN, N_TEST, EPOCHS = (800, 200, 5) if SMALL else (2000, 500, 8)
QUESTION_EPOCH = 3
"""),
        code("""
data = load_fashion_mnist(n_train=N_TRAIN, n_test=N_TEST, seed=0)
names = data.class_names
TROUSER, DRESS = names.index("Trouser"), names.index("Dress")
print(data.x_train.shape, data.x_test.shape)
"""),
        md("""
## 1. Train, recording each epoch and its training loss

`run.record(model, epoch, scalars={"loss": ...})` keeps the running training loss next to the
loss and accuracy the run computes from the recorded logits: the **Training curves** panel
draws them.
"""),
        code(CNN + """
model = small_cnn(len(names))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
gen = torch.Generator().manual_seed(0)
x_train, y_train = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
run = Run.create(OUT / "runs" / "explore", train=(data.x_train, data.y_train),
                 test=(data.x_test, data.y_test), class_names=names, overwrite=True)
for epoch in range(1, EPOCHS + 1):
    loss = train_one_epoch(model, opt, x_train, y_train, gen)
    run.record(model, epoch, scalars={"loss": loss})
run.scalars().round(3)
"""),
        code("""
dvi = DVI(random_state=0, **DVI_PARAMS).fit(run)
vis = dvi.visualization()
print(f"{vis.n_epochs} epochs, {vis.n_samples} samples; inspector: {vis.inspector}")
""", "engine"),
        md("""
## 2. With the mouse

Drag the epoch slider to 3 (or ← / →), then click the confusion-matrix cell in row *Trouser*,
column *Dress*. `w.selection` now holds exactly those samples (run the next cells to see the
same set from Python). Click one of their images for its history, pick *flip* in **Training
events** and step ▶ through the epochs to watch the model change its mind.
"""),
        code("""
w = Widget(dvi, epoch=QUESTION_EPOCH)
w
""", "widget"),
        md("""
## 3. With cells

`w.confusion(epoch)` is the matrix the panel shows (over the split the widget shows);
`w.confusion_cell(label, prediction, epoch)` is what a click on a cell selects.
"""),
        code("""
cm = w.confusion(QUESTION_EPOCH)
display(cm)
confused = w.confusion_cell("Trouser", "Dress", epoch=QUESTION_EPOCH)
w.select(confused)  # the same selection a click on that cell makes
df = w.selection_df()
print(f"epoch {QUESTION_EPOCH}: {len(confused)} trousers predicted as dresses: {confused.tolist()}")
assert len(confused) == cm.loc["Trouser", "Dress"] > 0, "the question needs an answer"
assert (df["class_name"] == "Trouser").all() and (df["predicted_name"] == "Dress").all()
assert sorted(df.index) == sorted(confused.tolist())
df[["split", "class_name", "predicted_name", "confidence"]]
""", "widget"),
        md("""
**What do they look like?** `w.thumbnails(indices)` returns the atlas the Selection panel shows
(one tile per sample, in order), read from the run's recorded inputs.
"""),
        code("""
atlas = w.thumbnails(confused, columns=len(confused))
images = np.concatenate([data.x_train, data.x_test])[:, 0]
h, w_ = images.shape[1:]
tiles = atlas.reshape(h, len(confused), w_).transpose(1, 0, 2)
expected = np.rint(np.clip(images[confused], 0, 1) * 255)
assert np.abs(tiles.astype(int) - expected).max() <= 1, "the panel shows the samples' own images"
fig = px.imshow(atlas, color_continuous_scale="gray",
                title=f"trousers predicted as dresses at epoch {QUESTION_EPOCH}")
fig.update_layout(coloraxis_showscale=False, width=min(900, 120 * len(confused)), height=220)
fig.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False)
fig
""", "widget"),
        md("""
**When did they flip?** Each sample's history (`w.history(i)`: prediction per epoch) and the
training events of the run (`dvi.events()`, kind *flip*) tell the same story.
"""),
        code("""
history = pd.concat({int(i): w.history(int(i)) for i in confused}, names=["sample"])
table = history["prediction_name"].unstack("epoch")
display(table)
events = dvi.events()
flips = events[(events["kind"] == "flip") & events["sample"].isin(confused)]
for i in confused:
    h = w.history(int(i))
    pred = h["prediction"].to_numpy()
    changed = h.index[1:][pred[1:] != pred[:-1]].tolist()
    assert sorted(flips.loc[flips["sample"] == i, "epoch"].tolist()) == changed, i
    as_dress = h.index[pred == DRESS].tolist()
    moved = pred[1:] != pred[:-1]
    story = ", ".join(f"epoch {e}: {names[a]} → {names[b]}" for e, a, b in zip(
        changed, pred[:-1][moved], pred[1:][moved], strict=True))
    print(f"#{i}: predicted Dress at epochs {as_dress}; flips: {story or 'none'}")
    assert QUESTION_EPOCH in as_dress
flips[["sample", "epoch", "previous_epoch", "prediction_before", "prediction", "size"]]
""", "engine", "widget"),
        md("""
**Where are they, and what does the model predict there?** A click on the landscape asks
ψ_t and the classifier's head at that spot; `w.inspect(x, y, epoch)` answers the same from a
cell. Here: the middle of the confused trousers at epoch 3, and one of them with its nearest
neighbours in the representation space and in the view.
"""),
        code("""
t = vis.epoch_index(QUESTION_EPOCH)
x, y = vis.coords[t, confused].mean(axis=0)
spot = w.inspect(x, y, epoch=QUESTION_EPOCH)
display(spot["top"].head(3))
assert spot["source"] == "model" and abs(float(spot["probabilities"].sum()) - 1) < 1e-4
w.focus_sample = int(confused[0])  # opens its Sample history panel
nb = w.neighbors(int(confused[0]), epoch=QUESTION_EPOCH, k=8)
display(nb)
assert set(nb["space"]) == {"2d", "high"} and len(nb) == 16
""", "widget"),
    ]
    return new_notebook(cells=cells, metadata=_kernel_metadata())

def inside() -> nbformat.NotebookNode:
    cells = [
        md("""
# Inside the model: vanishing gradients, what the filters respond to, and neural patterns

The view shows where samples sit; this notebook looks **inside** the network while it learns
(`dvi_widget.inside`), as the lecture on visualizing deep networks teaches and as VATUN adds:

1. **Distributions over epochs** (TensorBoard's dashboard): two six-layer MLPs on the same data,
   one with tanh and one with ReLU (the lecture's example). A `GradientMonitor` records, per
   epoch, the gradients' histograms and norms; `flags` names the layers whose gradients vanish.
2. **Feature visualization** of a Fashion-MNIST CNN at its first and last epoch: the first
   layer's filter kernels, and by gradient ascent the input each class logit responds to most.
3. **Neural patterns** (VATUN): per sample the most activated unit of each layer; the patterns
   the misclassified shirts share, and the classes those patterns hold.

**What to look at:** in the first chart the tanh network's first layers' gradient norms sit
three to four orders of magnitude below its last layer's, the ReLU network's within one; the class
maximisations turn into garment shapes (the last epoch's classifier calls each by its class and
gives it a higher logit than the class's own training images get); the
misclassified shirts' most shared pattern is held mostly by coats and pullovers.
"""),
        code(SETUP.replace("from dvi_widget import DVI, Run, Widget, load_fashion_mnist",
                           "from dvi_widget import Run, load_fashion_mnist\n"
                           "from dvi_widget.inside import (\n" + "".join(
                               f"    {n},\n" for n in (
                                   "GradientMonitor", "distributions", "filters", "flags",
                                   "maximize", "neural_patterns", "recommend", "sequences"))
                           + ")")
             + """
MLP_EPOCHS = 10 if SMALL else 40
N_TRAIN, N_TEST, EPOCHS = (500, 200, 3) if SMALL else (3000, 500, 10)
"""),
        md("""
## 1. tanh vs ReLU, six layers deep: where the gradients vanish

The lecture's example (after machinelearningmastery.com, "How to fix vanishing gradients using
the rectified linear activation function"): the two-circles problem, five hidden layers of five
units and an output layer, SGD (lr 0.01, momentum 0.9, batches of 32). The tanh network starts
from Keras' `random_uniform` initialisation (weights uniform in ±0.05), the ReLU network from
He's. With these settings the finding reproduces as the lecture shows it; `flags` calls a
layer's gradient vanishing when its norm is below 1e-3 of the largest layer's in at least three
epochs.
"""),
        code("""
from sklearn.datasets import make_circles

xc, yc = make_circles(n_samples=1000, noise=0.1, random_state=1)
xc = xc.astype(np.float32)


def six_layers(act, init):
    torch.manual_seed(1)
    layers, width = [], 2
    for _ in range(5):
        layers += [init(nn.Linear(width, 5)), act()]
        width = 5
    return nn.Sequential(*layers, init(nn.Linear(5, 2)))


def uniform_005(layer):  # Keras' "random_uniform"
    nn.init.uniform_(layer.weight, -0.05, 0.05)
    nn.init.zeros_(layer.bias)
    return layer


def he_uniform(layer):
    nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
    nn.init.zeros_(layer.bias)
    return layer


runs = {}
for name, act, init in [("tanh", nn.Tanh, uniform_005), ("relu", nn.ReLU, he_uniform)]:
    model = six_layers(act, init)
    run = Run.create(OUT / "runs" / f"circles_{name}", train=(xc[:500], yc[:500]),
                     test=(xc[500:], yc[500:]), class_names=["outer", "inner"], overwrite=True)
    monitor = GradientMonitor(model)  # hooks registered once, before training
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.as_tensor(xc[:500]), torch.as_tensor(yc[:500])
    gen = torch.Generator().manual_seed(0)
    for epoch in range(1, MLP_EPOCHS + 1):
        for idx in torch.randperm(500, generator=gen).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        run.record(model, epoch, gradients=monitor)  # + weights and probe activations
    monitor.close()
    runs[name] = run
    print(name, "test accuracy", run.epoch_info(MLP_EPOCHS)["test_accuracy"])
"""),
        code("""
norms = pd.concat([
    distributions(run, "grad").query("statistic == 'norm'").assign(network=name)
    for name, run in runs.items()])
norms["layer"] = "dense_" + (norms["layer"].astype(int) // 2 + 1).astype(str)
fig = px.line(norms, x="epoch", y="value", color="layer", facet_col="network", log_y=True,
              labels={"value": "gradient norm (mean over the epoch's steps)"},
              title="gradient norm per layer: tanh (left) vs ReLU (right)")
fig.show()
found = {name: flags(run) for name, run in runs.items()}
for name, f in found.items():
    print(name, f[["flag", "layer", "epochs"]].to_string(index=False) if len(f) else "no flags")
vanishing = {name: sorted(f.loc[f.flag == "vanishing", "layer"]) for name, f in found.items()}
assert "0" in vanishing["tanh"], vanishing  # the tanh network's first layer vanishes ...
assert vanishing["relu"] == [], vanishing   # ... and no ReLU layer does
"""),
        md("""
The tanh network's first layers receive gradients a thousand times smaller than its last layer
and barely move (its test accuracy stays near chance); the ReLU network's gradients keep one
order of magnitude across depth. The ReLU network has other flags instead: *dead units*, ReLUs
that no probe sample activates. `distributions(run, kind)` returns the same numbers as a tidy
table for weights, biases and activations too.

## 2. A Fashion-MNIST CNN: filters and class maximisations at the first and last epoch
"""),
        code(CNN + """
data = load_fashion_mnist(n_train=N_TRAIN, n_test=N_TEST, seed=0)
names = data.class_names
model = small_cnn(len(names))
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
gen = torch.Generator().manual_seed(0)
x_train, y_train = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
run = Run.create(OUT / "runs" / "inside_cnn", train=(data.x_train, data.y_train),
                 test=(data.x_test, data.y_test), class_names=names, overwrite=True)
monitor = GradientMonitor(model)
for epoch in range(1, EPOCHS + 1):
    train_one_epoch(model, opt, x_train, y_train, gen)
    run.record(model, epoch, gradients=monitor)
monitor.close()
first, last = run.epochs[0], run.epochs[-1]
print({e: round(run.epoch_info(e)["test_accuracy"], 3) for e in run.epochs})
"""),
        code("""
kernels = np.concatenate([filters(run, e)[:, 0] for e in (first, last)])  # (32, 3, 3)
fig = px.imshow(kernels, facet_col=0, facet_col_wrap=16, color_continuous_scale="RdBu_r",
                zmin=0, zmax=1, title=f"first-layer kernels, epoch {first} (top) and {last}")
fig.update_layout(height=260, coloraxis_showscale=False).for_each_annotation(
    lambda a: a.update(text=""))
fig.show()

images = {e: maximize(run, e, "logits", np.arange(len(names))) for e in (first, last)}
fig = px.imshow(np.concatenate([images[first][:, 0], images[last][:, 0]]), facet_col=0,
                facet_col_wrap=len(names), binary_string=True,
                title=f"the input each class logit responds to most: epoch {first} (top), {last}")
fig.for_each_annotation(lambda a: a.update(
    text=names[int(a.text.split("=")[1]) % len(names)]))
fig.update_layout(height=330).show()
# the epoch's own classifier on each maximisation: which class it calls it, and whether the
# class's logit is higher than on the class's own training images (on average)
K = np.arange(len(names))
for e, imgs in images.items():
    with torch.no_grad():
        logits_max = run.classifier(e, device="cpu")(torch.as_tensor(imgs)).numpy()
    train_logits, y = np.asarray(run.logits(e, "train")), run.labels("train")
    own = logits_max[K, K]
    real = np.array([train_logits[y == k, k].mean() for k in K])
    called = logits_max.argmax(1)
    print(f"epoch {e}: called {[names[c] for c in called]}; logit of its class "
          f"{[round(float(v), 1) for v in own]} vs {[round(float(v), 1) for v in real]} "
          "on its training images")
assert (called == K).sum() >= 8 and (own > real).all(), (called, own, real)  # last epoch
"""),
        md("""
## 3. The neural patterns of the misclassified shirts

Per sample, the most activated unit of each conv (averaged over positions) and linear layer
makes a sequence; the frequent sub-sequences over all samples are the neural patterns. The last
layer's unit is the predicted class, so a pattern the misclassified shirts share with coats says
which inner units make the network call them coats. `recommend` ranks the patterns by the
Jaccard similarity of their samples and the selection, so that a pattern nearly every sample
holds does not come first. (In the widget: `w.show_inside(
InsideSource(run))` adds the distributions and network panels; selecting the shirts there
recommends these patterns, and a click on one selects its samples.)
"""),
        code("""
SHIRT = names.index("Shirt")
labels, pred = run.labels("all"), run.predictions(last, "all")
wrong = np.flatnonzero((labels == SHIRT) & (pred != SHIRT))
print(f"{len(wrong)} shirts are misclassified at epoch {last}, as",
      pd.Series(np.asarray(names)[pred[wrong]]).value_counts().to_dict())
layers, seq, _ = sequences(run, last)
assert (seq[wrong, -1] == pred[wrong]).all()  # the last layer's argmax is the prediction

patterns = neural_patterns(run, last, min_support=0.02)
shared = recommend(patterns, wrong, k=5)
pd.set_option("display.max_colwidth", 120)
display(shared[["layers", "units", "count", "shared", "jaccard", "classes"]])
top = shared.iloc[0]
others = {c: n for c, n in top["classes"].items() if c != "Shirt"}
path = " → ".join(f"{la}:{u}" for la, u in zip(top["layers"], top["units"], strict=True))
print(f"the pattern {path} holds {top['shared']} of the misclassified shirts and "
      f"{sum(others.values())} samples of other classes: {others}")
assert top["shared"] >= len(wrong) // 4, top
assert sum(others.values()) > top["classes"].get("Shirt", 0), top  # shared with other classes
"""),
    ]
    return new_notebook(cells=cells, metadata=_kernel_metadata())


def compare() -> nbformat.NotebookNode:
    cells = [
        md("""
# Compare: is what I see true, or an artefact of this projection?

One Fashion-MNIST run shown five ways — **DVI**, **DeepView**, **UMAP** (aligned across epochs),
**t-SNE** and **PCA** — in small linked views with one table of measures. We then find a sample
the methods disagree about (DVI and DeepView put it on a decision boundary, UMAP inside a
cluster, or the reverse), ask the model, and look at the inputs the inverse gives along a line
through it.

**What to look at:** in the compare widget, lasso (shift+drag) a group in one view: the same
samples light up in every view; click a point: it is selected in all five. The table beside the
views gives every measure per method at the shown epoch (move the slider). UMAP and t-SNE have
no inverse, hence no landscape: their views say so. Below, the strip of images along the line
shows what the model sees as the line crosses the boundary.

Full size (the numbers in the README): 10,000 training and 2,000 test images, 6 epochs (a few
minutes per method on a CPU). The tests run it at 500 / 100 images, 3 epochs
(`DVI_NOTEBOOK_SMALL=1`).
"""),
        code(SETUP.replace("import pandas as pd\n", "").replace(
            "DVI, Run, Widget, load_fashion_mnist", "Run, load_fashion_mnist") + """
from sklearn.neighbors import NearestNeighbors

import dvi_widget
from dvi_widget.contract import landscape_cells

N_TRAIN, N_TEST, EPOCHS = (500, 100, 3) if SMALL else (10_000, 2_000, 6)
METHODS = ("dvi", "deepview", "umap", "pca", "tsne")
DEEPVIEW_PARAMS = {"verbose": False, "grid_size": 96 if SMALL else 256}
"""),
        code(CNN + """
data = load_fashion_mnist(n_train=N_TRAIN, n_test=N_TEST, seed=0)
names = data.class_names
model = small_cnn(len(names))
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
gen = torch.Generator().manual_seed(0)
x_train, y_train = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
run = Run.create(OUT / "runs" / "compare", train=(data.x_train, data.y_train),
                 test=(data.x_test, data.y_test), class_names=names, overwrite=True)
for epoch in range(1, EPOCHS + 1):
    train_one_epoch(model, opt, x_train, y_train, gen)
    run.record(model, epoch)
accuracy = float((run.predictions(EPOCHS, "test") == data.y_test).mean())
print(run.epochs, f"test accuracy {accuracy:.3f}")
"""),
        md("""
## 1. Every method on the same run

`dvi_widget.compare(run, methods=...)` fits each method on the recorded representations of every
epoch (DVI and DeepView with their landscapes; UMAP with `init=` the previous epoch; t-SNE with
openTSNE, the previous epoch as initialisation; PCA) and returns the linked views with the
table. `c.table()` is the table at the shown epoch; each engine's own `score()` gives the same
numbers.
"""),
        code("""
c = dvi_widget.compare(run, methods=METHODS, dvi_params={"random_state": 0, **DVI_PARAMS},
                       deepview_params=DEEPVIEW_PARAMS)
c
""", "engine", "widget"),
        code("""
table = c.table()
for method, fit in c.comparison.fits.items():  # the table holds each engine's own score()
    own = fit.score().loc[c.epoch]
    for col in ("nn_pv_15_train", "ppr_train"):
        np.testing.assert_equal(table.loc[method, col], own[col])
assert np.isnan(table.loc[["umap", "tsne"], "ppr_train"]).all(), "no inverse, no PPR"
assert table.loc["dvi", "q_data"] > 0.8 and table.loc["deepview", "q_data"] > 0.8
table.round(3)
""", "engine", "widget"),
        md("""
## 2. Where do the methods disagree?

A sample is **on a boundary** in a view with a landscape when the landscape cells around it hold
another class than the one the model predicts for it; it is **inside a cluster** in a view
without one when its 10 nearest samples in 2-D all share its predicted class. We look for samples
that DVI and DeepView put on a boundary while UMAP puts them inside a cluster (or the reverse),
then ask the model itself: its margin between the two most probable classes.
"""),
        code("""
e = c.epoch
vis = {m: w.vis for m, w in c.widgets.items()}
t = vis["dvi"].epoch_index(e)
pred = vis["dvi"].predictions[t]
probs = np.concatenate([run.logits(e, "train"), run.logits(e, "test")])
probs = np.exp(probs - probs.max(1, keepdims=True))
probs /= probs.sum(1, keepdims=True)
top2 = np.sort(probs, axis=1)[:, -2:]
margin = top2[:, 1] - top2[:, 0]  # the model's own view: small = near a boundary


def on_boundary(v, share=0.03):
    \"\"\"Another class than the sample's prediction within `share` of the frame around it.\"\"\"
    H, W = v.landscape_classes.shape[1:]
    rows, cols, _ = landscape_cells(v.coords[t], v.extent, (H, W))
    radius = max(1, round(share * W))
    other = np.zeros(v.n_samples, bool)
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            r, q = np.clip(rows + dr, 0, H - 1), np.clip(cols + dc, 0, W - 1)
            cls = v.landscape_classes[t, r, q]
            other |= cls != pred
    return other


def inside_cluster(v, k=10):
    nb = NearestNeighbors(n_neighbors=k + 1).fit(v.coords[t]).kneighbors(v.coords[t])[1][:, 1:]
    return (pred[nb] == pred[:, None]).all(axis=1)


boundary = {m: on_boundary(vis[m]) for m in ("dvi", "deepview")}
inside = {m: inside_cluster(vis[m]) for m in ("umap", "tsne")}
boundary_only = np.flatnonzero(boundary["dvi"] & boundary["deepview"] & inside["umap"])
umap_only = np.flatnonzero(~boundary["dvi"] & ~boundary["deepview"] & ~inside["umap"])
print(f"on a boundary in DVI and DeepView, inside a UMAP cluster: {len(boundary_only)} samples, "
      f"median model margin {np.median(margin[boundary_only]):.2f}")
print(f"inside a region in DVI and DeepView, between clusters in UMAP: {len(umap_only)} samples, "
      f"median model margin {np.median(margin[umap_only]):.2f}")
print(f"every sample: median model margin {np.median(margin):.2f}")
assert len(boundary_only) + len(umap_only) > 0, "no disagreement found"
# the landscapes' boundaries are the model's: in DVI and in DeepView, the samples on a boundary
# have a smaller margin than the samples inside a region (the disagreement set itself is small
# and its margin varies from run to run: printed above, not asserted)
for m in ("dvi", "deepview"):
    on, off = np.median(margin[boundary[m]]), np.median(margin[~boundary[m]])
    print(f"{m}: median margin on a boundary {on:.2f}, inside a region {off:.2f}")
    assert on < off, m
if not len(boundary_only):  # only the reverse disagreement in this run: look at one of those
    boundary_only = umap_only
sample = int(boundary_only[np.argmin(margin[boundary_only])])   # the one it is least sure about
print(f"sample #{sample}: label {names[vis['dvi'].labels[sample]]}, predicted "
      f"{names[pred[sample]]}, margin {margin[sample]:.3f}")
c.show_sample(sample)  # selected in every view
assert all(w.selection.tolist() == [sample] for w in c.widgets.values())
""", "engine", "widget"),
        md("""
In both views with a landscape, the samples drawn on a boundary are the ones the model is less
sure about (a smaller margin than those inside a region): those boundaries are the model's, not
artefacts of the projection. Where the views disagree with UMAP, the printed margins say who is
right for this run: a small median margin on `boundary_only` means DVI and DeepView saw a real
hesitation UMAP packed into a cluster; a large one means they drew a boundary the model does
not feel there. UMAP follows the representation's geometry, blind to the classifier.

## 3. What the model sees along a line through it

`w.inspect_line(start, end, n)` asks the view's inverse at `n` spots of a segment: DeepView's π⁻¹
decodes each spot into an input image (its Fig. 4); DVI's ψ_t decodes into the representation
space, so it shows the **recorded inputs nearest to the decoded point** (never a blend). The line
starts at the sample and runs through the centre of the nearest landscape cell of another class
(its middle spot) to as far again beyond.
"""),
        code("""
def line_through(v, i, length=2.0):
    \"\"\"From sample i toward the nearest cell of another class, `length` times as far.\"\"\"
    H, W = v.landscape_classes.shape[1:]
    x0, x1, y0, y1 = v.extent
    cx = x0 + (np.arange(W) + 0.5) * (x1 - x0) / W
    cy = y1 - (np.arange(H) + 0.5) * (y1 - y0) / H
    gx, gy = np.meshgrid(cx, cy)
    other = v.landscape_classes[t] != pred[i]
    p = v.coords[t, i].astype(float)
    d = np.hypot(gx - p[0], gy - p[1])
    d[~other] = np.inf
    r, col = np.unravel_index(np.argmin(d), d.shape)
    end = p + length * (np.array([gx[r, col], gy[r, col]]) - p)
    end = np.clip(end, [x0, y0], [x1, y1])
    return p, end


strips = {}
for m in ("dvi", "deepview"):
    start, end = line_through(vis[m], sample)
    strips[m] = c.widgets[m].inspect_line(start, end, n=9)  # spot 4: that cell's centre
    pts = strips[m]["points"]
    print(m, strips[m]["kind"], "-", strips[m]["label"])
    print("  predicted along the line:", [names[p] for p in pts["prediction"]])
    assert pts["prediction"].iloc[0] == pred[sample], "the line starts at the sample's class"
    assert pts["prediction"].nunique() > 1, "the line crosses a boundary"
assert strips["dvi"]["kind"] == "nearest" and strips["deepview"]["kind"] == "decoded"
# DVI's strip shows recorded samples: their own images
shown = strips["dvi"]["points"]["sample"].to_numpy()
np.testing.assert_array_equal(strips["dvi"]["images"], vis["dvi"].images[shown])
rows = [np.concatenate(list(strips[m]["images"]), axis=1) for m in ("dvi", "deepview")]
fig = px.imshow(np.concatenate(rows), color_continuous_scale="gray",
                title="along the line: DVI (nearest recorded inputs), DeepView (π⁻¹ decoded)")
fig.update_layout(coloraxis_showscale=False, height=260)
fig.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False)
fig
""", "engine", "widget"),
        md("""
A click anywhere on the DVI or DeepView view shows the same thing in its popover, next to the
class probabilities: *what the model sees here*. `w.inspect(x, y)["sees"]` returns it as arrays.
"""),
        code("""
x, y = vis["dvi"].coords[t, sample]
seen = c.widgets["dvi"].inspect(float(x), float(y))["sees"]
print(seen["kind"], "-", seen["label"], "- predicted:", [names[p] for p in seen["predictions"]])
assert seen["images"].shape[0] == 3 and seen["images"].dtype == np.uint8
""", "engine", "widget"),
    ]
    return new_notebook(cells=cells, metadata=_kernel_metadata())


def _kernel_metadata() -> dict:
    return {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }


def main() -> None:
    for name, build in {"quickstart": quickstart, "noisy_labels": noisy_labels,
                        "active_learning": active_learning, "explain": explain,
                        "explore": explore, "inside": inside,
                        "compare": compare}.items():
        nb = build()
        for i, cell in enumerate(nb.cells):  # stable ids keep regenerated files diff-free
            cell["id"] = f"{name}-{i:02d}"
        nbformat.validate(nb)
        path = HERE / f"{name}.ipynb"
        nbformat.write(nb, path)
        print(path)


if __name__ == "__main__":
    main()
