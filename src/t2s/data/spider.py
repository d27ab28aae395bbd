"""Spider-format dataset loading.

A Spider-format directory holds::

    tables.json                       # list of schemas, one per db_id
    <split>.json                      # list of {"question", "query", "db_id", ...}
    database/<db_id>/<db_id>.sqlite   # one SQLite file per database

This is the layout of Spider 1.0 (``train_spider.json``, ``dev.json``, and the
reduced ``train_spider_min.json`` holding only question/query/db_id) and of the
embedded sample data that t2s generates (:mod:`t2s.data.sample`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2s.errors import DataError
from t2s.jsonio import BadJSON, loads
from t2s.sqlexec import describe_non_file

# db_ids name a folder under database/; anything beyond letters, digits, '_' and
# '-' (a '/', '..', a NUL) could point outside it, so such ids are refused.
_DB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}$")


@dataclass(frozen=True)
class Column:
    """One column of a table, with its original (SQL) name and tables.json type.

    ``sql_type`` is the type the database itself declares (PostgreSQL's
    ``bigint``, ``character varying(20)``), when introspected from a server whose
    DDL the prompt writes in its own dialect; empty otherwise.
    """

    name: str
    type: str
    sql_type: str = field(default="", compare=False)


@dataclass(frozen=True)
class ForeignKey:
    """``table.column`` references ``ref_table.ref_column``."""

    table: str
    column: str
    ref_table: str
    ref_column: str


@dataclass(frozen=True)
class Table:
    """A table with its columns in declaration order and its primary-key columns."""

    name: str
    columns: tuple[Column, ...]
    primary_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatabaseSchema:
    """A database schema, built from a tables.json entry or from a live SQLite file.

    Attributes:
        db_id: The database identifier.
        tables: Tables in declaration order.
        foreign_keys: Foreign-key edges.
        raw: The original tables.json entry (the evaluator needs its column
            indices); empty when the schema was introspected from SQLite.
    """

    db_id: str
    tables: tuple[Table, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def table(self, name: str) -> Table:
        """Return the table called ``name`` (case-insensitive).

        Raises:
            KeyError: if there is no such table.
        """
        for table in self.tables:
            if table.name.lower() == name.lower():
                return table
        raise KeyError(name)


@dataclass(frozen=True)
class Example:
    """One question/SQL pair: the record every source adapter yields.

    Attributes:
        index: Position in its split (0-based), a stable id.
        question: The natural-language question.
        query: The gold SQL.
        db_id: Which database the question is about.
        evidence: External knowledge for the question (BIRD), or None.
        difficulty: A difficulty label (BIRD: simple/moderate/challenging), or None.
        category: A category label (WikiSQL: simple/filter/aggregation), or None.
        source: The source the example came from (mixtures), or None.
    """

    index: int
    question: str
    query: str
    db_id: str
    evidence: str | None = None
    difficulty: str | None = None
    category: str | None = None
    source: str | None = None

    def to_record(self) -> dict[str, Any]:
        """The Spider-format JSON record (optional fields only when set)."""
        record: dict[str, Any] = {"question": self.question, "query": self.query,
                                  "db_id": self.db_id}
        for key in OPTIONAL_FIELDS:
            if getattr(self, key) is not None:
                record[key] = getattr(self, key)
        return record


OPTIONAL_FIELDS = ("evidence", "difficulty", "category", "source")
"""Example fields a Spider-format question file may carry beyond question/query/db_id."""

# The longest question (and BIRD evidence) accepted: Spider's longest question
# is ~300 characters, BIRD's question plus evidence ~1,500, and 20,000
# characters (~5,000 tokens) already overflow every shipped max_seq_length, so
# nothing trainable is refused. Checked at load, before tokenizing: a 100 MB
# question took a training job past 8 GB of memory.
MAX_QUESTION_CHARS = 20_000

# The longest SQL accepted (gold, prediction, or served): BIRD's longest gold
# SQL is ~3,500 characters; the exact-match tokenizer holds ~67 bytes per
# character at its peak (a 100 MB line peaked at 6.7 GB), so 100,000
# characters cost at most ~7 MB.
MAX_SQL_CHARS = 100_000

_MAX_CHARS = {"question": MAX_QUESTION_CHARS, "evidence": MAX_QUESTION_CHARS,
              "query": MAX_SQL_CHARS}


def oversized(example: Example) -> str | None:
    """Why ``example`` is too large to use (its first field over its limit), or None."""
    for name, limit in _MAX_CHARS.items():
        value = getattr(example, name)
        if value is not None and len(value) > limit:
            return (f"{name} is {len(value):,} characters, over the limit of {limit:,} "
                    f"(t2s.data.spider.{'MAX_SQL_CHARS' if name == 'query' else 'MAX_QUESTION_CHARS'})")
    return None


def check_db_id(db_id: str) -> str:
    """Return ``db_id`` if it is safe to use as a folder name.

    Raises:
        DataError: if it contains anything but letters, digits, '_' and '-'.
    """
    if not isinstance(db_id, str) or not _DB_ID_PATTERN.match(db_id):
        raise DataError(
            f"invalid db_id {db_id!r}: only letters, digits, '_' and '-' are allowed "
            "(no '/', '..' or spaces)"
        )
    return db_id


def database_path(database_dir: str | Path, db_id: str) -> Path:
    """Path of ``<database_dir>/<db_id>/<db_id>.sqlite``, after checking ``db_id``.

    A ``<db_id>`` folder (or file) that is a symbolic link leading outside
    ``database_dir`` is refused: a db_id comes from data or a request, and must
    not open a file elsewhere. (``database_dir`` itself may be a link.)

    Raises:
        DataError: if ``db_id`` is unsafe, the file does not exist, or it lies
            outside ``database_dir`` once links are followed.
    """
    check_db_id(db_id)
    path = Path(database_dir) / db_id / f"{db_id}.sqlite"
    if not path.is_file():
        raise DataError(f"no database for db_id {db_id!r}: {path} {describe_non_file(path)}")
    root = Path(database_dir).resolve()
    if not path.resolve().is_relative_to(root):
        raise DataError(f"database {path} is a link to {path.resolve()}, outside {root}; "
                        "copy the database into the dataset (links inside it are fine)")
    return path


def schema_from_tables_entry(entry: dict[str, Any]) -> DatabaseSchema:
    """Build a :class:`DatabaseSchema` from one tables.json entry.

    Raises:
        DataError: if required keys are missing, columns are malformed or name
            a table that does not exist (:func:`load_tables` adds the file and entry).
    """
    try:
        db_id = entry["db_id"]
        table_names = entry["table_names_original"]
        columns = entry["column_names_original"]
        types = entry["column_types"]
        pk_indices = entry.get("primary_keys", [])
        fk_pairs = entry.get("foreign_keys", [])
    except KeyError as exc:
        raise DataError(f"missing key {exc}") from None
    except TypeError:
        raise DataError(f"a {type(entry).__name__}, not an object") from None
    for key, value in (("table_names_original", table_names),
                       ("column_names_original", columns), ("column_types", types)):
        if not isinstance(value, list):
            raise DataError(f"{key} is not a list")
    if len(columns) != len(types):
        raise DataError(f"{len(columns)} column_names_original but {len(types)} column_types")
    per_table: list[list[Column]] = [[] for _ in table_names]
    owner: dict[int, tuple[str, str]] = {}
    for index, (column, col_type) in enumerate(zip(columns, types, strict=True)):
        if not (isinstance(column, list) and len(column) == 2 and isinstance(column[0], int)):
            raise DataError(f"column {index} is {column!r}, not [table index, name]")
        table_index, name = column
        if table_index < 0:  # the '*' pseudo-column
            continue
        if table_index >= len(table_names):
            raise DataError(f"column {index} ({name!r}) names table {table_index}, but there "
                            f"are {len(table_names)} tables")
        per_table[table_index].append(Column(name=name, type=col_type))
        owner[index] = (table_names[table_index], name)
    # Composite primary keys appear as a nested list in newer tables.json files.
    flat_pks: list[int] = []
    for pk in pk_indices:
        flat_pks.extend(pk if isinstance(pk, list) else [pk])
    pks_by_table: dict[str, list[str]] = {}
    for pk in flat_pks:
        if pk in owner:
            table, column = owner[pk]
            pks_by_table.setdefault(table, []).append(column)
    tables = tuple(
        Table(name=name, columns=tuple(cols), primary_keys=tuple(pks_by_table.get(name, [])))
        for name, cols in zip(table_names, per_table, strict=True)
    )
    fks = tuple(
        ForeignKey(*owner[a], *owner[b]) for a, b in fk_pairs if a in owner and b in owner
    )
    return DatabaseSchema(db_id=db_id, tables=tables, foreign_keys=fks, raw=entry)


def load_tables(path: str | Path) -> dict[str, DatabaseSchema]:
    """Load a tables.json file into ``{db_id: DatabaseSchema}``.

    Raises:
        DataError: if the file is missing, not valid JSON, or an entry is
            malformed (the message names the file and the entry).
    """
    entries = _read_json(Path(path))
    if not isinstance(entries, list):
        raise DataError(f"{path}: expected a JSON list of schemas")
    schemas = {}
    for index, entry in enumerate(entries):
        try:
            schema = schema_from_tables_entry(entry)
        except DataError as exc:
            name = f" (db_id {entry['db_id']!r})" if isinstance(entry, dict) and "db_id" in entry \
                else ""
            raise DataError(f"{path}: entry {index}{name}: {exc}") from None
        schemas[schema.db_id] = schema
    return schemas


def load_examples(path: str | Path) -> list[Example]:
    """Load a Spider-format question file (a JSON list of objects).

    Raises:
        DataError: if the file is missing, not JSON, or a record lacks
            ``question``, ``query`` or ``db_id`` (the message names the record).
    """
    path = Path(path)
    records = _read_json(path)
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of examples")
    examples = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(f"{path}: record {index} is a {type(record).__name__}, not an object")
        missing = [k for k in ("question", "query", "db_id") if k not in record]
        if missing:
            raise DataError(f"{path}: record {index} is missing {', '.join(missing)}")
        wrong = [k for k in ("question", "query", "db_id") if not isinstance(record[k], str)]
        if wrong:
            raise DataError(f"{path}: record {index}: {', '.join(wrong)} must be a string")
        optional = {k: str(record[k]) for k in OPTIONAL_FIELDS if record.get(k) is not None}
        example = Example(index=index, question=record["question"], query=record["query"],
                          db_id=record["db_id"], **optional)
        problem = oversized(example)
        if problem:
            raise DataError(f"{path}: record {index}: {problem}")
        examples.append(example)
    return examples


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        return loads(path.read_bytes().decode("utf-8"), max_bytes=None)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 at byte offset {exc.start}") from None
    except BadJSON as exc:
        raise DataError(f"{path}: {exc}") from None


class SpiderDataset:
    """A Spider-format directory: schemas, question files and SQLite databases.

    Args:
        root: The directory holding tables.json and database/.
        tables_file: Name of the schema file inside ``root``.
        database_dir: Folder of databases, relative to ``root`` unless absolute.

    Raises:
        DataError: if ``root`` or its tables.json is missing.
    """

    def __init__(self, root: str | Path, tables_file: str = "tables.json",
                 database_dir: str = "database") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"data directory {self.root} does not exist")
        self.tables_path = self.root / tables_file
        self.database_dir = self.root / database_dir
        self._schemas: dict[str, DatabaseSchema] | None = None

    @property
    def schemas(self) -> dict[str, DatabaseSchema]:
        """All schemas by db_id, loaded once."""
        if self._schemas is None:
            self._schemas = load_tables(self.tables_path)
        return self._schemas

    def schema(self, db_id: str) -> DatabaseSchema:
        """Schema of ``db_id``.

        Raises:
            DataError: if tables.json has no such db_id.
        """
        check_db_id(db_id)
        try:
            return self.schemas[db_id]
        except KeyError:
            raise DataError(f"db_id {db_id!r} is not in {self.tables_path}") from None

    def split_path(self, split_file: str) -> Path:
        """The Spider-format question file of split ``split_file`` (``root / split_file``)."""
        return self.root / split_file

    def examples(self, split_file: str) -> list[Example]:
        """Examples of a question file inside ``root`` (e.g. ``dev.json``).

        Raises:
            DataError: if the file is missing/malformed or names an unknown db_id.
        """
        path = self.split_path(split_file)
        examples = load_examples(path)
        unknown = sorted({e.db_id for e in examples} - set(self.schemas))
        if unknown:
            raise DataError(
                f"{path}: db_ids not in {self.tables_path.name}: " + ", ".join(unknown[:10])
            )
        return examples

    def database_path(self, db_id: str) -> Path:
        """Path of the SQLite file of ``db_id``.

        Raises:
            DataError: if ``db_id`` is unsafe or its file is missing.
        """
        return database_path(self.database_dir, db_id)

    def has_database(self, db_id: str) -> bool:
        """Whether the SQLite file of ``db_id`` exists."""
        try:
            self.database_path(db_id)
        except DataError:
            return False
        return True

    def db_ids(self, examples: Iterable[Example]) -> list[str]:
        """Sorted distinct db_ids used by ``examples``."""
        return sorted({e.db_id for e in examples})
