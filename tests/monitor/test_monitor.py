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
from t2s.monitor.report import (
    MAX_LENGTH_BINS,
    length_bins,
    load_reference,
    read_log,
    referenced_tables,
    write_report,
)
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


# ---------------------------------------------------------------------------
# Hostile logs: counted, never crashed on; no data is a failure


def test_bad_lines_are_counted_and_the_rest_reported(sample_dir, tmp_path):
    """A line nested past Python's recursion limit, a question stored as an int and a
    non-object are unreadable lines (counted), not a traceback."""
    log = _log(tmp_path / "serve.jsonl", _unshifted(sample_dir))
    good = log.read_text(encoding="utf-8").splitlines()[:-1]  # without the torn line
    record = json.loads(good[0])
    log.write_text("\n".join([*good, "[" * 100_000, json.dumps({**record, "question": 7}),
                              json.dumps({**record, "ts": "yesterday"}), "[1, 2]"]) + "\n",
                   encoding="utf-8")
    lines = read_log(log)
    assert (len(lines.records), lines.unreadable, lines.torn_last_line) == (len(good), 4, False)
    assert lines.first_problems[0].endswith("nested too deeply (arrays or objects more than "
                                            "~1,000 levels deep)")
    assert "'question' must be str or null, got int" in lines.first_problems[1]
    report = write_report(log, sample_dir / "train.json", tmp_path / "report")
    assert report["inputs"]["unreadable_log_lines"] == 4
    assert report["summary"]["requests"] == len(good)


def _cli(args: list[str]) -> subprocess.CompletedProcess:
    code = f"import sys\nfrom t2s.cli import main\nsys.exit(main({args!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)


def test_a_garbage_log_is_an_error_not_an_ok_report(sample_dir, tmp_path):
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x00\xff garbage\n" * 791 + b"[" * 100_000 + b"\n")
    with pytest.raises(InputError, match="no readable /generate or /v1/chat/completions request "
                                         "records; 792 unreadable line"):
        write_report(garbage, sample_dir / "train.json", tmp_path / "report")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for log in (garbage, empty):
        proc = _cli(["monitor", "report", "--log", str(log), "--reference",
                     str(sample_dir / "train.json"), "--out", str(tmp_path / "out"),
                     "--fail-on-drift"])
        assert proc.returncode == 2, proc.stderr
        assert "t2s monitor: error: --log" in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "out" / "REPORT.json").exists()


def test_fail_on_drift_fails_on_damaged_lines_but_not_a_torn_last_one(sample_dir, tmp_path):
    torn = _log(tmp_path / "torn.jsonl", _unshifted(sample_dir))  # ends in a torn line
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text(torn.read_text(encoding="utf-8") + "}\n", encoding="utf-8")
    statuses = {}
    for log in (torn, damaged):
        proc = _cli(["monitor", "report", "--log", str(log), "--reference",
                     str(sample_dir / "train.json"), "--out", str(tmp_path / log.stem),
                     "--fail-on-drift"])
        statuses[log.stem] = proc.returncode
        assert "unreadable log line" in proc.stdout, proc.stderr
    assert statuses == {"torn": 0, "damaged": 1}


def test_out_under_a_regular_file_is_a_clear_error(sample_dir, tmp_path):
    log = _log(tmp_path / "serve.jsonl", _unshifted(sample_dir))
    (tmp_path / "file").write_text("mine")
    proc = _cli(["monitor", "report", "--log", str(log), "--reference",
                 str(sample_dir / "train.json"), "--out", str(tmp_path / "file" / "out")])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "is a file, so nothing can be created under it" in proc.stderr
    assert (tmp_path / "file").read_text() == "mine"


def test_question_length_plot_bins_do_not_grow_with_a_question():
    """One bar per word count drew 20,000 bars for a 20,000-word question (30 s at
    40 KB, minutes at 400 KB): the number of bins is bounded, whatever the lengths."""
    assert length_bins([3, 12, 25]) == [float(n) for n in range(27)]  # one per count
    for longest in (49, 50, 51, 20_000, 10**6):
        edges = length_bins([1, 15, longest])
        assert len(edges) - 1 <= MAX_LENGTH_BINS
        assert edges[0] == 0 and edges[-1] > longest  # every value falls in a bin
    assert length_bins([]) == [0.0, 1.0]
