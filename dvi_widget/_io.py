"""Writing files safely: one atomic writer and one staged folder for the whole package.

Every file the package writes goes through :func:`atomic_write` (a unique temporary name next to
the target, flushed to disk, renamed over the target, removed on failure) and gets the user's
umask (``tempfile`` creates 0600 files and 0700 folders, which would make a run shared with a
colleague unreadable to them). Folders assembled from several files use :func:`staged_folder`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

#: prefix of temporary files and folders; :func:`remove_stale_temporaries` clears leftovers
TMP_PREFIX = ".tmp-"
#: a temporary name carries the id of the process writing it: ``.tmp-p<pid>-<name>...``
_TMP_OWNER = re.compile(rf"^{re.escape(TMP_PREFIX)}p(\d+)-")


def _tmp_prefix(name: str) -> str:
    return f"{TMP_PREFIX}p{os.getpid()}-{name}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file under the current umask."""
    return 0o666 & ~_umask()


def folder_mode() -> int:
    """The mode ``mkdir`` gives a new folder under the current umask."""
    return 0o777 & ~_umask()


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through ``write(tmp)`` into a unique temporary file, then rename it.

    The temporary file sits in the same folder (so the rename is atomic), is flushed to disk
    before the rename, gets the user's umask, and is removed if anything fails; readers see the
    old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f"{_tmp_prefix(path.name)}.")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write a {type(obj).__name__} to JSON")


def write_json(path: str | Path, obj: object) -> Path:
    """Write ``obj`` as indented JSON, atomically (numpy scalars and arrays become JSON)."""
    text = json.dumps(obj, indent=1, default=_json_default)
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """Write arrays to an uncompressed ``.npz``, atomically (read with ``allow_pickle=False``)."""

    def write(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez(fh, **arrays)

    return atomic_write(path, write)


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    """Write one array to ``.npy``, atomically."""

    def write(p: Path) -> None:
        with open(p, "wb") as fh:
            np.save(fh, np.asarray(array), allow_pickle=False)

    return atomic_write(path, write)


@contextlib.contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, moved into its place when the block succeeds.

    An existing ``target`` is replaced only after the new one is complete; on failure the
    temporary folder is removed and ``target`` is left as it was. The folder gets the user's
    umask; its files are flushed to disk before the move.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_tmp_prefix(target.name)}-", dir=target.parent))
    os.chmod(tmp, folder_mode())
    try:
        yield tmp
        _fsync_files(tmp)
        old = None
        if target.exists():
            old = tmp.with_name(f"{tmp.name}-old")
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except OSError:
            if old is not None:
                os.replace(old, target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_files(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


def _writer_alive(name: str) -> bool:
    """Whether the process named in a temporary name still runs (on this machine)."""
    owner = _TMP_OWNER.match(name)
    if owner is None:  # not ours, or from a version without the owner in the name
        return False
    pid = int(owner.group(1))
    if pid == os.getpid():
        return True  # this process may be writing it right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove what an interrupted (e.g. killed) write left in ``folder``; returns what went.

    Only names starting with :data:`TMP_PREFIX` are touched, only when the folder is writable
    (a read-only run is left alone), and never while the process that writes them still runs
    (checked on this machine: a writer on another machine sharing the folder is not seen).
    """
    folder = Path(folder)
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        return []
    removed = []
    for p in folder.glob(f"{TMP_PREFIX}*"):
        if _writer_alive(p.name):
            continue
        try:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            continue
    return removed


# --------------------------------------------------------------------------------------------
# free space, streamed arrays, staged folders left by a killed process
# --------------------------------------------------------------------------------------------

import errno as _errno  # noqa: E402 - kept beside the helpers that use it

#: the errors of a full disk (or a full quota)
_NO_SPACE = (_errno.ENOSPC, _errno.EDQUOT)


def free_space(folder: str | Path) -> int:
    """Bytes free for this user on the file system that holds ``folder``."""
    return shutil.disk_usage(folder).free


def _size(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def check_free_space(path: str | Path, nbytes: int) -> None:
    """Raise ``OSError(ENOSPC)`` naming ``path`` when its folder has less than ``nbytes``
    free; called before writing, so that a full disk is an error and not a half-written file
    (or a ``SIGBUS`` through a memory map)."""
    path = Path(path)
    free = free_space(path.parent)
    if nbytes > free:
        raise OSError(_errno.ENOSPC, f"not enough free space to write {path}: it needs "
                      f"{_size(nbytes)} but {_size(free)} free; free some space or choose "
                      "another folder (nothing was changed)")


def no_space_error(path: str | Path, err: OSError) -> OSError:
    """``err`` (raised while writing ``path``) with the file named when the disk was full."""
    if err.errno not in _NO_SPACE:
        return err
    return OSError(err.errno, f"no space left on the device while writing {path}; free some "
                   "space or choose another folder (nothing was changed)")


class NpyWriter:
    """Writes a ``.npy`` file of known ``shape`` row block by row block, with plain writes.

    Unlike ``numpy.lib.format.open_memmap``, a full disk raises ``OSError`` naming the file
    instead of killing the process with ``SIGBUS``; the free space is checked when the file is
    opened. Use as a context manager; :meth:`close` checks that every row was written.
    """

    def __init__(self, path: str | Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
        import io

        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.rows_written = 0
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {
            "descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
            "shape": self.shape})
        check_free_space(self.path, len(header.getvalue())
                         + int(np.prod(self.shape)) * self.dtype.itemsize)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            self._write_all(header.getvalue())
        except BaseException:
            os.close(self._fd)
            raise

    def _write_all(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as err:
            raise no_space_error(self.path, err) from None

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows`` (shape ``(k, *shape[1:])``)."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.shape[1:] or self.rows_written + len(rows) > self.shape[0]:
            raise ValueError(f"{self.path}: rows of shape {rows.shape} do not fit "
                             f"{self.shape} after {self.rows_written} rows")
        self._write_all(rows.data)
        self.rows_written += len(rows)

    def close(self) -> None:
        """Close the file; raises when fewer rows than its shape were written."""
        os.close(self._fd)
        if self.rows_written != self.shape[0]:
            raise ValueError(f"{self.path}: {self.rows_written} of {self.shape[0]} rows written")

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            os.close(self._fd)


def save_npy(path: str | Path, array: np.ndarray) -> Path:
    """``np.save`` (no pickles) after checking the free space; a full disk raises an
    ``OSError`` naming ``path``. For files inside a :func:`staged_folder`."""
    array = np.asarray(array)
    check_free_space(path, array.nbytes + 4096)
    try:
        np.save(path, array, allow_pickle=False)
    except OSError as err:
        raise no_space_error(path, err) from None
    return Path(path)


def remove_stale_staged(folder: str | Path) -> list[Path]:
    """Remove the temporaries a killed process of this project left in ``folder`` (e.g. the
    staged folder of a ``Run.create`` killed with -9, beside the run); returns what went.

    For folders the user owns: only names this project makes (``.tmp-p<pid>-...``), only when
    that process no longer runs on this machine, never a symbolic link, only when the folder
    is writable; anything else that starts with ``.tmp-`` is the user's and stays.
    """
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir() or not os.access(folder, os.W_OK):
        return []
    removed = []
    for p in folder.glob(f"{TMP_PREFIX}p*"):
        owner = _TMP_OWNER.match(p.name)
        if owner is None or p.is_symlink() or _process_runs(int(owner.group(1))):
            continue
        try:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            removed.append(p)
        except OSError:
            continue
    return removed


def _process_runs(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (this process counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError) as err:  # another user's, or no pid at all
        return isinstance(err, PermissionError)
    return True
