"""One writer at a time: an advisory lock on a run folder or an output file.

A training run folder and a batch-inference output are written by one job at
a time; a second writer is refused at once, with who holds the lock. The lock
is ``flock`` on a small file beside the locked path (``.<name>.lock``), which
the kernel releases when the holder exits, however it exits: a lock left by a
killed process is free for the next job, with no stale-lock heuristics. The
file holds the holder's pid, host, start time and command, for the message.

Readers (evaluation, inference from a finished adapter) take no lock.
"""

from __future__ import annotations

import datetime as _dt
import fcntl  # POSIX only, like Slurm and the rest of the job suite
import json
import os
import socket
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from t2s.errors import T2SError


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
