"""Evaluation reports: ``REPORT.json``, ``REPORT.md`` and the printed summary.

``REPORT.json`` has three keys:

* ``summary``: counts and accuracies overall, ``by_hardness``, ``by_category``
  (each example under its primary category), ``by_tag`` (each example under
  every category it has: join, nested, ...), ``by_database``, ``errors``
  (how many examples fell in each error kind), ``gold_parse_errors`` (how many
  gold queries the Spider parser cannot read; their exact match counts as
  wrong) and ``execution_skipped`` (``{"examples": n, "db_ids": [...]}``: the
  examples that ``--skip-missing-db`` left out of execution scoring). Each
  accuracy is ``correct`` over the examples scored for that metric, so with
  skipped examples ``execution`` is over ``count - execution_skipped.examples``.
  Overall, per hardness and per difficulty, each 0/1 metric's entry also has
  ``ci95``, its 95% bootstrap interval (:mod:`t2s.evaluation.intervals`). With
  several candidates per question, ``sampling`` (``{"n", "k"}``) and the keys
  ``pass@k`` and ``maj@k`` follow the registry's metrics in every entry
  (:mod:`t2s.evaluation.sampling`).
* ``examples``: one record per example, in input order (see
  :class:`~t2s.evaluation.runner.ExampleResult`).
* ``manifest``: evaluator name and version, the flags that change verdicts,
  data fingerprints (sha256 of the gold file, tables.json and every database
  used) with ``data.missing_databases`` (used db_ids that have no SQLite file:
  fine for exact match, skipped by execution), the prediction file's hash, the
  intervals' method, draws and seed (``intervals``), the model/adapter and decoding settings
  when a model produced the predictions, the git commit, and the time.
  ``t2s compare`` refuses to compare reports whose ``data`` or ``flags``
  differ.

Both files are written atomically (a temporary file in the same folder, then
``os.replace``), so a crash never leaves a half-written report behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t2s import __version__
from t2s.evaluation import EVALUATOR_VERSION, metrics
from t2s.evaluation.hardness import LEVELS
from t2s.evaluation.intervals import LEVEL, format_interval, is_zero_one, with_interval
from t2s.evaluation.metrics import printed
from t2s.evaluation.sampling import resolve_ks
from t2s.evaluation.test_suite import ex_not_ts
from t2s.provenance import file_sha256, git_commit, write_text_atomic

if TYPE_CHECKING:
    from t2s.config import EvalConfig
    from t2s.evaluation.runner import ExampleResult

DIFFICULTY_LEVELS = ("simple", "moderate", "challenging")
"""BIRD's difficulty labels, in report order (other labels follow, sorted)."""
REPORT_FORMAT = 1


def build_manifest(*, options: EvalConfig, gold_path: str | Path | None,
                   pred_path: str | Path | None, tables_path: str | Path,
                   db_paths: Mapping[str, Path], model: Mapping[str, Any] | None = None,
                   runtime: Mapping[str, Any] | None = None,
                   missing_databases: Sequence[str] = ()) -> dict[str, Any]:
    """Describe how a report was produced, with fingerprints of every input.

    Raises:
        OSError: if an input file cannot be read.
    """

    def fingerprint(path: str | Path | None) -> dict[str, Any] | None:
        if path is None:
            return None
        return {"path": str(path), "sha256": file_sha256(path)}

    return {
        "format": REPORT_FORMAT,
        "evaluator": {
            "name": "t2s", "version": EVALUATOR_VERSION, "t2s_version": __version__,
            "semantics": "taoyds/test-suite-sql-eval evaluation.py + exec_eval.eval_exec_match "
                         "(default settings)",
        },
        # exec_metric only when BIRD's (every other value scores with Spider's
        # semantics), so reports from before it existed still compare (nightly
        # flips refuse reports whose flags differ).
        "flags": {"etype": options.etype, "keep_distinct": options.keep_distinct,
                  "timeout_s": options.timeout_s, "max_rows": options.max_rows,
                  "max_result_bytes": options.max_result_bytes,
                  **({"exec_metric": options.exec_metric}
                     if options.exec_metric == "bird" else {}),
                  **({"ves_runs": options.ves_runs} if options.ves_runs else {}),
                  **({"test_suite": {"neighbours": options.test_suite.neighbours,
                                     "seed": options.test_suite.seed,
                                     "max_rows_per_table": options.test_suite.max_rows_per_table,
                                     "candidates": options.test_suite.candidates}}
                     if options.test_suite.active else {})},
        "data": {
            "gold": fingerprint(gold_path),
            "tables": fingerprint(tables_path),
            "databases": {db_id: file_sha256(path) for db_id, path in sorted(db_paths.items())},
            "missing_databases": sorted(missing_databases),
        },
        # Not a flag: reports with other draws still compare (t2s compare uses B's).
        "intervals": {"method": "percentile bootstrap over examples", "level": LEVEL,
                      "samples": options.bootstrap_samples, "seed": options.seed},
        "predictions": fingerprint(pred_path),
        "model": dict(model) if model else None,
        "git_commit": git_commit(),  # "<sha>-dirty" when the tree has local changes
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "runtime": {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                    **(runtime or {})},
    }


