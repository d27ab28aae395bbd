"""Spider-format views of non-Spider sources.

A source read by its adapter (:class:`~t2s.data.records.SourceData`) is written
once as a Spider-format directory, so training, evaluation (both modes),
inference and the REPL read one layout whatever the source::

    <data.prepared_dir>/<label>-<key>/
        view.json                         source, inputs and their hashes, counts, skips
        tables.json                       one tables.json entry per database
        <split>.json                      one Spider-format file per configured split
        database/<db_id>/<db_id>.sqlite   the source's file (hard link, else a copy), or a
                                          link to one written under database/.built/

``key`` hashes the examples, the schemas and the bytes of every input file, so
a changed input gets a new view and an unchanged one is reused as is. A view
is written into a temporary folder and renamed into place: concurrent
processes (one per GPU) never see half a view.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from t2s.data.records import SourceData
from t2s.data.spider import SpiderDataset, check_db_id
from t2s.errors import DataError
from t2s.provenance import file_sha256

VIEW_VERSION = 2
"""Bumped when the view layout changes, so old views are rebuilt."""

VIEW_MANIFEST = "view.json"
BUILT = ".built"
"""Folder inside ``database/`` of databases a view writes itself (not a valid db_id)."""


class PreparedDataset(SpiderDataset):
    """A Spider-format view, read like any Spider directory.

    Split names are those of the config (``train.jsonl``, ``validation``, ...);
    :meth:`split_path` maps them to the view's ``.json`` files.

    Args:
        root: The view folder.
        split_files: ``{configured split name: file name in root}``.
        info: The view's manifest (what run_info.json records).
    """

    def __init__(self, root: str | Path, split_files: dict[str, str], info: dict[str, Any]) -> None:
        super().__init__(root)
        self.split_files = split_files
        self.info = info

    def split_path(self, split_file: str) -> Path:
        """The view file of configured split ``split_file``."""
        return self.root / self.split_files.get(split_file, split_file)


def split_file_names(names: list[str]) -> dict[str, str]:
    """View file names for configured split names: ``<stem>.json``, unique.

    >>> split_file_names(["train.jsonl", "dev.csv", "validation"])
    {'train.jsonl': 'train.json', 'dev.csv': 'dev.json', 'validation': 'validation.json'}
    """
    files: dict[str, str] = {}
    for name in names:
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(name).stem if "." in name else name) or "split"
        candidate, n = f"{stem}.json", 2
        while candidate in files.values() or candidate in (VIEW_MANIFEST, "tables.json"):
            candidate, n = f"{stem}_{n}.json", n + 1
        files[name] = candidate
    return files


def view_key(data: SourceData, label: str) -> str:
    """12 hex digits over the examples, schemas and input bytes of ``data``."""
    digest = hashlib.sha256()
    payload = {
        "version": VIEW_VERSION, "kind": data.kind, "label": label,
        "splits": {name: [e.to_record() for e in examples]
                   for name, examples in sorted(data.splits.items())},
        "tables": data.tables,
        "databases": {k: str(v.resolve()) for k, v in sorted(data.databases.items())},
    }
    digest.update(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    for path in sorted(data.inputs):
        digest.update(f"{path.resolve()}={file_sha256(path)}".encode())
    return digest.hexdigest()[:12]


def open_view(data: SourceData, prepared_dir: str | Path, label: str) -> PreparedDataset:
    """The view of ``data`` under ``prepared_dir``, written first when missing.

    Raises:
        DataError: if the folder cannot be written, or a db_id is not a safe
            folder name.
    """
    key = view_key(data, label)
    safe_label = re.sub(r"[^A-Za-z0-9_-]", "_", label)
    target = Path(prepared_dir) / f"{safe_label}-{key}"
    split_files = split_file_names(list(data.splits))
    if not (target / VIEW_MANIFEST).is_file():
        _write_view(data, target, split_files, label, key)
    info = json.loads((target / VIEW_MANIFEST).read_text(encoding="utf-8"))
    return PreparedDataset(target, split_files, info)


def _write_view(data: SourceData, target: Path, split_files: dict[str, str], label: str,
                key: str) -> None:
    for db_id in data.tables:
        check_db_id(db_id)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        (tmp / "database").mkdir(parents=True)
        how: dict[str, int] = {"hard_linked": 0, "copied": 0, "built": 0}
        built = data.build_databases(tmp / "database" / BUILT) if data.build_databases else {}
        for db_id, path in built.items():
            if db_id in data.tables:
                folder = tmp / "database" / db_id
                folder.mkdir()
                # A link inside database/ (database_path refuses links leading out of it).
                (folder / f"{db_id}.sqlite").symlink_to(Path("..", BUILT, path.name))
                how["built"] += 1
        for db_id, path in data.databases.items():
            if db_id in data.tables and db_id not in built:
                folder = tmp / "database" / db_id
                folder.mkdir()
                how[_hard_link_or_copy(path, folder / f"{db_id}.sqlite")] += 1
        _dump(tmp / "tables.json", list(data.tables.values()))
        for name, examples in data.splits.items():
            _dump(tmp / split_files[name], [e.to_record() for e in examples])
        manifest = {
            "version": VIEW_VERSION, "source": data.kind, "label": label, "key": key,
            "inputs": [{"path": str(p.resolve()), "sha256": file_sha256(p)}
                       for p in sorted(data.inputs)],
            "splits": {name: {"file": split_files[name], "examples": len(examples)}
                       for name, examples in data.splits.items()},
            "databases": {"schemas": len(data.tables), **how},
            "skipped": [s.to_dict() for s in data.skipped],
            "report": data.report,
        }
        _dump(tmp / VIEW_MANIFEST, manifest)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / VIEW_MANIFEST).is_file():  # not another process's finished view
                raise
    except OSError as exc:
        raise DataError(f"cannot write the dataset view {target}: {exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _hard_link_or_copy(source: Path, target: Path) -> str:
    """Put ``source`` at ``target`` as a hard link (no bytes copied), else a copy.

    Not a symbolic link: :func:`~t2s.data.spider.database_path` refuses links
    that lead outside the database folder. A hard link needs the same file
    system and (``fs.protected_hardlinks``) a file the user may write; a
    read-only shared copy gets copied.
    """
    try:
        os.link(source, target)
        return "hard_linked"
    except OSError:
        shutil.copyfile(source, target)
        return "copied"


def _dump(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
