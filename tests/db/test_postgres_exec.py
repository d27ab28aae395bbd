"""t2s.db.postgres on a real server: results, error kinds, and hostile SQL that must
change nothing (pg_dump of the database is identical before and after)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from t2s import sqlexec
from t2s.db import postgres
from t2s.sqlexec import ErrorKind, ReadOnlyDatabase, run_query

from .conftest import PASSWORD_ROLE, ROOT, admin_execute, dsn_for, pg_dump


def test_a_dsn_runs_through_sqlexec_with_rows_and_columns(concerts):
    result = run_query(concerts["reader"], "SELECT name, age FROM singer WHERE country = 'France' "
                                           "ORDER BY age")
    assert result.ok, result.message
    assert result.columns == ("name", "age")
    assert result.rows == [("Justin Brown", 29), ("Rose White", 41)]
    assert not result.truncated


def test_imported_types_answer_sqlite_style_queries(concerts):
    # concert.singer_id was TEXT holding '1', '2': imported as bigint, so the join works.
    result = run_query(concerts["reader"], "SELECT s.name, count(*) FROM singer s JOIN concert c "
                                           "ON s.singer_id = c.singer_id GROUP BY s.name ORDER BY 2 DESC, 1")
    assert result.rows == [("Joe Sharp", 2), ("Justin Brown", 1), ("Timbaland", 1)]
    assert run_query(concerts["reader"], "SELECT photo FROM singer WHERE singer_id = 1").rows == [
        (b"\x00\xff\x10",)]


def test_the_row_cap_truncates_and_flags(concerts):
    result = run_query(concerts["reader"], "SELECT * FROM generate_series(1, 50)", max_rows=10)
    assert result.ok and result.truncated
    assert result.rows == [(i,) for i in range(1, 11)]


@pytest.mark.parametrize(("sql", "kind"), [
    ("SELEC name FROM singer", ErrorKind.PARSE_ERROR),
    ("SELECT name FROM singer WHERE", ErrorKind.PARSE_ERROR),
    ("SELECT 1; SELECT 2", ErrorKind.PARSE_ERROR),
    ("SELECT 1\x00; DROP TABLE singer", ErrorKind.PARSE_ERROR),
    ("", ErrorKind.PARSE_ERROR),
    ("SELECT * FROM singers", ErrorKind.UNKNOWN_TABLE),
    ("SELECT nam FROM singer", ErrorKind.UNKNOWN_COLUMN),
    ("SELECT 1 / 0", ErrorKind.RUNTIME_ERROR),
    ("SELECT no_such_function(1)", ErrorKind.RUNTIME_ERROR),
    ("SELECT name FROM singer, concert WHERE singer_id = 1", ErrorKind.RUNTIME_ERROR),  # ambiguous
], ids=lambda v: repr(v)[:40])
def test_errors_are_classified_like_sqlite(concerts, sql, kind):
    result = run_query(concerts["reader"], sql)
    assert result.error == kind, result.message
    assert result.rows == [] and result.message
    assert "DECLARE" not in result.message  # our cursor wrapper is not the user's problem


# Each must fail without touching the database. Kinds: PostgreSQL's parser refuses
# anything but a query inside DECLARE ... CURSOR FOR (parse_error); privileges and
# the read-only transaction refuse the rest (runtime_error, SQLite's "not authorized");
# None: it runs, and the rollback that ends every statement undoes it.
HOSTILE = [
    ("INSERT INTO singer (singer_id, name) VALUES (9, 'x')", ErrorKind.PARSE_ERROR),
    ("UPDATE singer SET age = 0", ErrorKind.PARSE_ERROR),
    ("DELETE FROM singer", ErrorKind.PARSE_ERROR),
    ("DROP TABLE singer", ErrorKind.PARSE_ERROR),
    ("CREATE TABLE pwned (a int)", ErrorKind.PARSE_ERROR),
    ("TRUNCATE singer", ErrorKind.PARSE_ERROR),
    ("SET default_transaction_read_only = off", ErrorKind.PARSE_ERROR),
    ("COPY singer TO PROGRAM 'touch /tmp/t2s-pwned-copy'", ErrorKind.PARSE_ERROR),
    ("COPY (SELECT 1) TO '/tmp/t2s-pwned-file'", ErrorKind.PARSE_ERROR),
    ("SELECT 1; DELETE FROM singer", ErrorKind.PARSE_ERROR),
    ("SELECT 1; COMMIT; DELETE FROM singer", ErrorKind.PARSE_ERROR),
    ("WITH gone AS (DELETE FROM singer RETURNING *) SELECT * FROM gone", ErrorKind.RUNTIME_ERROR),
    ("SELECT * FROM singer FOR UPDATE", ErrorKind.RUNTIME_ERROR),
    ("SELECT pg_read_file('/etc/passwd')", ErrorKind.RUNTIME_ERROR),
    ("SELECT pg_ls_dir('/')", ErrorKind.RUNTIME_ERROR),
    ("SELECT lo_import('/etc/passwd')", ErrorKind.RUNTIME_ERROR),
    # PostgreSQL 15 lets a read-only transaction create a large object (measured:
    # it returns its OID); the rollback after every statement removes it again.
    ("SELECT lo_from_bytea(0, 'x')", None),
    ("SELECT nextval('singer_seq')", ErrorKind.RUNTIME_ERROR),
    ("SELECT set_config('role', 't2s_admin', false)", ErrorKind.RUNTIME_ERROR),
    ("SELECT dblink_exec('dbname=t2s_test_concerts user=t2s_admin', 'DROP TABLE singer')",
     ErrorKind.RUNTIME_ERROR),
    ("SELECT * FROM dblink('dbname=t2s_test_concerts user=t2s_admin', "
     "'DELETE FROM singer RETURNING 1') AS t(x int)", ErrorKind.RUNTIME_ERROR),
]


@pytest.fixture(scope="module")
def with_dblink(concerts):
    """dblink installed in the database when the server has it (postgresql-contrib):
    the read-only role must still not write through it. Without it the calls fail
    as unknown functions, which is as safe."""
    # A sequence the reader may use: only the read-only transaction stops nextval.
    admin_execute(concerts["admin"], "CREATE SEQUENCE IF NOT EXISTS singer_seq",
                  "GRANT USAGE, SELECT ON SEQUENCE singer_seq TO t2s_test_reader")
    try:
        admin_execute(concerts["admin"], "CREATE EXTENSION IF NOT EXISTS dblink")
    except postgres.load_psycopg().Error:
        pass
    return concerts


@pytest.mark.parametrize(("sql", "kind"), HOSTILE, ids=[s[:45] for s, _ in HOSTILE])
def test_hostile_sql_is_refused_and_changes_nothing(with_dblink, sql, kind):
    before = pg_dump(with_dblink["admin"])
    with ReadOnlyDatabase(with_dblink["reader"]) as db:
        result = db.execute(sql)
        assert result.error == kind, result.message
        # The session is still read-only and usable afterwards.
        assert db.execute("SELECT count(*) FROM singer").rows == [(4,)]
    assert pg_dump(with_dblink["admin"]) == before
    assert not Path("/tmp/t2s-pwned-copy").exists() and not Path("/tmp/t2s-pwned-file").exists()


def test_set_config_ends_with_its_statement(concerts):
    with ReadOnlyDatabase(concerts["reader"]) as db:
        assert db.execute("SELECT set_config('default_transaction_read_only', 'off', false), "
                          "set_config('statement_timeout', '0', false)").ok
        settings = db.execute("SELECT current_setting('default_transaction_read_only'), "
                              "current_setting('transaction_read_only')")
        assert settings.rows == [("on", "on")]


def test_pg_sleep_stops_at_the_limit(concerts):
    result = run_query(concerts["reader"], "SELECT pg_sleep(60)", timeout_s=1)
    assert result.error == ErrorKind.TIMEOUT, result.message


def test_a_query_cannot_lift_its_own_limit(concerts):
    result = run_query(concerts["reader"], "SELECT set_config('statement_timeout', '0', true), "
                                           "pg_sleep(60)", timeout_s=1)
    assert result.error == ErrorKind.TIMEOUT, result.message


def test_the_limit_spans_every_fetch(concerts, monkeypatch):
    # Batches of 2 rows of 0.1 s each: no single FETCH reaches the 1 s limit, the
    # 30 rows together (3 s) do. A per-FETCH statement_timeout would let it finish.
    monkeypatch.setattr(postgres, "MAX_FETCH_ROWS", 2)
    result = run_query(concerts["reader"], "SELECT pg_sleep(0.1) FROM generate_series(1, 30)",
                       timeout_s=1)
    assert result.error == ErrorKind.TIMEOUT, result.message


def test_a_cartesian_bomb_is_result_too_large(concerts):
    bomb = "SELECT * FROM singer a, singer b, singer c, singer d, singer e, singer f, singer g"
    result = run_query(concerts["reader"], bomb, max_rows=10**9, max_result_bytes=1_000_000)
    assert result.error == ErrorKind.RESULT_TOO_LARGE, result.message
    # 4**7 = 16,384 rows of ~7 x 6 values: far past 1 MB, stopped after a fraction.
    assert "after" in result.message


# Run in a fresh interpreter, so that its peak RSS is this query's alone.
_RSS_PROBE = """
import resource, sys
from t2s.sqlexec import ReadOnlyDatabase
with ReadOnlyDatabase(sys.argv[1], max_result_bytes=int(sys.argv[2])) as db:
    db.execute("SELECT 1")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = db.execute("SELECT repeat('x', 100000), g FROM generate_series(1, 3000) g",
                        max_rows=10**9)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(result.error, grown * 1024)
