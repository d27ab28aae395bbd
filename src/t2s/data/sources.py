"""The one place that opens the configured dataset.

Training, evaluation, inference and the REPL all call :func:`open_dataset` (or
:func:`open_dataset_if_any`) with the ``data`` config section, so a dataset is
opened the same way whichever stage asks for it.
"""

from __future__ import annotations

from pathlib import Path

from t2s.config import DataConfig
from t2s.data.sample import ensure_sample_dataset
from t2s.data.spider import SpiderDataset


def open_dataset(data: DataConfig, root: str | Path | None = None) -> SpiderDataset:
    """Open the dataset at ``root`` (default ``data.root``).

    With ``data.source: sample`` and no explicit ``root``, the embedded sample
    dataset is generated into ``data.root`` first when it is missing or stale.

    Raises:
        DataError: if the directory is missing or malformed, or (sample) holds a
            dataset the generator did not write.
    """
    if root is None:
        root = data.root
        if data.source == "sample":
            ensure_sample_dataset(root)
    return SpiderDataset(root, tables_file=data.tables_file, database_dir=data.database_dir)


def open_dataset_if_any(data: DataConfig, root: str | Path | None = None,
                        create_sample: bool = True) -> SpiderDataset | None:
    """Like :func:`open_dataset`, but None when the configured ``data.root`` holds no dataset.

    An explicit ``root`` must hold one. With ``create_sample`` false, the sample
    dataset is opened only if it already exists.

    Raises:
        DataError: if ``root`` is given but is not a dataset directory.
    """
    if root is not None or (data.source == "sample" and create_sample):
        return open_dataset(data, root)
    if not (Path(data.root) / data.tables_file).is_file():
        return None
    return SpiderDataset(data.root, tables_file=data.tables_file, database_dir=data.database_dir)
