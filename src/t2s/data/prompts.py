"""Prompt and completion text, shared by training, evaluation and inference.

The seed's layout (``data.prompt_format: inst``), worded by ``data.prompt``::

    [INST] Generate a SQLite query that answers the question, given the database schema.
    Schema:
    TABLE: singer (Singer_ID (number), Name (text), ...)
    Question: How many singers are there? [/INST]

and the completion ``data.prompt.completion_separator`` + ``"SELECT count(*)
FROM singer"`` + EOS. The prompt ends on ``[/INST]`` and the completion starts
with the separator, so the tokenized prompt is a prefix of the tokenized
prompt+completion and TRL's completion mask starts exactly at the SQL; a
separator that merges with ``]`` (Qwen2's byte-level BPE makes ``]\\n`` one
token) is caught by :func:`t2s.data.sft.check_token_boundary`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from t2s.config import (
    DEFAULT_DIALECT,
    DEFAULT_SCHEMA_STYLE,
    Dialect,
    PromptConfig,
    SchemaStyle,
    SchemaTextConfig,
)
from t2s.data.schema_text import (
    Database,
    ValueIndex,
    Values,
    merge_values,
    sample_values,
    schema_from_database,
    serialize_schema,
)
from t2s.data.spider import DatabaseSchema, database_path
from t2s.db.postgres import is_dsn

# The markers of the seed's ``inst`` layout; the tiny base's pretraining splits on them too.
INST_OPEN, INST_CLOSE = "[INST]", "[/INST]"
QUESTION_LABEL = "Question: "
_DEFAULT_PROMPT = PromptConfig()

# Single- or double-quoted literals (with doubled-quote escapes) stay untouched
# when whitespace is normalised.
_LITERAL_OR_SPACE = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")|\s+")


def normalize_sql(sql: str) -> str:
    """Collapse whitespace outside string literals and drop a trailing ';'.

    Spider's gold SQL has runs like ``age  >  56``; the model should learn one
    spelling of each query.

    >>> normalize_sql("SELECT  name FROM t WHERE a  =  'x  y' ;")
    "SELECT name FROM t WHERE a = 'x  y'"
    """
    collapsed = _LITERAL_OR_SPACE.sub(lambda m: m.group(1) or " ", sql.strip())
    return collapsed.rstrip("; ").strip()


def user_message(question: str, schema_text: str, prompt: PromptConfig = _DEFAULT_PROMPT,
                 evidence: str | None = None) -> str:
    """The instruction, schema, evidence (when given) and question: the user turn of the prompt.

    >>> print(user_message("Ratio of EUR to CZK?", "TABLE: c (Currency (text))",
    ...                    evidence="EUR = Currency = 'EUR'"))
    Generate a SQLite query that answers the question, given the database schema.
    Schema:
    TABLE: c (Currency (text))
    Evidence: EUR = Currency = 'EUR'
    Question: Ratio of EUR to CZK?
    """
    lines = [prompt.instruction, "Schema:", schema_text]
    if evidence and evidence.strip():
        lines.append(f"Evidence: {' '.join(evidence.split())}")
    lines.append(f"{QUESTION_LABEL}{question.strip()}")
    return "\n".join(lines)


def prompt_evidence(evidence: str | None, enabled: bool) -> str | None:
    """The evidence a prompt carries: the example's own when ``data.evidence`` is on, else none.

    Training (:func:`t2s.data.sft.build_records`) and inference
    (``t2s.inference.pipeline``) both ask here, so the switch means the same
    in both.
    """
    return evidence if enabled and evidence and evidence.strip() else None


def build_prompt(question: str, schema_text: str, prompt_format: str = "inst",
                 prompt: PromptConfig = _DEFAULT_PROMPT,
                 evidence: str | None = None) -> str | list[dict[str, str]]:
    """The prompt for one question: a string (``inst``) or chat messages.

    For ``chat_template`` the messages are returned; the tokenizer renders them
    (TRL does so during training, :mod:`t2s.inference` at generation).
    ``evidence`` (see :func:`prompt_evidence`) goes on its own line before the question.

    Raises:
        ValueError: for an unknown ``prompt_format``.
    """
    message = user_message(question, schema_text, prompt, evidence)
    if prompt_format == "inst":
        system = f"{prompt.system.strip()}\n" if prompt.system else ""
        return f"{INST_OPEN} {system}{message} {INST_CLOSE}"
    if prompt_format == "chat_template":
        turns = [{"role": "system", "content": prompt.system}] if prompt.system else []
        return [*turns, {"role": "user", "content": message}]
    raise ValueError(f"unknown prompt format {prompt_format!r}")


def build_completion(sql: str, prompt_format: str = "inst",
                     prompt: PromptConfig = _DEFAULT_PROMPT) -> str | list[dict[str, str]]:
    """The training target for ``sql`` (EOS is appended by the trainer)."""
    if prompt_format == "chat_template":
        return [{"role": "assistant", "content": normalize_sql(sql)}]
    return prompt.completion_separator + normalize_sql(sql)


@dataclass
class SchemaTextCache:
    """Renders each database's schema text, caching what does not depend on the question.

    Args:
        schemas: ``{db_id: DatabaseSchema}``.
        database_dir: Folder of ``<db_id>/<db_id>.sqlite`` (needed for sample and matched values).
        include_keys: See :class:`t2s.config.SchemaTextConfig`.
        sample_values: See :class:`t2s.config.SchemaTextConfig`.
        style: See :class:`t2s.config.SchemaTextConfig`.
        matched_values: See :class:`t2s.config.SchemaTextConfig`; makes the text per question.
        database_files: The SQLite file (or PostgreSQL DSN) of a db_id outside
            ``database_dir`` (a live database). A DSN's schema is read from the
            server (once, when first needed) in place of ``schemas``'.
        dialect: ``data.dialect``: the dialect of ``ddl`` schema text.
    """

    schemas: dict[str, DatabaseSchema]
    database_dir: Path | None = None
    include_keys: bool = False
    sample_values: int = 0
    style: SchemaStyle = DEFAULT_SCHEMA_STYLE
    matched_values: int = 0
    database_files: dict[str, Database] = field(default_factory=dict)
    dialect: Dialect = DEFAULT_DIALECT

    @classmethod
    def from_config(cls, schemas: dict[str, DatabaseSchema], database_dir: Path | None,
                    config: SchemaTextConfig,
                    database_files: dict[str, Database] | None = None,
                    dialect: Dialect = DEFAULT_DIALECT) -> SchemaTextCache:
        """A cache with the ``data.schema`` switches of ``config`` (and ``data.dialect``)."""
        return cls(schemas, database_dir, config.include_keys, config.sample_values, config.style,
                   config.matched_values, database_files or {}, dialect)

    def __post_init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._samples: dict[str, Values] = {}
        self._indexes: dict[str, ValueIndex] = {}
        self._live: dict[str, DatabaseSchema] = {}

    def schema(self, db_id: str) -> DatabaseSchema:
        """The schema of ``db_id``: the server's for a DSN in ``database_files``, else ``schemas``'.

        Raises:
            DataError: if the server cannot be reached or the database has no tables.
            KeyError: if ``db_id`` has no schema.
        """
        target = self.database_files.get(db_id)
        if target is None or not is_dsn(target):
            return self.schemas[db_id]
        if db_id not in self._live:
            self._live[db_id] = schema_from_database(target, db_id)
        return self._live[db_id]

    def text(self, db_id: str, question: str = "") -> str:
        """Schema text of ``db_id`` for ``question`` (which matters only with ``matched_values``).

        Raises:
            DataError: if sample or matched values are asked for and the database is missing.
            KeyError: if ``db_id`` has no schema.
        """
        schema = self.schema(db_id)
        path = self._path(db_id)
        if self.matched_values > 0 and path is not None:
            if db_id not in self._indexes:
                self._indexes[db_id] = ValueIndex.read(path, schema)
            matched = self._indexes[db_id].match(question, self.matched_values)
            return serialize_schema(schema, self.include_keys,
                                    merge_values(matched, self._sampled(db_id, path)), self.style,
                                    self.dialect)
        if db_id not in self._texts:
            self._texts[db_id] = serialize_schema(schema, self.include_keys,
                                                  self._sampled(db_id, path), self.style,
                                                  self.dialect)
        return self._texts[db_id]

    def _path(self, db_id: str) -> Database | None:
        """The SQLite file (or DSN) of ``db_id`` when values are asked for and one is known.

        Raises:
            DataError: if ``db_id`` is unsafe or its file under ``database_dir`` is missing.
        """
        if self.sample_values <= 0 and self.matched_values <= 0:
            return None
        if db_id in self.database_files:
            return self.database_files[db_id]
        return database_path(self.database_dir, db_id) if self.database_dir is not None else None

    def _sampled(self, db_id: str, path: Database | None) -> Values:
        if db_id not in self._samples:
            self._samples[db_id] = (sample_values(path, self.schema(db_id), self.sample_values)
                                    if path is not None else {})
        return self._samples[db_id]
