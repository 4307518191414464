"""Output files: folders checked before any computing, and an advisory lock per file."""

import errno
import fcntl
import glob
import hashlib
import json
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np

#: Version of the sweep files' format (2: the `checksums` attribute and the trailer).
FORMAT_VERSION = 2


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def output_dir(path, name: str = "out") -> Path:
    """Make `path` a folder that can be written, now, before anything is computed.

    Creates the folder (and its parents) if needed and writes (and removes) a temporary
    file in it.

    **Arguments:** `path`; `name`, the argument named in the error.

    **Returns:** `path` as a `Path`.

    **Raises:** `ValueError` naming `name` if `path` is a file, or cannot be created or
    written.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except FileExistsError:
        raise ValueError(f"`{name}` {str(path)!r} is a file, not a folder.") from None
    except OSError as err:
        raise ValueError(f"`{name}` folder {str(path)!r} cannot be written: "
                         f"{_reason(err)}.") from None
    return path


class FileLock:
    """An exclusive advisory lock (`fcntl.flock`) on `path`, held from `acquire` to
    `release`, through the lock file `path.lock` beside it.

    The lock is taken at once or refused (no waiting); the kernel releases it when the
    holder dies, so a killed writer never leaves a stale lock. The lock file carries the
    holder's process id, for the message a refused writer gets; it is removed on
    release (while still locked, and a writer checks after locking that its lock file is
    still the one on disk, so that removal is safe).
    """

    def __init__(self, path, name: str = "out"):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.name = name
        self._fd = None

    def acquire(self) -> "FileLock":
        """Take the lock.

        **Raises:** `ValueError` naming the argument if another process holds it, or if
        the lock file cannot be created (a missing or read-only folder): so an output
        that cannot be written is refused before any computing.
        """
        parent = self.path.parent
        if self.path.is_dir():
            raise ValueError(f"`{self.name}` {str(self.path)!r} is a folder, not a file.")
        if not parent.is_dir():
            raise ValueError(f"`{self.name}` {str(self.path)!r}: the folder {str(parent)!r} "
                             "does not exist.")
        while True:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise ValueError(f"`{self.name}` {str(self.path)!r} cannot be written: "
                                 f"{_reason(err)}.") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                os.close(fd)
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise ValueError(f"`{self.name}` {str(self.path)!r} cannot be locked: "
                                     f"{_reason(err)}.") from None
                raise ValueError(
                    f"`{self.name}` {str(self.path)!r} is being written by another process"
                    + (f" (pid {holder})" if holder else "")
                    + f"; refusing to write it at the same time (lock {self.lock_path})."
                ) from None
            try:
                current = os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)  # its holder removed the file between our open and flock: retry
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and release the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            os.unlink(self.lock_path)
        except FileNotFoundError:  # pragma: no cover - removed by hand
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


# --------------------------------------------------------------- checked netCDF files


def _digest(values) -> str:
    """SHA-256 of an array's dtype, shape and bytes (or of a string attribute)."""
    if isinstance(values, str):
        return hashlib.sha256(values.encode()).hexdigest()
    arr = np.ascontiguousarray(values)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _checksums(ds) -> dict:
    """Digests of every variable, coordinate and attribute (but `checksums`) of `ds`."""
    sums = {name: _digest(ds[name].values) for name in [*ds.data_vars, *ds.coords]}
    sums.update({f"attrs.{k}": _digest(str(v)) for k, v in ds.attrs.items()
                 if k != "checksums"})
    return sums


_TRAILER = b"\ngradflow-sha256:"
_TRAILER_SIZE = len(_TRAILER) + 64 + 1


def _append_trailer(path) -> None:
    with open(path, "rb+") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
        fh.write(_TRAILER + digest.encode() + b"\n")


def _check_trailer(path: Path, where: str) -> None:
    """The whole-file digest, checked before HDF5 parses anything (if the file has it)."""
    with open(path, "rb") as fh:
        data = fh.read()
    tail = data[-_TRAILER_SIZE:]
    if not (tail.startswith(_TRAILER) and tail.endswith(b"\n")):
        return  # none (format 1, or re-saved by another tool): per-variable checks only
    if hashlib.sha256(data[:-_TRAILER_SIZE]).hexdigest().encode() != tail[len(_TRAILER):-1]:
        raise ValueError(f"{where} is damaged: its bytes do not match the SHA-256 written "
                         "with them.")


def _tmp_name(path: Path) -> re.Pattern:
    return re.compile(re.escape(path.name) + r"\.[A-Za-z0-9_]{8}\.tmp")


def _write_atomic(ds, path: Path):
    """Write `ds` with its checksums to a uniquely named temporary file beside `path`,
    then rename it over `path`."""
    ds.attrs["checksums"] = json.dumps(_checksums(ds), sort_keys=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        _append_trailer(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of a writer that was killed mid-write (the lock is ours now)."""
    pattern = _tmp_name(path)
    for tmp in path.parent.glob(glob.escape(path.name) + ".*.tmp"):
        if pattern.fullmatch(tmp.name):
            tmp.unlink(missing_ok=True)


def read_checked(path, where: str):
    """Read a netCDF file written by `_write_atomic` into memory and check it: the
    whole-file digest before HDF5 parses anything, then the JSON `config` attribute and
    its `format_version`, then every variable's checksum.

    **Returns:** `(dataset, config)`. **Raises:** `FileNotFoundError`, or `ValueError`
    starting with `where` for anything that is not an intact file. **Warns:** for
    format 1, which has no checksums.
    """
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no {where}.")
    if path.is_dir():
        raise ValueError(f"{where} is a folder.")
    _check_trailer(path, where)
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
    except Exception as err:  # h5py/h5netcdf/xarray raise many types for a bad file
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{where} cannot be read as netCDF (empty, truncated or not a "
                         f"sweep file): {detail}") from None
    try:
        config = json.loads(ds.attrs["config"])
        version = config["format_version"]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{where} is not a gradflow sweep file (no valid `config` "
                         "attribute).") from None
    if version == 1:
        warnings.warn(f"{where} is of format 1, which has no checksums: its data cannot be "
                      "verified.", UserWarning, stacklevel=3)
    elif version != FORMAT_VERSION:
        raise ValueError(f"{where} has format {version!r}; this gradflow reads formats 1 "
                         f"and {FORMAT_VERSION}.")
    else:
        try:
            stored = json.loads(ds.attrs["checksums"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{where} is damaged: its `checksums` attribute is missing or "
                             "unreadable.") from None
        actual = _checksums(ds)
        bad = sorted(k for k in stored.keys() | actual.keys() if stored.get(k) != actual.get(k))
        if bad:
            raise ValueError(f"{where} is damaged: the data read back of "
                             f"{', '.join(bad)} does not match the checksum written with it.")
    return ds, config
