"""A real PostgreSQL server for the tests of ``t2s.db``.

``pg_admin_dsn`` is the superuser DSN of the throw-away cluster from
``scripts/postgres-local/start.sh``: taken from ``T2S_TEST_PG_DSN`` (``.ci/run``
exports it) or the ``dsn`` file start.sh writes, else the script is run here when
PostgreSQL 15 is installed (and the server it started is stopped at the end).
Without a server the tests skip, saying why; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from t2s.db import postgres
from t2s.db.grants import ReadOnlyGrant, grant_readonly_sql, quote_ident
from t2s.db.importer import import_sqlite

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "postgres-local"
STATE = Path(os.environ.get("T2S_PG_STATE", "/tmp/t2s-postgres"))
PG_BIN = Path(os.environ.get("T2S_PG_BIN", "/usr/lib/postgresql/15/bin"))
# The role start.sh puts in front of "trust" with a scram password (pg_hba.conf).
PASSWORD_ROLE = "t2s_pw"


def unavailable(reason: str) -> None:
    """Skip with ``reason``; under CI, where the server must exist, fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL tests cannot run: {reason} (CI never skips them)")
    pytest.skip(reason)


def dsn_for(admin_dsn: str, *, user: str, dbname: str, password: str | None = None) -> str:
    """A URI to ``dbname`` as ``user`` on the server of ``admin_dsn``."""
    params = postgres.load_psycopg().conninfo.conninfo_to_dict(admin_dsn)
    secret = f":{quote(password, safe='')}" if password else ""
    query = f"?host={params['host']}&port={params['port']}" if params.get("host", "").startswith(
        "/") else ""
    netloc = "" if query else f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
    return f"postgresql://{quote(user, safe='')}{secret}@{netloc}/{dbname}{query}"


def _answers(dsn: str) -> bool:
    try:
        postgres.connect(dsn).close()
    except postgres.PostgresConnectionError:
        return False
    return True


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """The test cluster's superuser DSN (see the module docstring)."""
    try:
        postgres.load_psycopg()
    except postgres.PostgresConnectionError:
        unavailable("psycopg 3 is not installed (pip install -e '.[postgres]')")
    dsn = os.environ.get("T2S_TEST_PG_DSN")
    if not dsn and (STATE / "dsn").is_file():
        dsn = (STATE / "dsn").read_text().strip()
    if dsn:
        if not _answers(dsn):
            unavailable(f"no PostgreSQL server answers at {postgres.redact_dsn(dsn)}")
        yield dsn
        return
    if not (PG_BIN / "postgres").is_file():
        unavailable(f"PostgreSQL 15 is not installed ({PG_BIN}); "
                    "run scripts/postgres-local/install.sh")
    started = subprocess.run([str(SCRIPTS / "start.sh")], capture_output=True, text=True,
                             timeout=120)
    if started.returncode != 0:
        unavailable(f"scripts/postgres-local/start.sh failed: {started.stderr.strip()}")
    yield started.stdout.strip().splitlines()[-1]
    subprocess.run([str(SCRIPTS / "stop.sh")], capture_output=True, timeout=120)


def admin_execute(admin_dsn: str, *statements: str) -> None:
    """Run ``statements`` as the superuser, each committed on its own."""
    with postgres.connect(admin_dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def recreate_database(admin_dsn: str, name: str) -> str:
    """Drop ``name`` if it exists (ending its sessions) and create it empty; its admin DSN."""
    admin_execute(admin_dsn, f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)",
                  f"CREATE DATABASE {quote_ident(name)}")
    return dsn_for(admin_dsn, user="t2s_admin", dbname=name)


def create_reader(admin_dsn: str, role: str, database: str) -> str:
    """A SELECT-only role made from ``t2s db grant-readonly``'s statements; its DSN."""
    admin_execute(admin_dsn, f"DROP ROLE IF EXISTS {quote_ident(role)}")
    db_admin = dsn_for(admin_dsn, user="t2s_admin", dbname=database)
    admin_execute(db_admin, *grant_readonly_sql(ReadOnlyGrant(role, database)))
    return dsn_for(admin_dsn, user=role, dbname=database)


def drop_database_and_role(admin_dsn: str, database: str, role: str | None) -> None:
    """Remove what :func:`recreate_database` and :func:`create_reader` made."""
    admin_execute(admin_dsn, f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE)")
    if role:
        admin_execute(admin_dsn, f"DROP ROLE IF EXISTS {quote_ident(role)}")


