"""PostgreSQL schema introspection on the real server: a Spider database imported
with ``t2s db import`` reads back with the tables, columns and keys of its SQLite
original, and its schema text (compact, PostgreSQL DDL, sample and matched values)
is what the SQLite path writes for the same data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from t2s.data.schema_text import (
    ValueIndex,
    sample_values,
    schema_from_database,
    serialize_schema,
    text_column_values,
)
from t2s.data.spider import DatabaseSchema
from t2s.db.catalog import quote_name
from t2s.db.importer import import_sqlite
from t2s.errors import DataError

from .conftest import admin_execute, create_reader, drop_database_and_role, recreate_database

SPIDER = Path("/work/shared/data/spider/database")
# car_1: two foreign keys its data violates (the import skips them, and says so).
DB_IDS = ("concert_singer", "pets_1", "car_1")
READER = "t2s_pgeval_schema_reader"


@pytest.fixture(scope="module")
def imported(pg_admin_dsn, tmp_path_factory):
    """Each of :data:`DB_IDS` imported into its own database: ``{db_id: (sqlite copy, reader DSN, report)}``."""
    if not SPIDER.is_dir():
        pytest.skip(f"Spider's databases are not at {SPIDER}")
    made = {}
    for db_id in DB_IDS:
        copy = shutil.copy(SPIDER / db_id / f"{db_id}.sqlite", tmp_path_factory.mktemp(db_id))
        name = f"t2s_pgeval_{db_id}"
        report = import_sqlite(copy, recreate_database(pg_admin_dsn, name))
        made[db_id] = (Path(copy), create_reader(pg_admin_dsn, f"{READER}_{db_id}", name), report)
    yield made
    for db_id in DB_IDS:
        drop_database_and_role(pg_admin_dsn, f"t2s_pgeval_{db_id}", f"{READER}_{db_id}")


def _shape(schema: DatabaseSchema) -> tuple[list, set]:
    """Tables (in order) with their columns and primary keys, and the foreign keys: lowercased,
    as the import names them."""
    tables = [(t.name.lower(), [c.name.lower() for c in t.columns], [p.lower() for p in t.primary_keys])
              for t in schema.tables]
    fks = {(f.table.lower(), f.column.lower(), f.ref_table.lower(), f.ref_column.lower())
           for f in schema.foreign_keys}
    return tables, fks


@pytest.mark.parametrize("db_id", DB_IDS)
def test_an_imported_spider_database_has_its_sqlite_tables_columns_and_keys(imported, db_id):
    sqlite_path, reader, report = imported[db_id]
    pg = schema_from_database(reader, db_id)
    original = schema_from_database(sqlite_path, db_id)
    pg_tables, pg_fks = _shape(pg)
    sqlite_tables, sqlite_fks = _shape(original)
    assert pg.db_id == db_id
    assert pg_tables == sqlite_tables
    assert pg_fks <= sqlite_fks
    skipped_fks = [s for s in report.skipped if s.startswith("foreign key")]
    assert len(sqlite_fks - pg_fks) == len(skipped_fks)
    assert (db_id == "car_1") == bool(skipped_fks)
    # Columns keep PostgreSQL's own type beside Spider's word.
    column = pg.table("singer" if db_id == "concert_singer" else pg.tables[0].name).columns[0]
    assert column.sql_type == "bigint" and column.type == "number"


def test_without_a_db_id_the_schema_is_named_after_the_database(imported):
    assert schema_from_database(imported["pets_1"][1]).db_id == "t2s_pgeval_pets_1"


def test_compact_text_is_the_sqlite_texts_and_ddl_is_postgresql(imported):
    sqlite_path, reader, _ = imported["pets_1"]
    pg = schema_from_database(reader, "pets_1")
    assert serialize_schema(pg, include_keys=True).splitlines()[0] == (
        "TABLE: student (stuid (number), lname (text), fname (text), age (number), sex (text), "
        "major (number), advisor (number), city_code (text))")
    ddl = serialize_schema(pg, include_keys=True, style="ddl", dialect="postgres")
    assert ddl.startswith("CREATE TABLE student (\n  stuid bigint,\n  lname text,")
    assert "  weight double precision,\n  PRIMARY KEY (petid)\n);" in ddl
    assert "FOREIGN KEY (petid) REFERENCES pets(petid)" in ddl
    # The SQLite dialect keeps Spider's type words, as before.
    assert "  stuid number," in serialize_schema(pg, style="ddl")


def test_postgresql_ddl_is_accepted_by_the_server(imported, pg_admin_dsn, fresh_database):
    """The DDL written for a database creates the same tables on an empty one."""
    pg = schema_from_database(imported["car_1"][1], "car_1")
    target = fresh_database("t2s_pgeval_ddl")
    admin_execute(target, serialize_schema(pg, include_keys=False, style="ddl", dialect="postgres"))
    reader = create_reader(pg_admin_dsn, READER + "_ddl", "t2s_pgeval_ddl")
    try:
        again = schema_from_database(reader, "car_1")
    finally:
        drop_database_and_role(pg_admin_dsn, "t2s_pgeval_ddl", READER + "_ddl")
    assert [(t.name, [(c.name, c.sql_type) for c in t.columns]) for t in again.tables] == \
        [(t.name, [(c.name, c.sql_type) for c in t.columns]) for t in pg.tables]


def test_names_are_quoted_where_postgresql_needs_it():
    assert [quote_name(n) for n in ("singer", "Singer", "order", "a b", 'x"y', "_k9$")] == [
        "singer", '"Singer"', '"order"', '"a b"', '"x""y"', "_k9$"]


def test_sample_and_matched_values_are_the_sqlite_ones(imported):
    sqlite_path, reader, _ = imported["concert_singer"]
    pg = schema_from_database(reader, "concert_singer")
    # SQLite names are case-insensitive, so the PostgreSQL schema reads the SQLite copy too.
    from_pg, from_sqlite = sample_values(reader, pg, 3), sample_values(sqlite_path, pg, 3)
    assert from_pg == from_sqlite
    assert from_pg[("singer", "country")] == ["France", "Netherlands", "United States"]
    question = "What is the capacity of Balmoor stadium and of the Glebe Park?"
    pg_matched = ValueIndex.read(reader, pg).match(question, 2)
    assert pg_matched == ValueIndex.read(sqlite_path, pg).match(question, 2)
    assert pg_matched[("stadium", "name")] == ["Glebe Park", "Balmoor"]  # longer first
    # Every text column is read, each value once.
    values = text_column_values(reader, pg)
    assert {k: sorted(v) for k, v in values.items()} == \
        {k: sorted(v) for k, v in text_column_values(sqlite_path, pg).items()}


def test_a_superuser_dsn_or_an_empty_schema_is_a_clear_error(pg_admin_dsn, imported, fresh_database):
    with pytest.raises(DataError, match="refusing to run SQL as role .*superuser"):
        schema_from_database(pg_admin_dsn)
    fresh_database("t2s_pgeval_empty")
    reader = create_reader(pg_admin_dsn, READER + "_empty", "t2s_pgeval_empty")
    try:
        with pytest.raises(DataError, match="has no tables this role may read"):
            schema_from_database(reader)
    finally:
        drop_database_and_role(pg_admin_dsn, "t2s_pgeval_empty", READER + "_empty")