"""


def test_a_bomb_stops_near_the_budget_in_memory_too(concerts):
    # 3,000 rows x 100 KB = 300 MB on offer; the budget is 32 MiB. Batches grow
    # only while they fit in the bytes left, so the client holds about the budget:
    # measured 45 MiB of peak RSS growth, and 191 MiB when every FETCH asked for
    # MAX_FETCH_ROWS (1,000 rows = 100 MB, far past the budget before it is counted).
    budget = 32 * 2**20
    probe = subprocess.run([sys.executable, "-c", _RSS_PROBE, concerts["reader"], str(budget)],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert probe.returncode == 0, probe.stderr
    kind, grown = probe.stdout.split()
    assert kind == "result_too_large"
    assert int(grown) < 2 * budget


def test_a_wide_value_counts_against_the_budget(concerts):
    result = run_query(concerts["reader"], "SELECT repeat('x', 100000) FROM generate_series(1, 100)",
                       max_result_bytes=1_000_000)
    assert result.error == ErrorKind.RESULT_TOO_LARGE


def test_a_superuser_is_refused(concerts):
    with pytest.raises(postgres.PostgresConnectionError, match="superuser.*grant-readonly"):
        ReadOnlyDatabase(concerts["admin"])


def test_a_member_of_a_server_file_role_is_refused(pg_admin_dsn, concerts):
    role = "t2s_test_file_reader"
    admin_execute(pg_admin_dsn, f"DROP ROLE IF EXISTS {role}", f"CREATE ROLE {role} LOGIN",
                  f"GRANT pg_read_server_files TO {role}")
    try:
        with pytest.raises(postgres.PostgresConnectionError, match="pg_read_server_files"):
            sqlexec.connect_readonly(dsn_for(pg_admin_dsn, user=role, dbname=concerts["name"]))
    finally:
        admin_execute(pg_admin_dsn, f"DROP ROLE {role}")


def test_a_lost_connection_raises_instead_of_scoring(pg_admin_dsn, concerts):
    with ReadOnlyDatabase(concerts["reader"]) as db:
        pid = db.execute("SELECT pg_backend_pid()").rows[0][0]
        admin_execute(pg_admin_dsn, f"SELECT pg_terminate_backend({pid})")
        with pytest.raises(postgres.PostgresConnectionError, match="lost"):
            db.execute("SELECT 1")


SECRET = "S3cret-pw/with@chars"


@pytest.fixture
def password_role(pg_admin_dsn, concerts):
    """start.sh's scram-authenticated role, with SELECT on the concerts database."""
    admin_execute(pg_admin_dsn, f"DROP ROLE IF EXISTS {PASSWORD_ROLE}",
                  f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{SECRET}'")
    admin_execute(concerts["admin"], f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {PASSWORD_ROLE}")
    yield PASSWORD_ROLE
    admin_execute(concerts["admin"], f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {PASSWORD_ROLE}")
    admin_execute(pg_admin_dsn, f"DROP ROLE {PASSWORD_ROLE}")


def test_no_password_in_messages_or_paths(pg_admin_dsn, concerts, password_role):
    good = dsn_for(pg_admin_dsn, user=password_role, dbname=concerts["name"], password=SECRET)
    with ReadOnlyDatabase(good) as db:
        assert db.execute("SELECT count(*) FROM singer").rows == [(4,)]
        assert ":***@" in str(db.path) and "S3cret" not in str(db.path)
    wrong = dsn_for(pg_admin_dsn, user=password_role, dbname=concerts["name"], password=SECRET + "x")
    with pytest.raises(postgres.PostgresConnectionError) as caught:
        ReadOnlyDatabase(wrong)
    assert "password authentication failed" in str(caught.value)
    assert "S3cret" not in str(caught.value)


@pytest.mark.parametrize(("dsn", "shown"), [
    ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgres://u:p%40w@h/db?sslmode=require", "postgres://u:***@h/db?sslmode=require"),
    ("postgresql://u@h/db?password=pw&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
    ("postgresql://h/db", "postgresql://h/db"),
    ("host=h password=pw user=u", "host=h password=*** user=u"),
    ("host=h password='p w' user=u", "host=h password=*** user=u"),
])
def test_redact_dsn(dsn, shown):
    assert postgres.redact_dsn(dsn) == shown


def test_paths_are_not_dsns():
    assert postgres.is_dsn("postgresql://h/db") and postgres.is_dsn("postgres://h/db")
    assert not postgres.is_dsn("postgresql.sqlite") and not postgres.is_dsn(Path("/x/db.sqlite"))
