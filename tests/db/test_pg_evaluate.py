"""``t2s evaluate`` against PostgreSQL: Spider dev's concert_singer questions scored
on the imported database, gold SQL (written for SQLite) transpiled for it; a gold
query that cannot run there is reported, not counted against the model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from t2s.config import EvalConfig, load_config
from t2s.data.spider import SpiderDataset
from t2s.db.dialect import live_databases
from t2s.db.importer import import_sqlite
from t2s.db.transpile import schema_names, to_postgres
from t2s.evaluation.inputs import gold_from_examples
from t2s.evaluation.runner import evaluate_predictions
from t2s.sqlexec import run_query

from .conftest import create_reader, drop_database_and_role, recreate_database

SPIDER = Path("/work/shared/data/spider")
NAME, ROLE = "t2s_pgeval_eval_concert_singer", "t2s_pgeval_eval_reader"


@pytest.fixture(scope="module")
def concert_singer(pg_admin_dsn, tmp_path_factory):
    """Spider's concert_singer on the server: ``(dataset, reader DSN)``."""
    if not (SPIDER / "dev.json").is_file():
        pytest.skip(f"Spider is not at {SPIDER}")
    copy = shutil.copy(SPIDER / "database" / "concert_singer" / "concert_singer.sqlite",
                       tmp_path_factory.mktemp("cs"))
    import_sqlite(copy, recreate_database(pg_admin_dsn, NAME))
    yield SpiderDataset(SPIDER), create_reader(pg_admin_dsn, ROLE, NAME)
    drop_database_and_role(pg_admin_dsn, NAME, ROLE)


def test_gold_is_transpiled_and_what_cannot_run_is_not_scored(concert_singer):
    dataset, reader = concert_singer
    examples = [e for e in dataset.examples("dev.json") if e.db_id == "concert_singer"]
    names = schema_names(dataset.schema("concert_singer"))
    # Right answers in PostgreSQL's dialect, but where the transpiled gold fails there.
    predictions = [to_postgres(e.query, names) for e in examples]
    failing = [i for i, sql in enumerate(predictions) if not run_query(reader, sql).ok]
    wrong, sqlite_only = [i for i in range(len(examples)) if i not in failing][:2]
    predictions[wrong] = "SELECT 1"
    # SQLite's "strings": PostgreSQL reads a column name, a model error.
    predictions[sqlite_only] = 'SELECT name FROM singer WHERE country = "France"'

    report = evaluate_predictions(gold_from_examples(examples), predictions,
                                  db_dir=dataset.database_dir, tables_path=dataset.tables_path,
                                  options=EvalConfig(etype="exec"), workers=1, progress=False,
                                  databases={"concert_singer": reader})
    by_index = report["examples"]
    assert failing, "expected a concert_singer gold query that fails on PostgreSQL"
    for i in failing:
        assert by_index[i]["execution_match"] is None
        assert by_index[i]["error"] == "gold_not_on_postgres"
        assert "failed on PostgreSQL" in by_index[i]["message"]
    assert by_index[wrong]["execution_match"] is False
    assert by_index[wrong]["error"] == "wrong_result"
    assert by_index[sqlite_only]["execution_match"] is False
    assert by_index[sqlite_only]["error"] == "unknown_column"
    scored = len(examples) - len(failing)
    execution = report["summary"]["execution"]
    assert execution["correct"] == scored - 2
    assert execution["accuracy"] == round((scored - 2) / scored, 4)
    assert report["summary"]["errors"]["gold_not_on_postgres"] == len(failing)
    assert report["manifest"]["data"]["postgres_databases"] == {"concert_singer": reader}
    assert "concert_singer" not in report["manifest"]["data"]["databases"]


def test_data_databases_and_the_dsn_template():
    data = load_config(None, ["data.database_url=postgresql://r@/spider_{db_id}",
                              'data.databases={pets_1: "postgresql://other@/pets"}']).data
    assert live_databases(data, ["pets_1", "car_1"]) == {
        "pets_1": "postgresql://other@/pets", "car_1": "postgresql://r@/spider_car_1"}
    assert live_databases(load_config(None, []).data, ["car_1"]) == {}
