"""``t2s monitor report``: latency, failures and drift of a served model, from its request log.

Inputs: the server's JSONL request log (:mod:`t2s.serve.requestlog` writes it:
one line per request) and a reference for "what training saw": a run's
``run_info.json`` (its resolved config names the training file) or a
Spider-format question file such as ``train.json``.

Outputs in ``--out``: ``REPORT.json`` (every number), ``REPORT.md`` (the same
as tables) and PNG plots (latency percentiles over time, failures by kind,
question-length and SQL-shape distributions, reference vs served).

The drift checks (:mod:`t2s.monitor.drift`; PSI > 0.25 flags):

- ``question_length`` — words per question (PSI over the reference's deciles, KS beside it);
- ``vocabulary`` — share of a question's words never seen in training questions
  (the reference's own rate measured on a held-out fifth of it);
- ``schema_overlap`` — share of a question's words that name its database's
  tables/columns (needs tables.json beside the reference);
- ``unseen_databases`` / ``unseen_tables`` — requests on databases, and SQL
  reading tables, that training never used;
- ``sql_shape`` — the primary category mix of the generated SQL (set operation,
  nested, join, aggregation, ordering, filter, simple) against the gold SQL;
- ``sql_error_rate`` — generated SQL that did not parse or prepare/execute
  (reference: gold SQL, 0);
- ``empty_result_rate`` — executed SQL that returned no rows (reference: gold
  SQL executed on the reference databases, up to 500 of them).

Beside the checks, ``unknown_names`` counts the tables and columns the served
databases said do not exist (the server logs them from SQLite's "no such
table" and PostgreSQL's "relation ... does not exist" alike): the names a
model invents most.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2s.data.spider import SpiderDataset, load_examples
from t2s.errors import InputError
from t2s.evaluation.categories import category
from t2s.evaluation.spider_sql import SpiderSQLError, tokenize
from t2s.jsonio import BadJSON, loads, read_lines
from t2s.monitor.drift import DriftCheck, categorical_check, numeric_check, rate_check
from t2s.provenance import file_sha256, write_json_atomic, write_text_atomic
from t2s.sqlexec import run_query

_WORD = re.compile(r"[a-z0-9]+")
GENERATION_ROUTES = ("/generate", "/v1/chat/completions")
SQL_ERRORS = ("sql_parse", "execution_error", "timeout")
# Gold queries executed for the reference empty-result rate: 500 x ~1 ms.
REFERENCE_EXECUTIONS = 500


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words (question length, vocabulary)."""
    return _WORD.findall(text.lower())


def referenced_tables(sql: str) -> set[str]:
    """Table names after FROM / JOIN (and in comma-separated FROM lists), lower-cased."""
    try:
        tokens = tokenize(sql)
    except (SpiderSQLError, ValueError):
        return set()
    found, in_from = set(), False
    for index, token in enumerate(tokens):
        if token in ("from", "join"):
            in_from = True
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            if following and following != "(" and _WORD.fullmatch(following.replace("_", "a")):
                found.add(following)
        elif token in ("where", "group", "order", "having", "limit", "on", ")", "union",
                       "intersect", "except"):
            in_from = False
        elif in_from and token == ",":
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            if following and _WORD.fullmatch(following.replace("_", "a")):
                found.add(following)
    return found


def sql_category(sql: str) -> str:
    """The primary category of a SQL string ("unparsable" if it does not tokenise)."""
    try:
        return category(sql)
    except (SpiderSQLError, ValueError):
        return "unparsable"


# --------------------------------------------------------------------------- inputs


@dataclass
class Reference:
    """What training saw: its questions, databases, gold SQL and schemas."""

    source: str
    questions: list[str]
    db_ids: list[str]
    sql: list[str]
    schema_words: dict[str, set[str]] = field(default_factory=dict)
    empty_hits: int = 0
    empty_total: int = 0


