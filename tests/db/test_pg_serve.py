"""``t2s serve --db NAME=postgresql://...`` on the real server, over real HTTP on 127.0.0.1.

A bounded pool per database (``serve.db_pool_size``), a dropped session replaced
on its next use, ``database_unavailable`` (503) when the server cannot be
reached, PostgreSQL's unknown table/column messages in the request log, and no
password in any reply, log line, metric or request-log line.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from serve.serve_support import AUTH, scripted_adapter, scripted_loader, serve_config, start_server
from t2s.db import postgres
from t2s.errors import ConfigError
from t2s.sqlexec import run_query

from .conftest import STAGES_SECRET, admin_execute

POOL = 3
STORM = 24


def _role_sessions(admin, role: str) -> int:
    return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
                         (role,)).fetchone()[0]


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory, sample_dir, stages_db):
    tmp = tmp_path_factory.mktemp("pg_serve")
    config = serve_config(sample_dir, tmp, f"infer.adapter_path={scripted_adapter(tmp / 'a')}",
                          f"serve.db_pool_size={POOL}", "infer.execute_timeout_s=10",
                          "infer.max_rows=50", "serve.cache_size=0")
    server = start_server(config, [("default", str(tmp / "a"))],
                          {"shop": stages_db["secret_reader"]}, loader=scripted_loader)
    client = httpx.Client(base_url=server.url, headers=AUTH, timeout=60)
    yield server, client, tmp
    client.close()
    server.stop()


def _ask(client: httpx.Client, sql: str, execute: bool = True, db_id: str = "shop") -> httpx.Response:
    return client.post("/generate", json={"question": f"SQL: {sql}", "db_id": db_id,
                                          "execute": execute})


def test_execute_answers_from_postgresql(pg_server):
    _server, client, _tmp = pg_server
    reply = _ask(client, "SELECT name FROM singer WHERE age > 40 ORDER BY name")
    assert reply.status_code == 200, reply.text
    assert reply.json()["result"]["rows"] == [["Joe Sharp"], ["Rose White"]]
    schema = client.get("/schemas/shop").json()
    assert sorted(schema["tables"]) == ["concert", "singer"] and "TABLE: singer" in schema["schema_text"]
    assert schema["executable"] is True


def test_a_storm_never_holds_more_sessions_than_the_pool(pg_server, stages_db):
    server, client, _tmp = pg_server
    pool = server.service.pools[stages_db["secret_reader"]]
    seen: list[int] = []
    lock = threading.Lock()
    admin_execute(stages_db["admin"], f"ALTER ROLE {stages_db['role']} CONNECTION LIMIT {POOL}")
    try:
        with postgres.connect(stages_db["admin"], autocommit=True) as admin:
            def observe(_open: int) -> None:
                # Called while a request holds its session: what the server sees then.
                with lock:
                    seen.append(_role_sessions(admin, stages_db["role"]))

            pool.on_session = observe
            sql = "SELECT count(*) FROM singer, pg_sleep(0.05)"
            with ThreadPoolExecutor(STORM) as workers:
                replies = list(workers.map(lambda _: _ask(client, sql), range(STORM)))
    finally:
        pool.on_session = None
        admin_execute(stages_db["admin"], f"ALTER ROLE {stages_db['role']} CONNECTION LIMIT -1")
    assert [r.status_code for r in replies] == [200] * STORM, [r.text for r in replies]
    assert all(r.json()["result"]["rows"] == [[4]] for r in replies)
    # The role's CONNECTION LIMIT would have refused a 4th session (a 503 above);
    # pg_stat_activity, read inside every request, never saw more than the pool.
    assert len(seen) == STORM and 1 <= max(seen) <= POOL
    assert pool.open_sessions <= POOL


def test_a_dropped_session_is_replaced_on_next_use(pg_server, stages_db):
    server, client, _tmp = pg_server
    pool = server.service.pools[stages_db["secret_reader"]]
    assert _ask(client, "SELECT 1").status_code == 200
    admin_execute(stages_db["admin"], "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      f"WHERE usename = '{stages_db['role']}'")
    before = pool.replaced
    reply = _ask(client, "SELECT count(*) FROM concert")
    assert reply.status_code == 200, reply.text
    assert reply.json()["result"]["rows"] == [[4]] and pool.replaced > before


def test_an_unreachable_database_is_503_database_unavailable(pg_server, stages_db):
    _server, client, _tmp = pg_server
    role = stages_db["role"]
    admin_execute(stages_db["admin"], f"ALTER ROLE {role} NOLOGIN",
                  f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
    try:
        reply = _ask(client, "SELECT 1")
        checked = _ask(client, "SELECT 2", execute=False)
    finally:
        admin_execute(stages_db["admin"], f"ALTER ROLE {role} LOGIN")
    for failed in (reply, checked):
        assert failed.status_code == 503, failed.text
        assert failed.json()["error"]["kind"] == "database_unavailable"
        assert "postgresql://" not in failed.text and STAGES_SECRET not in failed.text
    assert _ask(client, "SELECT 3").status_code == 200  # back once the role may log in again


def test_postgresql_unknown_names_reach_the_request_log_and_the_monitor(pg_server, sample_dir):
    from t2s.monitor.report import write_report

    _server, client, tmp = pg_server
    _ask(client, "SELECT * FROM missing", execute=False)
    _ask(client, "SELECT nope FROM singer", execute=False)
    _ask(client, "SELEC oops", execute=False)
    lines = [json.loads(line) for line in (tmp / "requests.jsonl").read_text().splitlines()]
    by_sql = {line["sql"]: line for line in lines if line.get("sql")}
    assert by_sql["SELECT * FROM missing"]["unknown_tables"] == ["missing"]
    assert by_sql["SELECT nope FROM singer"]["unknown_columns"] == ["nope"]
    assert by_sql["SELECT nope FROM singer"]["sql_parsed"] is True
    assert by_sql["SELEC oops"]["sql_parsed"] is False
    assert by_sql["SELECT * FROM missing"]["executed"] is False
    report = write_report(tmp / "requests.jsonl", sample_dir / "train.json", tmp / "report")
    assert report["unknown_names"] == {"tables": {"missing": 1}, "columns": {"nope": 1}}
    assert "unknown tables: missing 1; unknown columns: nope 1" in (
        tmp / "report" / "REPORT.md").read_text()


def test_a_server_down_at_start_still_serves_and_answers_503(tmp_path, sample_dir, caplog):
    dead = f"postgresql://nobody:{STAGES_SECRET}@/db?host={tmp_path}&port=1"
    config = serve_config(sample_dir, tmp_path, f"infer.adapter_path={scripted_adapter(tmp_path / 'a')}")
    caplog.set_level(logging.WARNING, logger="t2s")
    server = start_server(config, [("default", str(tmp_path / "a"))], {"gone": dead},
                          loader=scripted_loader)
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
            reply = _ask(client, "SELECT 1", db_id="gone")
            schema = client.get("/schemas/gone")
            metrics = client.get("/metrics").text
    finally:
        server.stop()
    assert reply.status_code == 503 and reply.json()["error"]["kind"] == "database_unavailable"
    assert schema.status_code == 503
    assert 't2s_failures_total{kind="database_unavailable"}' in metrics
    assert "cannot connect" in caplog.text  # the why is in the server log, redacted
    for text in (reply.text, schema.text, metrics, caplog.text,
                 (tmp_path / "requests.jsonl").read_text()):
        assert STAGES_SECRET not in text


def test_no_password_anywhere_the_server_writes(pg_server, monkeypatch):
    """Run last in this module: every reply above, the log and the metrics, grepped."""
    _server, client, tmp = pg_server
    monkeypatch.setenv("PGPASSWORD", STAGES_SECRET)
    texts = [_ask(client, "SELECT * FROM singer").text, client.get("/metrics").text,
             client.get("/databases").text, client.get("/schemas/shop").text]
    for text in texts:
        assert STAGES_SECRET not in text
    for path in tmp.rglob("*"):
        if path.is_file():
            assert STAGES_SECRET.encode() not in path.read_bytes(), path


def test_the_command_line_registers_a_dsn_without_touching_the_server(tmp_path):
    import argparse

    from t2s.serve.command import resolve_settings

    from .conftest import ROOT

    dsn = f"postgresql://reader:{STAGES_SECRET}@/shop?host={tmp_path}&port=1"  # nothing listens
    args = argparse.Namespace(config=str(ROOT / "configs" / "tiny.yaml"),
                              overrides=["serve.db_pool_size=2"], host=None, port=None,
                              adapter=[], db=[f"shop={dsn}", f"file={tmp_path / 'x.sqlite'}"])
    (tmp_path / "x.sqlite").write_bytes(b"")
    # The tiny config's model writes SQLite SQL: a PostgreSQL database is refused ...
    with pytest.raises(ConfigError, match="data.dialect=sqlite.*shop") as caught:
        resolve_settings(args)
    assert STAGES_SECRET not in str(caught.value)
    args.overrides.append("infer.dialect_override=true")  # ... unless overridden
    config, _adapters, databases = resolve_settings(args)
    assert databases["shop"] == dsn and databases["file"] == tmp_path / "x.sqlite"
    assert config.serve.db_pool_size == 2


def test_a_dataset_database_on_a_server_runs_through_a_pool(tmp_path, sample_dir, pg_admin_dsn):
    """``data.databases`` puts a dataset's db_id on PostgreSQL: its requests share one pool too."""
    from t2s.db.importer import import_sqlite

    from .conftest import create_reader, drop_database_and_role, recreate_database

    name, role = "t2s_stg_hall", "t2s_stg_hall_reader"
    admin = recreate_database(pg_admin_dsn, name)
    try:
        import_sqlite(sample_dir / "database" / "concert_hall" / "concert_hall.sqlite", admin)
        reader = create_reader(pg_admin_dsn, role, name)
        config = serve_config(sample_dir, tmp_path,
                              f"infer.adapter_path={scripted_adapter(tmp_path / 'a')}",
                              f"data.databases={{concert_hall: '{reader}'}}", "serve.db_pool_size=2",
                              "serve.cache_size=0")
        server = start_server(config, [("default", str(tmp_path / "a"))], loader=scripted_loader)
        try:
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
                with ThreadPoolExecutor(6) as workers:
                    replies = list(workers.map(lambda _: _ask(
                        client, "SELECT count(*) FROM venue", db_id="concert_hall"), range(6)))
                pool = server.service.pools[reader]
                open_now = pool.open_sessions
        finally:
            server.stop()
        assert [r.status_code for r in replies] == [200] * 6, replies[0].text
        venues = run_query(sample_dir / "database" / "concert_hall" / "concert_hall.sqlite",
                           "SELECT count(*) FROM venue").rows[0][0]
        assert all(r.json()["result"]["rows"] == [[venues]] for r in replies)
        assert pool.size == 2 and 1 <= open_now <= 2
    finally:
        drop_database_and_role(pg_admin_dsn, name, role)
