"""Every source end to end: train -> evaluate (model, then the prediction files) -> infer --input.

One tiny run per source (2 steps, a few eval questions): Spider, the sample
data, the WikiSQL fixture, BIRD mini-dev (no databases: exact/string match
only) and the BIRD-shaped fixture, JSONL/CSV/Parquet files through a column
map, a saved ``datasets`` folder, and a mixture.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from t2s.cli import main

ROOT = Path(__file__).resolve().parents[2]
BIRD_MINIDEV = ROOT.parent / "shared" / "data" / "bird_minidev"
COLUMNS = "data.columns={question: nl, sql: gold_sql, db_id: database, evidence: hint}"


def _inhouse(tmp_path: Path, sample_dir: Path) -> Path:
    import datasets
    import pandas as pd

    root = tmp_path / "inhouse"
    shutil.copytree(sample_dir / "database", root / "database")
    frames = {}
    for split in ("train", "dev"):
        frames[split] = pd.DataFrame(
            [{"nl": r["question"], "gold_sql": r["query"], "database": r["db_id"], "hint": None}
             for r in json.loads((sample_dir / f"{split}.json").read_text())])
    frames["train"].to_json(root / "train.jsonl", orient="records", lines=True)
    frames["dev"].to_csv(root / "dev.csv", index=False)
    frames["dev"].to_parquet(root / "dev.parquet")
    datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frames["train"]),
                          "validation": datasets.Dataset.from_pandas(frames["dev"])}
                         ).save_to_disk(str(root / "hf"))
    return root


def _source(name: str, tmp_path: Path, sample_dir: Path) -> tuple[list[str], str]:
    """Overrides for source ``name`` and the etype its data allows."""
    if name == "sample":
        return [f"data.root={sample_dir}"], "all"
    if name == "spider":
        spider = ROOT.parent / "shared" / "data" / "spider"
        if not (spider / "tables.json").is_file():
            pytest.skip("Spider data not found")
        return ["data.source=spider", f"data.root={spider}", "data.train_file=train_spider_min.json",
                "data.max_train_examples=64", "train.max_seq_length=1024",
                "model.tiny.max_position_embeddings=1024"], "all"
    if name == "wikisql":
        from t2s.data.sample.wikisql_fixture import write_wikisql_fixture

        root = write_wikisql_fixture(tmp_path / "wikisql")
        return ["data.source=wikisql", f"data.root={root}", "data.train_file=train.jsonl",
                "data.eval_file=dev.jsonl"], "exec"
    if name == "bird_fixture":
        from t2s.data.sample.bird_fixture import write_bird_fixture

        root = write_bird_fixture(tmp_path / "bird")
        return ["data.source=bird", f"data.root={root}", "data.train_file=train.json",
                "data.eval_file=dev.json", "data.tables_file=dev_tables.json",
                "data.database_dir=dev_databases", "data.evidence=true"], "all"
    if name == "bird_minidev":
        if not (BIRD_MINIDEV / "mini_dev_sqlite.json").is_file():
            pytest.skip("BIRD mini-dev not found")
        return ["data.source=bird", f"data.root={BIRD_MINIDEV}",
                "data.train_file=mini_dev_sqlite.json", "data.eval_file=mini_dev_sqlite.json",
                "data.tables_file=dev_tables_cleaned.json", "data.evidence=true",
                "data.max_train_examples=32", "data.contamination=ignore",
                "train.max_seq_length=2048", "model.tiny.max_position_embeddings=2048"], "match"
    inhouse = _inhouse(tmp_path, sample_dir)
    if name in ("jsonl_csv", "jsonl_parquet"):
        dev = "dev.csv" if name == "jsonl_csv" else "dev.parquet"
        return ["data.source=files", f"data.root={inhouse}", "data.train_file=train.jsonl",
                f"data.eval_file={dev}", COLUMNS], "all"
    if name == "hf":
        return ["data.source=hf", f"data.root={inhouse / 'hf'}", "data.train_file=train",
                "data.eval_file=validation", f"data.database_dir={inhouse / 'database'}",
                COLUMNS], "all"
    assert name == "mixture"
    return ["data.sources=["
            f"{{name: sample, source: spider, root: {sample_dir}, train_file: train.json, eval_file: dev.json}},"
            f"{{name: inhouse, source: files, root: {inhouse}, train_file: train.jsonl, weight: 0.5}}]",
            COLUMNS], "all"


SOURCES = ["sample", "spider", "wikisql", "bird_fixture", "bird_minidev", "jsonl_csv",
           "jsonl_parquet", "hf", "mixture"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SOURCES)
def test_train_evaluate_infer_on_each_source(name, sample_dir, tiny_base_dir, tiny_overrides,
                                             tmp_path, capsys):
    overrides, etype = _source(name, tmp_path, sample_dir)
    run = tmp_path / "run"
    common = [f"model.tiny.base_dir={tiny_base_dir}", f"train.output_dir={run}",
              f"infer.adapter_path={run / 'final_model'}", f"eval.report_dir={tmp_path / 'eval'}",
              f"data.prepared_dir={tmp_path / 'prepared'}", "train.report_to=[]",
              "train.max_seq_length=512", "data.max_eval_examples=6", "infer.max_new_tokens=24",
              f"eval.etype={etype}", "train.load_best_model_at_end=false",
              *tiny_overrides, *overrides]
    config = ["--config", str(ROOT / "configs" / "tiny.yaml")]

    assert main(["train", *config, *common, "train.max_steps=2", "train.eval_steps=2",
                 "train.save_steps=2"]) == 0
    info = json.loads((run / "run_info.json").read_text())
    assert info["data"]["source"] == ("mixture" if name == "mixture" else
                                      overrides[0].split("=")[1] if "data.source" in overrides[0]
                                      else "sample")
    if name == "mixture":
        assert set(info["data"]["view"]["report"]["sources"]) == {"sample", "inhouse"}
        assert "contamination" in info["data"]

    assert main(["evaluate", *config, *common, "--no-progress", "--skip-missing-db"]) == 0
    report = json.loads((tmp_path / "eval" / "REPORT.json").read_text())
    assert report["summary"]["count"] == 6
    if name.startswith("bird"):
        assert sum(g["count"] for g in report["summary"]["by_difficulty"].values()) == 6
    if name == "bird_fixture":
        assert report["manifest"]["flags"]["exec_metric"] == "bird"

    # The prediction files, scored again without the model: same verdicts. The
    # view's split file holds every eval example; the model answered the first 6.
    gold = Path(report["manifest"]["data"]["gold"]["path"])
    view = gold.parent
    gold6 = tmp_path / "gold6.json"
    gold6.write_text(json.dumps(json.loads(gold.read_text())[:6]))
    assert main(["evaluate", "--gold", str(gold6), "--pred", str(tmp_path / "eval" / "predictions.jsonl"),
                 "--db", str(view / "database"), "--table", str(view / "tables.json"),
                 "--etype", etype, "--out", str(tmp_path / "files" / "REPORT.json"),
                 "--skip-missing-db", "--no-progress",
                 *(["--exec-metric", "bird"] if name == "bird_fixture" else [])]) == 0
    again = json.loads((tmp_path / "files" / "REPORT.json").read_text())
    key = "execution_match" if etype == "exec" else "string_match"
    assert [e[key] for e in again["examples"]] == [e[key] for e in report["examples"]]

    records = json.loads(gold.read_text())[:3]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"id": f"q{i}", "question": r["question"],
                                             "db_id": r["db_id"], "evidence": r.get("evidence")}) + "\n"
                                 for i, r in enumerate(records)))
    answers = tmp_path / "answers.jsonl"
    capsys.readouterr()
    assert main(["infer", *config, *common, "--input", str(questions), "--output", str(answers)]) == 0
    rows = [json.loads(line) for line in answers.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q0", "q1", "q2"]
    assert all(r["error"] is None for r in rows), rows
