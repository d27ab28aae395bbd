"""Tests of the embedded sample dataset (t2s.data.sample and `t2s sample-data`)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
import sqlglot

from t2s import cli
from t2s.data.sample import (
    ensure_sample_dataset,
    is_current,
    is_generated,
    read_manifest,
    write_sample_dataset,
    writer,
)
from t2s.data.sample.templates import SHAPES
from t2s.data.spider import SpiderDataset, load_examples, load_tables
from t2s.errors import DataError

JSON_FILES = ("tables.json", "train.json", "dev.json", "train_gold.sql", "dev_gold.sql")
SPIDER_TYPES = {"text", "number", "time", "boolean", "others"}
SRC = Path(__file__).resolve().parents[2] / "src"


# `sample_dir` (the dataset, generated once per session) comes from conftest.py.


@pytest.fixture(scope="module")
def records(sample_dir: Path) -> dict[str, list[dict]]:
    return {split: json.loads((sample_dir / f"{split}.json").read_text()) for split in ("train", "dev")}


def _all(records: dict[str, list[dict]]) -> list[dict]:
    return records["train"] + records["dev"]


def _connect(sample_dir: Path, db_id: str) -> sqlite3.Connection:
    path = sample_dir / "database" / db_id / f"{db_id}.sqlite"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _dump(path: Path) -> list[str]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def _digests(root: Path) -> dict[str, str]:
    return {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in JSON_FILES}


# ------------------------------------------------------------------ format

def test_loads_with_the_spider_loader(sample_dir: Path) -> None:
    dataset = SpiderDataset(sample_dir)
    assert len(dataset.schemas) == 5
    train, dev = dataset.examples("train.json"), dataset.examples("dev.json")
    assert dataset.db_ids(dev) == sorted(dataset.schemas)
    assert dataset.db_ids(train) == sorted(dataset.schemas)
    assert all(dataset.has_database(db_id) for db_id in dataset.schemas)
    assert load_tables(sample_dir / "tables.json").keys() == dataset.schemas.keys()
    assert len(load_examples(sample_dir / "train.json")) == len(train)


def test_gold_files_match_the_json_splits(sample_dir: Path, records: dict[str, list[dict]]) -> None:
    for split, items in records.items():
        lines = (sample_dir / f"{split}_gold.sql").read_text().splitlines()
        assert lines == [f"{r['query']}\t{r['db_id']}" for r in items]


def test_tables_json_has_spider_format(sample_dir: Path) -> None:
    entries = json.loads((sample_dir / "tables.json").read_text())
    for entry in entries:
        assert list(entry) == ["column_names", "column_names_original", "column_types", "db_id",
                               "foreign_keys", "primary_keys", "table_names",
                               "table_names_original"]
        assert entry["column_names"][0] == [-1, "*"] == entry["column_names_original"][0]
        assert len(entry["column_names"]) == len(entry["column_types"])
        assert set(entry["column_types"]) <= SPIDER_TYPES
        assert 3 <= len(entry["table_names_original"]) <= 6
        assert len(entry["table_names"]) == len(entry["table_names_original"])
        assert all(isinstance(i, int) for i in entry["primary_keys"])
        assert entry["foreign_keys"], f"{entry['db_id']} has no foreign keys"


def test_tables_json_agrees_with_the_sqlite_files(sample_dir: Path) -> None:
    for entry in json.loads((sample_dir / "tables.json").read_text()):
        connection = _connect(sample_dir, entry["db_id"])
        try:
            tables = [r[0] for r in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]
            assert tables == entry["table_names_original"]
            columns = [[-1, "*"]]
            primary_keys, foreign_keys = [], []
            where = {}
            for index, table in enumerate(tables):
                for _cid, name, decl, _notnull, _default, pk in connection.execute(
                        f"PRAGMA table_info({table})"):
                    where[(table, name)] = len(columns)
                    columns.append([index, name])
                    expected_type = {"INTEGER": "number", "REAL": "number", "TEXT": "text",
                                     "DATE": "time", "BOOLEAN": "boolean"}[decl]
                    assert entry["column_types"][len(columns) - 1] == expected_type, (table, name)
                    if pk:
                        primary_keys.append(len(columns) - 1)
            for table in tables:
                for row in connection.execute(f"PRAGMA foreign_key_list({table})"):
                    ref_table, column, ref_column = row[2], row[3], row[4]
                    foreign_keys.append([where[(table, column)], where[(ref_table, ref_column)]])
            assert columns == entry["column_names_original"]
            assert primary_keys == entry["primary_keys"]
            assert sorted(foreign_keys) == sorted(entry["foreign_keys"])
            assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            connection.close()


def test_databases_have_realistic_sizes(sample_dir: Path) -> None:
    for entry in json.loads((sample_dir / "tables.json").read_text()):
        connection = _connect(sample_dir, entry["db_id"])
        try:
            for table in entry["table_names_original"]:
                (count,) = connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
                assert 5 <= count <= 500, (entry["db_id"], table, count)
        finally:
            connection.close()


# ---------------------------------------------------------------- questions

def test_counts_and_uniqueness(records: dict[str, list[dict]]) -> None:
    pairs = _all(records)
    assert 400 <= len(pairs) <= 600
    keys = [(r["question"], r["db_id"]) for r in pairs]
    assert len(set(keys)) == len(keys), "duplicate (question, db_id) pairs"
    assert len({r["id"] for r in pairs}) == len(pairs)
    per_db = Counter(r["db_id"] for r in pairs)
    assert len(per_db) == 5 and min(per_db.values()) >= 70, per_db


def test_split_is_stratified(records: dict[str, list[dict]]) -> None:
    train, dev = records["train"], records["dev"]
    assert 0.15 <= len(dev) / (len(train) + len(dev)) <= 0.25
    for key in ("db_id", "shape"):
        assert {r[key] for r in dev} == {r[key] for r in train}
    assert {r["shape"] for r in dev} == set(SHAPES)
    assert not {r["question"] for r in train} & {r["question"] for r in dev}


def test_every_gold_query_runs_and_returns_rows(sample_dir: Path,
                                                records: dict[str, list[dict]]) -> None:
    empty = []
    for db_id in sorted({r["db_id"] for r in _all(records)}):
        connection = _connect(sample_dir, db_id)
        try:
            for record in (r for r in _all(records) if r["db_id"] == db_id):
                rows = connection.execute(record["query"]).fetchall()
                if not rows:
                    empty.append(record["query"])
        finally:
            connection.close()
    # The brief asks for >= 90% non-empty; the generator drops empty results, so
    # in fact every query returns rows.
    assert len(empty) <= 0.1 * len(_all(records))
    assert empty == []


def test_gold_sql_parses_with_sqlglot(records: dict[str, list[dict]]) -> None:
    for record in _all(records):
        parsed = sqlglot.parse(record["query"], read="sqlite")
        assert len(parsed) == 1 and parsed[0] is not None, record["query"]


def test_every_gold_query_parses_with_the_spider_parser(sample_dir: Path,
                                                        records: dict[str, list[dict]]) -> None:
    """Exact match and hardness need the gold parse; Spider's grammar has, e.g.,
    no ``IN ("a", "b")`` list of literals and one alias per name in a query."""
    from t2s.evaluation.exact_match import GoldQueryError, exact_match
    from t2s.evaluation.hardness import hardness

    schemas = load_tables(sample_dir / "tables.json")
    rejected = []
    for record in _all(records):
        schema = schemas[record["db_id"]]
        try:
            hardness(record["query"], schema)
        except GoldQueryError as exc:
            rejected.append(f"{record['db_id']}: {record['query']} ({exc.reason})")
            continue
        assert exact_match(record["query"], record["query"], schema), record["query"]
    assert rejected == []


def test_gold_sql_follows_spider_style(sample_dir: Path, records: dict[str, list[dict]]) -> None:
    columns = {name.lower() for entry in json.loads((sample_dir / "tables.json").read_text())
               for _, name in entry["column_names_original"]}
    for record in _all(records):
        query = record["query"]
        assert not query.rstrip().endswith(";") and "\n" not in query and "'" not in query
        assert query.startswith("SELECT ")
        for keyword in ("select", "from", "where", "join", "group by", "order by", "having"):
            assert f" {keyword} " not in f" {query} ", query  # keywords are upper-case
        for alias in re.findall(r"JOIN \w+ AS (\w+)", query) + re.findall(r"FROM \w+ AS (\w+)", query):
            assert re.fullmatch(r"T\d", alias), query
        for literal in re.findall(r'"([^"]*)"', query):
            assert literal.lower() not in columns, f"{literal!r} would read as a column: {query}"


def test_questions_are_filled_in(records: dict[str, list[dict]]) -> None:
    for record in _all(records):
        question = record["question"]
        assert "{" not in question and "}" not in question, question
        assert question[0].isupper() and question[-1] in "?.", question
        assert "  " not in question, question


def test_all_query_features_appear(records: dict[str, list[dict]]) -> None:
    text = "\n".join(r["query"] for r in _all(records))
    for feature in (" = ", " > ", " < ", " LIKE ", " BETWEEN ", " IN (", "COUNT(*)", "AVG(",
                    "MIN(", "MAX(", "SUM(", " JOIN ", "AS T3", "GROUP BY", "HAVING", "ORDER BY",
                    " LIMIT ", " DESC", "NOT IN (SELECT", "(SELECT AVG(", " UNION ",
                    " INTERSECT ", " EXCEPT ", "DISTINCT", "COUNT(DISTINCT"):
        assert feature in text, feature


def test_shapes_per_database(records: dict[str, list[dict]]) -> None:
    pairs = _all(records)
    for db_id in {r["db_id"] for r in pairs}:
        shapes = Counter(r["shape"] for r in pairs if r["db_id"] == db_id)
        assert set(shapes) == set(SHAPES), (db_id, shapes)


# ------------------------------------------------------------ determinism

def test_same_seed_gives_identical_output(sample_dir: Path, tmp_path: Path) -> None:
    again = write_sample_dataset(tmp_path / "again", seed=0)
    assert _digests(again) == _digests(sample_dir)
    for db_file in sorted((sample_dir / "database").glob("*/*.sqlite")):
        assert _dump(again / db_file.relative_to(sample_dir)) == _dump(db_file)


def test_output_does_not_depend_on_hash_seed(sample_dir: Path, tmp_path: Path) -> None:
    # A set iterated in hash order would change the output between processes.
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(SRC)}
    code = "import sys; from t2s.data.sample import write_sample_dataset; write_sample_dataset(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "other")], check=True, env=env)
    assert _digests(tmp_path / "other") == _digests(sample_dir)


def test_another_seed_gives_other_data(sample_dir: Path, tmp_path: Path) -> None:
    other = write_sample_dataset(tmp_path / "seed1", seed=1)
    assert (other / "train.json").read_bytes() != (sample_dir / "train.json").read_bytes()
    assert is_current(other, seed=1) and not is_current(other, seed=0)


# --------------------------------------------------------- ensure / write

def test_ensure_keeps_a_current_copy_and_repairs_a_stale_one(tmp_path: Path) -> None:
    root = ensure_sample_dataset(tmp_path / "data")
    first = (root / "train.json").stat().st_mtime_ns
    ensure_sample_dataset(root)
    assert (root / "train.json").stat().st_mtime_ns == first, "a current copy was rewritten"

    good = (root / "train.json").read_bytes()
    (root / "train.json").write_text("[]")
    assert not is_current(root)
    ensure_sample_dataset(root)
    assert (root / "train.json").read_bytes() == good

    (root / "database" / "clinic" / "clinic.sqlite").unlink()
    ensure_sample_dataset(root)
    assert (root / "database" / "clinic" / "clinic.sqlite").is_file()

    manifest = read_manifest(root)
    assert manifest is not None
    (root / "MANIFEST.json").write_text(json.dumps({**manifest, "generator_version": "0"}))
    assert not is_current(root)
    ensure_sample_dataset(root)
    assert is_current(root)


def test_ensure_is_safe_under_concurrency(tmp_path: Path) -> None:
    errors: list[Exception] = []

    def worker() -> None:
        try:
            ensure_sample_dataset(tmp_path / "shared")
        except Exception as exc:  # collected: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert is_current(tmp_path / "shared")


def test_write_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    root = write_sample_dataset(tmp_path / "data", seed=0)
    with pytest.raises(DataError, match="already holds a dataset"):
        write_sample_dataset(root, seed=1)
    (root / "notes.txt").write_text("mine")
    write_sample_dataset(root, seed=1, overwrite=True)
    assert is_current(root, seed=1)
    assert (root / "notes.txt").read_text() == "mine", "overwrite removed a file it did not write"


def test_ensure_never_overwrites_a_foreign_dataset(tmp_path: Path) -> None:
    foreign = tmp_path / "spider_copy"
    foreign.mkdir()
    (foreign / "tables.json").write_text("[]")
    (foreign / "dev.json").write_text("[]")
    with pytest.raises(DataError, match="did not write"):
        ensure_sample_dataset(foreign)
    assert (foreign / "tables.json").read_text() == "[]"
    assert sorted(p.name for p in foreign.iterdir()) == ["dev.json", "tables.json"]


def test_an_interrupted_write_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = ensure_sample_dataset(tmp_path / "data")

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "generate_pairs", crash)
    with pytest.raises(KeyboardInterrupt):
        write_sample_dataset(root, overwrite=True)
    assert is_generated(root) and not is_current(root)
    monkeypatch.undo()
    ensure_sample_dataset(root)
    assert is_current(root)


def test_write_into_a_file_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        write_sample_dataset(target)


# -------------------------------------------------------------------- CLI

def test_cli_writes_then_keeps_then_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "cli")
    assert cli.main(["sample-data", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "wrote the sample dataset" in printed and "concert_hall" in printed and "total" in printed
    assert cli.main(["sample-data", "--out", out]) == 0
    assert "already current" in capsys.readouterr().out
    assert cli.main(["sample-data", "--out", out, "--seed", "2"]) == 2
    assert "--force" in capsys.readouterr().err
    assert cli.main(["sample-data", "--out", out, "--seed", "2", "--force"]) == 0
    assert is_current(out, seed=2)
    # A stale copy of the same seed (older generator) is refreshed without --force,
    # so `make demo` can run the command every time.
    manifest = read_manifest(out)
    assert manifest is not None
    (Path(out) / "MANIFEST.json").write_text(json.dumps({**manifest, "generator_version": "0"}))
    assert cli.main(["sample-data", "--out", out, "--seed", "2"]) == 0
    assert "wrote" in capsys.readouterr().out and is_current(out, seed=2)


def test_package_import_is_light() -> None:
    code = ("import sys, t2s.data.sample, t2s.data.sample_command; "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={**os.environ, "PYTHONPATH": str(SRC)})


def test_an_edited_copy_is_never_regenerated(tmp_path, sample_dir):
    """cp -a the sample, edit a question: data.source=sample refuses, spider reads the edit."""
    import shutil

    from t2s.config import load_config
    from t2s.data.sources import open_dataset
    from t2s.errors import DataError

    copy = tmp_path / "mydata"
    shutil.copytree(sample_dir, copy)
    dev = copy / "dev.json"
    records = json.loads(dev.read_text(encoding="utf-8"))
    records[0]["question"] = "An edited question?"
    dev.write_text(json.dumps(records), encoding="utf-8")
    edited = dev.read_bytes()

    sample = load_config(None, [f"data.root={copy}", "data.source=sample"]).data
    with pytest.raises(DataError, match=r"copy of the sample dataset .*data\.source: spider"):
        open_dataset(sample)
    assert dev.read_bytes() == edited
    spider = load_config(None, [f"data.root={copy}", "data.source=spider"]).data
    assert open_dataset(spider).examples("dev.json")[0].question == "An edited question?"


def test_sample_data_refuses_a_folder_with_the_users_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "train.json"
    mine.write_bytes(b'[{"mine": true}]')
    assert cli.main(["sample-data", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds files t2s did not write" in err and "--force" in err
    assert mine.read_bytes() == b'[{"mine": true}]'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.json"]


def test_sample_data_rewrites_its_own_earlier_output(tmp_path: Path) -> None:
    out = str(tmp_path / "sample")
    assert cli.main(["sample-data", "--out", out]) == 0
    (tmp_path / "sample" / "dev.json").write_text("edited", encoding="utf-8")
    assert cli.main(["sample-data", "--out", out]) == 0  # stale, ours: refreshed
    assert is_current(out, 0)
    for fmt in ("wikisql", "bird"):
        folder = str(tmp_path / fmt)
        assert cli.main(["sample-data", "--format", fmt, "--out", folder]) == 0
        assert cli.main(["sample-data", "--format", fmt, "--out", folder]) == 0