def pg_dump(dsn: str) -> str:
    """The whole database (schema, data, large objects) as SQL text, for before/after checks."""
    binary = PG_BIN / "pg_dump" if (PG_BIN / "pg_dump").is_file() else shutil.which("pg_dump")
    # A fixed --restrict-key: pg_dump >= 15.14 otherwise writes a random one per dump.
    return subprocess.run([str(binary), "--dbname", dsn, "--restrict-key", "t2stests"],
                          capture_output=True, text=True, check=True, timeout=60).stdout


def write_sqlite(path: Path, script: str) -> Path:
    """A new SQLite file at ``path`` made by ``script`` (the fixtures' source databases)."""
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return path


# Small, with the dirt Spider has: an INTEGER column holding text, a text key,
# a REAL, a BLOB, a NULL and a name with capitals.
CONCERTS_SQL = """
CREATE TABLE Singer (Singer_ID INTEGER PRIMARY KEY, Name TEXT, Country TEXT, Age INT,
                     Rating REAL, Photo BLOB);
INSERT INTO Singer VALUES (1, 'Joe Sharp', 'Netherlands', 52, 4.5, x'00ff10'),
                          (2, 'Timbaland', 'United States', 32, NULL, NULL),
                          (3, 'Justin Brown', 'France', 29, 3.0, x'01'),
                          (4, 'Rose White', 'France', 41, 4.0, NULL);
CREATE TABLE concert (concert_ID INT PRIMARY KEY, concert_Name TEXT, Singer_ID TEXT,
                      Year TEXT, Capacity INT,
                      FOREIGN KEY (Singer_ID) REFERENCES Singer(Singer_ID));
INSERT INTO concert VALUES (1, 'Auditions', '1', '2014', 1000), (2, 'Super bootcamp', '2', '2014', 'N/A'),
                           (3, 'Home Visits', '3', '2015', 2000), (4, 'Week 1', '1', '2015', NULL);
"""


@pytest.fixture(scope="session")
def concerts_sqlite(tmp_path_factory) -> Path:
    """The SQLite source of the concerts database."""
    return write_sqlite(tmp_path_factory.mktemp("pg") / "concerts.sqlite", CONCERTS_SQL)


@pytest.fixture(scope="module")
def concerts(pg_admin_dsn, concerts_sqlite) -> Iterator[dict[str, str]]:
    """The concerts database imported into PostgreSQL, with a SELECT-only reader.

    Yields ``{"admin": superuser DSN, "reader": reader DSN, "name": database}``.
    """
    name, role = "t2s_test_concerts", "t2s_test_reader"
    admin = recreate_database(pg_admin_dsn, name)
    import_sqlite(concerts_sqlite, admin)
    reader = create_reader(pg_admin_dsn, role, name)
    yield {"admin": admin, "reader": reader, "name": name}
    drop_database_and_role(pg_admin_dsn, name, role)


@pytest.fixture
def fresh_database(pg_admin_dsn) -> Iterator[Callable[[str], str]]:
    """Makes empty databases by name (admin DSN returned); drops them afterwards."""
    made: list[str] = []

    def make(name: str) -> str:
        made.append(name)
        return recreate_database(pg_admin_dsn, name)

    yield make
    for name in made:
        drop_database_and_role(pg_admin_dsn, name, None)


# The stages' tests (infer, REPL, serve, synth, monitor on PostgreSQL): their own
# database and roles, so they never race the execution tests' ``concerts``.
STAGES_DB, STAGES_READER = "t2s_stg_concerts", "t2s_stg_reader"
# What the stages' tests put in DSNs and PGPASSWORD, then grep every output for.
# The socket is "trust", so the server never asks for it: only t2s could leak it.
STAGES_SECRET = "Hunter2-s3cret-8761"


@pytest.fixture(scope="session")
def stages_db(pg_admin_dsn, concerts_sqlite) -> Iterator[dict[str, str]]:
    """The concerts database for the stages' tests, with a SELECT-only reader.

    Yields ``{"admin", "reader", "secret_reader" (the reader's DSN with
    STAGES_SECRET as password), "name", "role"}``.
    """
    admin = recreate_database(pg_admin_dsn, STAGES_DB)
    import_sqlite(concerts_sqlite, admin)
    reader = create_reader(pg_admin_dsn, STAGES_READER, STAGES_DB)
    secret = dsn_for(pg_admin_dsn, user=STAGES_READER, dbname=STAGES_DB, password=STAGES_SECRET)
    yield {"admin": admin, "reader": reader, "secret_reader": secret, "name": STAGES_DB,
           "role": STAGES_READER}
    drop_database_and_role(pg_admin_dsn, STAGES_DB, STAGES_READER)
