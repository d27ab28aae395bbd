"""Tests for test-suite accuracy (TS): suite folders, generated neighbours, reports."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from t2s.config import EvalConfig
from t2s.config.evaluation import TestSuiteConfig
from t2s.evaluation.execution import results_match
from t2s.evaluation.inputs import GoldExample
from t2s.evaluation.neighbours import _mutations, build_neighbours
from t2s.evaluation.report import format_summary, render_markdown
from t2s.evaluation.runner import evaluate_predictions

SINGERS = [(1, "Ann", 20, "Spain"), (2, "Bob", 30, "Italy"), (3, "Cid", 40, "Spain")]

# The three coincidences of issue 18: each pair returns the same rows on SINGERS.
COINCIDENCES = [
    ("SELECT count(age) FROM singer", "SELECT count(*) FROM singer"),
    ("SELECT avg(age) FROM singer", "SELECT sum(age) / count(*) FROM singer"),
    ("SELECT name FROM singer WHERE country = 'France'",
     "SELECT name FROM singer WHERE country = 'Portugal'"),
]


def _write_db(path: Path, rows: list[tuple[object, ...]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER, "
                 "country TEXT)")
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return path


def _dataset(root: Path) -> Path:
    _write_db(root / "database" / "music" / "music.sqlite", SINGERS)
    columns = [[-1, "*"], [0, "singer_id"], [0, "name"], [0, "age"], [0, "country"]]
    (root / "tables.json").write_text(json.dumps([{
        "db_id": "music", "table_names_original": ["singer"], "table_names": ["singer"],
        "column_names_original": columns, "column_names": columns,
        "column_types": ["text", "number", "text", "number", "text"],
        "primary_keys": [1], "foreign_keys": []}]), encoding="utf-8")
    return root


def _score(root: Path, pairs: list[tuple[str, str]], suite: TestSuiteConfig,
           out: Path | None = None) -> dict[str, object]:
    examples = [GoldExample(index=i, db_id="music", gold=g, question=None, id=str(i), line=i + 1)
                for i, (g, _) in enumerate(pairs)]
    return evaluate_predictions(examples, [p for _, p in pairs], db_dir=root / "database",
                                tables_path=root / "tables.json",
                                options=EvalConfig(etype="exec", test_suite=suite),
                                workers=1, progress=False, out_path=out)


def _verdicts(report: dict[str, object]) -> list[tuple[bool, bool]]:
    return [(e["execution_match"], e["test_suite_match"]) for e in report["examples"]]  # type: ignore[index, union-attr]


def test_a_folder_suite_needs_a_match_on_every_database(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    # A second, distilled-suite style database where one singer's age is NULL.
    _write_db(root / "database" / "music" / "music_2.sqlite",
              [(1, "Ann", None, "Spain"), *SINGERS[1:]])
    pairs = [COINCIDENCES[0], ("SELECT count(age) FROM singer", "SELECT count(age) FROM singer")]
    report = _score(root, pairs, TestSuiteConfig(enabled=True))
    assert _verdicts(report) == [(True, False), (True, True)]
    assert report["summary"]["ex_not_ts"] == [0]  # type: ignore[index]


def test_without_test_suite_settings_ts_is_not_scored(tmp_path: Path) -> None:
    report = _score(_dataset(tmp_path), COINCIDENCES[:1], TestSuiteConfig())
    assert report["examples"][0]["test_suite_match"] is None  # type: ignore[index]
    assert report["summary"]["test_suite"] is None  # type: ignore[index]
    assert "ex_not_ts" not in report["summary"]  # type: ignore[operator]


def test_generated_neighbours_catch_the_three_coincidences(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    original = root / "database" / "music" / "music.sqlite"
    before = hashlib.sha256(original.read_bytes()).hexdigest()
    suite = TestSuiteConfig(neighbours=3, seed=7, cache_dir=str(tmp_path / "cache"))
    golds = [(g, g) for g, _ in COINCIDENCES]
    report = _score(root, COINCIDENCES + golds, suite, out=tmp_path / "out" / "REPORT.json")
    assert _verdicts(report) == [(True, False)] * 3 + [(True, True)] * 3
    assert report["summary"]["ex_not_ts"] == [0, 1, 2]  # type: ignore[index]
    assert hashlib.sha256(original.read_bytes()).hexdigest() == before
    markdown = (tmp_path / "out" / "REPORT.md").read_text(encoding="utf-8")
    assert "| exec % | ts % |" in markdown and "## EX 1 but TS 0" in markdown
    assert "sum(age) / count(*)" in markdown
    assert render_markdown(report).count("| music |") == 4  # by database + 3 listed examples
    printed = format_summary(report)
    assert "\nts " in printed and "3 examples EX 1 but TS 0" in printed


def test_neighbours_are_deterministic_cached_and_keep_gold_runnable(tmp_path: Path) -> None:
    original = _write_db(tmp_path / "music.sqlite", SINGERS)
    golds = [g for g, _ in COINCIDENCES]

    def same(gold: str, a: object, b: object) -> bool:
        return results_match(a.rows, b.rows, False)  # type: ignore[attr-defined]

    built = [build_neighbours(original, golds, count=2, seed=3, cache_dir=tmp_path / name,
                              same=same) for name in ("a", "b")]
    again = build_neighbours(original, golds, count=2, seed=3, cache_dir=tmp_path / "a", same=same)
    other = build_neighbours(original, golds, count=2, seed=4, cache_dir=tmp_path / "a", same=same)
    assert len(built[0].paths) == 2 and not built[0].cached and again.cached
    assert [p.read_bytes() for p in built[0].paths] == [p.read_bytes() for p in built[1].paths]
    assert again.paths == built[0].paths and other.paths[0].parent != built[0].paths[0].parent
    assert built[0].distinguished >= 3  # at least the coincidence mutants
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        {built[0].paths[0].parent.name, other.paths[0].parent.name})  # no half-built folder
    for path in built[0].paths:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        assert 1 <= conn.execute("SELECT count(*) FROM singer").fetchone()[0] <= 40
        for gold in golds:
            conn.execute(gold).fetchall()
        conn.close()


def test_mutations_are_near_misses_of_gold() -> None:
    mutants = _mutations("SELECT DISTINCT name FROM singer WHERE age > 30 AND country = 'Spain'")
    assert "SELECT name FROM singer WHERE age > 30 AND country = 'Spain'" in mutants
    assert "SELECT DISTINCT name FROM singer WHERE age >= 30 AND country = 'Spain'" in mutants
    assert "SELECT DISTINCT name FROM singer WHERE age > 30" in mutants
    assert "SELECT DISTINCT name FROM singer" in mutants
    assert "SELECT MIN(age) FROM t" in _mutations("SELECT max(age) FROM t")
    assert "SELECT COUNT(*) FROM t" in _mutations("SELECT count(age) FROM t")


SPIDER = Path("/work/shared/data/spider")


@pytest.mark.slow
@pytest.mark.skipif(not (SPIDER / "dev.json").is_file(), reason="Spider dev is not present")
def test_spider_dev_gold_as_prediction_scores_ts_100(tmp_path: Path) -> None:
    from t2s.evaluation.inputs import read_gold

    examples = [e for e in read_gold(SPIDER / "dev.json")  # this copy lacks wta_1
                if (SPIDER / "database" / e.db_id / f"{e.db_id}.sqlite").is_file()]
    suite = TestSuiteConfig(neighbours=2, cache_dir=str(tmp_path / "cache"))
    report = evaluate_predictions(examples, [e.gold for e in examples],
                                  db_dir=SPIDER / "database", tables_path=SPIDER / "tables.json",
                                  options=EvalConfig(etype="exec", test_suite=suite),
                                  progress=False)
    runnable = [e for e in report["examples"] if e["execution_match"]]
    assert len(runnable) == len(examples) == 972
    assert all(e["test_suite_match"] for e in runnable)
    # TS <= EX, example by example, on near misses of gold (same cached neighbours).
    mutated = [(_mutations(e.gold) or [e.gold])[0] for e in examples]
    report = evaluate_predictions(examples, mutated, db_dir=SPIDER / "database",
                                  tables_path=SPIDER / "tables.json",
                                  options=EvalConfig(etype="exec", test_suite=suite),
                                  progress=False)
    verdicts = [(e["execution_match"], e["test_suite_match"]) for e in report["examples"]]
    assert all(ex or not ts for ex, ts in verdicts)
    assert sum(ts for _, ts in verdicts) < sum(ex for ex, _ in verdicts)


def test_ts_is_paired_by_compare_and_in_the_nightly_trend(tmp_path: Path) -> None:
    from t2s.evaluation.compare import compare_reports, compare_with_previous_night
    from t2s.evaluation.report import write_report

    root = _dataset(tmp_path)
    suite = TestSuiteConfig(neighbours=2, seed=1, cache_dir=str(tmp_path / "cache"))
    golds = [(g, g) for g, _ in COINCIDENCES]
    old, new = _score(root, golds, suite), _score(root, COINCIDENCES, suite)
    comparison = compare_reports(old, new, "test_suite")
    assert (comparison.correct_a, comparison.correct_b, len(comparison.regressions)) == (3, 0, 3)
    write_report(old, tmp_path / "nightly" / "2026-01-01" / "REPORT.json")
    text = compare_with_previous_night(tmp_path / "nightly",
                                       tmp_path / "nightly" / "2026-01-02" / "REPORT.json", new)
    assert text is not None and "metric: execution" in text and "  test_suite: 100.0% -> 0.0%" in text


def test_test_suite_settings_are_typed_config_keys() -> None:
    from t2s.config import load_config

    config = load_config(None, ["eval.test_suite.neighbours=4", "eval.test_suite.seed=9"])
    assert (config.eval.test_suite.neighbours, config.eval.test_suite.seed) == (4, 9)
    assert config.eval.test_suite.active
    with pytest.raises(Exception, match="test_suite.neighbours"):
        load_config(None, ["eval.test_suite.neighbours=-1"])


def test_neighbours_keep_foreign_keys_and_include_nulls_and_duplicates(tmp_path: Path) -> None:
    original = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(original)
    conn.executescript(
        "CREATE TABLE maker (maker_id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE TABLE item (item_id INTEGER PRIMARY KEY, title TEXT, price REAL,"
        " maker_id INTEGER REFERENCES maker(maker_id));"
        "INSERT INTO maker VALUES (1, 'Acme'), (2, 'Bolt');"
        "INSERT INTO item VALUES (1, 'pen', 1.5, 1), (2, 'ink', 2.0, 2), (3, 'cup', 4.0, 1);")
    conn.commit()
    conn.close()
    golds = ["SELECT T1.name, count(*) FROM maker AS T1 JOIN item AS T2 "
             "ON T1.maker_id = T2.maker_id GROUP BY T1.name", "SELECT avg(price) FROM item"]

    def same(gold: str, a: object, b: object) -> bool:
        return results_match(a.rows, b.rows, False)  # type: ignore[attr-defined]

    built = build_neighbours(original, golds, count=3, seed=0, cache_dir=tmp_path / "c",
                             same=same, max_rows_per_table=30)
    nulls = duplicates = 0
    for path in built.paths:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        makers = {r[0] for r in db.execute("SELECT maker_id FROM maker")}
        refs = [r[0] for r in db.execute("SELECT maker_id FROM item")]
        assert {r for r in refs if r is not None} <= makers
        ids = [r[0] for r in db.execute("SELECT item_id FROM item")]
        assert len(ids) == len(set(ids)) <= 30
        titles = [r[0] for r in db.execute("SELECT title FROM item")]
        nulls += titles.count(None) + refs.count(None)
        duplicates += len(titles) - len(set(titles))
        db.close()
    assert nulls > 0 and duplicates > 0


def test_t2s_evaluate_scores_ts_with_two_workers_from_an_override(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from t2s.cli import main

    root = _dataset(tmp_path)
    (root / "gold.sql").write_text("".join(f"{g}\tmusic\n" for g, _ in COINCIDENCES),
                                   encoding="utf-8")
    (root / "pred.sql").write_text("".join(f"{p}\n" for _, p in COINCIDENCES), encoding="utf-8")
    out = tmp_path / "eval" / "REPORT.json"
    assert main(["evaluate", "--gold", str(root / "gold.sql"), "--pred", str(root / "pred.sql"),
                 "--db", str(root / "database"), "--table", str(root / "tables.json"),
                 "--out", str(out), "--no-progress", "eval.workers=2",
                 "eval.test_suite.neighbours=3", "eval.test_suite.seed=7",
                 f"eval.test_suite.cache_dir={tmp_path / 'cache'}"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()
            if line.strip()}
    assert rows["exec"][-1] == "100.0" and rows["ts"][-1] == "0.0"
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["manifest"]["flags"]["test_suite"]["neighbours"] == 3
    assert report["summary"]["ex_not_ts"] == [0, 1, 2]
