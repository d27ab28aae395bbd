"""Which engine a database is, and whether a model may run on it.

A model is trained for one dialect (``data.dialect``, saved with it as a prompt
setting: :mod:`t2s.inference.adapter_prompt`): its schema text and its SQL are
that engine's. :func:`check_dialect` refuses to run it on databases of the other
engine, since SQLite's ``"x"`` strings, case-insensitive LIKE and ``strftime``
are errors or other answers on PostgreSQL (BENCHMARKS.md, "Spider gold SQL on
PostgreSQL": a third of Spider dev's gold SQL), unless ``infer.dialect_override``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from t2s.config import DataConfig, Dialect
from t2s.db import postgres
from t2s.errors import ConfigError


def engine_of(database: str | Path) -> Dialect:
    """``postgres`` for a ``postgresql://`` DSN, else ``sqlite`` (a file)."""
    return "postgres" if postgres.is_dsn(database) else "sqlite"


def check_dialect(dialect: Dialect, databases: Mapping[str, str | Path], override: bool = False,
                  model: str | Path | None = None) -> None:
    """Refuse ``databases`` (``{db_id: file or DSN}``) of another engine than ``dialect``.

    Args:
        dialect: The model's ``data.dialect``.
        databases: The databases it is about to run on.
        override: ``infer.dialect_override``: allow it (the caller logs it).
        model: Named in the message (the adapter folder).

    Raises:
        ConfigError: listing up to 5 of the other engine's databases (DSNs
            without their passwords), unless ``override``.
    """
    other = sorted(db_id for db_id, target in databases.items() if engine_of(target) != dialect)
    if not other or override:
        return
    shown = ", ".join(f"{db_id} ({_shown(databases[db_id])})" for db_id in other[:5])
    more = f" and {len(other) - 5} more" if len(other) > 5 else ""
    whose = f"the model in {model}" if model else "the model"
    raise ConfigError(
        f"{whose} writes {_NAMES[dialect]} SQL (data.dialect={dialect}), but {len(other)} "
        f"database(s) are {_NAMES['postgres' if dialect == 'sqlite' else 'sqlite']}: "
        f"{shown}{more}. Use databases of its engine, or set infer.dialect_override=true "
        "to run it anyway")


_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def live_databases(data: DataConfig, db_ids: Iterable[str]) -> dict[str, str]:
    """The DSN of each of ``db_ids`` that ``data.databases`` or ``data.database_url``
    names (the mapping first); the others keep their SQLite files.

    ``db_ids`` are checked names (letters, digits, ``_``, ``-``:
    :func:`t2s.data.spider.check_db_id`), so one put into a DSN cannot change
    anything but the name it replaces.
    """
    found = {}
    for db_id in db_ids:
        if db_id in data.databases:
            found[db_id] = data.databases[db_id]
        elif data.database_url is not None:
            found[db_id] = data.database_url.replace("{db_id}", db_id)
    return found


def _shown(target: str | Path) -> str:
    return postgres.redact_dsn(target) if postgres.is_dsn(target) else str(target)


__all__ = ["check_dialect", "engine_of", "live_databases"]
