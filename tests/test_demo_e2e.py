"""The demo path end to end, shortened: train -> evaluate (a real model) -> infer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t2s.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_train_evaluate_infer_on_the_tiny_preset(sample_dir, tiny_base_dir, tiny_overrides,
                                                 tmp_path, capsys):
    run = tmp_path / "run"
    common = [f"data.root={sample_dir}", f"model.tiny.base_dir={tiny_base_dir}",
              f"train.output_dir={run}", f"infer.adapter_path={run / 'final_model'}",
              f"eval.report_dir={tmp_path / 'eval'}", "train.report_to=[]",
              "train.max_seq_length=512", "data.max_eval_examples=12", "infer.max_new_tokens=48",
              *tiny_overrides]
    config = ["--config", str(ROOT / "configs" / "tiny.yaml")]

    assert main(["train", *config, *common, "train.max_steps=4", "train.eval_steps=2",
                 "train.save_steps=2"]) == 0
    assert (run / "final_model" / "adapter_model.safetensors").is_file()

    assert main(["evaluate", *config, *common, "--no-progress"]) == 0
    report = json.loads((tmp_path / "eval" / "REPORT.json").read_text())
    assert report["summary"]["count"] == 12
    assert [e["index"] for e in report["examples"]] == list(range(12))
    assert all(e["question"] and e["gold"] for e in report["examples"])
    assert all(isinstance(e["execution_match"], bool) for e in report["examples"])
    manifest = report["manifest"]
    assert manifest["model"]["adapter_sha256"]
    assert manifest["model"]["decoding"]["max_new_tokens"] == 48
    predictions = (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 12

    capsys.readouterr()
    assert main(["infer", *config, *common, "--db-id", "university", "--data-dir",
                 str(sample_dir), "--execute", "How many students are there?"]) == 0
    out = capsys.readouterr().out
    assert out.strip(), "infer printed nothing"
