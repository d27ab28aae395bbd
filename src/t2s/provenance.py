"""Run provenance: package versions, git commit, data fingerprints, atomic writes.

Every run folder (training, evaluation, inference) records where its numbers
came from, so a result can be reproduced or told apart from a stale one.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import resource  # POSIX, like the rest of the job suite
import subprocess
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = ("t2s", "torch", "transformers", "peft", "trl", "accelerate", "datasets",
                    "tokenizers", "sqlglot", "sqlparse", "deepspeed", "submitit")


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (None when a package is absent)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current commit (with ``-dirty`` when the tree has changes), or None outside git."""
    where = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes.

    Raises:
        OSError: if the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def folder_sha256(path: str | Path, patterns: tuple[str, ...] = ("*.safetensors", "*.json", "*.bin")) -> str:
    """One hash over the matching files of a folder (names and bytes), e.g. an adapter."""
    digest = hashlib.sha256()
    root = Path(path)
    for file in sorted(p for pattern in patterns for p in root.glob(pattern)):
        digest.update(file.name.encode())
        digest.update(file_sha256(file).encode())
    return digest.hexdigest()


def environment() -> dict[str, Any]:
    """Versions, commit, host facts and the time, for a run manifest."""
    return {
        "time_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
    }


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write text via a temporary file, fsync and ``os.replace``: readers never see half a file.

    Raises:
        OSError: if the folder cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, payload: Any) -> None:
    """Write JSON atomically (see :func:`write_text_atomic`).

    Raises:
        OSError: if the folder cannot be written.
    """
    write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """``key.sub: old -> new`` for every leaf that differs between two job or run identities.

    Batch jobs (their manifest) and training runs (``run.json``) both use it, so
    a refusal to resume reads the same everywhere.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for key in sorted(set(old) | set(new), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            lines += differences(old.get(key), new.get(key), name)
        return lines
    if old == new:
        return []
    return [f"{prefix}: {_short(old)} -> {_short(new)}"]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------
# Disk-full as one message (output paths are checked in t2s.outputs)


# A write that fails for want of room: a full disk, a full quota, or a file past
# the process's file-size limit (``ulimit -f``, RLIMIT_FSIZE).
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# torch.save's zip writer reports a failed write with no errno at all:
# "PytorchStreamWriter failed writing file data/0: file write failed" (ENOSPC)
# or "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534" (EFBIG).
_TORCH_WRITER = ("PytorchStreamWriter failed writing", "inline_container.cc")


def disk_full_message(exc: BaseException, where: str | Path) -> str | None:
    """A one-line message for a write that failed for want of room, or None for other errors.

    Recognises an ``OSError`` (ENOSPC, EDQUOT, EFBIG) and the errors of library
    writers that wrap one: safetensors (``... No space left on device (os error
    28)``) and torch.save (no errno; see :data:`_TORCH_WRITER`).
    """
    reason = _full_reason(exc)
    if reason is None:
        return None
    return (f"no space left while writing {where} ({reason}); what was written before stays "
            "valid: free space (or raise the file-size limit) and run the same command again "
            "to continue")


def _full_reason(exc: BaseException) -> str | None:
    if isinstance(exc, OSError):
        return exc.strerror if exc.errno in _FULL else None
    text = str(exc)
    named = next((os.strerror(code) for code in _FULL if os.strerror(code) in text), None)
    if named is not None:
        return named
    if any(marker in text for marker in _TORCH_WRITER):
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY:
            return f"{os.strerror(errno.EFBIG)}: the file-size limit is {limit} bytes"
        return "torch.save could not write: the disk or quota is full"
    return None
