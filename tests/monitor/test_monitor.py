"""``t2s monitor report``: drift flags on a shifted synthetic log, none on an unshifted one."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from t2s.errors import InputError
from t2s.monitor.drift import psi
from t2s.monitor.report import load_reference, read_log, referenced_tables, write_report
from t2s.serve.requestlog import new_record


def _log(path: Path, rows: list[dict]) -> Path:
    lines = []
    for index, row in enumerate(rows):
        record = new_record(f"r{index}", "/generate")
        record.update(ts=1_000_000 + index * 0.5, status=200, outcome="ok", adapter="default",
                      latency_ms=100 + (index % 10) * 5, sql_parsed=True, executed=True,
                      exec_ok=True, rows=3, empty_result=False)
        record.update(row)
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n{torn", encoding="utf-8")
    return path


def _unshifted(sample_dir: Path) -> list[dict]:
    dev = json.loads((sample_dir / "dev.json").read_text())
    return [{"question": e["question"], "db_id": e["db_id"], "sql": e["query"]} for e in dev]


def _shifted(sample_dir: Path) -> list[dict]:
    rng = random.Random(1)
    foreign = ["quel", "est", "le", "chiffre", "affaires", "trimestriel", "ventilé", "par",
               "région", "fiscale", "et", "devise", "comptable", "consolidée"]
    rows = []
    for index in range(120):
        question = " ".join(rng.choice(foreign) for _ in range(25 + index % 10))
        failed = index % 3 == 0
        rows.append({"question": question, "db_id": f"payroll_{index % 4}",
                     "sql": f"SELECT amount FROM ledger_{index % 5} JOIN fx ON ledger.id = fx.id",
                     "error_kind": "execution_error" if failed else None,
                     "outcome": "execution_error" if failed else "ok", "exec_ok": not failed, "empty_result": index % 2 == 0,
                     "latency_ms": 400 + index})
    return rows


def test_psi_reads_as_documented():
    assert psi([50, 50], [50, 50]) == pytest.approx(0.0)
    assert psi([700, 0], [90, 10]) > 0.25 > psi([700, 0], [99, 1])


def test_referenced_tables():
    assert referenced_tables("SELECT a FROM t1 JOIN t2 ON t1.x = t2.x WHERE a IN "
                             "(SELECT b FROM t3)") == {"t1", "t2", "t3"}
    assert referenced_tables("SELECT a FROM t1, t2") == {"t1", "t2"}
    assert referenced_tables("SELEC 'unterminated") == set()


def test_unshifted_log_flags_nothing(sample_dir, tmp_path):
    log = _log(tmp_path / "serve.jsonl", _unshifted(sample_dir))
    report = write_report(log, sample_dir / "train.json", tmp_path / "report")
    assert report["flagged"] == [], [(c["name"], c["value"]) for c in report["drift"]]
    assert report["inputs"]["unreadable_log_lines"] == 1
    assert report["summary"]["requests"] == len(_unshifted(sample_dir))


def test_shifted_log_is_flagged_with_report_files(sample_dir, tmp_path):
    log = _log(tmp_path / "serve.jsonl", _unshifted(sample_dir)[:20] + _shifted(sample_dir))
    out = tmp_path / "report"
    report = write_report(log, sample_dir / "train.json", out)
    flagged = set(report["flagged"])
    assert {"question_length", "vocabulary", "unseen_databases", "unseen_tables",
            "sql_error_rate", "empty_result_rate", "sql_shape"} <= flagged, report["drift"]
    # 20 in-distribution questions name known databases: too few to flag their schema overlap.
    assert "schema_overlap" not in flagged
    assert report["summary"]["outcomes"] == {"execution_error": 40, "ok": 100}
    for name in ("REPORT.json", "REPORT.md", "latency.png", "failures.png",
                 "question_length.png", "sql_shape.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "latency.png").read_bytes()[:4] == b"\x89PNG"
    assert "| vocabulary |" in (out / "REPORT.md").read_text()
    assert json.loads((out / "REPORT.json").read_text())["flagged"] == report["flagged"]
    assert report["latency_over_time"][-1]["p50_ms"] > report["latency_over_time"][0]["p50_ms"]


def test_reference_from_run_info_and_bad_inputs(sample_dir, tmp_path):
    run_info = tmp_path / "run_info.json"
    run_info.write_text(json.dumps({"config": {"data": {
        "root": str(sample_dir), "train_file": "train.json", "tables_file": "tables.json",
        "database_dir": "database"}}}))
    reference = load_reference(run_info)
    assert reference.questions and reference.schema_words and reference.empty_total > 0
    with pytest.raises(InputError, match="expected a run_info.json"):
        (tmp_path / "x.json").write_text("{}")
        load_reference(tmp_path / "x.json")
    with pytest.raises(InputError, match="does not exist"):
        read_log(tmp_path / "missing.jsonl")


def test_cli_fails_on_drift_without_loading_torch(sample_dir, tmp_path):
    log = _log(tmp_path / "serve.jsonl", _shifted(sample_dir))
    code = (
        "import sys\nfrom t2s.cli import main\n"
        f"status = main(['monitor', 'report', '--log', {str(log)!r}, '--reference', "
        f"{str(sample_dir / 'train.json')!r}, '--out', {str(tmp_path / 'out')!r}, '--fail-on-drift'])\n"
        "print('STATUS', status, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "STATUS 1 False"
    assert "FLAG vocabulary" in proc.stdout
