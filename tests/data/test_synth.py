"""``t2s synth``: executable question/SQL pairs for a user's own SQLite databases."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from t2s.cli import main
from t2s.data.spider import SpiderDataset
from t2s.errors import DataError
from t2s.sqlexec import run_query


def _check_pairs(out: Path) -> list[dict]:
    dataset = SpiderDataset(out)
    pairs = [*json.loads((out / "train.json").read_text()), *json.loads((out / "dev.json").read_text())]
    assert dataset.examples("train.json") and dataset.examples("dev.json")
    for pair in pairs:
        result = run_query(dataset.database_path(pair["db_id"]), pair["query"])
        assert result.ok and result.rows, pair
    return pairs


def test_synth_on_a_spider_database_writes_200_distinct_executable_pairs(tmp_path, spider_dir, capsys):
    db = tmp_path / "kennels.sqlite"
    shutil.copyfile(spider_dir / "database" / "dog_kennels" / "dog_kennels.sqlite", db)
    before = db.read_bytes()
    assert main(["synth", "--db", str(db), "--out", str(tmp_path / "out"), "--n", "500"]) == 0
    assert "wrote" in capsys.readouterr().out
    pairs = _check_pairs(tmp_path / "out")
    assert len({p["query"] for p in pairs}) == len(pairs) >= 200
    assert len({p["question"] for p in pairs}) == len(pairs)
    assert {p["category"] for p in pairs} >= {"filter", "aggregate", "join", "group", "order"}
    assert db.read_bytes() == before  # read-only
    manifest = json.loads((tmp_path / "out" / "SYNTH.json").read_text())
    assert manifest["train"] + manifest["dev"] == len(pairs)


def test_synth_over_two_databases_offline(tmp_path, sample_dir):
    dbs = [sample_dir / "database" / name / f"{name}.sqlite" for name in ("clinic", "retail_shop")]
    assert main(["synth", *[a for db in dbs for a in ("--db", str(db))], "--out",
                 str(tmp_path / "out"), "--n", "120", "--seed", "3"]) == 0
    pairs = _check_pairs(tmp_path / "out")
    assert {p["db_id"] for p in pairs} == {"clinic", "retail_shop"}
    assert 100 <= len(pairs) <= 120


def test_synth_refuses_bad_inputs(tmp_path, sample_dir):
    from t2s.data.synth import synthesize

    with pytest.raises(DataError, match="does not exist"):
        synthesize([tmp_path / "nope.sqlite"], tmp_path / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match="not written by t2s synth"):
        synthesize([sample_dir / "database" / "clinic" / "clinic.sqlite"], tmp_path / "busy")
    assert (tmp_path / "busy" / "mine.txt").is_file()
    notdb = tmp_path / "not.sqlite"
    notdb.write_text("hello")
    with pytest.raises(DataError, match="not an SQLite database"):
        synthesize([notdb], tmp_path / "out2")


# --------------------------------------------------------------------------- bounded reads


def _table(path: Path, rows: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE sale (id INTEGER PRIMARY KEY, city TEXT, amount REAL)")
    conn.executemany("INSERT INTO sale VALUES (?, ?, ?)",
                     ((i, f"city{i % 7}", (i * 37) % 1000) for i in range(rows)))
    conn.commit()
    return conn


def _vm_steps(conn: sqlite3.Connection, work) -> int:
    """SQLite virtual-machine steps (in hundreds) that ``work`` costs: rows read, counted."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(tick, 100)
    try:
        work()
    finally:
        conn.set_progress_handler(None, 0)
    return steps[0]


def test_value_draws_and_draft_checks_read_a_bounded_number_of_rows(tmp_path):
    """synth took 256 s for 50 pairs on a 1e6-row table, sorting whole columns per
    template and fetching whole results: the reads stop at SAMPLE_ROWS / KEEP_ROWS
    rows, so they cost the same on a table 5x larger."""
    import random

    from t2s.data.sample.questions import KEEP_ROWS, _keep
    from t2s.data.sample.schema import DatabaseSpec
    from t2s.data.sample.templates import SAMPLE_ROWS, Context, Draft

    costs = []
    for rows in (2 * SAMPLE_ROWS, 10 * SAMPLE_ROWS):
        conn = _table(tmp_path / f"{rows}.sqlite", rows)
        ctx = Context(DatabaseSpec("shop", ()), conn, random.Random(0))
        values: list = []
        draft = Draft("Which amounts?", "SELECT amount FROM sale")
        costs.append((
            _vm_steps(conn, lambda ctx=ctx, values=values: values.extend(ctx.values("sale", "amount"))),
            _vm_steps(conn, lambda ctx=ctx: ctx.distinct("sale", "city")),
            _vm_steps(conn, lambda conn=conn, draft=draft: _keep(conn, draft, set(), "t"))))
        assert len(values) == SAMPLE_ROWS and values == sorted(values)
        conn.close()
    small, large = costs
    assert small == large, costs  # the same work, whatever the table's size
    # A table below the bound is read whole, as the sample databases always were.
    conn = _table(tmp_path / "small.sqlite", 50)
    ctx = Context(DatabaseSpec("shop", ()), conn, random.Random(0))
    assert len(ctx.values("sale", "amount")) == 50
    assert ctx.distinct("sale", "city") == [f"city{i}" for i in range(7)]
    assert KEEP_ROWS < 2 * SAMPLE_ROWS  # so the draft above had more rows than are read
