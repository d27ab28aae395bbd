"""``t2s synth``: executable question/SQL pairs for a user's own SQLite databases."""

from __future__ import annotations

import json
import shutil
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
