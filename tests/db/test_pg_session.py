"""README "Your data" / PostgreSQL, end to end on the tiny preset: the sample data's
databases imported into one server database (a schema each), a model trained with
PostgreSQL schema text and transpiled gold SQL, evaluated and served on the server,
and refused on the SQLite files."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from t2s.cli import main
from t2s.config import load_config
from t2s.db.grants import ReadOnlyGrant, grant_readonly_sql
from t2s.training.train import prepare_data

from .conftest import admin_execute, drop_database_and_role, dsn_for, recreate_database

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "tiny.yaml"
DATABASE, ROLE = "t2s_pgeval_session", "t2s_pgeval_session_reader"
DB_IDS = ("clinic", "concert_hall", "retail_shop", "sports_league", "university")


@pytest.fixture(scope="module")
def server(pg_admin_dsn, sample_dir):
    """The sample databases on the server, as README's commands put them: the reader's DSN template."""
    admin = recreate_database(pg_admin_dsn, DATABASE)
    admin_execute(pg_admin_dsn, f"DROP ROLE IF EXISTS {ROLE}")
    for db_id in DB_IDS:
        admin_execute(admin, f"CREATE SCHEMA {db_id}")
        assert main(["db", "import", "--from-sqlite",
                     str(sample_dir / "database" / db_id / f"{db_id}.sqlite"),
                     "--to", admin, "--schema", db_id]) == 0
    admin_execute(admin, *grant_readonly_sql(ReadOnlyGrant(ROLE, DATABASE, DB_IDS)))
    reader = dsn_for(pg_admin_dsn, user=ROLE, dbname=DATABASE)
    yield f"{reader}{'&' if '?' in reader else '?'}options={quote('-csearch_path={db_id}', safe='{}')}"
    drop_database_and_role(pg_admin_dsn, DATABASE, ROLE)


def _common(sample_dir, tiny_base_dir, tiny_overrides, run: Path) -> list[str]:
    return [f"data.root={sample_dir}", f"model.tiny.base_dir={tiny_base_dir}",
            f"train.output_dir={run}", f"infer.adapter_path={run / 'final_model'}",
            "train.report_to=[]", "train.max_seq_length=512", *tiny_overrides]


def test_training_prompts_are_postgresql_ddl_and_targets_postgresql(server, sample_dir):
    config = load_config(TINY, [f"data.root={sample_dir}", "data.dialect=postgres",
                                "data.schema.style=ddl", f"data.database_url={server}"])
    prepared = prepare_data(config)
    prompt = prepared.train_records[0]["prompt"]
    assert "CREATE TABLE" in prompt and " bigint" in prompt  # the server's types
    # Every target is what the library writes for the server (here: LIKE as ILIKE).
    completions = " ".join(r["completion"] for r in prepared.train_records)
    assert " LIKE " not in completions.upper().replace(" ILIKE ", " ")
    assert prepared.report["not_transpiled"] == {"train": [], "eval": []}


@pytest.mark.slow
def test_train_and_evaluate_on_postgresql(server, sample_dir, tiny_base_dir, tiny_overrides,
                                          tmp_path, capsys):
    run = tmp_path / "run"
    common = _common(sample_dir, tiny_base_dir, tiny_overrides, run)
    pg = f"data.database_url={server}"
    config = ["--config", str(TINY)]
    assert main(["train", *config, *common, "data.dialect=postgres", "data.schema.style=ddl", pg,
                 "train.max_steps=4", "train.eval_steps=2", "train.save_steps=2"]) == 0
    saved = (run / "final_model" / "config.yaml").read_text()
    assert "dialect: postgres" in saved and "style: ddl" in saved

    report_dir = tmp_path / "eval"
    assert main(["evaluate", *config, *common, pg, f"eval.report_dir={report_dir}",
                 "data.max_eval_examples=12", "infer.max_new_tokens=48", "--no-progress"]) == 0
    report = json.loads((report_dir / "REPORT.json").read_text())
    assert report["summary"]["count"] == 12
    assert set(report["manifest"]["data"]["postgres_databases"]) <= set(DB_IDS)
    for example in report["examples"]:
        # Scored on the server, or reported as a gold query it cannot run.
        assert isinstance(example["execution_match"], bool) or \
            example["error"] == "gold_not_on_postgres"

    # Served against the server (README: t2s serve --db university=postgresql://...):
    # the schema is read from the server and `execute` runs the model's SQL there.
    from serve.serve_support import AUTH, serve_config, start_server

    university = server.replace("{db_id}", "university")
    served = start_server(serve_config(sample_dir, tmp_path, *common, "serve.cache_size=0"),
                          [("default", str(run / "final_model"))], {"university": university})
    try:
        client = httpx.Client(base_url=served.url, headers=AUTH, timeout=300)
        schema = client.get("/schemas/university").json()
        reply = client.post("/generate", json={"question": "How many students are there?",
                                               "db_id": "university", "execute": True})
        client.close()
    finally:
        served.stop()
    # The server applies the adapter folder's prompt settings: PostgreSQL DDL, its types.
    assert "CREATE TABLE department" in schema["schema_text"] and " bigint" in schema["schema_text"]
    assert schema["executable"] is True
    assert reply.status_code == 200, reply.text
    body = reply.json()
    # The tiny model's SQL may not run: then PostgreSQL's own verdict on it, not an outage.
    assert body["sql"] and ("result" in body or body["error"]["kind"] not in (
        "database_unavailable", "overloaded", "internal")), body

    # The same model on the SQLite files is refused, before any generation.
    capsys.readouterr()
    assert main(["evaluate", *config, *common, f"eval.report_dir={tmp_path / 'sqlite'}",
                 "data.max_eval_examples=12", "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "writes PostgreSQL SQL (data.dialect=postgres)" in err
    assert "infer.dialect_override=true" in err
