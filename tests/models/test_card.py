"""The model card t2s writes into final_model/ (fast: no model; the real one is in
test_real_model.py)."""

from __future__ import annotations

import json

from conftest import ROOT
from t2s.config import load_config, to_dict
from t2s.models.card import CARD_FILE, FACTS_FILE, record_evaluation, write_training_card


def _run_info(base: str) -> dict:
    return {"config": to_dict(load_config(ROOT / "configs" / "tiny.yaml")), "base_model": base,
            "precision": "fp32", "data_fingerprints": {"train.json": "f" * 64},
            "data": {"source": "sample"},
            "lengths": [{"split": "train", "kept": 9, "total": 10, "max_length": 384,
                         "longest": 401}],
            "result": {"global_step": 7, "train_tokens": 12345, "seconds": 10.0,
                       "train_loss": 1.25, "best_metric": {"eval_loss": 1.5}},
            "environment": {"packages": {"t2s": "0.1.0"}, "git_commit": "abc123",
                            "time_utc": "2026-12-02T00:00:00+00:00"}}


def _report(execution: float) -> dict:
    stats = {"count": 4, "execution": {"correct": int(4 * execution), "accuracy": execution},
             "exact_match": {"correct": 1, "accuracy": 0.25}}
    return {"summary": {**stats, "by_hardness": {"easy": stats}},
            "manifest": {"created_at": "2026-12-02T01:00:00+00:00",
                         "model": {"decoding": {"max_new_tokens": 96}}}}


def test_the_card_states_the_run_and_evaluate_replaces_its_metrics(tmp_path):
    model = tmp_path / "final_model"
    model.mkdir()
    (model / CARD_FILE).write_text("[More Information Needed]")  # PEFT's template
    write_training_card(model, _run_info("outputs/tiny_base/x"), "tiny:x")
    card = (model / CARD_FILE).read_text()
    assert "[More Information Needed]" not in card
    assert "`outputs/tiny_base/x` (t2s fingerprint `tiny:x`)" in card
    assert f"| `train.json` | `{'f' * 64}` |" in card
    assert "train: 9 of 10 examples fit 384 tokens (longest 401)" in card
    assert "LoRA r=8, alpha=16" in card and "7 optimizer steps, 12,345 tokens seen" in card
    assert "Not evaluated yet" in card
    assert record_evaluation(model, _report(0.5), "`dev.json`", "r/REPORT.json") == model / CARD_FILE
    assert record_evaluation(model, _report(0.75), "`dev.json`", "r/REPORT.json") == model / CARD_FILE
    card = (model / CARD_FILE).read_text()
    # The latest evaluation only, not a history of them.
    assert "4 questions of `dev.json`: execution accuracy 75.0%, exact set match 25.0%" in card
    assert "50.0%" not in card and "Not evaluated yet" not in card
    assert "| easy | 4 | 75.0 | 25.0 |" in card
    assert json.loads((model / FACTS_FILE).read_text())["evaluation"]["execution"] == 0.75


def test_evaluate_leaves_a_folder_t2s_did_not_train_alone(tmp_path):
    base = tmp_path / "base"  # e.g. a converted base scored zero-shot
    base.mkdir()
    (base / CARD_FILE).write_text("upstream card")
    assert record_evaluation(base, _report(0.5), "`dev.json`", "r/REPORT.json") is None
    assert (base / CARD_FILE).read_text() == "upstream card"
    assert not (base / FACTS_FILE).exists()


def test_a_damaged_facts_file_leaves_the_card_alone_with_a_warning(tmp_path, caplog):
    model = tmp_path / "final_model"
    model.mkdir()
    (model / FACTS_FILE).write_text("{not json", encoding="utf-8")
    assert record_evaluation(model, _report(0.5), "`dev.json`", "r/REPORT.json") is None
    assert not (model / CARD_FILE).exists()
    assert "could not read the model card facts" in caplog.text