@dataclass(frozen=True)
class _Scoring:
    """What a group's stats add to the accuracies: intervals (draws, seed) and the k of sampling."""

    bootstrap: tuple[int, int] | None = None
    ks: tuple[int, ...] = ()

    def interval(self, stats: dict[str, Any] | None,
                 values: Sequence[Any]) -> dict[str, Any] | None:
        if self.bootstrap is None:
            return stats
        return with_interval(stats, values, *self.bootstrap)


def _group_stats(results: Sequence[ExampleResult],
                 scoring: _Scoring = _Scoring()) -> dict[str, Any]:
    stats: dict[str, Any] = {"count": len(results)}
    for metric in metrics.METRICS:
        values = [r.scores.get(metric.name) for r in results]
        stats[metric.name] = metric.aggregate(values)
        if is_zero_one(values):  # a per-example 0/1 metric: EX, EM, ...
            stats[metric.name] = scoring.interval(stats[metric.name], values)
    sampled = [r.samples for r in results if r.samples is not None]
    for sampled_metric in metrics.SAMPLED:
        for k in scoring.ks:
            values = [sampled_metric.value(verdicts, k) for verdicts in sampled]
            stats[sampled_metric.key(k)] = scoring.interval(sampled_metric.aggregate(values),
                                                            values)
    return stats


def _grouped(results: Iterable[ExampleResult], keys: Callable[[ExampleResult], Iterable[str]],
             order: Sequence[str] = (), scoring: _Scoring = _Scoring()) -> dict[str, Any]:
    groups: dict[str, list[ExampleResult]] = {}
    for result in results:
        for key in keys(result):
            groups.setdefault(key, []).append(result)
    names = [k for k in order if k in groups] + sorted(k for k in groups if k not in order)
    return {name: _group_stats(groups[name], scoring) for name in names}


def build_summary(results: Sequence[ExampleResult],
                  options: EvalConfig | None = None) -> dict[str, Any]:
    """Counts and accuracies overall and per hardness, category, tag and database.

    With ``options``, the overall, per-hardness and per-difficulty entries of
    every per-example 0/1 metric (and of pass@k, maj@k) get a 95% interval,
    ``ci95`` (``eval.bootstrap_samples``, ``eval.seed``); when the examples
    have candidates, ``sampling`` gives n and the k reported.

    Raises:
        InputError: if an ``eval.pass_k`` exceeds the candidates per question.
    """
    errors = Counter(r.error for r in results if r.error is not None)
    skipped = [r for r in results if r.execution_skipped]
    sizes = {r.samples.n for r in results if r.samples is not None}
    ks = tuple(resolve_ks(options.pass_k if options else (), min(sizes))) if sizes else ()
    per_group = _Scoring(ks=ks)
    scoring = per_group
    if options is not None and options.bootstrap_samples > 0:
        scoring = _Scoring((options.bootstrap_samples, options.seed), ks)
    return {
        **_group_stats(results, scoring),
        **({"sampling": {"n": min(sizes), "k": list(ks)}} if sizes else {}),
        "by_hardness": _grouped(results, lambda r: [r.hardness], LEVELS, scoring),
        "by_category": _grouped(results, lambda r: [r.category], scoring=per_group),
        "by_tag": _grouped(results, lambda r: r.categories, scoring=per_group),
        "by_database": _grouped(results, lambda r: [r.db_id], scoring=per_group),
        "by_difficulty": _grouped((r for r in results if r.difficulty is not None),
                                  lambda r: [r.difficulty], DIFFICULTY_LEVELS, scoring),
        "errors": dict(sorted(errors.items(), key=lambda item: (-item[1], item[0]))),
        "gold_parse_errors": sum(1 for r in results if r.gold_parse_error is not None),
        "execution_skipped": {"examples": len(skipped),
                              "db_ids": sorted({r.db_id for r in skipped})},
    }


