"""``t2s db import`` and ``t2s db grant-readonly``: SQLite databases into a real
PostgreSQL server, row for row; the grants as a role the server accepts."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess

import pytest

from t2s.cli import main
from t2s.db import postgres
from t2s.db.grants import ReadOnlyGrant, grant_readonly_script, grant_readonly_sql
from t2s.db.importer import INTEGER_TEXT, affinity, column_type, import_sqlite
from t2s.errors import DataError, InputError
from t2s.sqlexec import run_query

from .conftest import SCRIPTS, STATE, admin_execute, create_reader, dsn_for, write_sqlite


def _sqlite_counts(path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    counts = {n.lower(): conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    conn.close()
    return counts


def _pg_counts(dsn: str, tables) -> dict[str, int]:
    with postgres.connect(dsn) as conn:
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


@pytest.mark.parametrize(("declared", "kinds", "integer_text", "expected"), [
    ("INTEGER", {int}, True, "bigint"),
    ("int", {int, str}, False, "text"),          # Spider: 'N/A' in an INT column
    ("TEXT", {str}, True, "bigint"),              # Spider: text keys holding '1', '2'
    ("TEXT", {str}, False, "text"),
    ("varchar(20)", {str, float}, False, "text"),
    ("REAL", {int, float}, False, "double precision"),
    ("REAL", {int}, True, "double precision"),
    ("number", {int, float}, True, "double precision"),
    ("BLOB", {bytes}, True, "bytea"),
    ("BLOB", {bytes, str}, False, "text"),
    ("", set(), True, "text"),
    ("INT", set(), True, "bigint"),
    ("decimal(10,2)", set(), True, "double precision"),
])
def test_column_types_follow_affinity_and_values(declared, kinds, integer_text, expected):
    assert column_type(declared, kinds, integer_text) == expected


@pytest.mark.parametrize(("text", "spells"), [
    ("42", True), ("-7", True), ("0", True), ("123456789012345678", True),
    ("042", False), ("-0", False), ("+4", False), (" 42", False), ("4.0", False),
    ("1234567890123456789", False), ("", False), ("٣", False),
])
def test_only_text_that_reads_back_the_same_is_an_integer(text, spells):
    assert (INTEGER_TEXT.fullmatch(text) is not None) == spells


def test_affinity_is_sqlites():
    assert [affinity(t) for t in ("BIGINT", "VARCHAR(5)", "CLOB", "", "DOUBLE", "DATETIME",
                                  "FLOATING POINT")] == [
        "integer", "text", "text", "blob", "real", "numeric", "integer"]  # "POINT" holds INT


def test_the_fixture_database_round_trips(concerts, concerts_sqlite):
    counts = _sqlite_counts(concerts_sqlite)
    assert _pg_counts(concerts["admin"], counts) == counts == {"singer": 4, "concert": 4}
    rows = run_query(concerts["reader"], "SELECT concert_id, capacity, year FROM concert ORDER BY 1")
    # 'N/A' in an INT column made it text; the text years became integers.
    assert rows.rows == [(1, "1000", 2014), (2, "N/A", 2014), (3, "2000", 2015), (4, None, 2015)]


def test_keys_are_added_when_the_data_allows_and_listed_when_not(fresh_database, tmp_path):
    source = write_sqlite(tmp_path / "keys.sqlite", """
        CREATE TABLE a (code TEXT PRIMARY KEY, n INT);
        INSERT INTO a VALUES ('x', 1), (NULL, 2);
        CREATE TABLE b (id INTEGER PRIMARY KEY, a_n INT REFERENCES a(n), other INT REFERENCES gone(id));
        INSERT INTO b VALUES (1, 1, 5);
    """)
    dsn = fresh_database("t2s_test_keys")
    report = import_sqlite(source, dsn)
    # a's key has a NULL (SQLite allows it outside INTEGER PRIMARY KEY), a.n is not
    # unique-constrained, "gone" does not exist: three keys skipped, b's kept.
    assert sorted(s.split(":")[0] for s in report.skipped) == [
        "foreign key b(a_n) -> a", "foreign key b(other) -> gone", "primary key of a"]
    with postgres.connect(dsn) as conn:
        keys = conn.execute("SELECT conrelid::regclass::text, contype FROM pg_constraint "
                            "WHERE connamespace = 'public'::regnamespace").fetchall()
    assert keys == [("b", "p")]


def test_an_existing_table_needs_replace(fresh_database, concerts_sqlite):
    dsn = fresh_database("t2s_test_replace")
    import_sqlite(concerts_sqlite, dsn)
    with pytest.raises(InputError, match="concert, singer.*--replace"):
        import_sqlite(concerts_sqlite, dsn)
    assert import_sqlite(concerts_sqlite, dsn, replace=True).rows == {"singer": 4, "concert": 4}


def test_the_command_creates_the_database_and_never_prints_the_password(
        pg_admin_dsn, concerts_sqlite, capsys):
    admin_execute(pg_admin_dsn, "DROP DATABASE IF EXISTS t2s_test_cli WITH (FORCE)")
    # Trust authentication on the socket: the password is sent nowhere, but is in the DSN.
    dsn = dsn_for(pg_admin_dsn, user="t2s_admin", dbname="t2s_test_cli", password="hunter2-pw")
    try:
        assert main(["db", "import", "--from-sqlite", str(concerts_sqlite), "--to", dsn]) == 0
        out = capsys.readouterr().out
        assert "created database" in out and "singer: 4 rows" in out
        assert "hunter2" not in out
    finally:
        admin_execute(pg_admin_dsn, "DROP DATABASE IF EXISTS t2s_test_cli WITH (FORCE)")


def test_import_refuses_a_path_as_target(concerts_sqlite, capsys):
    assert main(["db", "import", "--from-sqlite", str(concerts_sqlite), "--to", "out.sqlite"]) != 0
    assert "postgresql://" in capsys.readouterr().err


@pytest.fixture
def spider_copy(spider_dir, tmp_path):
    """concert_singer and pets_1 copied out of the read-only share."""
    copies = {}
    for db_id in ("concert_singer", "pets_1", "car_1"):
        source = spider_dir / "database" / db_id / f"{db_id}.sqlite"
        copies[db_id] = shutil.copy(source, tmp_path / f"{db_id}.sqlite")
    return copies


def test_spider_databases_round_trip(spider_copy, fresh_database):
    for db_id, path in spider_copy.items():
        dsn = fresh_database(f"t2s_test_{db_id}")
        report = import_sqlite(path, dsn)
        counts = _sqlite_counts(path)
        assert report.rows == counts, db_id
        assert _pg_counts(dsn, counts) == counts, db_id


def test_sample_databases_round_trip_value_for_value(sample_dir, fresh_database):
    for folder in sorted((sample_dir / "database").iterdir()):
        path = folder / f"{folder.name}.sqlite"
        dsn = fresh_database(f"t2s_test_{folder.name}")
        report = import_sqlite(path, dsn)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        with postgres.connect(dsn) as target:
            for table, types in report.types.items():
                names = ", ".join(f'"{c}"' for c in types)
                expected = sorted(conn.execute(f"SELECT {names} FROM {table}").fetchall(), key=repr)
                got = sorted(target.execute(f"SELECT {names} FROM {table}").fetchall(), key=repr)
                assert got == expected, (folder.name, table)
        conn.close()


def test_the_grants_make_a_role_the_server_accepts_as_read_only(pg_admin_dsn, concerts):
    # concerts' reader was made by create_reader from grant_readonly_sql.
    role = concerts["reader"].split("//")[1].split("@")[0]
    with postgres.connect(pg_admin_dsn) as conn:
        attributes = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolbypassrls, rolconfig "
            "FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    assert attributes[:5] == (False, False, False, False, False)
    assert "default_transaction_read_only=on" in attributes[5]
    assert run_query(concerts["reader"], "SELECT count(*) FROM singer").rows == [(4,)]


def test_grants_cover_tables_created_later(pg_admin_dsn, fresh_database):
    dsn = fresh_database("t2s_test_later")
    reader = create_reader(pg_admin_dsn, "t2s_test_later_reader", "t2s_test_later")
    try:
        admin_execute(dsn, "CREATE TABLE later (x int)", "INSERT INTO later VALUES (7)")
        assert run_query(reader, "SELECT x FROM later").rows == [(7,)]
    finally:
        admin_execute(pg_admin_dsn, "DROP DATABASE t2s_test_later WITH (FORCE)",
                      "DROP ROLE t2s_test_later_reader")  # the database first: it holds the grants


def test_grant_names_are_quoted_and_checked():
    sql = grant_readonly_sql(ReadOnlyGrant('odd"role', "my db", ("s1", "S 2")))
    assert sql[0].startswith('CREATE ROLE "odd""role" LOGIN NOSUPERUSER')
    assert 'GRANT CONNECT ON DATABASE "my db" TO "odd""role"' in sql
    assert 'GRANT SELECT ON ALL TABLES IN SCHEMA "S 2" TO "odd""role"' in sql
    with pytest.raises(InputError) as caught:
        grant_readonly_sql(ReadOnlyGrant("public", "", ("x" * 64,)))
    message = str(caught.value)
    assert "reserved" in message and "database name is empty" in message and "63 bytes" in message
    assert grant_readonly_script(ReadOnlyGrant("r")).count(";\n") == len(grant_readonly_sql(
        ReadOnlyGrant("r")))


def test_grant_readonly_prints_the_script(capsys):
    assert main(["db", "grant-readonly", "t2s_reader", "--database", "spider"]) == 0
    out = capsys.readouterr().out
    assert out == grant_readonly_script(ReadOnlyGrant("t2s_reader", "spider"))


def test_start_script_is_idempotent(pg_admin_dsn):
    if not (STATE / "dsn").is_file() or (STATE / "dsn").read_text().strip() != pg_admin_dsn:
        pytest.skip("the server under test was not started by start.sh with the default state")
    again = subprocess.run([str(SCRIPTS / "start.sh")], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == pg_admin_dsn


def test_a_missing_schema_is_an_input_error(fresh_database, concerts_sqlite):
    dsn = fresh_database("t2s_test_schema")
    with pytest.raises(InputError, match="no schema 'nope'"):
        import_sqlite(concerts_sqlite, dsn, schema="nope")


def test_a_failed_import_keeps_nothing(fresh_database, tmp_path):
    # SQLite folds only ASCII case, so "Äpfel" and "äpfel" are two tables there and
    # one name once lowercased: the second CREATE fails, and the tables before it,
    # already filled, go with the transaction.
    source = write_sqlite(tmp_path / "clash.sqlite", """
        CREATE TABLE pets (id INT); INSERT INTO pets VALUES (1);
        CREATE TABLE "Äpfel" (id INT); INSERT INTO "Äpfel" VALUES (1);
        CREATE TABLE "äpfel" (id INT);
    """)
    dsn = fresh_database("t2s_test_atomic")
    with pytest.raises(DataError, match="nothing was kept.*äpfel"):
        import_sqlite(source, dsn)
    with postgres.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema = 'public'").fetchone() == (0,)
