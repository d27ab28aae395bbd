"""Write the sample dataset to disk, and rewrite it only when it is missing or stale.

Layout (Spider's)::

    tables.json  train.json  dev.json  train_gold.sql  dev_gold.sql  MANIFEST.json
    database/<db_id>/<db_id>.sqlite

``MANIFEST.json`` is written last and records the generator version, a digest of
the generator's source, the seed and a SHA-256 per file, so
:func:`ensure_sample_dataset` can tell a complete, current copy from a stale or
half-written one.
"""

from __future__ import annotations

import contextlib
import fcntl  # POSIX only, like Slurm and the rest of the job suite
import hashlib
import json
import os
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from t2s.data.sample.databases import BUILDERS
from t2s.data.sample.questions import Pair, generate_pairs
from t2s.data.sample.schema import tables_json_entry, write_sqlite
from t2s.data.sample.templates import SHAPES
from t2s.errors import DataError

# Bump when the output changes on purpose; the source digest below also catches
# edits that forget to bump it, so a stale copy is never reused.
GENERATOR_VERSION = "2"

MANIFEST = "MANIFEST.json"
# Marks a directory as ours: only such a directory is ever rewritten without
# overwrite=True, so pointing ensure_sample_dataset at a real Spider copy cannot
# clobber its tables.json or dev.json.
GENERATOR_NAME = "t2s sample-data"
SPLIT_FILES = ("train", "dev")
# 80/20 by question: ~400 train / ~100 dev pairs over the five databases.
DEV_FRACTION = 0.2


def write_sample_dataset(out_dir: str | Path, seed: int = 0, overwrite: bool = False) -> Path:
    """Generate the sample Spider-format dataset into ``out_dir``.

    The same seed always gives byte-identical JSON files and SQLite files with
    identical contents. Building takes well under a second.

    Args:
        out_dir: Target directory; created if needed.
        seed: Seed of every random choice (rows, questions, split).
        overwrite: Replace a dataset already in ``out_dir``. Only the files this
            generator writes (and those its old manifest lists) are removed.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        DataError: if ``out_dir`` already holds a dataset and ``overwrite`` is
            false, is not a directory, or cannot be written.
    """
    out = Path(out_dir)
    with _locked(out):
        if not overwrite and _holds_dataset(out):
            old = read_manifest(out) or {}
            raise DataError(
                f"{out} already holds a dataset (seed {old.get('seed', '?')}, generator "
                f"{old.get('generator_version', '?')}); pass overwrite=True (--force) to "
                "replace it")
        _write(out, seed)
    return out


def ensure_sample_dataset(out_dir: str | Path, seed: int = 0) -> Path:
    """Write the sample dataset into ``out_dir`` unless a current copy is there.

    A copy is current when its manifest has this generator's version, source
    digest and ``seed``, and every file it lists has the recorded SHA-256; a
    stale copy written by this generator (older version, other seed, edited or
    missing file, interrupted write) is rewritten. Concurrent callers (two test
    workers, a demo) are serialised by a lock on the directory, so only one of
    them writes.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        DataError: if ``out_dir`` holds a dataset this generator did not write
            (it is never overwritten here), is not a directory, or cannot be
            written.
    """
    out = Path(out_dir)
    with _locked(out):
        if not is_current(out, seed):
            if _holds_dataset(out) and not is_generated(out):
                origin = copied_from(out)
                if origin is not None:
                    raise DataError(
                        f"{out} is a copy of the sample dataset generated in {origin}; "
                        "t2s regenerates only the folder it wrote, so the copy (and any edit "
                        f"in it) is kept. To train or evaluate on it, set data.source: spider "
                        f"(with data.root={out})")
                raise DataError(f"{out} holds a dataset that t2s sample-data did not write; "
                                "refusing to overwrite it (use data.source: spider to read it, "
                                "or choose another directory)")
            _write(out, seed)
    return out


def is_generated(out_dir: str | Path) -> bool:
    """Whether this generator wrote ``out_dir`` itself (complete or not), not a copy of it.

    A manifest naming another folder is a copy (``cp -a``), the user's to edit.
    Manifests from before the folder was recorded count as written here.
    """
    manifest = read_manifest(out_dir)
    if manifest is None or manifest.get("generator") != GENERATOR_NAME:
        return False
    return manifest.get("folder", str(Path(out_dir).resolve())) == str(Path(out_dir).resolve())


def copied_from(out_dir: str | Path) -> str | None:
    """The folder a copied sample dataset was generated in, or None if it is not a copy."""
    manifest = read_manifest(out_dir)
    if manifest is None or manifest.get("generator") != GENERATOR_NAME or is_generated(out_dir):
        return None
    return str(manifest.get("folder"))


def is_current(out_dir: str | Path, seed: int = 0) -> bool:
    """Whether ``out_dir`` holds a complete dataset from this generator and ``seed``."""
    out = Path(out_dir)
    manifest = read_manifest(out)
    if manifest is None or manifest.get("files") is None:
        return False
    expected = {"generator_version": GENERATOR_VERSION, "source_digest": source_digest(),
                "seed": seed}
    if any(manifest.get(key) != value for key, value in expected.items()):
        return False
    for name, digest in manifest["files"].items():
        path = _inside(out, name)
        if path is None or not path.is_file() or _sha256(path) != digest:
            return False
    return True


