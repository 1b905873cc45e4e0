"""Writing files safely: one atomic writer and one staged folder for the whole package.

Every file the package writes goes through :func:`atomic_write` (a unique temporary name next to
the target, flushed to disk, renamed over the target, removed on failure) and gets the user's
umask (``tempfile`` creates 0600 files and 0700 folders, which would make a run shared with a
colleague unreadable to them). Folders assembled from several files use :func:`staged_folder`.
A full disk fails with :class:`NoSpaceError`, naming the file and the space it needs, before the
old file is touched.

Every ``.npz`` the package reads goes through :func:`read_npz`: each member's declared size and
``.npy`` header are checked before anything is decompressed, so a small file cannot expand into
gigabytes (a "zip bomb") and no pickle is ever read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

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


class NoSpaceError(OSError):
    """The disk (or the user's quota) is full: the message names the file and the space needed.

    Raised before the target is touched: the file that was there stays as it was.
    """


def _size_text(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            break
    return f"{n:.1f} {unit}"


def free_space(folder: str | Path) -> int | None:
    """Bytes free for this user on the file system holding ``folder`` (None: unknown)."""
    try:
        return int(shutil.disk_usage(folder).free)
    except OSError:
        return None


def _no_space(path: Path, size: int | None, cause: str = "") -> NoSpaceError:
    free = free_space(path.parent)
    need = f"it needs {_size_text(size)}" if size is not None else "it needs more"
    have = f" and {_size_text(free)} are free there" if free is not None else ""
    return NoSpaceError(
        errno.ENOSPC,
        f"not enough disk space to write {path}: {need}{have}{cause}. Free some space (or "
        "move the folder to a larger disk) and try again; the previous file, if any, is "
        "unchanged.")


def atomic_write(path: str | Path, write: Callable[[Path], None],
                 size: int | None = None) -> Path:
    """Write ``path`` through ``write(tmp)`` into a unique temporary file, then rename it.

    The temporary file sits in the same folder (so the rename is atomic), is flushed to disk
    before the rename, gets the user's umask, and is removed if anything fails; readers see the
    old file or the new one, never half of one. ``size`` (bytes, when known) is checked against
    the free space first; a full disk raises :class:`NoSpaceError` naming ``path`` and the
    space needed.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"{path} is a folder; give a file name in it "
                                f"(e.g. {path / 'name'}.<ext>)", str(path))
    _make_parent(path)
    if size is not None:
        free = free_space(path.parent)
        if free is not None and free < size:
            raise _no_space(path, size)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f"{_tmp_prefix(path.name)}.")
    except OSError as err:
        if err.errno in _FULL:
            raise _no_space(path, size) from err
        raise _named(err, path) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in _FULL and not isinstance(err, NoSpaceError):
            raise _no_space(path, size, f" ({err.strerror})") from err
        if isinstance(err, OSError) and not isinstance(err, NoSpaceError) \
                and tmp.name in str(err):  # the temporary's name would only confuse: the target's
            raise _named(err, path) from None
        raise
    return path


def _make_parent(path: Path) -> None:
    """Create ``path``'s folder; a failure names ``path`` (and a file standing where a folder
    should be)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        blocker = next((p for p in (path.parent, *path.parent.parents) if p.is_file()), None)
        if blocker is not None:
            raise NotADirectoryError(errno.ENOTDIR, f"cannot write {path}: {blocker} is a "
                                     "file, not a folder", str(path)) from None
        raise _named(err, path) from None


def _named(err: OSError, path: Path) -> OSError:
    """``err`` (same class and errno) saying it of ``path``, not of a temporary file beside it."""
    return type(err)(err.errno, f"cannot write {path}: {err.strerror or err}", str(path))


#: errno values of a full disk or an exhausted quota
_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, atomically (its size checked against the free space)."""
    return atomic_write(path, lambda p: p.write_bytes(data), size=len(data))


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
    data = json.dumps(obj, indent=1, default=_json_default).encode("utf-8")
    return write_bytes(path, data)


