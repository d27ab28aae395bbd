"""Source adapters: WikiSQL, BIRD, files/hf through a column map, mixtures, contamination."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from t2s.config import EvalConfig, load_config
from t2s.data.prompts import SchemaTextCache
from t2s.data.sample.bird_fixture import write_bird_fixture
from t2s.data.sample.wikisql_fixture import write_wikisql_fixture
from t2s.data.sft import build_records
from t2s.data.sources import data_report, open_dataset
from t2s.data.wikisql import WikiTable, build_sql, quote_identifier
from t2s.errors import ConfigError, DataError
from t2s.sqlexec import run_query

ROOT = Path(__file__).resolve().parents[2]
BIRD_MINIDEV = ROOT.parent / "shared" / "data" / "bird_minidev"


def _data(tmp_path: Path, *overrides: str):
    return load_config(ROOT / "configs" / "tiny.yaml",
                       [f"data.prepared_dir={tmp_path / 'prepared'}", "train.load_best_model_at_end=false",
                        *overrides]).data


@pytest.fixture(scope="module")
def wikisql_dir(tmp_path_factory) -> Path:
    return write_wikisql_fixture(tmp_path_factory.mktemp("wikisql"))


@pytest.fixture(scope="module")
def bird_dir(tmp_path_factory) -> Path:
    return write_bird_fixture(tmp_path_factory.mktemp("bird"))


def _same(got: list, expected: list) -> bool:
    if len(got) != len(expected):
        return False
    for a, b in zip(got, expected, strict=True):
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
        if not (math.isclose(a, b) if numbers else a == b):
            return False
    return True


# ---------------------------------------------------------------------------- WikiSQL


def test_wikisql_fixture_has_the_real_files_shape(wikisql_dir):
    question = json.loads((wikisql_dir / "dev.jsonl").read_text().splitlines()[0])
    assert set(question) == {"phase", "table_id", "question", "sql"}
    assert set(question["sql"]) == {"sel", "agg", "conds"}
    table = json.loads((wikisql_dir / "dev.tables.jsonl").read_text().splitlines()[0])
    assert set(table) == {"header", "page_title", "types", "id", "section_title", "caption",
                          "rows", "name", "page_id"}
    assert len(table["id"].split("-")) == 3 and set(table["types"]) <= {"text", "real"}


@pytest.mark.parametrize("split", ["dev.jsonl", "test.jsonl"])  # dev: rows from tables.jsonl; test: from test.db
def test_wikisql_sql_executed_on_materialised_tables_returns_the_recorded_answer(
        tmp_path, wikisql_dir, split):
    data = _data(tmp_path, "data.source=wikisql", f"data.root={wikisql_dir}",
                 "data.train_file=train.jsonl", f"data.eval_file={split}")
    dataset = open_dataset(data)
    examples = dataset.examples(split)
    answers = [json.loads(line)["answer"]
               for line in (wikisql_dir / split.replace(".jsonl", ".answers.jsonl")).read_text().splitlines()]
    assert len(examples) == len(answers) > 20
    for example, expected in zip(examples, answers, strict=True):
        result = run_query(dataset.database_path(example.db_id), example.query)
        assert result.ok, (example.query, result.message)
        got = sorted((row[0] for row in result.rows), key=str)
        assert _same(got, expected), (example.question, example.query, got, expected)
    rows_from = dataset.info["report"]["db_rows_from"][split]
    assert rows_from == ("test.db" if split == "test.jsonl" else "dev.tables.jsonl")


def test_wikisql_tricky_rows_are_quoted_right(tmp_path, wikisql_dir):
    data = _data(tmp_path, "data.source=wikisql", f"data.root={wikisql_dir}",
                 "data.train_file=train.jsonl", "data.eval_file=dev.jsonl")
    queries = {e.question: e.query for e in open_dataset(data).examples("dev.jsonl")}
    assert queries["What is the home town of Shaquille O'Neal?"] == \
        "SELECT \"Home town\" FROM table_1_1000181_1 WHERE Name = 'Shaquille O''Neal'"
    assert queries["Who wears jersey 1990?"].endswith("WHERE Jersey = '1990'")  # text column
    assert queries["Who wears jersey 007?"].endswith("WHERE Jersey = '007'")
    assert queries["List every name."] == "SELECT Name FROM table_1_1000181_1"  # empty conds
    assert queries["What is the rank of the player from SOUTH AUSTRALIA?"].endswith(
        "\"Home town\" = 'South Australia'")  # the cell's spelling
    assert "Attendance > 10000" in queries["How many players had an attendance of more than 10,000?"]
    assert queries['What is the order of Dwayne "The Rock" Johnson?'].startswith('SELECT "Order" FROM')


def test_wikisql_categories_are_reported(tmp_path, wikisql_dir):
    data = _data(tmp_path, "data.source=wikisql", f"data.root={wikisql_dir}",
                 "data.train_file=train.jsonl", "data.eval_file=dev.jsonl")
    dataset = open_dataset(data)
    counts = dataset.info["report"]["categories"]["dev.jsonl"]
    assert set(counts) == {"simple", "filter", "aggregation"}
    assert sum(counts.values()) == len(dataset.examples("dev.jsonl"))


def test_build_sql_operator_tables_and_identifier_quoting():
    table = WikiTable("1-2-3", "table_1_2_3", ["Player", "No.", "Order"], ["text", "real", "text"],
                      [["Ann", 5, "x"]])
    assert build_sql(table, {"sel": 1, "agg": 5, "conds": [[1, 2, "7.5"], [0, 0, "ANN"]]}) == \
        "SELECT AVG(\"No.\") FROM table_1_2_3 WHERE \"No.\" < 7.5 AND Player = 'Ann'"
    assert quote_identifier("Order") == '"Order"' and quote_identifier("a b") == '"a b"'
    with pytest.raises(ValueError, match="sql.sel"):
        build_sql(table, {"sel": 9, "agg": 0, "conds": []})


def test_wikisql_bad_row_names_file_line_and_field(tmp_path, wikisql_dir):
    root = tmp_path / "w"
    shutil.copytree(wikisql_dir, root)
    lines = (root / "dev.jsonl").read_text().splitlines()
    broken = json.loads(lines[2])
    broken["sql"]["sel"] = 99
    lines[2] = json.dumps(broken)
    lines[4] = '{"phase": 1, "question": "no table"}'
    (root / "dev.jsonl").write_text("\n".join(lines) + "\n")
    data = _data(tmp_path, "data.source=wikisql", f"data.root={root}",
                 "data.train_file=train.jsonl", "data.eval_file=dev.jsonl")
    with pytest.raises(DataError, match=r"dev\.jsonl: line 3: 'sql\.sel' is 99"):
        open_dataset(data)
    data = _data(tmp_path, "data.source=wikisql", f"data.root={root}", "data.bad_rows=skip",
                 "data.train_file=train.jsonl", "data.eval_file=dev.jsonl")
    dataset = open_dataset(data)
    assert len(dataset.examples("dev.jsonl")) == len(lines) - 2
    (skip,) = dataset.info["skipped"]
    assert skip["skipped"] == 2 and "line 5: field 'table_id' is missing" in skip["first"][1]


# ---------------------------------------------------------------------------- BIRD


@pytest.fixture
def bird_minidev() -> Path:
    if not (BIRD_MINIDEV / "mini_dev_sqlite.json").is_file():
        pytest.skip(f"BIRD mini-dev not found at {BIRD_MINIDEV}")
    return BIRD_MINIDEV


def test_bird_minidev_loads_all_500_with_evidence_in_the_prompt(tmp_path, bird_minidev):
    data = _data(tmp_path, "data.source=bird", f"data.root={bird_minidev}",
                 "data.train_file=mini_dev_sqlite.json", "data.eval_file=null",
                 "data.tables_file=dev_tables_cleaned.json", "data.evidence=true")
    dataset = open_dataset(data)
    examples = dataset.examples("mini_dev_sqlite.json")
    assert len(examples) == 500
    assert {e.difficulty for e in examples} == {"simple", "moderate", "challenging"}
    assert len(dataset.schemas) == 11
    records = build_records(examples, SchemaTextCache(dataset.schemas), "inst", evidence=True)
    with_evidence = [(e, r) for e, r in zip(examples, records, strict=True) if e.evidence]
    assert len(with_evidence) > 450
    for example, record in with_evidence:
        assert f"Evidence: {' '.join(example.evidence.split())}\nQuestion: " in record["prompt"]
    first = records[0]["prompt"]
    assert "TABLE: customers (CustomerID (number), Segment (text), Currency (text))" in first
    off = build_records(examples[:5], SchemaTextCache(dataset.schemas), "inst", evidence=False)
    assert all("Evidence:" not in r["prompt"] for r in off)


def test_bird_minidev_exact_string_metrics_score_gold_as_gold(tmp_path, bird_minidev):
    from t2s.evaluation.inputs import gold_from_examples
    from t2s.evaluation.runner import evaluate_predictions

    data = _data(tmp_path, "data.source=bird", f"data.root={bird_minidev}",
                 "data.train_file=mini_dev_sqlite.json", "data.eval_file=null",
                 "data.tables_file=dev_tables_cleaned.json")
    dataset = open_dataset(data)
    examples = dataset.examples("mini_dev_sqlite.json")[:60]
    report = evaluate_predictions(
        gold_from_examples(examples), [e.query for e in examples], db_dir=dataset.database_dir,
        tables_path=dataset.tables_path, options=EvalConfig(etype="match"),
        out_path=tmp_path / "r" / "REPORT.json", workers=1, progress=False)
    summary = report["summary"]
    assert summary["string_match"]["accuracy"] == 1.0
    assert set(summary["by_difficulty"]) <= {"simple", "moderate", "challenging"}
    assert sum(g["count"] for g in summary["by_difficulty"].values()) == 60


def test_bird_fixture_execution_uses_set_semantics(tmp_path, bird_dir):
    from t2s.evaluation.inputs import gold_from_examples
    from t2s.evaluation.runner import evaluate_predictions

    data = _data(tmp_path, "data.source=bird", f"data.root={bird_dir}", "data.train_file=train.json",
                 "data.eval_file=dev.json", "data.tables_file=dev_tables.json",
                 "data.database_dir=dev_databases")
    dataset = open_dataset(data)
    examples = dataset.examples("dev.json")
    assert all(dataset.has_database(e.db_id) for e in examples)
    # --data-dir VIEW (infer, repl) opens the view whatever data.tables_file says.
    assert set(open_dataset(data, dataset.root).schemas) == set(dataset.schemas)
    single = next(e for e in examples if e.query.upper().startswith("SELECT COUNT(*) FROM")
                  and " WHERE " not in e.query.upper())
    table = single.query.split()[-1]
    column = dataset.schema(single.db_id).table(table).columns[0].name
    two = next(c.name for c in dataset.schema(single.db_id).table(table).columns[1:])
    gold = [
        single,  # duplicates: set semantics ignores them
        single.__class__(1, "q", f"SELECT {column} FROM {table} ORDER BY {column}", single.db_id),
        single.__class__(2, "q", f"SELECT {column}, {two} FROM {table}", single.db_id),
    ]
    preds = [f"SELECT COUNT(*) FROM {table} UNION ALL SELECT COUNT(*) FROM {table}",
             f"SELECT {column} FROM {table} ORDER BY {column} DESC",  # order differs
             f"SELECT {two}, {column} FROM {table}"]  # columns permuted

    def run(metric: str) -> list[bool]:
        report = evaluate_predictions(
            gold_from_examples(gold), preds, db_dir=dataset.database_dir,
            tables_path=dataset.tables_path, options=EvalConfig(etype="exec", exec_metric=metric),
            out_path=tmp_path / metric / "REPORT.json", workers=1, progress=False)
        return [e["execution_match"] for e in report["examples"]]

    assert run("bird") == [True, True, False]
    assert run("spider") == [False, False, True]


# ---------------------------------------------------------------------------- files / hf


@pytest.fixture
def inhouse(tmp_path, sample_dir) -> Path:
    """Sample dev pairs as JSONL/CSV/Parquet with other column names, and bare SQLite files."""
    import pandas as pd

    root = tmp_path / "inhouse"
    (root / "dbs").mkdir(parents=True)
    for db in (sample_dir / "database").iterdir():
        shutil.copyfile(db / f"{db.name}.sqlite", root / "dbs" / f"{db.name}.sqlite")
    rows = [{"nl": r["question"], "gold_sql": r["query"], "database": r["db_id"], "hint": "h"}
            for r in json.loads((sample_dir / "dev.json").read_text())]
    frame = pd.DataFrame(rows)
    frame.to_json(root / "train.jsonl", orient="records", lines=True)
    frame.to_csv(root / "dev.csv", index=False)
    frame.to_parquet(root / "dev.parquet")
    return root


COLUMNS = "data.columns={question: nl, sql: gold_sql, db_id: database, evidence: hint}"


@pytest.mark.parametrize("eval_file", ["dev.csv", "dev.parquet", "train.jsonl"])
def test_files_through_a_column_map(tmp_path, inhouse, eval_file):
    data = _data(tmp_path, "data.source=files", f"data.root={inhouse}", "data.train_file=train.jsonl",
                 f"data.eval_file={eval_file}", "data.database_dir=dbs", COLUMNS)
    dataset = open_dataset(data)
    examples = dataset.examples(eval_file)
    assert len(examples) > 50 and examples[0].evidence == "h"
    assert set(dataset.schemas) == {e.db_id for e in examples}  # introspected from SQLite
    for example in examples[:10]:
        assert run_query(dataset.database_path(example.db_id), example.query).ok


def test_files_column_map_errors(tmp_path, inhouse):
    data = _data(tmp_path, "data.source=files", f"data.root={inhouse}", "data.train_file=train.jsonl",
                 "data.eval_file=null", "data.database_dir=dbs",
                 "data.columns={question: nl, sql: SQL, db_id: database}")
    with pytest.raises(DataError, match=r"train\.jsonl: data\.columns\.sql='SQL' not a column "
                                        r"\(columns: nl, gold_sql, database, hint\)"):
        open_dataset(data)
    with pytest.raises(ConfigError, match=r"data\.columns\.questoin: unknown key; did you mean "
                                          r"'data\.columns\.question'"):
        _data(tmp_path, "data.columns={questoin: nl}")


def test_files_bad_rows_error_or_counted_skip(tmp_path, inhouse):
    lines = (inhouse / "train.jsonl").read_text().splitlines()
    lines[3] = json.dumps({"nl": "", "gold_sql": "SELECT 1", "database": "clinic", "hint": ""})
    (inhouse / "train.jsonl").write_text("\n".join(lines) + "\n")
    common = ["data.source=files", f"data.root={inhouse}", "data.train_file=train.jsonl",
              "data.eval_file=null", "data.database_dir=dbs", COLUMNS]
    with pytest.raises(DataError, match=r"train\.jsonl: row 3: field question \(column 'nl'\) "
                                        r"is empty"):
        open_dataset(_data(tmp_path, *common))
    dataset = open_dataset(_data(tmp_path, *common, "data.bad_rows=skip"))
    assert len(dataset.examples("train.jsonl")) == len(lines) - 1
    assert dataset.info["skipped"][0]["skipped"] == 1
    (inhouse / "train.jsonl").write_text("\n".join(lines[:5] + ["{broken"] + lines[5:]) + "\n")
    with pytest.raises(DataError, match=r"train\.jsonl: cannot be read as json: line 6: not valid JSON"):
        open_dataset(_data(tmp_path, *common))


def test_hf_saved_dataset_folder(tmp_path, inhouse):
    import datasets
    import pandas as pd

    frame = pd.read_csv(inhouse / "dev.csv")
    folder = tmp_path / "hf_saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frame),
                          "validation": datasets.Dataset.from_pandas(frame[:20])}
                         ).save_to_disk(str(folder))
    data = _data(tmp_path, "data.source=hf", f"data.root={folder}", "data.train_file=train",
                 "data.eval_file=validation", f"data.database_dir={inhouse / 'dbs'}", COLUMNS)
    dataset = open_dataset(data)
    assert len(dataset.examples("validation")) == 20
    assert dataset.split_path("validation").name == "validation.json"
    data = _data(tmp_path, "data.source=hf", f"data.root={folder}", "data.train_file=test",
                 f"data.database_dir={inhouse / 'dbs'}", COLUMNS)
    with pytest.raises(DataError, match=r"no split 'test' \(splits: train, validation\)"):
        open_dataset(data)
    with pytest.raises(DataError, match="t2s does not download"):
        open_dataset(_data(tmp_path, "data.source=hf", "data.root=nobody/no-such-dataset", COLUMNS))


# ---------------------------------------------------------------------------- mixtures


def test_mixture_counts_dedup_weights_and_contamination(tmp_path, sample_dir, bird_dir):
    sources = ("data.sources=["
               f"{{name: sample, source: spider, root: {sample_dir}, train_file: train.json, eval_file: dev.json}},"
               f"{{name: bird, source: bird, root: {bird_dir}, train_file: train.json, weight: 0.5,"
               "  tables_file: dev_tables.json, database_dir: dev_databases}]")
    data = _data(tmp_path, sources)
    dataset = open_dataset(data)
    report = dataset.info["report"]["sources"]
    sample_train = len(json.loads((sample_dir / "train.json").read_text()))
    assert report["sample"]["train"] == sample_train and report["sample"]["train_duplicates"] == 0
    # The BIRD fixture's train split is the sample's train split: all duplicates.
    assert report["bird"]["train_duplicates"] == sample_train and report["bird"]["train"] == 0
    assert dataset.info["report"]["duplicates_removed"] == sample_train
    train, dev = dataset.examples("train.json"), dataset.examples("dev.json")
    assert len(train) == sample_train and {e.source for e in train} == {"sample"}
    found = data_report(data, dataset, train, dev)["contamination"]
    assert found["shared_databases"] == sorted({e.db_id for e in dev})
    assert found["eval_examples_on_shared_databases"] == len(dev)


def test_mixture_weight_repeats_and_contamination_refusal(tmp_path, sample_dir):
    sources = ("data.sources=["
               f"{{name: a, source: spider, root: {sample_dir}, train_file: train.json, weight: 2}},"
               f"{{name: b, source: spider, root: {sample_dir}, eval_file: train.json}}]")
    data = _data(tmp_path, sources, "data.eval_file=dev.json")
    dataset = open_dataset(data)
    train, dev = dataset.examples("train.json"), dataset.examples("dev.json")
    assert len(train) == 2 * len(dev)
    report = data_report(data, dataset, train, dev)["contamination"]
    assert report["exact_questions"] == len(dev)
    with pytest.raises(DataError, match="train/eval contamination: .* also in train"):
        data_report(_data(tmp_path, sources, "data.contamination=error"), dataset, train, dev)


def test_near_duplicate_questions_are_found():
    from t2s.data.mixture import contamination
    from t2s.data.spider import Example

    train = [Example(0, "What is the name of the oldest singer?", "s", "a"),
             Example(1, "How many singers are there?", "s", "a")]
    evaluation = [Example(0, "what is the NAME of the oldest singer", "s", "a"),
                  Example(1, "What is the name of the oldest singer there?", "s", "a"),
                  Example(2, "How many singers do we have?", "s", "a"),
                  Example(3, "How many singers are there?", "s", "b")]  # another database
    found = contamination(train, evaluation)
    assert found["exact_questions"] == 1
    assert found["near_duplicate_questions"] == 1  # 7 shared of 8 words: Jaccard 0.875
    assert found["examples"][1] == {"eval": "What is the name of the oldest singer there?",
                                    "train": "What is the name of the oldest singer?",
                                    "db_id": "a", "kind": "near"}
    assert found["shared_databases"] == ["a"] and found["eval_examples_on_shared_databases"] == 3


def test_mixture_config_is_validated(tmp_path):
    with pytest.raises(ConfigError) as caught:
        _data(tmp_path, "data.sources=[{name: a, source: bird, root: x, weight: -1}, "
                        "{name: a, source: spider, root: y, eval_file: d.json}]")
    message = str(caught.value)
    assert "data.sources.0.train_file: neither train_file nor eval_file" in message
    assert "data.sources.0.weight: must be >= 0" in message
    assert "data.sources.1.name: 'a' is also source 0" in message
    assert "data.sources: no source has a train_file" in message


@pytest.mark.parametrize(("fmt", "expected"), [
    ("wikisql", {"train.jsonl", "dev.tables.jsonl", "test.db", "dev.answers.jsonl"}),
    ("bird", {"train.json", "dev.json", "dev_tables.json", "dev_databases"}),
])
def test_sample_data_writes_the_fixtures(tmp_path, fmt, expected, capsys):
    from t2s.cli import main

    assert main(["sample-data", "--format", fmt, "--out", str(tmp_path / fmt)]) == 0
    assert expected <= {p.name for p in (tmp_path / fmt).iterdir()}
    assert f"wrote the {fmt} fixture" in capsys.readouterr().out


def test_evaluate_refuses_exec_metric_flag_with_config(capsys):
    from t2s.cli import main

    assert main(["evaluate", "--config", str(ROOT / "configs" / "tiny.yaml"),
                 "--exec-metric", "bird"]) != 0
    assert "--exec-metric (use eval.exec_metric=...)" in capsys.readouterr().err


def test_a_view_is_reused_until_an_input_changes(tmp_path, wikisql_dir):
    root = tmp_path / "w"
    shutil.copytree(wikisql_dir, root)
    data = _data(tmp_path, "data.source=wikisql", f"data.root={root}",
                 "data.train_file=train.jsonl", "data.eval_file=dev.jsonl")
    first = open_dataset(data)
    marker = first.root / "database" / ".built" / "dev.sqlite"
    stamp = marker.stat().st_mtime_ns
    assert open_dataset(data).root == first.root and marker.stat().st_mtime_ns == stamp
    tables = (root / "dev.tables.jsonl").read_text().splitlines()
    table = json.loads(tables[0])
    table["rows"][0][0] = "Changed"
    (root / "dev.tables.jsonl").write_text("\n".join([json.dumps(table), *tables[1:]]) + "\n")
    second = open_dataset(data)
    assert second.root != first.root
    assert second.info["inputs"] != first.info["inputs"]


@pytest.mark.parametrize(("name", "content", "where"), [
    ("train.jsonl", b'{"nl": "How many?", "gold_sql": "SELECT 1", "database": "clinic"}\n'
                    b'{"nl": "caf\xe9", "gold_sql": "SELECT 1", "database": "clinic"}\n',
     r"byte offset 77 \(line 2, column 12, byte 0xe9\)"),
    ("dev.csv", b"nl,gold_sql,database\nHow many?,SELECT 1,clinic\ncaf\xe9,SELECT 1,clinic\n",
     r"byte offset 50 \(line 3, column 4, byte 0xe9\)"),
])
def test_a_non_utf8_byte_in_a_files_source_names_file_line_and_offset(tmp_path, inhouse, name,
                                                                      content, where):
    """pyarrow read the bad byte and raised UnicodeDecodeError later (JSON) or a bare
    "error while generating the dataset" (CSV)."""
    (inhouse / name).write_bytes(content)
    data = _data(tmp_path, "data.source=files", f"data.root={inhouse}", f"data.train_file={name}",
                 "data.eval_file=null", "data.database_dir=dbs", COLUMNS)
    with pytest.raises(DataError, match=rf"{name}: not valid UTF-8 at {where}; re-encode"):
        open_dataset(data)


def test_utf8_check_reads_in_blocks_and_counts_across_them(tmp_path, monkeypatch):
    from t2s.data import files

    monkeypatch.setattr(files, "_UTF8_BLOCK", 3)  # characters and lines cut by blocks
    path = tmp_path / "x.csv"
    path.write_bytes("é€\nab€cd\nxyz".encode() + b"\xff\n")
    with pytest.raises(DataError, match=r"byte offset 17 \(line 3, column 4, byte 0xff\)"):
        files.check_utf8(path)
    path.write_bytes("é€\nab€cd\nxyz\n".encode())
    files.check_utf8(path)  # valid throughout: no error


def test_a_question_over_its_limit_is_a_bad_row(tmp_path, inhouse):
    """A 100 MB question took training past 8 GB: refused at load, before tokenizing."""
    from t2s.data.spider import MAX_QUESTION_CHARS

    lines = (inhouse / "train.jsonl").read_text().splitlines()
    lines[2] = json.dumps({"nl": "x" * (MAX_QUESTION_CHARS + 1), "gold_sql": "SELECT 1",
                           "database": "clinic"})
    (inhouse / "train.jsonl").write_text("\n".join(lines) + "\n")
    common = ["data.source=files", f"data.root={inhouse}", "data.train_file=train.jsonl",
              "data.eval_file=null", "data.database_dir=dbs", COLUMNS]
    with pytest.raises(DataError, match=rf"train\.jsonl: row 2: question is "
                                        rf"{MAX_QUESTION_CHARS + 1:,} characters, over the limit"):
        open_dataset(_data(tmp_path, *common))
    dataset = open_dataset(_data(tmp_path, *common, "data.bad_rows=skip"))
    assert len(dataset.examples("train.jsonl")) == len(lines) - 1
