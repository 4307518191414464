"""Output files: folders checked before any computing, and an advisory lock per file."""

import errno
import fcntl
import os
import tempfile
from pathlib import Path


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
