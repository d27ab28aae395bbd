"""Best checkpoint by execution accuracy (``train.metric_for_best_model: eval_ex``)."""

from __future__ import annotations

import json

import pytest

from t2s.config import load_config
from t2s.errors import ConfigError


def test_eval_ex_needs_an_eval_split():
    with pytest.raises(ConfigError, match="eval_ex needs an evaluation split"):
        load_config(None, ["train.metric_for_best_model=eval_ex", "data.eval_file=null",
                           "train.load_best_model_at_end=false"])


@pytest.mark.slow
def test_eval_ex_is_logged_and_chooses_the_best_checkpoint(make_config):
    from t2s.training.train import train

    config = make_config("train.metric_for_best_model=eval_ex", "train.ex_eval_examples=4",
                         "data.max_eval_examples=6", "train.max_steps=4", "train.eval_steps=2",
                         "train.save_steps=2", "infer.max_new_tokens=24",
                         "train.per_device_train_batch_size=4",
                         "train.gradient_accumulation_steps=1")
    result = train(config)
    history = json.loads((result.output_dir / "run_info.json").read_text())["log_history"]
    ex = {h["step"]: h["eval_ex"] for h in history if "eval_ex" in h}
    assert sorted(ex) == [2, 4]
    assert all(0.0 <= v <= 1.0 for v in ex.values())
    assert any("eval_loss" in h for h in history)
    # The Trainer kept the best by eval_ex (greater is better; the first of ties).
    assert result.best_metric == max(ex.values()) and result.best_metric_name == "eval_ex"
    assert (result.output_dir / "loss_curve.png").is_file()