def write_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """Write arrays to an uncompressed ``.npz``, atomically (read with ``allow_pickle=False``)."""

    def write(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez(fh, **arrays)

    size = sum(np.asarray(a).nbytes + 512 for a in arrays.values()) + 22
    return atomic_write(path, write, size=size)


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    """Write one array to ``.npy``, atomically."""

    def write(p: Path) -> None:
        with open(p, "wb") as fh:
            np.save(fh, np.asarray(array), allow_pickle=False)

    return atomic_write(path, write, size=np.asarray(array).nbytes + 128)


class NpySpec(NamedTuple):
    """What one member of an ``.npz`` declares, read before its data is decompressed."""

    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int


#: a deflated member may expand to at most this many times its stored size (numeric arrays
#: deflate by 2-10x; a zip bomb by ~1000x); the package itself writes members uncompressed
MAX_DEFLATE_RATIO = 50
#: below this many bytes a member's expansion is not worth checking
_SMALL_MEMBER = 1 << 20


def npz_specs(path: str | Path) -> dict[str, NpySpec]:
    """Shape, dtype and size of every array in an ``.npz``, without decompressing the data.

    Raises ``ValueError`` naming the file and the member when a member is not a plain ``.npy``
    array, holds Python objects (a pickle), would expand far beyond its stored size, or
    declares a shape that does not match its size; ``OSError`` when it cannot be read.
    """
    path = Path(path)
    with _open_zip(path) as zf:
        return {_member_name(path, i): _member_spec(path, zf, i) for i in zf.infolist()}


def read_npz(path: str | Path,
             check: Callable[[Mapping[str, NpySpec]], None] | None = None
             ) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``, checked before it is decompressed (no pickles).

    Each member is checked on its own first (see :func:`npz_specs`); ``check(specs)``
    (raising ``ValueError``) then checks them against what the caller expects (shapes from a
    run, a size budget) before a byte of data is read.
    """
    path = Path(path)
    with _open_zip(path) as zf:
        members = {_member_name(path, i): i for i in zf.infolist()}
        specs = {name: _member_spec(path, zf, i) for name, i in members.items()}
        if check is not None:
            check(specs)
        out = {}
        for name, info in members.items():
            with zf.open(info) as fh:
                out[name] = np.lib.format.read_array(fh, allow_pickle=False)
        return out


@contextlib.contextmanager
def _open_zip(path: Path) -> Iterator[zipfile.ZipFile]:
    try:
        with zipfile.ZipFile(path) as zf:
            yield zf
    except (zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{path} is not a readable .npz archive ({err})") from None


def _member_name(path: Path, info: zipfile.ZipInfo) -> str:
    if not info.filename.endswith(".npy"):
        raise ValueError(f"{path}: member {info.filename!r} is not an .npy array")
    return info.filename[: -len(".npy")]


def _member_spec(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> NpySpec:
    where = f"{path}, array {info.filename[:-4]!r}"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{where}: compression method {info.compress_type} is not read")
    if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > max(
            _SMALL_MEMBER, MAX_DEFLATE_RATIO * info.compress_size):
        raise ValueError(
            f"{where} declares {_size_text(info.file_size)} compressed into "
            f"{_size_text(info.compress_size)} (more than {MAX_DEFLATE_RATIO}x): refused "
            "without decompressing (a zip bomb, or not written by dvi_widget)")
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except (ValueError, EOFError, OSError) as err:
            raise ValueError(f"{where}: damaged .npy header ({err})") from None
        header = fh.tell()
    if dtype.hasobject:
        raise ValueError(f"{where} holds Python objects (a pickle), which are never read")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes + header != info.file_size:
        raise ValueError(
            f"{where} declares shape {tuple(shape)} {dtype} ({_size_text(nbytes)}) but holds "
            f"{_size_text(info.file_size - header)}: damaged or tampered with")
    return NpySpec(tuple(int(d) for d in shape), dtype, nbytes)


@contextlib.contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, moved into its place when the block succeeds.

    An existing ``target`` is replaced only after the new one is complete; on failure the
    temporary folder is removed and ``target`` is left as it was. The folder gets the user's
    umask; its files are flushed to disk before the move.
    """
    target = Path(target)
    _make_parent(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f"{_tmp_prefix(target.name)}-", dir=target.parent))
    except OSError as err:
        if err.errno in _FULL:
            raise _no_space(target, None) from err
        raise _named(err, target) from None  # not the temporary's name
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


def _writer_alive(pid: int) -> bool:
    """Whether process ``pid`` (the writer named in a temporary name) still runs here."""
    if pid == os.getpid():
        return True  # this process may be writing it right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OverflowError:  # not a pid this system can have
        return False
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove what an interrupted (e.g. killed) write left in ``folder``; returns what went.

    Only the package's own temporaries are touched (``.tmp-p<pid>-...``, as :func:`atomic_write`
    and :func:`staged_folder` name them), only when the folder is writable (a read-only run is
    left alone), and never while the process that wrote them still runs (checked on this
    machine: a writer on another machine sharing the folder is not seen). A symbolic link is
    never followed: a linked folder, or a link among the temporaries, is left alone.
    """
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir() or not os.access(folder, os.W_OK):
        return []
    removed = []
    for p in folder.glob(f"{TMP_PREFIX}*"):
        owner = _TMP_OWNER.match(p.name)
        if owner is None or _writer_alive(int(owner.group(1))):
            continue  # not a name this package writes, or its writer still runs
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            continue
    return removed


# --------------------------------------------------------------------------------------------
# free space before a write, streamed arrays
# --------------------------------------------------------------------------------------------


def check_free_space(path: str | Path, nbytes: int) -> None:
    """Raise :class:`NoSpaceError` naming ``path`` when its folder has less than ``nbytes``
    free; called before writing, so that a full disk is an error and not a half-written file
    (or a ``SIGBUS`` through a memory map)."""
    path = Path(path)
    free = free_space(path.parent)
    if free is not None and nbytes > free:
        raise _no_space(path, nbytes)


def no_space_error(path: str | Path, err: OSError) -> OSError:
    """``err`` (raised while writing ``path``) as a :class:`NoSpaceError` naming the file when
    the disk was full; other errors unchanged."""
    if err.errno not in _FULL or isinstance(err, NoSpaceError):
        return err
    return _no_space(Path(path), None, f" ({err.strerror})")


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
