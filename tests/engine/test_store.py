"""The fit folder (engine/store.py): staleness, read-only viewing, damaged files, modes."""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from dvi_widget.data.datasets import load_digits
from dvi_widget.data.run import Run
from dvi_widget.engine.fit import DVI, StaleFitError
from dvi_widget.engine.store import FitFileError, FitStore
from tests.digits_runs import train_and_record

FAST = dict(hidden=16, grid_size=16, max_steps=60, warm_max_steps=40, layout_iters=30,
            warm_layout_iters=30, compute_metrics=False, device="cpu", verbose=False)
PACKAGE = Path(__file__).resolve().parents[2] / "dvi_widget"


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory):
    """A digits run of 3 epochs (300 samples), fitted; tests work on copies of it."""
    run = train_and_record(tmp_path_factory.mktemp("store") / "run",
                           load_digits(n_train=300, n_test=60, seed=0))
    DVI(**FAST).fit(run)
    return run


def _copy(run, dest):
    shutil.copytree(run.path, dest)
    return Run.open(dest)


def _unit_file(run, epoch, kind):
    """The committed data file of ``epoch``: kind "state" (.pt) or "arrays" (.npz)."""
    info = json.loads((run.path / "dvi" / f"epoch_{epoch:05d}.json").read_text())
    return run.path / "dvi" / info["files"][kind]


def _rerecord(run, epoch, factor=1.01):
    """Re-record ``epoch`` with changed representations (as a retrained model would give)."""
    reps = (np.asarray(run.representations(epoch, "train")) * factor,
            np.asarray(run.representations(epoch, "test")) * factor)
    run.record_arrays(epoch, representations=reps, head=run.head(epoch), overwrite=True)