def report_warnings(summary: Mapping[str, Any]) -> list[str]:
    """One line per thing that makes the accuracies mean less than they seem.

    Reports written before these summary keys existed give none.
    """
    lines = []
    gold_errors = summary.get("gold_parse_errors") or 0
    if gold_errors:
        lines.append(f"{gold_errors} gold quer{'y' if gold_errors == 1 else 'ies'} cannot be "
                     "parsed by the Spider parser: exact match counts them wrong (see "
                     "gold_parse_error in REPORT.json)")
    skipped = summary.get("execution_skipped") or {}
    if skipped.get("examples"):
        count = skipped["examples"]
        lines.append(f"execution skipped for {count} example{'s' if count != 1 else ''} with "
                     f"no SQLite database ({', '.join(skipped['db_ids'])}; --skip-missing-db): "
                     f"exec % is over the other {summary['count'] - count}")
    return lines


def build_report(results: Sequence[ExampleResult], options: EvalConfig,
                 manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The full report: ``summary``, ``examples`` (input order) and ``manifest``.

    Raises:
        InputError: as :func:`build_summary`.
    """
    ordered = sorted(results, key=lambda r: r.index)
    examples = [r.to_dict() for r in ordered]
    summary = build_summary(ordered, options)
    if summary.get("test_suite") is not None:
        summary["ex_not_ts"] = ex_not_ts(examples)
    return {"summary": summary, "examples": examples, "manifest": dict(manifest)}


def markdown_path(json_path: str | Path) -> Path:
    """``REPORT.md`` beside ``REPORT.json`` (same stem, ``.md`` suffix)."""
    return Path(json_path).with_suffix(".md")


def write_report(report: Mapping[str, Any], out_path: str | Path) -> tuple[Path, Path]:
    """Write the JSON report and its Markdown summary, each atomically.

    Returns:
        ``(json_path, markdown_path)``.

    Raises:
        OSError: if the folder cannot be written.
    """
    out_path = Path(out_path)
    write_text_atomic(out_path, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    md = markdown_path(out_path)
    write_text_atomic(md, render_markdown(report))
    return out_path, md


def _pct(stat: Mapping[str, Any] | None, interval: bool = False) -> str:
    if stat is None:
        return "-"
    text = f"{100 * stat['accuracy']:.1f}"
    return f"{text} {format_interval(stat['ci95'])}" if interval and stat.get("ci95") else text


def columns(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, summary key)`` of each printed column: the registry's, then pass@k and maj@k.

    A metric the run did not score (BIRD's Soft-F1 on Spider data) gets no column.
    """
    shown = [(m.label or m.name, m.name) for m in printed() if summary.get(m.name) is not None]
    ks = (summary.get("sampling") or {}).get("k", [])
    return shown + [(m.key(k), m.key(k)) for m in metrics.SAMPLED for k in ks]


def _table(title: str, groups: Mapping[str, Any], shown: Sequence[tuple[str, str]]) -> list[str]:
    lines = [f"| {title} | count | " + " | ".join(f"{label} %" for label, _ in shown) + " |",
             "|---|---:|" + "---:|" * len(shown)]
    for name, stats in groups.items():
        lines.append(f"| {name} | {stats['count']} | "
                     + " | ".join(_pct(stats.get(key), interval=True) for _, key in shown) + " |")
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    """A short human-readable report (the Markdown beside REPORT.json)."""
    summary, manifest = report["summary"], report["manifest"]
    flags = ", ".join(f"{k}={v}" for k, v in manifest["flags"].items())
    lines = [
        "# Evaluation report", "",
        f"- created: {manifest['created_at']}; t2s evaluator v{manifest['evaluator']['version']}"
        f"; git {manifest.get('git_commit') or 'unknown'}",
        f"- flags: {flags}",
    ]
    gold = manifest["data"].get("gold")
    if gold:
        lines.append(f"- gold: `{gold['path']}` (sha256 {gold['sha256'][:12]})")
    if manifest.get("predictions"):
        pred = manifest["predictions"]
        lines.append(f"- predictions: `{pred['path']}` (sha256 {pred['sha256'][:12]})")
    if manifest.get("model"):
        lines.append(f"- model: `{json.dumps(manifest['model'], sort_keys=True)}`")
    notes = report_warnings(summary)
    if notes:
        lines += ["", "## Warnings", "", *(f"- {note}" for note in notes)]
    shown = columns(summary)
    lines += ["", "## Overall", "", *_table("split", {"all": summary}, shown), "",
              *_interval_note(manifest, summary),
              "## By hardness", "", *_table("hardness", summary["by_hardness"], shown), "",
              *(["## By difficulty (the data's labels)", "",
                 *_table("difficulty", summary["by_difficulty"], shown), ""]
                if summary.get("by_difficulty") else []),
              "## By category", "", *_table("category", summary["by_category"], shown), "",
              "## By tag (an example counts under each of its tags)", "",
              *_table("tag", summary["by_tag"], shown), "",
              "## By database", "", *_table("db_id", summary["by_database"], shown), "",
              "## Errors", "", "| error | count |", "|---|---:|"]
    lines += [f"| {kind} | {count} |" for kind, count in summary["errors"].items()]
    if "ex_not_ts" in summary:
        lines += ["", "## EX 1 but TS 0 (right on the database, wrong on its test suite)", "",
                  "| index | db_id | hardness | prediction |", "|---:|---|---|---|"]
        by_index = {e["index"]: e for e in report["examples"]}
        for index in summary["ex_not_ts"]:
            e = by_index[index]
            pred = e["pred"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {index} | {e['db_id']} | {e['hardness']} | `{pred}` |")
    return "\n".join(lines) + "\n"


def _interval_note(manifest: Mapping[str, Any], summary: Mapping[str, Any]) -> list[str]:
    """The line under the overall table that says what the bracketed intervals are."""
    lines = []
    drawn = manifest.get("intervals") or {}
    if drawn.get("samples"):
        lines.append(f"[low, high]: 95% interval, percentile bootstrap over examples "
                     f"({drawn['samples']} draws, seed {drawn['seed']}).")
    sampling = summary.get("sampling")
    if sampling:
        lines.append(f"{sampling['n']} candidates per question: exec and exact score the "
                     "first; pass@k is Chen et al.'s unbiased estimator, maj@k the execution "
                     "majority vote of the first k.")
    return [*lines, ""] if lines else []


def format_summary(report: Mapping[str, Any]) -> str:
    """The table printed at the end of ``t2s evaluate``: accuracy per hardness
    (per the data's difficulty labels instead, where the data has them: BIRD)."""
    summary = report["summary"]
    groups = {**(summary.get("by_difficulty") or summary["by_hardness"]), "all": summary}
    header = f"{'':<8}" + "".join(f"{name:>12}" for name in groups)
    rows = [header, f"{'count':<8}" + "".join(f"{g['count']:>12}" for g in groups.values())]
    for label, key in columns(summary):
        if summary.get(key) is not None:
            rows.append(f"{label:<8}" + "".join(f"{_pct(g.get(key)):>12}" for g in groups.values()))
    intervals = [f"{label} {format_interval(summary[key]['ci95'])}"
                 for label, key in columns(summary) if (summary.get(key) or {}).get("ci95")]
    if intervals:
        rows.append("95% CI (all): " + ", ".join(intervals))
    if summary["errors"]:
        rows.append("errors: " + ", ".join(f"{k} {v}" for k, v in summary["errors"].items()))
    if summary.get("ex_not_ts"):
        rows.append(f"ts: {len(summary['ex_not_ts'])} examples EX 1 but TS 0 "
                    "(listed in REPORT.md; summary.ex_not_ts)")
    rows += [f"warning: {note}" for note in report_warnings(summary)]
    return "\n".join(rows)


def dated_report_path(out_dir: str | Path, day: _dt.date | None = None) -> Path:
    """``<out_dir>/<YYYY-MM-DD>/REPORT.json`` for a nightly run (default: today, UTC)."""
    day = day or _dt.datetime.now(_dt.UTC).date()
    return Path(out_dir) / day.isoformat() / "REPORT.json"


def previous_report(out_dir: str | Path, current: str | Path) -> Path | None:
    """The newest dated ``REPORT.json`` in ``out_dir`` older than ``current``, if any.

    Dated folder names (ISO dates) sort chronologically as strings.
    """
    current_day = Path(current).parent.name
    earlier = sorted(p for p in Path(out_dir).glob("*/REPORT.json")
                     if _is_iso_date(p.parent.name) and p.parent.name < current_day)
    return earlier[-1] if earlier else None


def _is_iso_date(name: str) -> bool:
    try:
        _dt.date.fromisoformat(name)
    except ValueError:
        return False
    return len(name) == 10