def load_reference(path: str | Path) -> Reference:
    """Read a ``run_info.json`` (its training file) or a Spider question file.

    Raises:
        InputError: if the file is neither, or the training file it names is missing.
    """
    path = Path(path)
    try:
        data = loads(path.read_bytes().decode("utf-8"), max_bytes=None)
    except (OSError, BadJSON, UnicodeDecodeError) as exc:
        raise InputError(f"--reference {path}: cannot read JSON ({exc})") from None
    if isinstance(data, dict) and "config" in data:
        try:
            config = data["config"]["data"]
            root = Path(config["root"])
            if not root.is_absolute() and not root.is_dir():
                root = path.parent / root
            questions_file = root / config["train_file"]
            tables, database_dir = root / config["tables_file"], root / config["database_dir"]
        except (KeyError, TypeError) as exc:
            raise InputError(f"--reference {path}: its config.data lacks a string "
                             f"root/train_file/tables_file/database_dir ({exc!r})") from None
    elif isinstance(data, list):
        questions_file = path
        tables, database_dir = path.parent / "tables.json", path.parent / "database"
    else:
        raise InputError(f"--reference {path}: expected a run_info.json or a Spider-format "
                         "question file (a JSON list)")
    try:
        examples = load_examples(questions_file)
    except Exception as exc:  # DataError with the file and record
        raise InputError(f"--reference {path}: {exc}") from None
    reference = Reference(source=str(questions_file), questions=[e.question for e in examples],
                          db_ids=[e.db_id for e in examples], sql=[e.query for e in examples])
    if tables.is_file():
        dataset = SpiderDataset(tables.parent, tables_file=tables.name,
                                database_dir=str(database_dir))
        for db_id, schema in dataset.schemas.items():
            names = set()
            for table in schema.tables:
                names.update(words(table.name.replace("_", " ")))
                for column in table.columns:
                    names.update(words(column.name.replace("_", " ")))
            reference.schema_words[db_id] = names
        _reference_empty_rate(reference, dataset, examples)
    return reference


def _reference_empty_rate(reference: Reference, dataset: SpiderDataset, examples) -> None:
    sample = random.Random(0).sample(examples, min(REFERENCE_EXECUTIONS, len(examples)))
    for example in sample:
        if not dataset.has_database(example.db_id):
            continue
        result = run_query(dataset.database_path(example.db_id), example.query, max_rows=1)
        if result.ok:
            reference.empty_total += 1
            reference.empty_hits += not result.rows


@dataclass(frozen=True)
class LogLines:
    """A request log as read: its records and what could not be used.

    Attributes:
        records: Lines that are request records with the fields' types right.
        unreadable: Lines that are not (too long, not JSON, nested too deep,
            not an object, no numeric ``ts``, a field of the wrong type).
        torn_last_line: Whether the last line is unreadable and has no
            newline: a record the server was still writing (counted in
            ``unreadable`` too).
        first_problems: The first few ``line N: why``, for the message.
    """

    records: list[dict[str, Any]]
    unreadable: int
    torn_last_line: bool = False
    first_problems: tuple[str, ...] = ()


# What each field the report reads must hold (None is always allowed except
# for ts): a log written by another tool, or edited, is counted, not crashed on.
_NUMBER = (int, float)
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "route": (str,), "outcome": (str,), "adapter": (str,), "db_id": (str,),
    "question": (str,), "sql": (str,), "error_kind": (str,), "latency_ms": _NUMBER,
    "cached": (bool,), "executed": (bool,), "exec_ok": (bool,), "empty_result": (bool,),
    "sql_parsed": (bool,), "unknown_tables": (list,), "unknown_columns": (list,),
}

# Names listed per kind in ``unknown_names`` at most.
TOP_UNKNOWN = 10


