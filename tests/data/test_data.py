"""Spider-format loading, schema text and prompt layout (no model needed)."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from t2s.config import PromptConfig
from t2s.data.prompts import SchemaTextCache, build_completion, build_prompt, normalize_sql
from t2s.data.schema_text import introspect_sqlite, sample_values, serialize_schema, spider_type
from t2s.data.spider import (
    MAX_QUESTION_CHARS,
    MAX_SQL_CHARS,
    SpiderDataset,
    check_db_id,
    database_path,
    load_examples,
    load_tables,
)
from t2s.errors import DataError


def test_real_spider_loads(spider_dir):
    dataset = SpiderDataset(spider_dir)
    assert len(dataset.schemas) == 166
    dev = dataset.examples("dev.json")
    assert len(dev) == 1034
    assert dev[0].db_id == "concert_singer" and dev[0].query.startswith("SELECT count(*)")
    train = dataset.examples("train_spider_min.json")
    assert len(train) == 7000
    assert dataset.has_database("concert_singer")
    assert not dataset.has_database("wta_1")  # missing from this copy, per its README


def test_missing_database_and_unknown_db_id_are_clear_errors(spider_dir):
    dataset = SpiderDataset(spider_dir)
    with pytest.raises(DataError, match="no database for db_id 'wta_1'"):
        dataset.database_path("wta_1")
    with pytest.raises(DataError, match="'nope' is not in"):
        dataset.schema("nope")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "..", "", "x y", "a\0b"])
def test_unsafe_db_ids_are_refused(bad, tmp_path):
    with pytest.raises(DataError, match="invalid db_id"):
        check_db_id(bad)
    with pytest.raises(DataError):
        database_path(tmp_path, bad)


def test_missing_files_and_fields(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        SpiderDataset(tmp_path / "nowhere")
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps([{"question": "q", "db_id": "x"}]))
    with pytest.raises(DataError, match="record 0 is missing query"):
        load_examples(bad)
    bad.write_text("[{")
    with pytest.raises(DataError, match="not valid JSON"):
        load_examples(bad)
    bad.write_text("[" * 100_000)  # past Python's recursion limit: an error, not a crash
    with pytest.raises(DataError, match="q.json: nested too deeply"):
        load_examples(bad)
    bad.write_text(json.dumps([{"question": 7, "query": "SELECT 1", "db_id": "x"}]))
    with pytest.raises(DataError, match="record 0: question must be a string"):
        load_examples(bad)


def test_a_question_or_sql_over_its_limit_is_refused_at_load(tmp_path):
    """A 100 MB question took a training job past 8 GB: refused before tokenizing."""
    path = tmp_path / "q.json"
    for key, limit, name in (("question", MAX_QUESTION_CHARS, "MAX_QUESTION_CHARS"),
                             ("query", MAX_SQL_CHARS, "MAX_SQL_CHARS")):
        record = {"question": "q?", "query": "SELECT 1", "db_id": "x", key: "x" * limit}
        path.write_text(json.dumps([record]))
        assert len(load_examples(path)) == 1  # at the limit: fine
        record[key] += "x"
        path.write_text(json.dumps([record]))
        with pytest.raises(DataError, match=rf"record 0: {key} is {limit + 1:,} characters, over "
                                            rf"the limit of {limit:,} \(t2s.data.spider.{name}\)"):
            load_examples(path)


@pytest.mark.parametrize(("change", "message"), [
    (lambda e: e.pop("column_types"), "entry 1 (db_id 'b'): missing key 'column_types'"),
    (lambda e: e.update(column_types=["text"]), "entry 1 (db_id 'b'): 2 column_names_original "
                                                 "but 1 column_types"),
    (lambda e: e.update(column_names_original=[[-1, "*"], [5, "x"]]),
     "entry 1 (db_id 'b'): column 1 ('x') names table 5, but there are 1 tables"),
    (lambda e: e.update(column_names_original=[[-1, "*"], "x"]),
     "entry 1 (db_id 'b'): column 1 is 'x', not [table index, name]"),
])
def test_a_malformed_tables_entry_names_the_file_and_entry(change, message, tmp_path):
    def entry(db_id):
        return {"db_id": db_id, "table_names_original": ["t"],
                "column_names_original": [[-1, "*"], [0, "x"]], "column_types": ["text", "text"]}

    entries = [entry("a"), entry("b")]
    change(entries[1])
    path = tmp_path / "tables.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(DataError) as raised:
        load_tables(path)
    assert str(raised.value) == f"{path}: {message}"
    path.write_text(json.dumps([entry("a"), ["not", "an", "object"]]))
    with pytest.raises(DataError, match=r"tables.json: entry 1: a list, not an object"):
        load_tables(path)


def test_schema_text_layout(spider_dir):
    schema = SpiderDataset(spider_dir).schema("concert_singer")
    text = serialize_schema(schema)
    lines = text.splitlines()
    assert lines[0] == ("TABLE: stadium (Stadium_ID (number), Location (text), Name (text), "
                        "Capacity (number), Highest (number), Lowest (number), Average (number))")
    assert len(lines) == len(schema.tables)
    keyed = serialize_schema(schema, include_keys=True)
    assert "PRIMARY KEY: stadium (Stadium_ID)" in keyed
    assert "FOREIGN KEY: concert.Stadium_ID -> stadium.Stadium_ID" in keyed


def test_sample_values_are_deterministic_and_read_only(spider_dir):
    dataset = SpiderDataset(spider_dir)
    schema = dataset.schema("concert_singer")
    path = dataset.database_path("concert_singer")
    before = path.read_bytes()
    first = sample_values(path, schema, 2)
    assert first == sample_values(path, schema, 2)
    assert first[("singer", "Country")] == ["France", "Netherlands"]
    text = serialize_schema(schema, samples=first)
    assert "Country (text, e.g. 'France', 'Netherlands')" in text
    assert path.read_bytes() == before


def test_introspection_matches_tables_json(spider_dir, tmp_path):
    dataset = SpiderDataset(spider_dir)
    copy = tmp_path / "concert_singer.sqlite"
    shutil.copy(dataset.database_path("concert_singer"), copy)
    live = introspect_sqlite(copy)
    declared = dataset.schema("concert_singer")
    assert [t.name.lower() for t in live.tables] == [t.name.lower() for t in declared.tables]
    assert live.table("singer").primary_keys == ("Singer_ID",)
    assert any(fk.table == "concert" and fk.ref_table == "stadium" for fk in live.foreign_keys)


def test_introspection_rejects_non_sqlite(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DataError, match="not an SQLite database"):
        introspect_sqlite(junk)
    with pytest.raises(DataError, match="does not exist"):
        introspect_sqlite(tmp_path / "missing.sqlite")
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    with pytest.raises(DataError, match="has no tables"):
        introspect_sqlite(empty)


@pytest.mark.parametrize(("declared", "word"), [
    ("INTEGER", "number"), ("varchar(30)", "text"), ("DATETIME", "time"), ("REAL", "number"),
    ("BOOLEAN", "boolean"), ("", "text"), ("BLOB", "others")])
def test_spider_type_words(declared, word):
    assert spider_type(declared) == word


def test_prompt_layout_ends_on_inst_and_completion_starts_with_separator():
    prompt = build_prompt("How many singers?", "TABLE: singer (Name (text))")
    assert prompt.startswith("[INST] Generate a SQLite query")
    assert "\nSchema:\nTABLE: singer (Name (text))\nQuestion: How many singers? [/INST]" in prompt
    assert prompt.endswith("[/INST]")
    assert build_completion("SELECT  count(*)  FROM singer ;") == " SELECT count(*) FROM singer"
    newline = PromptConfig(completion_separator="\n")
    assert build_completion("SELECT 1", prompt=newline) == "\nSELECT 1"
    chat = build_prompt("q?", "TABLE: t (a (text))", prompt_format="chat_template")
    assert chat[0]["role"] == "user" and "Question: q?" in chat[0]["content"]


def test_normalize_sql_keeps_literals():
    assert normalize_sql("SELECT *  FROM t WHERE a = 'x   y'") == "SELECT * FROM t WHERE a = 'x   y'"
    assert normalize_sql('SELECT "a  b"\n FROM t;') == 'SELECT "a  b" FROM t'


def test_schema_text_cache_renders_each_db_once(spider_dir):
    dataset = SpiderDataset(spider_dir)
    cache = SchemaTextCache(dataset.schemas, dataset.database_dir)
    assert cache.text("concert_singer") is cache.text("concert_singer")


def test_a_database_linked_from_outside_the_data_root_is_refused(tmp_path, sample_dir):
    import shutil

    from t2s.data.spider import database_path

    outside = tmp_path / "elsewhere" / "clinic"
    shutil.copytree(sample_dir / "database" / "clinic", outside)
    databases = tmp_path / "data" / "database"
    databases.mkdir(parents=True)
    (databases / "clinic").symlink_to(outside, target_is_directory=True)
    with pytest.raises(DataError, match="outside"):
        database_path(databases, "clinic")
    # A linked database folder as a whole is fine: everything resolves inside it.
    (tmp_path / "linked").symlink_to(sample_dir / "database", target_is_directory=True)
    assert database_path(tmp_path / "linked", "clinic").is_file()
