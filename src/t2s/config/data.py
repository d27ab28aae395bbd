"""``data.*``: which dataset, through which adapter, and how prompts are built from it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

# Settings that shape the prompt a model sees. Training saves them with the
# model (final_model/config.yaml); every command that prompts the model reads
# them from there (t2s.inference.adapter_prompt). A key added to the schema
# that shapes prompts belongs here. (train.max_seq_length does not: t2s never
# cuts a prompt; at training it only drops overlong examples.)
# data.eval_select's values: ``every:N`` (N >= 1); t2s.data.selection reads the N.
EVAL_SELECT_PATTERN = r"every:([1-9][0-9]*)"

PROMPT_KEYS = ("data.prompt_format", "data.schema", "data.prompt", "data.evidence", "data.dialect")

DEFAULT_INSTRUCTION = ("Generate a SQLite query that answers the question, "
                       "given the database schema.")

SchemaStyle = Literal["compact", "ddl"]
"""How schema text is written: ``TABLE:`` lines or ``CREATE TABLE`` statements."""
DEFAULT_SCHEMA_STYLE: SchemaStyle = "compact"

Dialect = Literal["sqlite", "postgres"]
"""The SQL dialect a model writes and its schema text describes (``data.dialect``)."""
DEFAULT_DIALECT: Dialect = "sqlite"

DataSource = Literal["sample", "spider", "wikisql", "bird", "files", "hf"]
"""The adapter that reads a dataset (``data.source``, ``data.sources[].source``)."""


@dataclass
class SchemaTextConfig:
    """How a database schema is written into the prompt."""

    include_keys: bool = False
    """Append primary/foreign keys after the table lines."""
    sample_values: int = 0
    """Distinct sample values per text column read from the SQLite file (0: none)."""
    style: SchemaStyle = DEFAULT_SCHEMA_STYLE
    """``compact``: one ``TABLE: t (col (type), ...)`` line per table (the seed's);
    ``ddl``: ``CREATE TABLE`` statements, as OmniSQL/CodeS prompt."""
    matched_values: int = 0
    """Per text column, up to N of the database's values that the question names
    (its words, case-insensitively; BRIDGE/CodeS-style value retrieval), shown like
    sample values and before them; the schema text becomes per question (0: none)."""

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for each count below zero."""
        return [(key, "must be >= 0") for key in ("sample_values", "matched_values")
                if getattr(self, key) < 0]


@dataclass
class PromptConfig:
    """The prompt's wording and layout: what the model sees before the SQL."""

    system: str | None = None
    """System text: the chat template's system turn, or the inst prompt's first line; null: none."""
    instruction: str = DEFAULT_INSTRUCTION
    """First line of the user turn, before the schema."""
    completion_separator: str = " "
    """``inst`` format: text between ``[/INST]`` and the SQL. A space keeps the
    prompt a token prefix of prompt+completion for SentencePiece and Qwen2
    vocabularies (Qwen2 merges ``]\\n`` into one token)."""
    chat_template: Literal["tokenizer", "llama2", "chatml"] = "tokenizer"
    """``chat_template`` format: the tokenizer's own template, or one t2s ships
    (``llama2``: ``<s>[INST] ... [/INST] SQL</s>``; ``chatml``: ``<|im_start|>`` turns)."""


@dataclass
class ColumnMap:
    """Which column of a ``files``/``hf`` dataset holds each field of an example.

    Fields set to null are absent from the data; ``question``, ``sql`` and
    ``db_id`` are required.
    """

    question: str = "question"
    """Question column."""
    sql: str = "query"
    """Gold SQL column (``query`` in Spider, ``SQL`` in BIRD)."""
    db_id: str = "db_id"
    """Database column: a db_id of ``data.tables_file``, or a SQLite file's stem under ``data.database_dir``."""
    evidence: str | None = None
    """External knowledge shown with the question (BIRD's ``evidence``)."""
    difficulty: str | None = None
    """A difficulty label reported as a breakdown (BIRD's ``difficulty``)."""
    category: str | None = None
    """A category label (kept with each example in the view's split files)."""

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for each required column left empty."""
        return [(name, "is required (the column holding it)") for name in ("question", "sql", "db_id")
                if not getattr(self, name)]


@dataclass
class SourceConfig:
    """One source of a mixture (``data.sources``); unset fields follow ``data``."""

    name: str = ""
    """Label in reports and run_info.json (unique; default the adapter name)."""
    source: DataSource = "spider"
    """Adapter, as ``data.source``."""
    root: str = ""
    """Dataset location, as ``data.root``."""
    train_file: str | None = None
    """Training split of this source; null: this source adds no training examples."""
    eval_file: str | None = None
    """Evaluation split of this source; null: it adds no evaluation examples."""
    tables_file: str | None = None
    """As ``data.tables_file`` (null: that value)."""
    database_dir: str | None = None
    """As ``data.database_dir`` (null: that value)."""
    columns: ColumnMap | None = None
    """As ``data.columns`` (null: that value)."""
    weight: float = 1.0
    """Training examples drawn per example of this source: 2 repeats each one
    twice, 0.5 keeps a seeded half (evaluation splits are never reweighted)."""

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for a source that reads nothing or cannot be found."""
        problems = []
        if not self.root and self.source != "sample":
            problems.append(("root", "is required"))
        if self.train_file is None and self.eval_file is None:
            problems.append(("train_file", "neither train_file nor eval_file is set: the source adds nothing"))
        if not self.weight >= 0:  # `not >=` also refuses NaN
            problems.append(("weight", f"must be >= 0, got {self.weight}"))
        if self.columns is not None:
            problems.extend((f"columns.{key}", message) for key, message in self.columns.problems())
        return problems


@dataclass
class DataConfig:
    """Which dataset to read, through which adapter, and how prompts are built from it."""

    source: DataSource = "sample"
    """``sample``: the embedded dataset, generated into ``root`` when missing;
    ``spider``: a Spider-format directory; ``wikisql``: WikiSQL's ``*.jsonl`` +
    ``*.tables.jsonl`` (+ ``*.db``); ``bird``: BIRD's JSON + ``dev_tables.json``;
    ``files``: JSON/JSONL/CSV/Parquet files read with ``datasets`` through
    ``data.columns``; ``hf``: a ``datasets`` folder (``save_to_disk``) or a hub
    id already in the local cache, through ``data.columns``."""
    root: str = "outputs/data/sample"
    """Dataset directory (for ``hf``: the folder or the cached hub id)."""
    train_file: str = "train.json"
    """Training split inside ``root``: a file name (``train.jsonl`` for WikiSQL,
    ``train.csv`` for files) or, for ``hf``, a split name."""
    eval_file: str | None = "dev.json"
    """Evaluation split inside ``root`` (as ``train_file``); null disables evaluation."""
    tables_file: str = "tables.json"
    """Schema file inside ``root`` (Spider's tables.json layout; BIRD: ``dev_tables.json``
    or its cleaned variant). ``files``/``hf`` without it read schemas from the SQLite files."""
    database_dir: str = "database"
    """Folder of ``<db_id>/<db_id>.sqlite`` (or ``<db_id>.sqlite``) files, relative to ``root``."""
    columns: ColumnMap = field(default_factory=ColumnMap)
    """Column map of ``files``/``hf`` sources."""
    bad_rows: Literal["error", "skip"] = "error"
    """A row missing a field, or with an empty one: stop with its file, row and
    field (``error``), or leave it out, counted and reported (``skip``)."""
    evidence: bool = False
    """Put each example's evidence (BIRD) under the question in the prompt, in
    training, evaluation and inference alike."""
    sources: list[SourceConfig] = field(default_factory=list)
    """A mixture of several sources (replaces ``source``/``root``/``*_file``);
    de-duplicated by normalised question + SQL."""
    contamination: Literal["warn", "error", "ignore"] = "warn"
    """Train/eval overlap (same or near-same question, same database in both):
    report it in run_info.json and warn, refuse to train (``error``), or skip the check (``ignore``)."""
    prepared_dir: str = "outputs/data/prepared"
    """Where non-Spider sources are written as Spider-format views
    (``<source>-<fingerprint>/``: tables.json, splits, database/), rebuilt when
    their inputs change, so evaluation and inference read one layout."""
    max_train_examples: int | None = None
    """Use only the first N training examples (null: all)."""
    max_eval_examples: int | None = None
    """Use only the first N evaluation examples (null: all)."""
    eval_select: str | None = None
    """A named subset of the evaluation split, taken before ``max_eval_examples``:
    ``every:N`` keeps the examples whose index in the file is a multiple of N and
    whose SQLite database is present (Spider dev ``every:5`` = spider-dev-194: 194
    questions over 19 databases, wta_1's database being absent); null: the whole split."""
    schema: SchemaTextConfig = field(default_factory=SchemaTextConfig)
    """Schema serialisation switches."""
    databases: dict[str, str] = field(default_factory=dict)
    """Live databases by db_id, in place of ``database_dir``'s SQLite files: a
    ``postgresql://`` DSN each (e.g. one made by ``t2s db import``). Its schema
    text is read from the server, evaluation runs gold (transpiled from SQLite)
    and predictions there. No password in a DSN: it would be saved with the run;
    use ``PGPASSWORD`` or ``~/.pgpass``."""
    database_url: str | None = None
    """A DSN template for every db_id not in ``databases``: ``{db_id}`` is replaced
    by it (``postgresql://reader@/{db_id}?host=/run/postgresql``); null: none."""
    dialect: Dialect = DEFAULT_DIALECT
    """The SQL dialect the model writes: ``sqlite`` (the datasets' own) or
    ``postgres``: training targets are the gold SQL transpiled to PostgreSQL
    (:mod:`t2s.db.transpile`) and ``ddl`` schema text is PostgreSQL DDL. Saved
    with the model: a ``postgres`` model is refused on an SQLite database, and
    the other way round, unless ``infer.dialect_override``."""
    prompt: PromptConfig = field(default_factory=PromptConfig)
    """Prompt wording, separator and chat template."""
    prompt_format: Literal["inst", "chat_template"] = "inst"
    """``inst``: ``[INST] ... [/INST]`` layout; ``chat_template``: the tokenizer's chat template."""
    overlength: Literal["drop", "error"] = "drop"
    """What to do with examples longer than ``train.max_seq_length``: drop them
    (counted and reported) or stop. SQL and the EOS token are never cut."""

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for required columns, mixture entries and schema switches."""
        problems = [(f"columns.{key}", message) for key, message in self.columns.problems()]
        names: dict[str, int] = {}
        for index, entry in enumerate(self.sources):
            label = entry.name or entry.source
            if label in names:
                problems.append((f"sources.{index}.name", f"{label!r} is also source "
                                                          f"{names[label]}; give each a unique name"))
            names.setdefault(label, index)
            problems.extend((f"sources.{index}.{key}", message) for key, message in entry.problems())
        if self.sources and not any(e.train_file for e in self.sources):
            problems.append(("sources", "no source has a train_file"))
        if self.eval_select is not None and not re.fullmatch(EVAL_SELECT_PATTERN, self.eval_select):
            problems.append(("eval_select",
                             f"{self.eval_select!r} is not a selection; use every:N (N >= 1)"))
        problems.extend((f"schema.{key}", message) for key, message in self.schema.problems())
        targets = [(f"databases.{db_id}", dsn) for db_id, dsn in self.databases.items()]
        if self.database_url is not None:
            targets.append(("database_url", self.database_url))
            if "{db_id}" not in self.database_url:
                problems.append(("database_url", "has no {db_id} to replace"))
        for key, dsn in targets:
            if not dsn.startswith(_DSN_SCHEMES):
                problems.append((key, "must be a postgresql:// DSN"))
            elif _PASSWORD.search(dsn):
                problems.append((key, "holds a password, which would be saved with the run; "
                                      "give it in PGPASSWORD or ~/.pgpass instead"))
        return problems


# The URI schemes libpq reads (t2s.db.postgres.DSN_SCHEMES; config imports no engine).
_DSN_SCHEMES = ("postgresql://", "postgres://")
# user:password@ in the authority, or a password= parameter.
_PASSWORD = re.compile(r"^postgres(?:ql)?://[^/@?]*:[^/@?]*@|[?&]password=")
