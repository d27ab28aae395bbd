"""Spider hardness levels (t2s.evaluation.hardness).

Expected levels come from running the official evaluator
(taoyds/test-suite-sql-eval ``Evaluator.eval_hardness``) on the same queries
and schema with scripts/agreement/official_driver.py; the Spider dev counts
(248 / 446 / 174 / 166) are also the published ones.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from conftest import LIBRARY_ENTRY
from t2s.data.spider import DatabaseSchema, load_tables, schema_from_tables_entry
from t2s.evaluation.exact_match import GoldQueryError
from t2s.evaluation.hardness import LEVELS, hardness

# The schema of tests/evaluation/test_exact_match.py: author <- book <- loan -> member.
JOIN = "FROM author AS T1 JOIN book AS T2 ON T1.author_id  =  T2.author_id"

CASES = [
    ("SELECT count(*) FROM author", "easy"),
    ("SELECT title FROM book ORDER BY year", "easy"),
    ("SELECT name ,  born FROM author WHERE country  =  'Chile'", "medium"),
    ("SELECT max(pages) ,  min(pages) ,  avg(pages) FROM book WHERE year  >  2000", "medium"),
    # two HAVING conditions: Spider counts the AND as one aggregation
    ("SELECT author_id ,  count(*) FROM book GROUP BY author_id HAVING count(*)  >  1 "
     "AND sum(pages)  >  100", "medium"),
    ("SELECT name FROM author WHERE author_id NOT IN (SELECT author_id FROM book)", "hard"),
    ("SELECT name FROM author WHERE country  =  'Chile' OR country  =  'Peru' ORDER BY born",
     "hard"),
    ("SELECT T3.name FROM book AS T1 JOIN loan AS T2 ON T1.book_id  =  T2.book_id "
     "JOIN member AS T3 ON T2.member_id  =  T3.member_id WHERE T1.year  >  2000", "hard"),
    # NOT LIKE counts as an aggregation in Spider's "others"
    ("SELECT name FROM member WHERE city LIKE '%ville' AND name NOT LIKE 'A%'", "hard"),
    (f"SELECT name FROM author WHERE country  =  'Chile' EXCEPT SELECT T1.name {JOIN}", "hard"),
    (f"SELECT T1.name ,  count(*) {JOIN} GROUP BY T1.author_id ORDER BY count(*) DESC LIMIT 1",
     "extra"),
]


@pytest.fixture(scope="module")
def library() -> DatabaseSchema:
    return schema_from_tables_entry(LIBRARY_ENTRY)


@pytest.mark.parametrize(("sql", "level"), CASES)
def test_hardness_matches_official_level(library, sql, level):
    assert hardness(sql, library) == level


def test_hardness_of_unparsable_gold_raises(library):
    with pytest.raises(GoldQueryError):
        hardness("SELECT name FROM author WHERE born IS NULL", library)


def test_spider_dev_hardness_counts_match_official(spider_dir: Path):
    spider = spider_dir
    if not (spider / "dev_gold.sql").is_file():
        pytest.skip(f"Spider dev_gold.sql not found in {spider}")
    schemas = load_tables(spider / "tables.json")
    rows = [line.split("\t") for line in
            (spider / "dev_gold.sql").read_text(encoding="utf-8").splitlines() if line.strip()]
    levels = [hardness(sql, schemas[db_id]) for sql, db_id in rows]
    assert Counter(levels) == {"easy": 248, "medium": 446, "hard": 174, "extra": 166}
    # A few individual examples (0-based line numbers), levels from the official run.
    assert [levels[i] for i in (0, 3, 39, 99, 199, 299, 499, 699)] == [
        "easy", "medium", "medium", "extra", "easy", "medium", "hard", "medium"]
    assert set(levels) == set(LEVELS)