def read_manifest(out_dir: str | Path) -> dict[str, Any] | None:
    """The manifest of a dataset directory, or None if it is missing or unreadable."""
    path = Path(out_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def source_digest() -> str:
    """SHA-256 over the generator's own source files (first 16 hex digits)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def split_pairs(pairs: list[Pair], seed: int) -> tuple[list[Pair], list[Pair]]:
    """Split pairs into train and dev by question, stratified by (db_id, shape).

    The split is by question, not by database: the demo's tiny model must see
    every schema during training, or it could not produce a single dev table
    name. Every (db_id, shape) group with at least two pairs puts
    ``round(DEV_FRACTION * n)`` (at least one) of them in dev, so every database
    and every query shape appears in both splits. Order within each split is the
    order of ``pairs``.
    """
    rng = random.Random(f"{seed}:split")
    groups: dict[tuple[str, str], list[int]] = {}
    for index, pair in enumerate(pairs):
        groups.setdefault((pair.db_id, pair.shape), []).append(index)
    dev_indices: set[int] = set()
    for key in sorted(groups):
        members = groups[key]
        if len(members) < 2:
            continue
        rng.shuffle(members)
        dev_indices.update(members[:max(1, round(DEV_FRACTION * len(members)))])
    train = [p for i, p in enumerate(pairs) if i not in dev_indices]
    dev = [p for i, p in enumerate(pairs) if i in dev_indices]
    return train, dev


def _write(out: Path, seed: int) -> None:
    """Generate everything into ``out`` (the caller holds the lock).

    Raises:
        DataError: if a file cannot be written.
    """
    try:
        _remove_previous(out)
        entries: list[dict[str, Any]] = []
        pairs: list[Pair] = []
        files: dict[str, str] = {}
        for db_id, build in BUILDERS.items():
            spec = build(random.Random(f"{seed}:{db_id}:rows"))
            relative = f"database/{db_id}/{db_id}.sqlite"
            path = out / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.unlink(missing_ok=True)
            write_sqlite(spec, temporary)
            os.replace(temporary, path)
            files[relative] = _sha256(path)
            entries.append(tables_json_entry(spec))
            # Read-only: the question generator only queries the database.
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                pairs.extend(generate_pairs(spec, connection,
                                            random.Random(f"{seed}:{db_id}:questions")))
            finally:
                connection.close()
        records = _records(pairs)
        train, dev = split_pairs(pairs, seed)
        by_pair = {id(p): r for p, r in zip(pairs, records, strict=True)}
        outputs = {"tables.json": _json_text(entries)}
        for name, split in zip(SPLIT_FILES, (train, dev), strict=True):
            outputs[f"{name}.json"] = _json_text([by_pair[id(p)] for p in split])
            outputs[f"{name}_gold.sql"] = "".join(f"{p.query}\t{p.db_id}\n" for p in split)
        for name, text in outputs.items():
            _write_text(out / name, text)
            files[name] = _sha256(out / name)
        manifest = {
            "generator": GENERATOR_NAME,
            "complete": True,
            "generator_version": GENERATOR_VERSION,
            "source_digest": source_digest(),
            "seed": seed,
            # The folder it was written into: a copy elsewhere (cp -a, then
            # edited) is the user's data, never regenerated over.
            "folder": str(out.resolve()),
            "counts": _counts(train, dev),
            "files": dict(sorted(files.items())),
        }
        _write_text(out / MANIFEST, _json_text(manifest))
    except OSError as exc:
        raise DataError(f"cannot write the sample dataset to {out}: {exc}") from exc


def _records(pairs: list[Pair]) -> list[dict[str, str]]:
    """Spider-format records; ``id`` numbers the pairs of each database from 0."""
    numbers: dict[str, int] = {}
    records = []
    for pair in pairs:
        number = numbers.get(pair.db_id, 0)
        numbers[pair.db_id] = number + 1
        records.append({"id": f"{pair.db_id}_{number:03d}", "db_id": pair.db_id,
                        "question": pair.question, "query": pair.query, "shape": pair.shape})
    return records


def _counts(train: list[Pair], dev: list[Pair]) -> dict[str, Any]:
    """Pairs per split, per database and per shape (in BUILDERS and SHAPES order)."""
    counts: dict[str, Any] = {}
    for name, split in zip(SPLIT_FILES, (train, dev), strict=True):
        by_db = {db_id: sum(p.db_id == db_id for p in split) for db_id in BUILDERS}
        by_shape = {shape: sum(p.shape == shape for p in split) for shape in SHAPES}
        counts[name] = {"total": len(split), "by_db": by_db, "by_shape": by_shape}
    return counts


def _holds_dataset(out: Path) -> bool:
    return any((out / name).exists() for name in (MANIFEST, "tables.json", "database"))


def _remove_previous(out: Path) -> None:
    """Delete what an earlier run wrote, after replacing its manifest with an
    incomplete one: a crash from here on leaves a directory that
    :func:`is_current` rejects and :func:`is_generated` still claims."""
    old = read_manifest(out) or {}
    _write_text(out / MANIFEST, _json_text({"generator": GENERATOR_NAME, "complete": False,
                                            "folder": str(out.resolve())}))
    names = set(old.get("files") or {}) - {MANIFEST} | {"tables.json"}
    names |= {f"{s}.json" for s in SPLIT_FILES} | {f"{s}_gold.sql" for s in SPLIT_FILES}
    names |= {f"database/{db_id}/{db_id}.sqlite" for db_id in BUILDERS}
    for name in sorted(names):
        path = _inside(out, name)
        if path is None:
            continue
        path.unlink(missing_ok=True)
        if path.parent != out:
            with contextlib.suppress(OSError):  # not empty: the user's files stay
                path.parent.rmdir()


def _inside(out: Path, name: Any) -> Path | None:
    """``out / name`` if ``name`` is a relative path that stays inside ``out``."""
    if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
        return None
    return out / name


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on directory ``out`` (created if needed).

    Raises:
        DataError: if ``out`` exists but is not a directory, or cannot be created.
    """
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(out, os.O_RDONLY)
    except OSError as exc:
        raise DataError(f"cannot create {out}: {exc}") from exc
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, then rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
