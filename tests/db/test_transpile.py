"""SQLite gold SQL in PostgreSQL's dialect (:mod:`t2s.db.transpile`): the rewrites
keep SQLite's meaning, checked by running both on real engines."""

from __future__ import annotations

import pytest

from t2s.data.schema_text import schema_from_database
from t2s.db.transpile import TranspileError, schema_names, to_postgres
from t2s.sqlexec import run_query

NAMES = {"airlines", "airline", "abbreviation", "country"}


@pytest.mark.parametrize(("sqlite", "postgres"), [
    # A double-quoted non-name is SQLite's string; a quoted name stays a name.
    ('SELECT count(*) FROM airlines WHERE airline = "JetBlue Airways"',
     "SELECT COUNT(*) FROM airlines WHERE airline = 'JetBlue Airways'"),
    ('SELECT "Country" FROM airlines', 'SELECT "Country" FROM airlines'),
    # An alias the query defines is a name even when quoted.
    ('SELECT count(*) AS "n" FROM airlines ORDER BY "n"',
     'SELECT COUNT(*) AS "n" FROM airlines ORDER BY "n" NULLS FIRST'),
    # A qualified column is never a string.
    ('SELECT T1."x" FROM airlines AS T1', 'SELECT T1."x" FROM airlines AS T1'),
    # LIKE is case-insensitive in SQLite; NOT LIKE stays negated.
    ("SELECT airline FROM airlines WHERE airline LIKE '%jet%' AND country NOT LIKE 'us%'",
     "SELECT airline FROM airlines WHERE airline ILIKE '%jet%' AND country NOT ILIKE 'us%'"),
    # PostgreSQL needs a name for a subquery in FROM; SQLite does not.
    ("SELECT count(*) FROM (SELECT airline FROM airlines INTERSECT SELECT country FROM airlines)",
     "SELECT COUNT(*) FROM (SELECT airline FROM airlines INTERSECT SELECT country FROM airlines)"
     " AS t2s_from_1"),
    ("SELECT * FROM (SELECT airline FROM airlines) AS x", "SELECT * FROM (SELECT airline FROM airlines) AS x"),
])
def test_rewrites(sqlite, postgres):
    assert to_postgres(sqlite, NAMES) == postgres


def test_each_rewrite_can_be_turned_off():
    sql = 'SELECT airline FROM airlines WHERE airline LIKE "%jet%"'
    assert to_postgres(sql, NAMES, strings=False, ilike=False) == \
        'SELECT airline FROM airlines WHERE airline LIKE "%jet%"'
    # Without the names, nothing is known to be a non-name.
    assert to_postgres(sql) == 'SELECT airline FROM airlines WHERE airline ILIKE "%jet%"'


@pytest.mark.parametrize(("sql", "why"), [
    ("SELECT FROM WHERE (", "ParseError"),
    ("SELECT 1; SELECT 2", "2 statements, not one"),
    ("", "0 statements"),
])
def test_what_cannot_be_transpiled_is_a_clear_error(sql, why):
    with pytest.raises(TranspileError, match=why):
        to_postgres(sql, NAMES)


def test_transpiled_gold_returns_the_sqlite_rows_on_the_server(concerts, concerts_sqlite):
    """The rewrites on a real database: the strings and the case-insensitive match."""
    names = schema_names(schema_from_database(concerts["reader"]))
    for sql in ('SELECT name FROM singer WHERE country = "France" ORDER BY name',
                "SELECT name FROM singer WHERE name LIKE '%JOE%'",
                'SELECT count(*) FROM concert WHERE concert_Name NOT LIKE "week%"'):
        sqlite, postgres = run_query(concerts_sqlite, sql), run_query(concerts["reader"],
                                                                       to_postgres(sql, names))
        assert sqlite.ok and postgres.ok, (sqlite.message, postgres.message)
        assert sqlite.rows == postgres.rows and sqlite.rows