def test_load_refuses_a_stale_fit_and_names_the_epoch(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    _rerecord(run, 1)
    with pytest.raises(StaleFitError, match=r"epoch\(s\) \[1\].*on_stale='refit'"):
        DVI.load(run, device="cpu")


def test_load_warn_keeps_the_epochs_before_the_change(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    _rerecord(run, 1)
    with pytest.warns(UserWarning, match=r"loaded only the epochs fitted before it: \[0\]"):
        dvi = DVI.load(run, device="cpu", on_stale="warn")
    assert dvi.epochs_ == [0]


def test_load_refit_refits_from_the_changed_epoch(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    before = json.loads((run.path / "dvi" / "epoch_00000.json").read_text())
    _rerecord(run, 1)
    with pytest.warns(UserWarning, match="refitting from epoch 1"):
        dvi = DVI.load(run, device="cpu", on_stale="refit")
    assert dvi.epochs_ == [0, 1, 2]
    after = json.loads((run.path / "dvi" / "epoch_00000.json").read_text())
    assert after["timings"] == before["timings"]  # epoch 0 reused, not refitted
    again = DVI.load(run, device="cpu")  # and now the fit matches the run again
    assert np.array_equal(again.coords_, dvi.coords_)


def test_load_refuses_a_fit_of_a_deleted_epoch(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    shutil.rmtree(run.path / "epochs" / "0002")
    run = Run.open(run.path)
    with pytest.raises(StaleFitError, match=r"\[2\] no longer recorded"):
        DVI.load(run, device="cpu")


def test_a_damaged_model_file_is_named_at_load(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    pt = _unit_file(run, 1, "state")
    pt.write_bytes(pt.read_bytes()[:100])
    with pytest.raises(FitFileError, match=r"epoch_00001\.[0-9a-f]{16}\.pt.*[Rr]efit epoch 1"):
        DVI.load(run, device="cpu")


def test_a_damaged_array_file_is_named(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    npz = _unit_file(run, 2, "arrays")
    npz.write_bytes(npz.read_bytes()[:50])
    with pytest.raises(FitFileError, match=r"epoch_00002\.[0-9a-f]{16}\.npz.*[Rr]efit epoch 2"):
        DVI.load(run, device="cpu")


def test_load_writes_nothing_when_nothing_changed(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    folder = run.path / "dvi"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    DVI.load(run, device="cpu")
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_scores_are_kept_for_the_next_open(fitted_run, tmp_path, monkeypatch):
    """score() (and so visualization()) scores each epoch once: a reopened fit reads the
    scores back; a damaged or foreign scores file is scored again; a refit drops them."""
    from dvi_widget.engine import embedding

    run = _copy(fitted_run, tmp_path / "r")
    folder = run.path / "dvi"
    first = DVI.load(run, device="cpu").score()
    kept = sorted(p.name for p in folder.glob("metrics_*.json"))
    assert len(kept) == 3 and first["nn_pv_15_train"].notna().all()

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored again")
    with monkeypatch.context() as m:
        m.setattr(embedding, "epoch_metrics", no_scoring)
        again = DVI.load(run, device="cpu").score()
    assert again.equals(first)

    damaged, foreign = folder / kept[0], folder / kept[1]
    damaged.write_text("{not json")
    saved = json.loads(foreign.read_text())
    foreign.write_text(json.dumps({**saved, "key": "another frame"}))
    calls = []
    real = embedding.epoch_metrics
    monkeypatch.setattr(embedding, "epoch_metrics",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    assert DVI.load(run, device="cpu").score().equals(first)
    assert len(calls) == 2  # the damaged and the foreign one, not the third
    assert json.loads(damaged.read_text())["epoch"] == 0  # written again, whole
    assert json.loads(foreign.read_text())["key"] == saved["key"]

    DVI(**{**FAST, "random_state": 1}).fit(run)  # a refit: new units, old scores dropped
    assert not set(kept) & {p.name for p in folder.glob("metrics_*.json")}


def test_scoring_shows_a_progress_bar_only_when_it_scores(fitted_run, tmp_path, capsys):
    run = _copy(fitted_run, tmp_path / "r")
    for kept in (run.path / "dvi").glob("metrics_*.json"):  # another test may have scored
        kept.unlink()
    DVI.load(run, device="cpu", verbose=True).visualization()
    assert "DVI scores: 100%" in capsys.readouterr().err
    DVI.load(run, device="cpu", verbose=True).visualization()  # read back: nothing to score
    assert "DVI scores" not in capsys.readouterr().err


def test_a_changed_grid_goes_to_the_cache_when_read_only(fitted_run, tmp_path):
    class ReadOnlyStore(FitStore):  # as root os.access ignores modes: pretend
        writable = property(lambda self: False)

    store = ReadOnlyStore(fitted_run.path, cache_dir=tmp_path / "cache")
    frame = store.load_frame()
    assert frame["grid_size"] == FAST["grid_size"]
    store.save_frame({**frame, "grid_size": 8})
    assert json.loads((tmp_path / "cache" / "frame.json").read_text())["grid_size"] == 8
    assert store.load_frame()["grid_size"] == 8
    shown = json.loads((fitted_run.path / "dvi" / "frame.json").read_text())
    assert shown["grid_size"] == FAST["grid_size"]
    with pytest.raises(PermissionError, match="read-only.*copy the run folder"):
        store.prepare()


def test_fit_files_get_the_users_umask(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    shutil.rmtree(run.path / "dvi")
    old = os.umask(0o022)
    try:
        DVI(**FAST).fit(run, epochs=[0])
    finally:
        os.umask(old)
    folder = run.path / "dvi"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert modes and all(m == 0o644 for m in modes.values()), modes


@pytest.mark.skipif(not hasattr(os, "setuid") or os.geteuid() != 0,
                    reason="needs root to run a reader as the unprivileged user 'nobody'")
def test_a_read_only_run_opens_and_loads_as_another_user(fitted_run):
    """A run shared read-only with a colleague: Run.open, DVI.load, visualization(), no write."""
    base = Path(tempfile.mkdtemp(prefix="dvi-ro-"))
    try:
        os.chmod(base, 0o755)
        shutil.copytree(fitted_run.path, base / "run")
        for p in [base / "run", *(base / "run").rglob("*")]:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        before = sorted((str(p), p.stat().st_mtime_ns) for p in (base / "run").rglob("*"))
        cache = base / "cache"
        cache.mkdir(mode=0o777)
        os.chmod(cache, 0o777)
        # Python's own files may sit under /root (pyenv), unreadable to nobody: import and
        # exercise everything once as root (on the fixture's writable run), then drop to nobody
        code = textwrap.dedent(f"""
            import os, sys
            from dvi_widget import DVI, Run
            DVI.load(Run.open({str(fitted_run.path)!r}), device="cpu").visualization()
            os.setgid(65534); os.setuid(65534)
            assert not os.access({str(base / "run")!r}, os.W_OK)
            run = Run.open({str(base / "run")!r})
            dvi = DVI.load(run, device="cpu", cache_dir={str(cache)!r})
            vis = dvi.visualization()
            print(vis.coords.shape)
        """)
        env = dict(os.environ, HOME=str(cache), XDG_CACHE_HOME=str(cache))
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, timeout=300, cwd=str(base))
        assert done.returncode == 0, done.stderr[-3000:]
        assert "(3, 360, 2)" in done.stdout
        after = sorted((str(p), p.stat().st_mtime_ns) for p in (base / "run").rglob("*"))
        assert after == before
    finally:
        for p in [base, *base.rglob("*")]:
            if p.is_dir():
                os.chmod(p, 0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_no_other_module_builds_fit_folder_paths():
    """store.py owns the dvi/ folder: no other module spells its file names (the run folder's
    layout, data/run/folder.py, names the dvi/ entry only to keep it when a run is replaced)."""
    # a path into the fit folder (``run.path / "dvi"``), not the method's name (compare("dvi"))
    needles = ('/ "dvi"', "/ 'dvi'", "epoch_0", "landscape_0", "frame.json", "{:05d}", ":05d}")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "store.py":
            continue
        text = path.read_text()
        layout = path.parts[-3:] == ("data", "run", "folder.py")
        offenders += [f"{path.name}: {n}" for n in needles[2 if layout else 0 :] if n in text]
    assert not offenders, offenders


def test_interrupted_writes_are_cleared_on_the_next_fit(fitted_run, tmp_path):
    run = _copy(fitted_run, tmp_path / "r")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    leftover = run.path / "dvi" / f".tmp-p{gone.stdout.strip()}-epoch_00001.pt.abc123"
    leftover.write_bytes(b"half a file")
    foreign = run.path / "dvi" / ".tmp-notes.txt"  # a name this package never writes
    foreign.write_text("keep me")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        DVI(**FAST).fit(run)
    assert not leftover.exists()
    assert foreign.read_text() == "keep me"


def test_fits_written_by_version_0_1_still_open(fitted_run, tmp_path):
    """Fits saved before fingerprint_version existed carry the old checksum: still accepted."""
    from dvi_widget.engine.store import _legacy_fingerprint

    run = _copy(fitted_run, tmp_path / "r")
    for e in run.epochs:
        path = run.path / "dvi" / f"epoch_{e:05d}.json"
        info = json.loads(path.read_text())
        info.pop("fingerprint_version")
        info["fingerprint"] = _legacy_fingerprint(run, e)
        path.write_text(json.dumps(info))
    assert DVI.load(run, device="cpu").epochs_ == [0, 1, 2]
    _rerecord(run, 2)
    with pytest.raises(StaleFitError):
        DVI.load(run, device="cpu")
