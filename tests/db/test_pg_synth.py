"""``t2s synth --db postgresql://...``: pairs for a live PostgreSQL database (issue 19).

Spider's dog_kennels, imported with ``t2s db import``, is the fixture: every kept
pair's PostgreSQL text runs there and returns rows, and the output names the
database by its DSN with the password redacted.
"""

from __future__ import annotations

import json

import pytest

from t2s.cli import main
from t2s.db.importer import import_sqlite
from t2s.sqlexec import run_query

from .conftest import (
    STAGES_SECRET,
    create_reader,
    drop_database_and_role,
    dsn_for,
    recreate_database,
)

NAME, ROLE = "t2s_stg_kennels", "t2s_stg_kennels_reader"


@pytest.fixture(scope="module")
def kennels(pg_admin_dsn, spider_dir):
    admin = recreate_database(pg_admin_dsn, NAME)
    import_sqlite(spider_dir / "database" / "dog_kennels" / "dog_kennels.sqlite", admin)
    create_reader(pg_admin_dsn, ROLE, NAME)
    yield dsn_for(pg_admin_dsn, user=ROLE, dbname=NAME, password=STAGES_SECRET)
    drop_database_and_role(pg_admin_dsn, NAME, ROLE)


def test_synth_on_postgresql_writes_executable_pairs(kennels, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", STAGES_SECRET)
    out = tmp_path / "out"
    assert main(["synth", "--db", kennels, "--out", str(out), "--n", "80", "--seed", "1"]) == 0
    printed = capsys.readouterr()
    pairs = [*json.loads((out / "train.json").read_text()), *json.loads((out / "dev.json").read_text())]
    assert len(pairs) >= 40 and {p["db_id"] for p in pairs} == {NAME}
    assert {p["category"] for p in pairs} >= {"filter", "aggregate", "join"}
    for pair in pairs:
        result = run_query(kennels, pair["query_postgres"])
        assert result.ok and result.rows, pair
    tables = json.loads((out / "tables.json").read_text())
    assert tables[0]["db_id"] == NAME and "dogs" in tables[0]["table_names_original"]
    manifest = json.loads((out / "SYNTH.json").read_text())
    assert manifest["databases"][NAME].startswith(f"postgresql://{ROLE}:***@")
    assert not (out / "database" / NAME).exists()  # no copy of a server database
    assert STAGES_SECRET not in printed.out + printed.err
    for path in out.rglob("*"):
        if path.is_file():
            assert STAGES_SECRET.encode() not in path.read_bytes(), path
