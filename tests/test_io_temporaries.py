"""What an interrupted write leaves is removed only when its writer is gone; modes follow umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from dvi_widget._io import atomic_write, remove_stale_temporaries, staged_folder


def test_only_temporaries_of_finished_writers_are_removed(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".tmp-p{writer.pid}-0003-abc"  # another process, still writing
        mine = tmp_path / f".tmp-p{os.getpid()}-0004-abc"  # this process, maybe mid-write
        foreign = tmp_path / ".tmp-0005-abc"  # no writer in the name: not ours to remove
        other = tmp_path / "0003"
        for p in (live, mine, foreign, other):
            p.mkdir()
        assert remove_stale_temporaries(tmp_path) == []
        assert live.exists() and mine.exists() and other.exists() and foreign.exists()
    finally:
        writer.kill()
        writer.wait()
    assert remove_stale_temporaries(tmp_path) == [live]  # its writer has gone
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["0003", mine.name,
                                                                 foreign.name])


def test_files_and_staged_folders_get_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "a.txt", lambda p: p.write_text("x"))
        with staged_folder(tmp_path / "f") as tmp:
            (tmp / "b.txt").write_text("y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "f"]
