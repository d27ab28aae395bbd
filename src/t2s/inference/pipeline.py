"""From questions to predictions: schema text, prompts, generation, optional guided selection.

Used by every caller that generates: ``t2s infer`` (one question or a batch
file), ``t2s repl``, and evaluation's "score a model" mode
(:func:`generate_predictions`). The prompt for a question is built exactly as
training built it (:func:`t2s.data.prompts.build_prompt` over the schema text of
:class:`t2s.data.prompts.SchemaTextCache` with the same ``data.schema``
switches), so the model sees at inference what it saw in training.

A question names its database in one of two ways:

- ``db_path``: a live SQLite file or a ``postgresql://`` DSN; its schema is
  introspected (tables, column types mapped to Spider's type words, keys,
  sample values) and the SQL executed there;
- ``db_id``: a database of a Spider-format directory; the schema comes from its
  tables.json (as in training), the SQLite file (if present) is used for
  sample values and execution.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from t2s.config import (
    DEFAULT_DIALECT,
    Config,
    Dialect,
    InferConfig,
    PromptConfig,
    SchemaTextConfig,
)
from t2s.data.prompts import SchemaTextCache, build_prompt, prompt_evidence
from t2s.data.schema_text import schema_from_database, serialize_schema
from t2s.data.spider import DatabaseSchema, Example, SpiderDataset
from t2s.db.dialect import check_dialect, engine_of, live_databases
from t2s.errors import DataError, T2SError
from t2s.inference.adapter_prompt import prompt_record
from t2s.inference.backends import Backend, load_backend
from t2s.inference.generate import Generation, Prompt
from t2s.inference.guided import GuidedStats, select_for_database
from t2s.provenance import folder_sha256
from t2s.sqlexec import describe_target, is_dsn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Question:
    """One question to answer.

    Attributes:
        id: Stable identifier (the input's ``id`` field, or its position).
        question: The natural-language question.
        db_path: A live SQLite file or PostgreSQL DSN (schema introspected), or None.
        db_id: A database of the Spider-format dataset, or None; with a DSN, its
            display name (``--db NAME=postgresql://...``).
        error: Set when the input record itself is unusable; no generation then.
        evidence: External knowledge (BIRD); in the prompt when ``data.evidence`` is true.
    """

    id: str
    question: str
    db_path: str | None = None
    db_id: str | None = None
    error: str | None = None
    evidence: str | None = None

    @property
    def db(self) -> str | None:
        """What the output record calls the database: the path, else the db_id.

        A DSN is never shown as given (it may hold a password): its NAME, else
        the DSN with the password redacted.
        """
        if is_dsn(self.db_path):
            return self.db_id or describe_target(str(self.db_path))
        return self.db_path or self.db_id


@dataclass
class Prediction:
    """The answer to one question, as written to a batch output line.

    ``error`` is None on success; otherwise ``sql`` is empty and ``error`` says
    what went wrong (bad input row, missing database, prompt too long, ...).
    """

    id: str
    question: str
    db: str | None
    sql: str = ""
    completion: str = ""
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    batch_size: int = 0
    error: str | None = None
    candidates: list[str] | None = None
    guided_changed: bool | None = None

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict; candidate fields only when execution-guided."""
        record = asdict(self)
        record["latency_s"] = round(self.latency_s, 4)
        if self.candidates is None:
            del record["candidates"], record["guided_changed"]
        return record


class SchemaResolver:
    """Schema text (and the database to execute on) of a question's database, cached per database.

    Args:
        schema: The ``data.schema`` switches training used.
        dataset: The Spider-format dataset for ``db_id`` questions, or None.
        databases: ``data.databases`` resolved: the DSN of each db_id on a server.
        dialect: ``data.dialect`` used in training (the dialect of DDL schema text).
    """

    def __init__(self, schema: SchemaTextConfig, dataset: SpiderDataset | None = None,
                 databases: dict[str, str] | None = None, dialect: Dialect = DEFAULT_DIALECT) -> None:
        self.schema = schema
        self.dataset = dataset
        # data.databases: a db_id's schema text from its server, its SQL run there.
        self.databases = databases or {}
        self.dialect = dialect
        self._spider = (SchemaTextCache.from_config(dataset.schemas, dataset.database_dir, schema,
                                                    dict(self.databases), dialect)
                        if dataset is not None else None)
        self._live: dict[Path | str, SchemaTextCache] = {}

    def resolve(self, question: Question) -> tuple[str, Path | str | None]:
        """Schema text and database (SQLite path or DSN; None if there is no file) of ``question``.

        Raises:
            DataError: if the database is missing, a directory, not SQLite, has
                no tables, or the db_id is unknown; for a DSN, if the server
                cannot be reached (PostgresConnectionError).
        """
        if is_dsn(question.db_path):
            dsn = str(question.db_path)
            return self.live_schema_text(dsn, question.question), dsn
        if question.db_path:
            path = Path(question.db_path)
            return self.live_schema_text(path, question.question), path
        if question.db_id:
            return self.spider_schema_text(question.db_id, question.question)
        raise DataError("no database: give a db path (--db / a 'db' field) or a db_id with a data dir")

    def live_schema_text(self, path: Path | str, question: str = "") -> str:
        """Schema text introspected from a live SQLite file or DSN (``question`` for matched values).

        Raises:
            DataError: if the file is missing, a directory, not SQLite, or has no
                tables, or the server of a DSN cannot be reached.
        """
        if is_dsn(path):
            key: Path | str = str(path)
        else:
            path = Path(path)
            if path.is_dir():
                raise DataError(f"database {path} is a directory, not a SQLite file")
            key = path.resolve()
        if key not in self._live:
            # A one-database cache: the same rendering (samples, matched values,
            # style) as a database of a Spider-format folder gets.
            schema = schema_from_database(path)
            self._live[key] = SchemaTextCache.from_config({schema.db_id: schema}, None, self.schema,
                                                          {schema.db_id: path}, self.dialect)
        cache = self._live[key]
        return cache.text(next(iter(cache.schemas)), question)

    def live_schema(self, path: Path | str) -> DatabaseSchema:
        """The introspected schema behind :meth:`live_schema_text` (read once, then cached).

        Raises:
            DataError: as :meth:`live_schema_text`.
        """
        self.live_schema_text(path)
        cache = self._live[str(path) if is_dsn(path) else Path(path).resolve()]
        return next(iter(cache.schemas.values()))

    def spider_schema_text(self, db_id: str, question: str = "") -> tuple[str, Path | None]:
        """Schema text from tables.json and the database file if it exists.

        Raises:
            DataError: if there is no dataset, the db_id is unknown, or sample
                values are configured and the database file is missing.
        """
        if self.dataset is None or self._spider is None:
            raise DataError(f"db_id {db_id!r} given, but no Spider-format data directory "
                            "(--data-dir or data.root)")
        self.dataset.schema(db_id)  # raises DataError for an unknown or unsafe db_id
        text = self._spider.text(db_id, question)
        if db_id in self.databases:
            return text, self.databases[db_id]  # type: ignore[return-value]  # a DSN runs as a path does
        path = self.dataset.database_path(db_id) if self.dataset.has_database(db_id) else None
        return text, path


class Predictor:
    """Answers questions with a backend; optionally execution-guided.

    Args:
        backend: A loaded generation backend.
        resolver: Schema lookup for questions.
        infer: Generation settings: execution-guided selection (``execution_guided``,
            ``num_candidates``, ``guided_strategy``) and the limits of what it executes;
            the backend decodes with its own :class:`~t2s.config.Decoding`.
        prompt_format: ``data.prompt_format`` used in training.
        evidence: ``data.evidence`` used in training (questions' evidence in the prompt).
        prompt: ``data.prompt`` used in training (default wording if None).
    """

    def __init__(self, backend: Backend, resolver: SchemaResolver, infer: InferConfig,
                 prompt_format: str = "inst", evidence: bool = False,
                 prompt: PromptConfig | None = None) -> None:
        self.backend = backend
        self.resolver = resolver
        self.infer = infer
        self.prompt_format = prompt_format
        self.evidence = evidence
        self.prompt = prompt or PromptConfig()
        self.stats = GuidedStats()
        self.last_prompt: str | None = None

    def prompt_for(self, question: Question) -> tuple[Prompt, Path | str | None]:
        """The training-format prompt of ``question`` and its database (file or DSN).

        Raises:
            DataError: if the database cannot be resolved.
        """
        schema_text, path = self.resolver.resolve(question)
        return build_prompt(question.question, schema_text, self.prompt_format, self.prompt,
                            evidence=prompt_evidence(question.evidence, self.evidence)), path

    def prompt_for_schema(self, question: Question, schema: DatabaseSchema) -> Prompt:
        """The training-format prompt of ``question`` over a schema given inline.

        Written as training wrote schemas (``data.schema`` style and keys,
        ``data.prompt`` wording, evidence when ``data.evidence`` is on); there is
        no database file, so no sample or matched values.
        """
        switches = self.resolver.schema
        text = serialize_schema(schema, switches.include_keys, None, switches.style,
                                self.resolver.dialect)
        return build_prompt(question.question, text, self.prompt_format, self.prompt,
                            evidence=prompt_evidence(question.evidence, self.evidence))

    def predict(self, questions: Sequence[Question],
                on_progress: Callable[[int], None] | None = None,
                samples: int = 1) -> list[Prediction]:
        """One :class:`Prediction` per question, in order; failures become ``error`` rows.

        Args:
            questions: The questions (rows with ``error`` set are passed through).
            on_progress: Called with how many questions just finished.
            samples: Without execution-guided selection, candidates to draw per
                question in the same batched call (evaluation's ``eval.samples``);
                above 1 each prediction keeps them in ``candidates``, the first as ``sql``.
        """
        predictions: list[Prediction | None] = [None] * len(questions)
        prompts: list[Prompt] = []
        pending: list[tuple[int, Path | str | None]] = []
        for index, question in enumerate(questions):
            error = question.error
            if error is None and not question.question.strip():
                error = "empty question"
            if error is None:
                try:
                    prompt, path = self.prompt_for(question)
                except DataError as exc:
                    error = str(exc)
                else:
                    prompts.append(prompt)
                    pending.append((index, path))
                    continue
            predictions[index] = Prediction(question.id, question.question, question.db, error=error)
        if on_progress is not None and len(pending) < len(questions):
            on_progress(len(questions) - len(pending))
        if prompts:
            self.last_prompt = self.backend.render(prompts[-1])
            guided = self.infer.execution_guided
            generations = self.backend.generate(
                prompts, num_candidates=self.infer.num_candidates if guided else samples,
                on_batch=on_progress)
            for (index, path), generation in zip(pending, generations, strict=True):
                predictions[index] = self._finish(questions[index], generation, path, samples)
        return [p for p in predictions if p is not None]

    def _finish(self, question: Question, generation: Generation, path: Path | str | None,
                samples: int = 1) -> Prediction:
        prediction = Prediction(
            question.id, question.question, question.db, sql=generation.sql,
            completion=generation.completion, latency_s=generation.latency_s,
            prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens,
            batch_size=generation.batch_size, error=generation.error)
        if generation.error or not self.infer.execution_guided:
            if samples > 1 and not generation.error:
                prediction.candidates = list(generation.candidates)
            return prediction
        prediction.candidates = list(generation.candidates)
        if path is None:
            prediction.guided_changed = False
            return prediction
        selection = select_for_database(generation.candidates or (generation.sql,), path,
                                        self.infer.limits, strategy=self.infer.guided_strategy)
        self.stats.add(selection)
        prediction.sql = selection.sql
        prediction.guided_changed = selection.changed
        return prediction


def check_engines(config: Config, databases: dict[str, str | Path]) -> None:
    """Refuse live databases (``{name: file or DSN}``) of the other engine than the model's
    ``data.dialect``; with ``infer.dialect_override`` log them instead.

    Raises:
        ConfigError: naming them (DSNs redacted), unless ``infer.dialect_override``.
    """
    check_dialect(config.data.dialect, databases, config.infer.dialect_override,
                  config.infer.adapter_path)
    other = sorted(n for n, t in databases.items() if engine_of(t) != config.data.dialect)
    if other:
        log.warning("infer.dialect_override: a %s model on %d database(s) of the other engine: %s",
                    config.data.dialect, len(other), ", ".join(other[:5]))


def make_resolver(config: Config, dataset: SpiderDataset | None = None) -> SchemaResolver:
    """The :class:`SchemaResolver` of ``config``: ``data.schema``, ``data.dialect``, and
    the dataset's db_ids that ``data.databases``/``data.database_url`` put on a server."""
    databases = live_databases(config.data, dataset.schemas) if dataset is not None else {}
    return SchemaResolver(config.data.schema, dataset, databases, config.data.dialect)


def build_predictor(config: Config, dataset: SpiderDataset | None = None,
                    backend: Backend | None = None) -> Predictor:
    """A :class:`Predictor` for ``config``, loading the model unless ``backend`` is given.

    Raises:
        T2SError: if the model cannot be loaded.
    """
    if backend is None:
        backend = load_backend(config.infer, config.model, config.data)
    return Predictor(backend, make_resolver(config, dataset), config.infer,
                     config.data.prompt_format, evidence=config.data.evidence,
                     prompt=config.data.prompt)


def generate_predictions(config: Config, examples: Sequence[Example], dataset: SpiderDataset,
                         progress: bool = True, backend: Backend | None = None,
                         samples: int = 1) -> list[Prediction]:
    """Predict SQL for Spider-format examples: what evaluation's "score a model" calls.

    Args:
        config: Full config (``infer``, ``model``, ``data.schema``, ``data.prompt_format``).
        examples: Examples of ``dataset`` (their gold SQL is not used).
        dataset: The dataset that holds the examples' schemas and databases.
        progress: Show a progress bar on stderr.
        backend: An already loaded backend (default: load ``infer.adapter_path``).
        samples: Candidates drawn per example (see :meth:`Predictor.predict`).

    Returns:
        One :class:`Prediction` per example, in order; ``id`` is the example's
        index and ``sql`` is "" where ``error`` is set.

    Raises:
        T2SError: if the model cannot be loaded.
    """
    predictor = build_predictor(config, dataset, backend)
    questions = [Question(id=str(e.index), question=e.question, db_id=e.db_id,
                          evidence=e.evidence) for e in examples]
    with progress_bar(len(questions), "generating", enabled=progress) as bar:
        predictions = predictor.predict(questions, on_progress=bar.update, samples=samples)
    if config.infer.execution_guided:
        log.info("%s", predictor.stats.summary())
    return predictions


def progress_bar(total: int, description: str, enabled: bool = True, initial: int = 0):
    """A tqdm bar on stderr with rate and ETA (a no-op bar when disabled)."""
    from tqdm.auto import tqdm

    # mininterval 1 s: in Slurm logs (not a TTY) each refresh is a new line.
    return tqdm(total=total, initial=initial, desc=description, unit="q", disable=not enabled,
                mininterval=1.0, dynamic_ncols=True)


def describe_model(config: Config) -> dict[str, Any]:
    """Model, adapter fingerprint and decoding settings, for manifests and reports.

    Raises:
        T2SError: if ``infer.adapter_path`` does not exist.
    """

    path = Path(config.infer.adapter_path)
    if not path.is_dir():
        raise T2SError(f"model folder {path} does not exist; set infer.adapter_path")
    base = None
    adapter_config = path / "adapter_config.json"
    if adapter_config.is_file():
        base = json.loads(adapter_config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    infer, decoding = config.infer, config.infer.decoding
    return {
        "base": base or str(path),
        "adapter": str(path) if base else None,
        "adapter_sha256": folder_sha256(path),
        "backend": infer.backend,
        "decoding": {
            "max_new_tokens": decoding.max_new_tokens, "do_sample": decoding.do_sample,
            "temperature": decoding.temperature, "top_p": decoding.top_p,
            "num_beams": decoding.num_beams,
            "execution_guided": infer.execution_guided,
            "num_candidates": infer.num_candidates if infer.execution_guided else 1,
            "prompt_format": config.data.prompt_format,
            # Only when sampled, so the manifests of one-candidate runs stay as they were.
            **({"samples": config.eval.samples} if config.eval.samples > 1 else {}),
        },
        "prompt": prompt_record(config),
    }
