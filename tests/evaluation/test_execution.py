"""Tests for t2s.evaluation.execution: official execution-match semantics."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from t2s.evaluation import execution
from t2s.evaluation.execution import (
    EvalError,
    ExecutionEvaluator,
    order_matters,
    prepare_prediction,
    prepare_query,
    remove_distinct,
    replace_cur_year,
    results_match,
)


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    """A database folder with one db_id, ``shop``, written by the test."""
    path = tmp_path / "database" / "shop" / "shop.sqlite"
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, kind TEXT, price REAL);
        INSERT INTO item VALUES (1, 'pen', 'office', 1.5), (2, 'ink', 'office', 1.5),
                                (3, 'cup', 'kitchen', 4.0), (4, 'pot', 'kitchen', 9.0);
    """)
    conn.commit()
    conn.close()
    return tmp_path / "database"


# --- results_match ---------------------------------------------------------------


def test_rows_compare_as_multisets_without_order_by() -> None:
    gold = [(1, "a"), (2, "b"), (2, "b")]
    assert results_match(gold, [(2, "b"), (1, "a"), (2, "b")], ordered=False)
    assert not results_match(gold, [(1, "a"), (1, "a"), (2, "b")], ordered=False)  # counts
    assert not results_match(gold, [(1, "a"), (2, "b")], ordered=False)  # length


def test_row_order_counts_when_ordered() -> None:
    assert results_match([(1,), (2,)], [(1,), (2,)], ordered=True)
    assert not results_match([(1,), (2,)], [(2,), (1,)], ordered=True)


def test_columns_may_be_permuted() -> None:
    gold = [(1, "a", 10.0), (2, "b", 20.0)]
    pred = [("a", 10.0, 1), ("b", 20.0, 2)]
    assert results_match(gold, pred, ordered=False)
    assert results_match(gold, pred, ordered=True)
    # a permutation must apply to every row alike
    assert not results_match([(1, 2), (3, 4)], [(1, 2), (4, 3)], ordered=False)


def test_permutation_search_with_many_columns() -> None:
    # Five columns: the official code samples rows to prune permutations;
    # this must find the same (unique) mapping deterministically.
    gold = [(i, i + 100, f"n{i}", i * 2.5, i % 2) for i in range(30)]
    pred = [(row[4], row[2], row[0], row[3], row[1]) for row in reversed(gold)]
    assert results_match(gold, pred, ordered=False)
    assert not results_match(gold, pred, ordered=True)
    broken = [*pred[:-1], (0, "n0", 0, 0.0, 999)]
    assert not results_match(gold, broken, ordered=False)


def test_empty_results_match_whatever_their_width() -> None:
    assert results_match([], [], ordered=False)
    assert not results_match([], [(1,)], ordered=False)
    assert not results_match([(1,)], [], ordered=False)


def test_different_widths_do_not_match() -> None:
    assert not results_match([(1,)], [(1, 1)], ordered=False)


def test_values_compare_with_python_equality() -> None:
    assert results_match([(1,)], [(1.0,)], ordered=False)
    assert not results_match([("1",)], [(1,)], ordered=False)
    assert results_match([(None, 1)], [(1, None)], ordered=False)


# --- query rewrites ---------------------------------------------------------------


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT DISTINCT name FROM t", "SELECT  name FROM t"),
    ("select count(distinct name) from t", "select count( name) from t"),
    ("SELECT name FROM t WHERE x = 'distinct'", "SELECT name FROM t WHERE x = 'distinct'"),
    ("SELECT distinctive FROM t", "SELECT distinctive FROM t"),
    ("SELECT name FROM t", "SELECT name FROM t"),
])
def test_remove_distinct(sql: str, expected: str) -> None:
    assert remove_distinct(sql) == expected