def unknown_names(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """The most frequent tables and columns the databases reported missing, with counts."""
    found = {}
    for kind in ("tables", "columns"):
        counts = Counter(str(name) for r in records for name in r.get(f"unknown_{kind}") or ())
        found[kind] = dict(counts.most_common(TOP_UNKNOWN))
    return found


def record_problem(record: Any) -> str | None:
    """Why a parsed log line is not a usable request record, or None."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    ts = record.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, _NUMBER) or not math.isfinite(ts):
        return "no numeric 'ts'"
    for key, types in _FIELD_TYPES.items():
        value = record.get(key)
        if value is None:
            continue
        wrong = not isinstance(value, types) or (types is _NUMBER and (
            isinstance(value, bool) or not math.isfinite(value)))
        if wrong:
            expected = " or ".join(t.__name__ for t in types)
            return f"{key!r} must be {expected} or null, got {type(value).__name__}"
    return None


def read_log(path: str | Path) -> LogLines:
    """The log's usable records, and how many lines were unreadable.

    Each line goes through :func:`t2s.jsonio.read_lines` (bounded size, any
    nesting depth) and :func:`record_problem`; a bad line is counted, never raised.

    Raises:
        InputError: if the file is missing or cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--log {path} does not exist")
    records, problems, unreadable, torn = [], [], 0, False
    try:
        for line in read_lines(path):
            problem = line.error or record_problem(line.value)
            if problem is None:
                records.append(line.value)
                continue
            unreadable += 1
            torn = line.final
            if len(problems) < 3:
                problems.append(f"line {line.number}: {problem}")
    except OSError as exc:
        raise InputError(f"--log {path}: {exc.strerror or exc}") from None
    return LogLines(records, unreadable, torn, tuple(problems))


# --------------------------------------------------------------------------- numbers


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def latency_over_time(records: list[dict[str, Any]], windows: int = 10) -> list[dict[str, Any]]:
    """p50/p95/p99 latency and failure rate in equal time windows."""
    if not records:
        return []
    start, end = min(r["ts"] for r in records), max(r["ts"] for r in records)
    width = max((end - start) / windows, 1e-9)
    out = []
    for index in range(windows):
        low, high = start + index * width, start + (index + 1) * width
        inside = [r for r in records if low <= r["ts"] < high or (index == windows - 1 and r["ts"] == end)]
        if not inside:
            continue
        latencies = [r["latency_ms"] for r in inside if r.get("latency_ms") is not None]
        failures = sum(1 for r in inside if r.get("outcome") != "ok")
        out.append({"start": round(low, 3), "end": round(high, 3), "requests": len(inside),
                    "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
                    "p99_ms": percentile(latencies, 99),
                    "failure_rate": round(failures / len(inside), 4)})
    return out


def drift_checks(records: list[dict[str, Any]], reference: Reference) -> list[DriftCheck]:
    """Every drift check of the served requests against the reference."""
    served = [r for r in records if r.get("outcome") not in ("validation", "auth")]
    questions = [r["question"] for r in served if r.get("question")]
    checks = [numeric_check(
        "question_length", "words per question",
        [len(words(q)) for q in reference.questions], [len(words(q)) for q in questions])]
    # Vocabulary: the reference's own out-of-vocabulary rate on a held-out fifth.
    shuffled = reference.questions[:]
    random.Random(0).shuffle(shuffled)
    cut = max(1, len(shuffled) * 4 // 5)
    known = {w for q in shuffled[:cut] for w in words(q)}
    full_vocabulary = {w for q in reference.questions for w in words(q)}
    checks.append(numeric_check(
        "vocabulary", "share of a question's words unseen in training questions",
        [_share_outside(q, known) for q in shuffled[cut:]],
        [_share_outside(q, full_vocabulary) for q in questions]))
    if reference.schema_words:
        ref_overlap = [_share_inside(q, reference.schema_words[d])
                       for q, d in zip(reference.questions, reference.db_ids, strict=True)
                       if d in reference.schema_words]
        new_overlap = [_share_inside(r["question"], reference.schema_words[r["db_id"]])
                       for r in served if r.get("question") and r.get("db_id") in reference.schema_words]
        checks.append(numeric_check(
            "schema_overlap", "share of a question's words that name its database's tables/columns",
            ref_overlap, new_overlap))
    known_dbs = set(reference.db_ids)
    with_db = [r for r in served if r.get("db_id")]
    checks.append(rate_check(
        "unseen_databases", "requests on a database training never used",
        0, len(reference.db_ids), sum(1 for r in with_db if r["db_id"] not in known_dbs),
        len(with_db)))
    known_tables = {t for sql in reference.sql for t in referenced_tables(sql)}
    served_tables = [t for r in served if r.get("sql") for t in referenced_tables(r["sql"])]
    checks.append(rate_check(
        "unseen_tables", "tables read by the generated SQL that no training SQL read",
        0, sum(1 for sql in reference.sql for _ in referenced_tables(sql)),
        sum(1 for t in served_tables if t not in known_tables), len(served_tables)))
    checks.append(categorical_check(
        "sql_shape", "primary category of the SQL (gold vs generated)",
        [sql_category(s) for s in reference.sql],
        [sql_category(r["sql"]) for r in served if r.get("sql")]))
    checked = [r for r in served if r.get("sql_parsed") is not None]
    checks.append(rate_check(
        "sql_error_rate", "generated SQL that failed to parse, prepare or execute",
        0, len(reference.sql), sum(1 for r in checked if r.get("error_kind") in SQL_ERRORS),
        len(checked)))
    executed = [r for r in served if r.get("executed") and r.get("exec_ok")]
    checks.append(rate_check(
        "empty_result_rate", "executed SQL that returned no rows",
        reference.empty_hits, reference.empty_total,
        sum(1 for r in executed if r.get("empty_result")), len(executed)))
    return checks


def _share_outside(question: str, vocabulary: set[str]) -> float:
    tokens = words(question)
    return sum(1 for w in tokens if w not in vocabulary) / len(tokens) if tokens else 0.0


def _share_inside(question: str, names: set[str]) -> float:
    tokens = words(question)
    return sum(1 for w in tokens if w in names) / len(tokens) if tokens else 0.0


# --------------------------------------------------------------------------- report


def build_report(records: list[dict[str, Any]], reference: Reference, log_path: str | Path,
                 reference_path: str | Path, bad_lines: int = 0,
                 torn_last_line: bool = False) -> dict[str, Any]:
    """Every number of the report, as REPORT.json holds it.

    Args:
        records: The log's generation records (:func:`read_log`).
        reference: The training reference (:func:`load_reference`).
        log_path: The log file (named and hashed in the report).
        reference_path: The reference file (named in the report).
        bad_lines: Unreadable log lines.
        torn_last_line: Whether the last of them is a line still being written.
    """
    latencies = [r["latency_ms"] for r in records if r.get("latency_ms") is not None]
    outcomes = Counter(r.get("outcome", "unknown") for r in records)
    failures = sum(n for kind, n in outcomes.items() if kind != "ok")
    checks = drift_checks(records, reference)
    return {
        "inputs": {"log": str(log_path), "log_sha256": file_sha256(log_path),
                   "reference": str(reference_path), "reference_questions": reference.source,
                   "unreadable_log_lines": bad_lines, "torn_last_line": torn_last_line},
        "summary": {
            "requests": len(records), "failures": failures,
            "failure_rate": round(failures / len(records), 4) if records else None,
            "cached": sum(1 for r in records if r.get("cached")),
            "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                           "p99": percentile(latencies, 99)},
            "outcomes": dict(sorted(outcomes.items())),
            "adapters": dict(Counter(r.get("adapter") or "-" for r in records)),
        },
        "latency_over_time": latency_over_time(records),
        "unknown_names": unknown_names(records),
        "drift": [c.as_dict() for c in checks],
        "flagged": [c.name for c in checks if c.flagged],
    }


def markdown(report: dict[str, Any]) -> str:
    """REPORT.md: the summary, drift table and plots."""
    summary = report["summary"]
    latency = summary["latency_ms"]
    lines = [
        "# Serving report", "",
        f"Log `{report['inputs']['log']}`, reference `{report['inputs']['reference_questions']}`.",
        "",
        f"- requests: {summary['requests']} ({summary['cached']} cached), failures: "
        f"{summary['failures']} (rate {summary['failure_rate']})",
        f"- latency ms: p50 {latency['p50']}, p95 {latency['p95']}, p99 {latency['p99']}",
        f"- outcomes: {', '.join(f'{k} {v}' for k, v in summary['outcomes'].items()) or 'none'}",
        f"- flagged drift: {', '.join(report['flagged']) or 'none'}",
        f"- unknown tables: {_brief(report['unknown_names']['tables']) or 'none'}; "
        f"unknown columns: {_brief(report['unknown_names']['columns']) or 'none'}", "",
        "## Drift (PSI > threshold flags)", "",
        "| check | what | PSI | threshold | KS p | flagged | reference | served |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for check in report["drift"]:
        p_value = "" if check["ks_p_value"] is None else f"{check['ks_p_value']:.3g}"
        lines.append(
            f"| {check['name']} | {check['description']} | {check['value']:.3f} | "
            f"{check['threshold']} | {p_value} | {'**yes**' if check['flagged'] else 'no'} | "
            f"{_brief(check['reference'])} | {_brief(check['served'])} |")
    lines += ["", "## Latency over time", "",
              "| window start (unix s) | requests | p50 ms | p95 ms | p99 ms | failure rate |",
              "| --- | --- | --- | --- | --- | --- |"]
    for window in report["latency_over_time"]:
        lines.append(f"| {window['start']} | {window['requests']} | {window['p50_ms']} | "
                     f"{window['p95_ms']} | {window['p99_ms']} | {window['failure_rate']} |")
    lines += ["", "![latency](latency.png) ![failures](failures.png)",
              "![question length](question_length.png) ![SQL shape](sql_shape.png)", ""]
    return "\n".join(lines)


def _brief(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in list(values.items())[:8])


def write_report(log_path: str | Path, reference_path: str | Path, out_dir: str | Path) -> dict:
    """Build the report and write REPORT.json, REPORT.md and the plots into ``out_dir``.

    Raises:
        InputError: if the log or the reference cannot be read.
    """
    log = read_log(log_path)
    records = [r for r in log.records if r.get("route") in GENERATION_ROUTES]
    if not records:
        # No data is a failure, not a report of "0 requests" with every check "ok".
        why = f"; {log.unreadable} unreadable line(s), e.g. {'; '.join(log.first_problems)}" \
            if log.unreadable else ""
        raise InputError(f"--log {log_path}: no readable {' or '.join(GENERATION_ROUTES)} "
                         f"request records{why}; nothing to report on")
    reference = load_reference(reference_path)
    report = build_report(records, reference, log_path, reference_path, log.unreadable,
                          log.torn_last_line)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report["plots"] = plot(report, records, reference, out)
    write_json_atomic(out / "REPORT.json", report)
    write_text_atomic(out / "REPORT.md", markdown(report))
    return report


# Bars of the question-length histogram at most. One bar per word count made
# one 20,000-word question draw 20,000 bars (matplotlib adds each as a patch and
# places the legend by testing it against each): 30 s for 40 KB, minutes for
# 400 KB. Fifty bars show a distribution of ~10-30 words as finely as needed.
MAX_LENGTH_BINS = 50


def length_bins(lengths: list[int]) -> list[float]:
    """Histogram bin edges for word counts: one per count up to :data:`MAX_LENGTH_BINS`
    bins, wider bins beyond, so the number of bars never grows with a question's length."""
    top = max(lengths, default=0) + 1
    width = max(1, math.ceil(top / MAX_LENGTH_BINS))
    return [float(edge) for edge in range(0, top + width, width)]


def _save(plt: Any, fig: Any, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name


def plot(report: dict[str, Any], records: list[dict[str, Any]], reference: Reference,
         out: Path) -> list[str]:
    """The PNG plots; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    windows = report["latency_over_time"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if windows:
        start = windows[0]["start"]
        x = [(w["start"] - start) for w in windows]
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            ax.plot(x, [w[key] for w in windows], marker="o", label=key.split("_")[0])
    ax.set(xlabel="seconds since first request", ylabel="latency (ms)", title="Latency percentiles")
    ax.legend()
    written.append(_save(plt, fig, out, "latency.png"))

    fig, ax = plt.subplots(figsize=(7, 3.5))
    outcomes = report["summary"]["outcomes"]
    failures = {k: v for k, v in outcomes.items() if k != "ok"}
    ax.bar(list(failures) or ["none"], list(failures.values()) or [0], color="#c0392b")
    ax.set(ylabel="requests", title=f"Failures by kind ({report['summary']['failures']} of "
                                    f"{report['summary']['requests']})")
    written.append(_save(plt, fig, out, "failures.png"))

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ref_lengths = [len(words(q)) for q in reference.questions]
    new_lengths = [len(words(r["question"])) for r in records if r.get("question")]
    bins = length_bins(ref_lengths + new_lengths)
    ax.hist(ref_lengths, bins=bins, density=True, alpha=0.5, label="training")
    if new_lengths:
        ax.hist(new_lengths, bins=bins, density=True, alpha=0.5, label="served")
    ax.set(xlabel="words per question", ylabel="share", title="Question length")
    ax.legend()
    written.append(_save(plt, fig, out, "question_length.png"))

    shape = next(c for c in report["drift"] if c["name"] == "sql_shape")
    labels = sorted(set(shape["reference"]) | set(shape["served"]))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    positions = range(len(labels))
    ax.bar([p - 0.2 for p in positions], [shape["reference"].get(k, 0) for k in labels], 0.4,
           label="training gold")
    ax.bar([p + 0.2 for p in positions], [shape["served"].get(k, 0) for k in labels], 0.4,
           label="served")
    ax.set_xticks(list(positions), labels, rotation=30, ha="right")
    ax.set(ylabel="share", title=f"SQL shape (PSI {shape['value']:.2f})")
    ax.legend()
    written.append(_save(plt, fig, out, "sql_shape.png"))
    return written
