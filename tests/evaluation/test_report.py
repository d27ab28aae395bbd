"""Tests for t2s.evaluation.report: summary breakdowns, Markdown, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from t2s.config import EvalConfig
from t2s.evaluation.report import (
    build_manifest,
    build_report,
    build_summary,
    format_summary,
    render_markdown,
    write_report,
)
from t2s.evaluation.runner import ExampleResult


def _result(index: int, hardness: str, exec_ok: bool, exact_ok: bool, db_id: str = "shop",
            error: str | None = None, tags: tuple[str, ...] = ("simple",)) -> ExampleResult:
    return ExampleResult(index=index, db_id=db_id, question=f"q{index}", gold="SELECT 1",
                         pred="SELECT 1", hardness=hardness, category=tags[0],
                         categories=list(tags), error=None if exec_ok else error,
                         scores={"exact_match": exact_ok, "string_match": exact_ok,
                                 "execution": exec_ok})


RESULTS = [
    _result(0, "easy", True, True),
    _result(1, "easy", False, False, error="wrong_result"),
    _result(2, "hard", True, False, db_id="zoo", tags=("join", "filter")),
    _result(3, "extra", False, False, db_id="zoo", error="timeout", tags=("nested",)),
    _result(4, "medium", False, True, error="wrong_result", tags=("filter",)),
]


def test_summary_counts_and_accuracies() -> None:
    summary = build_summary(RESULTS)
    assert summary["count"] == 5
    assert summary["execution"] == {"correct": 2, "accuracy": 0.4}
    assert summary["exact_match"] == {"correct": 2, "accuracy": 0.4}
    assert list(summary["by_hardness"]) == ["easy", "medium", "hard", "extra"]
    assert summary["by_hardness"]["easy"]["count"] == 2
    assert summary["by_hardness"]["easy"]["execution"] == {"correct": 1, "accuracy": 0.5}
    assert summary["by_database"]["zoo"]["count"] == 2
    assert summary["by_category"]["join"]["count"] == 1
    assert summary["by_tag"]["filter"]["count"] == 2  # example 2 counts under join and filter
    assert summary["errors"] == {"wrong_result": 2, "timeout": 1}


def test_unscored_metric_is_null_not_zero() -> None:
    unscored = [ExampleResult(index=0, db_id="d", question=None, gold="g", pred="p",
                              hardness="easy", category="simple", scores={"execution": True})]
    summary = build_summary(unscored)
    assert summary["exact_match"] is None
    assert summary["execution"] == {"correct": 1, "accuracy": 1.0}
    assert "exact" not in format_summary({"summary": summary})


def _report(tmp_path: Path) -> dict[str, object]:
    gold = tmp_path / "gold.sql"
    gold.write_text("SELECT 1\tshop\n", encoding="utf-8")
    tables = tmp_path / "tables.json"
    tables.write_text("[]", encoding="utf-8")
    db = tmp_path / "shop.sqlite"
    db.write_bytes(b"not really a database, only hashed")
    manifest = build_manifest(options=EvalConfig(), gold_path=gold, pred_path=None,
                              tables_path=tables, db_paths={"shop": db})
    return build_report(list(reversed(RESULTS)), EvalConfig(), manifest)


def test_report_keeps_input_order_and_records_the_manifest(tmp_path: Path) -> None:
    report = _report(tmp_path)
    assert [e["index"] for e in report["examples"]] == [0, 1, 2, 3, 4]
    first = report["examples"][0]
    for key in ("index", "db_id", "question", "gold", "pred", "hardness", "category",
                "exact_match", "execution_match", "error"):
        assert key in first
    manifest = report["manifest"]
    assert manifest["evaluator"]["name"] == "t2s"
    assert manifest["flags"]["keep_distinct"] is False
    assert len(manifest["data"]["databases"]["shop"]) == 64
    assert manifest["predictions"] is None and manifest["model"] is None
    assert manifest["created_at"].endswith("+00:00")


def test_markdown_and_printed_summary_show_the_numbers(tmp_path: Path) -> None:
    report = _report(tmp_path)
    markdown = render_markdown(report)
    # Overall and per hardness, each accuracy with its 95% bootstrap interval.
    assert "| all | 5 | 40.0 [0.0, 80.0] | 40.0 [0.0, 80.0] |" in markdown
    assert "| easy | 2 | 50.0 [0.0, 100.0] | 50.0 [0.0, 100.0] |" in markdown
    assert "| shop | 3 | 66.7 | 33.3 |" in markdown
    assert "| timeout | 1 |" in markdown
    table = format_summary(report)
    lines = table.splitlines()
    assert lines[0].split() == ["easy", "medium", "hard", "extra", "all"]
    assert lines[2].split() == ["exact", "50.0", "100.0", "0.0", "0.0", "40.0"]


def test_write_report_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = _report(tmp_path)
    out = tmp_path / "reports" / "REPORT.json"
    json_path, md_path = write_report(report, out)
    assert json.loads(json_path.read_text(encoding="utf-8")) == report
    assert md_path == tmp_path / "reports" / "REPORT.md"
    before = out.read_bytes()

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    import t2s.provenance as provenance

    monkeypatch.setattr(provenance.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report({**report, "summary": {}}, out)
    assert out.read_bytes() == before  # the old report is intact
    assert sorted(os.listdir(out.parent)) == ["REPORT.json", "REPORT.md"]  # no temp files left