def test_remove_distinct_keeps_only_the_first_statement_as_officially() -> None:
    # The official code keeps sqlparse.parse(sql)[0]: the rest is dropped.
    assert remove_distinct("SELECT a FROM t; DROP TABLE t") == "SELECT a FROM t; "
    assert remove_distinct("SELECT DISTINCT a FROM t GO") == "SELECT  a FROM t GO"
    assert remove_distinct("SELECT a FROM t WHERE b = 'x;y'") == "SELECT a FROM t WHERE b = 'x;y'"


def test_second_statement_is_ignored_unless_distinct_is_kept(db_dir: Path) -> None:
    gold, pred = "SELECT count(*) FROM item", "SELECT count(*) FROM item; DROP TABLE item"
    assert ExecutionEvaluator(db_dir).evaluate("shop", gold, pred).match
    kept = ExecutionEvaluator(db_dir, keep_distinct=True).evaluate("shop", gold, pred)
    assert kept.error is EvalError.PARSE_ERROR


def test_prepare_query_rewrites_like_the_official_evaluator() -> None:
    assert prepare_query("SELECT a FROM t WHERE b > = 3 AND c ! = 2") == \
        "SELECT a FROM t WHERE b >= 3 AND c != 2"
    assert prepare_query("SELECT DISTINCT a FROM t", keep_distinct=True) == \
        "SELECT DISTINCT a FROM t"
    assert replace_cur_year("SELECT YEAR ( CURDATE ( ) ) - age FROM t") == "SELECT 2020- age FROM t"
    assert prepare_prediction("SELECT a FROM t WHERE b = value") == "SELECT a FROM t WHERE b = 1"


def test_order_matters_is_a_substring_test_on_gold() -> None:
    assert order_matters("SELECT a FROM t ORDER BY a")
    assert order_matters("select a from t order by a desc limit 1")
    assert not order_matters("SELECT a FROM t")
    assert not order_matters("SELECT a FROM t ORDER  BY a")  # as officially: two spaces


# --- ExecutionEvaluator ------------------------------------------------------------


GOLD = "SELECT name, price FROM item WHERE kind = 'office'"


@pytest.mark.parametrize(("pred", "match", "error"), [
    (GOLD, True, None),
    ("select price , name from item where kind = 'office'", True, None),  # permuted columns
    ("SELECT name, price FROM item WHERE price < 2", True, None),  # same rows, other query
    ("SELECT name, price FROM item WHERE kind = 'kitchen'", False, EvalError.WRONG_RESULT),
    ("SELECT name FROM item WHERE kind = 'office'", False, EvalError.WRONG_RESULT),
    ("", False, EvalError.EMPTY_PREDICTION),
    ("   ", False, EvalError.EMPTY_PREDICTION),
    ("SELECT name, price FROM", False, EvalError.PARSE_ERROR),
    ("SELECT name, price FROM items", False, EvalError.UNKNOWN_TABLE),
    ("SELECT title, price FROM item", False, EvalError.UNKNOWN_COLUMN),
    ("SELECT name, median(price) FROM item", False, EvalError.RUNTIME_ERROR),
    ("DROP TABLE item", False, EvalError.RUNTIME_ERROR),
])
def test_verdicts_and_error_kinds(db_dir: Path, pred: str, match: bool,
                                  error: EvalError | None) -> None:
    evaluator = ExecutionEvaluator(db_dir)
    outcome = evaluator.evaluate("shop", GOLD, pred)
    evaluator.close()
    assert outcome.match is match
    assert outcome.error == error


def test_distinct_is_removed_by_default_and_kept_on_request(db_dir: Path) -> None:
    gold, pred = "SELECT DISTINCT kind FROM item", "SELECT kind FROM item"
    assert ExecutionEvaluator(db_dir).evaluate("shop", gold, pred).match
    kept = ExecutionEvaluator(db_dir, keep_distinct=True).evaluate("shop", gold, pred)
    assert not kept.match and kept.error is EvalError.WRONG_RESULT


