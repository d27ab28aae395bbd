"""One writer at a time: an advisory lock on a run folder or an output file.

A training run folder and a batch-inference output are written by one job at
a time; a second writer is refused at once, with who holds the lock. The lock
is ``flock`` on a small file beside the locked path (``.<name>.lock``), which
the kernel releases when the holder exits, however it exits: a lock left by a
killed process is free for the next job, with no stale-lock heuristics. The
file holds the holder's pid, host, start time and command, for the message.

Readers (evaluation, inference from a finished adapter) take no lock.

Every output a user names (``--out``, ``--output``) is checked here, before any
work starts: :func:`check_output_file` accepts only a regular file or a new
path, because an atomic write (temporary file, then ``os.replace``) replaces
whatever is at the path, so ``--out /dev/full`` would turn the device node into
a regular file; :func:`check_output_folder` refuses a folder that holds files
t2s did not write.
"""

from __future__ import annotations

import datetime as _dt
import fcntl  # POSIX only, like Slurm and the rest of the job suite
import json
import os
import socket
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from t2s.errors import InputError, T2SError


class LockedError(T2SError):
    """Another process holds the lock; the message says which."""


def lock_path(path: str | Path) -> Path:
    """The lock file of ``path``: ``.<name>.lock`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


class WriterLock:
    """An exclusive, non-blocking lock on ``path`` for the life of a job.

    Example::

        with WriterLock("outputs/answers.jsonl", what="batch output"):
            ...  # the only writer of answers.jsonl

    Args:
        path: The folder or file to protect (it need not exist yet).
        what: What it is, for the message (``run folder``, ``batch output``).
    """

    def __init__(self, path: str | Path, what: str = "output") -> None:
        self.path = Path(path)
        self.what = what
        self.file = lock_path(self.path)
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        """Take the lock, or fail at once.

        Raises:
            LockedError: if another process holds it (naming pid, host, start time).
            T2SError: if the lock file cannot be created (read-only folder).
        """
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise T2SError(f"cannot create the lock {self.file} for {self.path}: "
                           f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockedError(f"{self.what} {self.path} is being written by another job "
                              f"({_describe(holder)}); wait for it to finish, or use another "
                              "path") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_holder()).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (idempotent); the lock file stays, empty of meaning."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _holder() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)[:300]}


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "holder unknown"
    return (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} since "
            f"{holder.get('started', '?')}: {holder.get('command', '?')}")


# ---------------------------------------------------------------------------
# Output paths, checked before any work


def check_output_file(path: str | Path, what: str = "--out") -> Path:
    """Check that ``path`` is a regular file or a new path that can be created.

    Args:
        path: The file the command will write (replaced whole, atomically).
        what: The flag or setting that named it, for the message.

    Returns:
        ``path`` as a Path.

    Raises:
        InputError: if it is a folder, a device, a FIFO or a socket; if it lies
            under a file; or if it cannot be written.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # new, or under a file (below)
        mode = None
    except OSError as exc:
        raise InputError(f"{what} {path}: {exc.strerror or exc}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise InputError(f"{what} {path} is a folder; give a file path")
    if mode is not None and not stat.S_ISREG(mode):
        raise InputError(f"{what} {path} is a {_kind(mode)}, not a regular file; t2s writes a "
                         "temporary file and renames it over the path, which would replace it: "
                         "give a regular file path")
    if mode is not None and not os.access(path, os.W_OK):
        raise InputError(f"{what} {path} is not writable")
    _check_writable(path.parent, what, file=path)
    return path


def check_output_dir(path: str | Path, what: str) -> Path:
    """Check that ``path`` is (or can become) a writable folder; its contents are not judged.

    For folders a command resumes in (a training run folder); a folder that must
    hold only t2s's own files is :func:`check_output_folder`.

    Raises:
        InputError: if it is not a folder, lies under a file, or cannot be written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {path} is a file, not a folder")
    _check_writable(path, what)
    return path


def check_output_folder(path: str | Path, what: str = "--out", *,
                        ours: Callable[[Path], bool] | None = None,
                        force: str | None = None) -> Path:
    """Check that ``path`` is a new or empty folder, or one t2s wrote earlier.

    Args:
        path: The folder the command will write into.
        what: The flag that named it, for the message.
        ours: Tells t2s's own earlier output (its marker file) from the user's
            folder; without it only a new or empty folder is accepted.
        force: The command's flag that writes there anyway (``--force``), named
            in the message; the caller skips this check when it is given.

    Returns:
        ``path`` as a Path.

    Raises:
        InputError: if it is not a folder, holds files t2s did not write, lies
            under a file, or cannot be written.
    """
    path = check_output_dir(path, what)
    if path.is_dir() and any(path.iterdir()) and not (ours is not None and ours(path)):
        how = f"choose a new or empty folder, or pass {force} to write into it anyway" if force \
            else "choose a new or empty folder"
        raise InputError(f"{what} {path} holds files t2s did not write; refusing to write "
                         f"into it (they could be overwritten): {how}")
    return path


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
             (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"))
    return next((name for test, name in kinds if test(mode)), "special file")


def _check_writable(folder: Path, what: str, file: Path | None = None) -> None:
    """The nearest existing ancestor of ``folder`` must be a writable folder."""
    named = file or folder
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{what} {named}: {existing} is a file, so nothing can be created "
                         "under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{what} {named}: {existing} is not writable (read-only mount or "
                         "permissions)")
