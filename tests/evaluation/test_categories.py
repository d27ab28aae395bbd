"""Query categories (t2s.evaluation.categories)."""

from __future__ import annotations

import pytest

from t2s.evaluation.categories import PRECEDENCE, categories, category

CASES = [
    ("SELECT name FROM author", {"simple"}, "simple"),
    ("SELECT DISTINCT country FROM author", {"simple"}, "simple"),
    ("SELECT name FROM author WHERE born > 1900", {"filter"}, "filter"),
    ("SELECT count(*) FROM author", {"aggregation"}, "aggregation"),
    ("SELECT country FROM author GROUP BY country", {"aggregation"}, "aggregation"),
    ("SELECT title FROM book ORDER BY year DESC LIMIT 1", {"ordering"}, "ordering"),
    ("SELECT count(*) FROM book WHERE year > 2000", {"aggregation", "filter"}, "aggregation"),
    ("SELECT T1.name FROM author AS T1 JOIN book AS T2 ON T1.author_id = T2.author_id "
     "WHERE T2.year > 2000", {"join", "filter"}, "join"),
    ("SELECT a.name FROM author a, book b WHERE a.author_id = b.author_id",
     {"join", "filter"}, "join"),
    ("SELECT title FROM book WHERE pages > (SELECT avg(pages) FROM book)",
     {"nested", "filter", "aggregation"}, "nested"),
    ("SELECT name FROM author EXCEPT SELECT T1.name FROM author AS T1 JOIN book AS T2 "
     "ON T1.author_id = T2.author_id", {"set-operation", "join"}, "set-operation"),
    # words inside string literals are not features
    ("SELECT name FROM author WHERE country = 'count(x) join where'", {"filter"}, "filter"),
]


@pytest.mark.parametrize(("sql", "expected", "primary"), CASES)
def test_categories_and_primary_category(sql, expected, primary):
    assert categories(sql) == expected
    assert category(sql) == primary


def test_primary_category_follows_precedence():
    for _sql, expected, primary in CASES:
        assert primary == min(expected, key=PRECEDENCE.index)


def test_unbalanced_quotes_still_categorised():
    assert category("SELECT count(*) FROM author WHERE name = 'x") == "aggregation"
