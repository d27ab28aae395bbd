"""The one place that opens the configured dataset, and the registry of source adapters.

Training, evaluation, inference and the REPL all call :func:`open_dataset` (or
:func:`open_dataset_if_any`) with the ``data`` config section, so a dataset is
opened the same way whichever stage asks for it.

``data.source`` picks an adapter from :data:`ADAPTERS`; each reads its native
layout into the same records (:class:`~t2s.data.records.SourceData`):

============  =====================================================================
``spider``    a Spider-format directory (opened in place)
``sample``    the embedded sample dataset (generated into ``data.root``, opened in place)
``wikisql``   WikiSQL's ``<split>.jsonl`` + ``<split>.tables.jsonl`` (+ ``<split>.db``)
``bird``      BIRD's question JSON + ``dev_tables.json`` (or its cleaned variant)
``files``     JSON/JSONL/CSV/Parquet files, through ``data.columns``
``hf``        a ``datasets`` folder or a cached hub id, through ``data.columns``
============  =====================================================================

Sources other than ``spider``/``sample``, and mixtures (``data.sources``), are
written once as Spider-format views (:mod:`t2s.data.views`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from t2s.config import DataConfig, SourceConfig
from t2s.data import bird, files, wikisql
from t2s.data.mixture import contamination, contamination_summary, mix_sources
from t2s.data.records import SourceData
from t2s.data.sample import ensure_sample_dataset
from t2s.data.spider import Example, SpiderDataset
from t2s.data.views import VIEW_MANIFEST, PreparedDataset, open_view
from t2s.errors import DataError

log = logging.getLogger(__name__)

NATIVE = ("spider", "sample")
"""Sources already in Spider's layout: opened in place, no view written."""


def _spider(spec: SourceConfig, bad_rows: str) -> SourceData:
    del bad_rows  # Spider files are validated whole by load_examples
    dataset = SpiderDataset(spec.root, tables_file=spec.tables_file or "tables.json",
                            database_dir=spec.database_dir or "database")
    splits = {name: dataset.examples(name) for name in (spec.train_file, spec.eval_file) if name}
    return SourceData(
        kind=spec.source, splits=splits,
        tables={db_id: schema.raw for db_id, schema in dataset.schemas.items()},
        databases={db_id: dataset.database_path(db_id) for db_id in dataset.schemas
                   if dataset.has_database(db_id)},
        inputs=[dataset.tables_path, *(dataset.split_path(n) for n in splits)])


def _sample(spec: SourceConfig, bad_rows: str) -> SourceData:
    ensure_sample_dataset(spec.root)
    return _spider(spec, bad_rows)


Adapter = Callable[[SourceConfig, str], SourceData]

ADAPTERS: dict[str, Adapter] = {
    "spider": _spider,
    "sample": _sample,
    "wikisql": wikisql.load_source,
    "bird": bird.load_source,
    "files": files.load_files,
    "hf": files.load_hf,
}
"""``data.source`` -> adapter ``(source spec, data.bad_rows) -> SourceData``."""


def source_specs(data: DataConfig) -> list[SourceConfig]:
    """The sources of ``data``: its ``sources`` list (gaps filled from ``data``), or itself."""
    if not data.sources:
        return [SourceConfig(name=data.source, source=data.source, root=data.root,
                             train_file=data.train_file, eval_file=data.eval_file,
                             tables_file=data.tables_file, database_dir=data.database_dir,
                             columns=data.columns)]
    return [replace(entry, name=entry.name or entry.source, root=entry.root or data.root,
                    tables_file=entry.tables_file or data.tables_file,
                    database_dir=entry.database_dir or data.database_dir,
                    columns=entry.columns or data.columns)
            for entry in data.sources]


def read_source(spec: SourceConfig, bad_rows: str = "error") -> SourceData:
    """Read one source with its adapter.

    Raises:
        DataError: if its files are missing or malformed (file, row and field named).
    """
    return ADAPTERS[spec.source](spec, bad_rows)


def open_dataset(data: DataConfig, root: str | Path | None = None) -> SpiderDataset:
    """Open the configured dataset, or the Spider-format directory ``root`` (a view too).

    ``spider`` and ``sample`` sources open ``data.root`` in place (``sample``
    generates it first when missing or stale); other sources and mixtures are
    read by their adapters and opened as a Spider-format view under
    ``data.prepared_dir`` (:class:`~t2s.data.views.PreparedDataset`).

    Raises:
        DataError: if the directory or files are missing or malformed, or
            (sample) ``data.root`` holds a dataset the generator did not write.
    """
    if root is not None:
        if (Path(root) / VIEW_MANIFEST).is_file():  # a view: Spider's own file names
            return SpiderDataset(root)
        return SpiderDataset(root, tables_file=data.tables_file, database_dir=data.database_dir)
    if not data.sources and data.source in NATIVE:
        if data.source == "sample":
            ensure_sample_dataset(data.root)
        return SpiderDataset(data.root, tables_file=data.tables_file,
                             database_dir=data.database_dir)
    specs = source_specs(data)
    if len(specs) == 1 and not data.sources:
        return open_view(read_source(specs[0], data.bad_rows), data.prepared_dir, specs[0].name)
    parts = [(spec, read_source(spec, data.bad_rows)) for spec in specs]
    mixed = mix_sources(parts, data.train_file, data.eval_file)
    return open_view(mixed, data.prepared_dir, "mixture")


def open_dataset_if_any(data: DataConfig, root: str | Path | None = None,
                        create_sample: bool = True) -> SpiderDataset | None:
    """Like :func:`open_dataset`, but None when the configured ``data.root`` holds no dataset.

    An explicit ``root`` must hold one. With ``create_sample`` false, the sample
    dataset is opened only if it already exists.

    Raises:
        DataError: if ``root`` is given but is not a dataset directory, or the
            configured source exists but is malformed.
    """
    if root is not None or (data.source == "sample" and create_sample) or data.sources:
        return open_dataset(data, root)
    if data.source in NATIVE:
        if not (Path(data.root) / data.tables_file).is_file():
            return None
        return SpiderDataset(data.root, tables_file=data.tables_file,
                             database_dir=data.database_dir)
    if data.source != "hf" and not Path(data.root).exists():
        return None
    return open_dataset(data)


def data_report(data: DataConfig, dataset: SpiderDataset, train: Sequence[Example],
                evaluation: Sequence[Example]) -> dict[str, Any]:
    """What run_info.json records about the data: source, view, skips, mixture counts,
    and the train/eval contamination check (warned about, or refused, per ``data.contamination``).

    Raises:
        DataError: if ``data.contamination`` is ``error`` and the splits overlap.
    """
    report: dict[str, Any] = {"source": "mixture" if data.sources else data.source,
                              "root": str(dataset.root)}
    if isinstance(dataset, PreparedDataset):
        report["view"] = {k: v for k, v in dataset.info.items() if k != "inputs"}
        report["inputs"] = dataset.info.get("inputs", [])
    if data.contamination != "ignore" and evaluation:
        found = contamination(train, evaluation)
        report["contamination"] = found
        message = contamination_summary(found)
        if message and data.contamination == "error":
            raise DataError(message)
        if message:
            log.warning("%s", message)
    return report
