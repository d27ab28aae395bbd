"""Spider exact set match (t2s.evaluation.exact_match).

Every expected verdict below was checked against the official evaluator
(taoyds/test-suite-sql-eval, default settings) through
scripts/agreement/official_driver.py on the same schema; see docs/evaluation.md.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conftest import LIBRARY_ENTRY
from t2s.data.spider import MAX_SQL_CHARS, DatabaseSchema, load_tables, schema_from_tables_entry
from t2s.errors import DataError
from t2s.evaluation.exact_match import (
    GoldQueryError,
    exact_match,
    normalized_gold,
    parse_error,
    parse_failure,
    string_exact_match,
)
from t2s.evaluation.spider_sql import SpiderSQLError, parse, schema_index, tokenize

# A small schema of our own: author <- book <- loan -> member.
JOIN = "FROM book AS T1 JOIN author AS T2 ON T1.author_id  =  T2.author_id"

# (gold, prediction, official verdict)
PAIRS = [
    # reordered SELECT columns match (SELECT is a multiset)
    ("SELECT name ,  country FROM author", "SELECT country, name FROM author", True),
    # values are ignored
    ("SELECT title FROM book WHERE year  >  1990", "SELECT title FROM book WHERE year > 2005", True),
    ("SELECT name FROM author WHERE born BETWEEN 1900 AND 1950",
     "SELECT name FROM author WHERE born BETWEEN 1 AND 2", True),
    # a different column does not match
    ("SELECT title FROM book", "SELECT year FROM book", False),
    ("SELECT count(*) FROM author", "SELECT count(author_id) FROM author", False),
    # table aliases are resolved, whatever their names and join order
    (f"SELECT T1.title {JOIN} WHERE T2.country  =  'France'",
     "SELECT b.title FROM author AS a JOIN book AS b ON a.author_id = b.author_id "
     "WHERE a.country = 'Peru'", True),
    ("SELECT T2.name FROM loan AS T1 JOIN member AS T2 ON T1.member_id  =  T2.member_id",
     "SELECT T2.name FROM member AS T2 JOIN loan AS T1 ON T2.member_id = T1.member_id", True),
    # an extra joined table does not match
    (f"SELECT T1.title {JOIN}",
     f"SELECT T1.title {JOIN} JOIN loan AS T3 ON T1.book_id = T3.book_id", False),
    # nested queries: compared whole, their values ignored too
    ("SELECT title FROM book WHERE pages  >  (SELECT avg(pages) FROM book)",
     "SELECT title FROM book WHERE pages > (SELECT max(pages) FROM book)", False),
    ("SELECT title FROM book WHERE pages  >  (SELECT avg(pages) FROM book WHERE year  >  1990)",
     "SELECT title FROM book WHERE pages > (SELECT avg(pages) FROM book WHERE year > 1800)", True),
    ("SELECT name FROM author WHERE author_id IN (SELECT author_id FROM book)",
     "SELECT name FROM author WHERE author_id NOT IN (SELECT author_id FROM book)", False),
    # ... and, as officially, DISTINCT still counts inside a nested query
    ("SELECT name FROM author WHERE author_id IN (SELECT author_id FROM book)",
     "SELECT name FROM author WHERE author_id IN (SELECT DISTINCT author_id FROM book)", False),
    # set operations: the operator matters, the branch is compared recursively
    ("SELECT name FROM author WHERE country  =  'Chile' UNION SELECT name FROM author "
     "WHERE born  >  1900",
     "SELECT name FROM author WHERE country = 'Peru' UNION SELECT name FROM author "
     "WHERE born > 1950", True),
    ("SELECT name FROM author WHERE country  =  'Chile' UNION SELECT name FROM author "
     "WHERE born  >  1900",
     "SELECT name FROM author WHERE country = 'Chile' INTERSECT SELECT name FROM author "
     "WHERE born > 1900", False),
    # GROUP BY / HAVING
    ("SELECT author_id ,  count(*) FROM book GROUP BY author_id HAVING count(*)  >  2",
     "SELECT author_id, count(*) FROM book GROUP BY author_id HAVING count(*) > 5", True),
    ("SELECT author_id ,  count(*) FROM book GROUP BY author_id HAVING count(*)  >  2",
     "SELECT author_id, count(*) FROM book GROUP BY author_id HAVING sum(pages) > 2", False),
    ("SELECT author_id ,  count(*) FROM book GROUP BY author_id HAVING count(*)  >  2",
     "SELECT author_id, count(*) FROM book GROUP BY author_id", False),
    # GROUP BY columns are compared in order once either side groups
    ("SELECT title FROM book GROUP BY author_id ,  year",
     "SELECT title FROM book GROUP BY year, author_id", False),
    # ORDER BY direction matters; ASC is the default
    ("SELECT title FROM book ORDER BY year DESC", "SELECT title FROM book ORDER BY year ASC", False),
    ("SELECT title FROM book ORDER BY year", "SELECT title FROM book ORDER BY year ASC", True),
    # LIMIT: presence matters, its value does not
    ("SELECT title FROM book ORDER BY year DESC LIMIT 1",
     "SELECT title FROM book ORDER BY year DESC LIMIT 3", True),
    ("SELECT title FROM book ORDER BY year DESC LIMIT 1",
     "SELECT title FROM book ORDER BY year DESC", False),
    # AND vs OR, LIKE vs =
    ("SELECT name FROM author WHERE country  =  'Chile' AND born  >  1900",
     "SELECT name FROM author WHERE country = 'Chile' OR born > 1900", False),
    ("SELECT name FROM member WHERE city LIKE '%ville'", "SELECT name FROM member WHERE city = 'x'",
     False),
    # case, spacing, quote style and condition order do not matter
    ("SELECT name FROM author WHERE country  =  'Chile' AND born  >  1900",
     'select NAME from AUTHOR where BORN > 1 and COUNTRY = "x"', True),
    # DISTINCT is ignored (official default) ...
    ("SELECT DISTINCT country FROM author", "SELECT country FROM author", True),
    # ... and a foreign key equals the column it references
    ("SELECT T1.author_id FROM author AS T1 JOIN book AS T2 ON T1.author_id  =  T2.author_id",
     "SELECT T2.author_id FROM author AS T1 JOIN book AS T2 ON T1.author_id = T2.author_id", True),
    # trailing tokens after a complete query are ignored, as officially
    ("SELECT name FROM author ORDER BY born LIMIT 1",
     "SELECT name FROM author ORDER BY born LIMIT 1 OFFSET 2", True),
    # outside Spider's grammar: wrong, as officially
    ("SELECT name FROM author", "SELEC name FROM author", False),
    ("SELECT name FROM author", "SELECT name FROM author WHERE born IS NULL", False),
    ("SELECT count(*) FROM author", "SELECT count(*) AS n FROM author", False),
    (f"SELECT T1.title {JOIN}",
     "SELECT T1.title FROM book T1 JOIN author T2 ON T1.author_id = T2.author_id", False),
    ("SELECT name FROM author WHERE country  =  'Chile'",
     "SELECT name FROM author WHERE country='Chile'", False),
    ("SELECT name FROM author WHERE born  !=  1900", "SELECT name FROM author WHERE born <> 1900",
     False),
    ("SELECT title FROM book ORDER BY year DESC LIMIT 1",
     "SELECT title FROM book ORDER BY year DESC LIMIT", False),
    ("SELECT name FROM author", "SELECT name FROM author garbage", False),
    ("SELECT name FROM author", "", False),
    ("SELECT name FROM author", "SELECT name FROM author WHERE name = 'it's", False),
]


@pytest.fixture(scope="module")
def library() -> DatabaseSchema:
    return schema_from_tables_entry(LIBRARY_ENTRY)


@pytest.mark.parametrize(("gold", "pred", "expected"), PAIRS)
def test_exact_match_agrees_with_official_verdict(library, gold, pred, expected):
    assert exact_match(gold, pred, library) is expected


@pytest.mark.parametrize("gold", sorted({gold for gold, _, _ in PAIRS}))
def test_gold_matches_itself(library, gold):
    assert exact_match(gold, gold, library)


def test_foreign_key_map_is_the_same_without_the_raw_entry(library):
    introspected = replace(library, raw={})
    assert schema_index(introspected).foreign_key_map == schema_index(library).foreign_key_map
    assert schema_index(library).foreign_key_map == {
        "book.author_id": "author.author_id", "author.author_id": "author.author_id",
        "loan.book_id": "book.book_id", "book.book_id": "book.book_id",
        "loan.member_id": "member.member_id", "member.member_id": "member.member_id",
    }


@pytest.mark.parametrize(("pred", "kind"), [
    ("SELECT name FROM author", None),
    ("SELEC name FROM author", "parse error"),
    ("SELECT name FROM writers", "unknown table"),
    ("SELECT T9.name FROM author AS T1", "unknown table"),
    ("SELECT nickname FROM author", "unknown column"),
    ("SELECT T1.nickname FROM author AS T1", "unknown column"),
    ("SELECT name FROM author WHERE name = 'x", "parse error"),
    ("", "parse error"),
])
def test_parse_error_classifies_failures(library, pred, kind):
    assert parse_error(pred, library) == kind
    failure = parse_failure(pred, library)
    assert (failure is None) == (kind is None)


def test_unparsable_gold_raises_a_data_error_naming_it(library):
    gold = "SELECT name FROM author WHERE born IS NULL"
    with pytest.raises(GoldQueryError) as info:
        exact_match(gold, "SELECT name FROM author", library)
    assert isinstance(info.value, DataError)
    assert gold in str(info.value) and "library_demo" in str(info.value)


def test_gold_parse_is_cached(library):
    gold = "SELECT title FROM book WHERE year  >  1990"
    assert normalized_gold(gold, library) is normalized_gold(gold, library)


def test_official_value_placeholder_is_rewritten_in_predictions(library):
    # The official evaluator turns every "value" of a prediction into "1".
    gold = "SELECT name FROM author WHERE born  >  1900"
    assert exact_match(gold, "SELECT name FROM author WHERE born > value", library)


@pytest.mark.parametrize(("sql", "tokens"), [
    # Expected tokens are what the official process_sql.tokenize returns.
    ("SELECT a FROM t WHERE b >= 'It s' AND c ! = 2",
     ["select", "a", "from", "t", "where", "b", ">=", '"It s"', "and", "c", "!=", "2"]),
    ("count(*),x", ["count", "(", "*", ")", ",", "x"]),
    ("a=b", ["a=b"]),
    ("x<>y", ["x", "<", ">", "y"]),
    ("T1.a>=3.5", ["t1.a", ">", "=3.5"]),
    ("IN (1,2)", ["in", "(", "1,2", ")"]),
])
def test_tokenize_follows_the_official_tokens(sql, tokens):
    assert tokenize(sql) == tokens


def test_parse_resolves_aliases_and_bare_columns(library):
    query = parse(f"SELECT T1.title , name {JOIN}", library)
    columns = [unit.left.column for _, unit in query.select]
    assert columns == ["book.title", "author.name"]
    assert query.tables == ("book", "author")


@pytest.mark.parametrize(("gold", "pred", "expected"), [
    ("SELECT name FROM author;", "select  NAME from author", True),
    ("SELECT name FROM author WHERE country = 'Chile'",
     'SELECT name FROM author WHERE country = "Chile"', True),
    ("SELECT count(*) FROM author", "SELECT count ( * ) FROM author ;", True),
    ("SELECT name FROM author WHERE country = 'Chile'",
     "SELECT name FROM author WHERE country = 'chile'", False),
    ("SELECT name, country FROM author", "SELECT country, name FROM author", False),
])
def test_string_exact_match(gold, pred, expected):
    assert string_exact_match(gold, pred) is expected


@pytest.fixture(scope="module")
def spider_dev(spider_dir: Path) -> tuple[dict[str, DatabaseSchema], list[tuple[str, str]]]:
    if not (spider_dir / "dev_gold.sql").is_file():
        pytest.skip(f"Spider dev_gold.sql not found in {spider_dir}")
    schemas = load_tables(spider_dir / "tables.json")
    lines = (spider_dir / "dev_gold.sql").read_text(encoding="utf-8").splitlines()
    return schemas, [tuple(line.split("\t")) for line in lines if line.strip()]


def test_every_spider_dev_gold_parses_and_matches_itself(spider_dev):
    schemas, rows = spider_dev
    assert len(rows) == 1034
    failures = [sql for sql, db_id in rows if not exact_match(sql, sql, schemas[db_id])]
    assert failures == []


def test_spider_dev_predictions_from_other_examples_rarely_match(spider_dev):
    # The gold of the next example on the same database is a realistic wrong
    # answer; only paraphrased duplicates may match (official: 2 of 1034 when
    # drawn at random, see docs/evaluation.md).
    schemas, rows = spider_dev
    pairs = [(a, b) for a, b in zip(rows, rows[1:], strict=False) if a[1] == b[1] and a[0] != b[0]]
    matches = sum(exact_match(a[0], b[0], schemas[a[1]]) for a, b in pairs)
    assert len(pairs) > 500 and matches < len(pairs) * 0.05


def test_sql_over_the_size_limit_is_a_wrong_answer_refused_before_tokenizing(library):
    """A 100 MB prediction peaked at 6.7 GB in the tokenizer; one character over the
    limit is refused up front (scored wrong, with the reason), never tokenized."""
    gold = "SELECT name FROM author"
    over = "SELECT name FROM author WHERE name = '" + "a" * MAX_SQL_CHARS + "'"
    failure = parse_failure(over, library)
    assert failure is not None and failure.kind == "parse error"
    assert f"over the limit of {MAX_SQL_CHARS:,} per SQL" in str(failure)
    assert exact_match(gold, over, library) is False
    assert string_exact_match(over, over) is False
    with pytest.raises(SpiderSQLError, match="over the limit"):
        tokenize(" " * (MAX_SQL_CHARS + 1))
    assert tokenize(" " * MAX_SQL_CHARS) == []  # at the limit: tokenized
