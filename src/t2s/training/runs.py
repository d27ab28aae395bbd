"""Training run folders: what identifies a run, which checkpoint can be trusted.

A run folder (``train.output_dir``) belongs to one run. Before its first
checkpoint, ``run.json`` records the run's *identity*: the resolved config
without the settings that may change when a run is resumed
(:data:`RESUMABLE_KEYS`), the data fingerprints and the base model's
fingerprint. ``train.resume``:

- ``auto`` (default): resume the newest trusted checkpoint of the *same* run; a
  folder holding another run is refused with a ``key: old -> new`` list;
- ``must``: as ``auto``, and fail if there is nothing to resume;
- ``never``: start over; an earlier run in the folder is moved aside to
  ``<folder>.old-<time>/`` (never deleted; other files, such as the sample data
  under the default ``outputs/``, stay);
- a checkpoint folder: resume from it (it must verify).

Every checkpoint's completion marker (``t2s_complete.json``) records the run's
identity digest and each file's size and SHA-256. Resume verifies them and
falls back to the newest checkpoint that verifies, moving incomplete or
damaged ones aside with a warning, so no resume ends in a traceback.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from t2s.config import Config, to_dict
from t2s.errors import T2SError
from t2s.provenance import differences, file_sha256, write_json_atomic

log = logging.getLogger(__name__)

RUN_RECORD = "run.json"
COMPLETE_MARKER = "t2s_complete.json"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")

# Settings that may change between a run and its resumption: how long it runs,
# how often it logs, evaluates and saves, where things are and where results
# go. Everything else (model, LoRA, data, prompt, optimisation) is the run.
RESUMABLE_KEYS = (
    "train.max_steps", "train.num_train_epochs", "train.logging_steps", "train.eval_steps",
    "train.save_steps", "train.save_total_limit", "train.report_to", "train.resume",
    "train.output_dir", "train.dataloader_num_workers", "train.per_device_eval_batch_size",
    "data.root", "model.tiny.base_dir", "eval", "infer", "slurm",
)


def run_identity(config: Config, data_fingerprints: dict[str, str],
                 base_fingerprint: str) -> dict[str, Any]:
    """What makes two trainings the same run (JSON-ready)."""
    tree = to_dict(config)
    for dotted in RESUMABLE_KEYS:
        *parents, leaf = dotted.split(".")
        node = tree
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    identity = {"config": tree, "data": dict(sorted(data_fingerprints.items())),
                "base_model": base_fingerprint}
    return json.loads(json.dumps(identity))  # as run.json will hold it


def identity_digest(identity: dict[str, Any]) -> str:
    """SHA-256 of an identity, for checkpoint markers."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def read_run_record(output_dir: str | Path) -> dict[str, Any] | None:
    """``run.json`` of a folder, or None when absent or unreadable."""
    try:
        record = json.loads((Path(output_dir) / RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def write_run_record(output_dir: str | Path, identity: dict[str, Any]) -> None:
    """Record the run's identity (before its first checkpoint)."""
    write_json_atomic(Path(output_dir) / RUN_RECORD, {
        "identity": identity, "identity_sha256": identity_digest(identity),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")})


def checkpoints(output_dir: str | Path) -> list[Path]:
    """``checkpoint-N`` folders, oldest step first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if p.is_dir() and (m := _CHECKPOINT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def holds_a_run(output_dir: str | Path) -> bool:
    """Whether the folder holds anything of a training run."""
    root = Path(output_dir)
    return (root / RUN_RECORD).is_file() or (root / "final_model").exists() or bool(
        checkpoints(root))


# What a training run writes into its folder. Moving a run aside moves these
# only: the default train.output_dir (outputs/) also holds the sample data, the
# tiny base and evaluation reports, which belong to no run.
_RUN_FILES = (RUN_RECORD, "config.yaml", "run_info.json", "loss_curve.png", "logs",
              "final_model", "final_model.partial")
_RUN_FOLDER_PREFIXES = ("checkpoint-", "incomplete-checkpoint-", "damaged-checkpoint-")


def move_run_aside(output_dir: str | Path) -> Path:
    """Move the run in ``output_dir`` to ``<output_dir>.old-<time>/``; returns that folder."""
    root = Path(output_dir)
    aside = root.with_name(f"{root.name}.old-{_stamp()}")
    aside.mkdir(parents=True)
    for entry in sorted(root.iterdir()):
        if entry.name in _RUN_FILES or entry.name.startswith(_RUN_FOLDER_PREFIXES):
            entry.rename(aside / entry.name)
    return aside


def prepare_run_folder(output_dir: str | Path, resume: str, identity: dict[str, Any],
                       main: bool = True) -> str | None:
    """Apply ``train.resume`` to the folder; returns the checkpoint to resume from.

    Only the main process (``main``) moves folders and writes ``run.json``;
    the others check and read.

    Raises:
        T2SError: if the folder holds another run (listing ``key: old -> new``),
            ``must`` finds nothing to resume, or a named checkpoint is missing,
            damaged or of another run.
    """
    root = Path(output_dir)
    if resume == "never":
        if main and holds_a_run(root):
            aside = move_run_aside(root)
            print(f"[t2s] train.resume=never: moved the earlier run to {aside}")
        if main:
            root.mkdir(parents=True, exist_ok=True)
            write_run_record(root, identity)
        return None
    record = read_run_record(root)
    if record is None and holds_a_run(root):
        raise T2SError(f"train.output_dir {root} holds checkpoints or a final model but no "
                       f"{RUN_RECORD} (a run of an older t2s, or not t2s's): it cannot be "
                       "resumed safely. " + _WAYS_OUT.format(root=root))
    if record is not None:
        changed = differences(record.get("identity"), identity)
        if changed:
            raise T2SError(f"train.output_dir {root} holds another run; this one differs in:\n  "
                           + "\n  ".join(changed) + "\n" + _WAYS_OUT.format(root=root))
    if main and record is None:
        root.mkdir(parents=True, exist_ok=True)
        write_run_record(root, identity)
    if resume in ("auto", "must"):
        found = find_resume_checkpoint(root, identity_digest(identity), move_aside=main)
        if found is None and resume == "must":
            raise T2SError(f"train.resume=must: {root} has no complete checkpoint to resume")
        return found
    return _named_checkpoint(Path(resume), identity_digest(identity))


_WAYS_OUT = ("Either train into a new train.output_dir, or start over with t2s train "
             "--overwrite (train.resume=never): {root} is then moved aside to "
             "{root}.old-<time>, never deleted.")


def _named_checkpoint(path: Path, digest: str) -> str:
    if not path.is_dir():
        raise T2SError(f"train.resume: checkpoint folder {path} does not exist")
    problem = verify_checkpoint(path, digest)
    if problem:
        raise T2SError(f"train.resume: checkpoint {path} cannot be trusted: {problem}")
    return str(path)


def find_resume_checkpoint(output_dir: str | Path, digest: str | None = None,
                           move_aside: bool = True) -> str | None:
    """The newest checkpoint that verifies (see :func:`verify_checkpoint`), or None.

    Newer ones that do not verify (a crash mid-save, a truncated or edited
    file) are moved aside with a warning, so neither resume nor checkpoint
    rotation trusts them again.
    """
    for path in reversed(checkpoints(output_dir)):
        problem = verify_checkpoint(path, digest)
        if problem is None:
            return str(path)
        kind = "incomplete" if "no " + COMPLETE_MARKER in problem else "damaged"
        aside = path.with_name(f"{kind}-{path.name}-{_stamp()}")
        log.warning("skipping %s checkpoint %s (%s)%s", kind, path, problem,
                    f"; moved to {aside.name}" if move_aside else "")
        if move_aside:
            path.rename(aside)
    return None


def verify_checkpoint(path: str | Path, digest: str | None = None) -> str | None:
    """Why checkpoint ``path`` cannot be trusted, or None if it verifies.

    Args:
        path: A ``checkpoint-N`` folder.
        digest: The run's identity digest; a marker of another run fails.
    """
    path = Path(path)
    try:
        marker = json.loads((path / COMPLETE_MARKER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {COMPLETE_MARKER}: the save did not finish"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"unreadable {COMPLETE_MARKER} ({exc})"
    files = marker.get("files") if isinstance(marker, dict) else None
    if not isinstance(files, dict) or not files:
        return f"{COMPLETE_MARKER} lists no files (written by an older t2s)"
    if digest is not None and marker.get("run") != digest:
        return "it belongs to another run"
    for name, expected in files.items():
        file = path / name
        if not file.is_file():
            return f"{name} is missing"
        if file.stat().st_size != expected.get("size"):
            return f"{name} has {file.stat().st_size} bytes, {expected.get('size')} when saved"
        if file_sha256(file) != expected.get("sha256"):
            return f"{name} changed since it was saved (SHA-256 differs)"
    return None


def mark_complete(path: str | Path, step: int, digest: str) -> None:
    """Write the completion marker: the step, the run's digest, every file's size and hash."""
    path = Path(path)
    files = {str(f.relative_to(path)): {"size": f.stat().st_size, "sha256": file_sha256(f)}
             for f in sorted(_files(path.rglob("*"))) if f.name != COMPLETE_MARKER}
    write_json_atomic(path / COMPLETE_MARKER, {"step": step, "run": digest, "files": files})


def _files(paths: Iterable[Path]) -> Iterable[Path]:
    return (p for p in paths if p.is_file())


def _stamp() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