def test_order_by_in_gold_makes_order_count(db_dir: Path) -> None:
    evaluator = ExecutionEvaluator(db_dir)
    gold = "SELECT name FROM item ORDER BY price DESC, name"
    assert evaluator.evaluate("shop", gold, "SELECT name FROM item ORDER BY price DESC, name").match
    assert not evaluator.evaluate("shop", gold, "SELECT name FROM item ORDER BY price, name").match
    unordered_gold = "SELECT name FROM item"
    assert evaluator.evaluate("shop", unordered_gold, "SELECT name FROM item ORDER BY name").match


def test_runaway_prediction_times_out_and_scoring_goes_on(db_dir: Path) -> None:
    evaluator = ExecutionEvaluator(db_dir, timeout_s=0.3)
    runaway = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
               "SELECT count(*), 1 FROM c")
    outcome = evaluator.evaluate("shop", GOLD, runaway)
    assert outcome.error is EvalError.TIMEOUT and not outcome.match
    assert evaluator.evaluate("shop", GOLD, GOLD).match


def test_results_over_the_row_cap_are_compared_in_full(db_dir: Path) -> None:
    # (BIRD mode's set comparison: tests/evaluation/test_row_cap.py.)
    evaluator = ExecutionEvaluator(db_dir, max_rows=3)
    many = "SELECT name FROM item"  # 4 rows > cap 3
    outcome = evaluator.evaluate("shop", "SELECT name FROM item WHERE price > 2", many)
    assert outcome.error is EvalError.WRONG_RESULT
    assert evaluator.evaluate("shop", many, many).match  # the gold's 4th row is compared too


def test_failing_gold_is_a_gold_error(db_dir: Path) -> None:
    outcome = ExecutionEvaluator(db_dir).evaluate("shop", "SELECT nope FROM item", GOLD)
    assert outcome.error is EvalError.GOLD_ERROR and not outcome.match


def test_gold_results_are_cached_per_database(db_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = execution.ReadOnlyDatabase.execute

    def counting(self: execution.ReadOnlyDatabase, sql: str, **kwargs: object) -> object:
        calls.append(sql)
        return original(self, sql, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(execution.ReadOnlyDatabase, "execute", counting)
    evaluator = ExecutionEvaluator(db_dir)
    preds = [GOLD, "SELECT name, price FROM item", "SELECT 1", GOLD]
    for pred in preds:
        evaluator.evaluate("shop", GOLD, pred)
    assert calls.count(GOLD) == 1 + 2  # gold once, plus the two identical predictions
    assert len(calls) == 1 + len(preds)


def test_every_spider_dev_gold_query_matches_itself(spider_dir: Path) -> None:
    gold_file = spider_dir / "dev_gold.sql"
    evaluator = ExecutionEvaluator(spider_dir / "database")
    checked = 0
    for line in gold_file.read_text(encoding="utf-8").splitlines()[:300]:
        sql, db_id = line.rsplit("\t", 1)
        if not (spider_dir / "database" / db_id / f"{db_id}.sqlite").is_file():
            continue
        outcome = evaluator.evaluate(db_id, sql, sql)
        assert outcome.match, (db_id, sql, outcome)
        checked += 1
    evaluator.close()
    assert checked > 250


def test_a_database_that_sqlite_cannot_read_is_a_data_error_naming_it(db_dir: Path) -> None:
    from t2s.errors import DataError

    # A valid header over garbage passes the up-front header check of
    # t2s evaluate; the evaluator must still fail with a clear message.
    bad = db_dir / "junk" / "junk.sqlite"
    bad.parent.mkdir()
    bad.write_bytes(b"SQLite format 3\x00" + b"\x01" * 2000)
    evaluator = ExecutionEvaluator(db_dir)
    try:
        with pytest.raises(DataError, match=r"junk\.sqlite: not a readable SQLite database"):
            evaluator.evaluate("junk", "SELECT 1", "SELECT 1")
        assert evaluator.evaluate("shop", "SELECT count(*) FROM item",
                                  "SELECT count(*) FROM item").match
    finally:
        evaluator.close()
