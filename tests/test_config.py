"""Config schema: every shipped YAML parses; errors list every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2s.config import Config, load_config, parse_override, read_yaml, resolve_precision
from t2s.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_parses(path):
    config = load_config(path)
    assert isinstance(config, Config)


def test_seed_values_in_config_yaml():
    config = load_config(ROOT / "configs" / "config.yaml")
    assert config.model.name_or_path == "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
    assert (config.lora.r, config.lora.alpha, config.lora.dropout) == (8, 16, 0.05)
    assert config.lora.target_modules == ["q_proj", "v_proj"]
    assert config.train.max_seq_length == 1024
    assert config.train.gradient_accumulation_steps == 4
    assert (config.train.logging_steps, config.train.eval_steps, config.train.save_steps) == (25, 250, 250)
    assert config.train.load_best_model_at_end and config.train.metric_for_best_model == "eval_loss"


def test_precedence_defaults_yaml_cli(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("train:\n  learning_rate: 0.1\n  logging_steps: 7\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\ntrain:\n  logging_steps: 9\n")
    config = load_config(child, ["train.logging_steps=11", "lora.target_modules=[a, b]"])
    assert config.train.learning_rate == 0.1          # from the parent YAML
    assert config.train.logging_steps == 11           # CLI beats YAML
    assert config.lora.target_modules == ["a", "b"]
    assert config.train.eval_steps == 250             # dataclass default


def test_all_problems_reported_once_with_file_key_and_suggestion(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  lerning_rate: 0.1\n  logging_steps: many\nmodle:\n  r: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, ["data.schema.sample_values=-1", "train.precision=int4"])
    message = str(info.value)
    assert message.startswith("5 configuration problems")
    assert f"{path}: train.lerning_rate: unknown key; did you mean 'train.learning_rate'?" in message
    assert f"{path}: train.logging_steps: expected an integer" in message
    assert "did you mean 'model'?" in message
    assert "command line: train.precision: must be one of" in message
    assert "data.schema.sample_values: must be >= 0" in message


def test_save_steps_must_be_multiple_of_eval_steps_with_best_model():
    with pytest.raises(ConfigError, match="train.save_steps: must be a multiple of train.eval_steps"):
        load_config(None, ["train.eval_steps=100", "train.save_steps=250"])
    load_config(None, ["train.eval_steps=100", "train.save_steps=300"])


def test_eval_steps_without_eval_split_is_refused():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["data.eval_file=null", "train.eval_steps=10"])
    assert "train.eval_steps: set, but there is no evaluation split" in str(info.value)
    assert "load_best_model_at_end: needs an evaluation split" in str(info.value)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("train: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(path)


def test_circular_extends(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="circular"):
        read_yaml(tmp_path / "a.yaml")


def test_override_parsing():
    assert parse_override("train.max_steps=20") == (["train", "max_steps"], 20)
    assert parse_override("data.eval_file=null") == (["data", "eval_file"], None)
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_override("train.max_steps")


@pytest.mark.parametrize(("requested", "cuda", "bf16", "expected"), [
    ("auto", False, False, "fp32"),
    ("auto", True, True, "bf16"),
    ("auto", True, False, "fp16"),
    ("fp32", True, True, "fp32"),
])
def test_precision_follows_hardware(requested, cuda, bf16, expected):
    assert resolve_precision(requested, cuda, bf16) == expected


def test_bf16_on_cpu_is_refused_with_advice():
    with pytest.raises(ConfigError, match="no bf16-capable GPU; use auto or fp32"):
        resolve_precision("bf16", cuda_available=False, bf16_supported=False)


def test_a_dumped_config_loads_back_unchanged(tmp_path):
    from t2s.config import dump_yaml, to_dict

    config = load_config(ROOT / "configs" / "tiny.yaml",
                         ["data.eval_file=null", "train.load_best_model_at_end=false"])
    dump_yaml(config, tmp_path / "resolved.yaml")
    assert to_dict(load_config(tmp_path / "resolved.yaml")) == to_dict(config)


def test_a_non_utf8_config_names_the_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"train:\n  max_steps: 3\n\xff\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:3: not valid UTF-8 \(byte 0xff\)"):
        load_config(path)


def test_train_checks_join_the_config_problems_in_one_message(tmp_path):
    import torch

    from t2s.train import preflight_checks

    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text("extends: " + str(Path("configs/tiny.yaml").resolve()) +
                         "\nlora:\n  target_modules: [q_proj, query_key_value]\n")
    with pytest.raises(ConfigError) as err:
        load_config(yaml_path, ["lora.rr=1", "train.precision=fp16"], checks=preflight_checks())
    message = str(err.value)
    assert "command line: lora.rr: unknown key; did you mean 'lora.r'?" in message
    assert (f"{yaml_path}: lora.target_modules: ['query_key_value'] not in this model; "
            "its Linear layers are: ") in message and "v_proj" in message
    if not torch.cuda.is_available():
        assert message.startswith("3 configuration problems:")
        assert "command line: train.precision: fp16 requested, but no CUDA GPU" in message
    # Valid targets and precision: the checks add nothing.
    assert load_config("configs/tiny.yaml", checks=preflight_checks()).lora.r == 8


def test_a_moved_tiny_base_keeps_its_fingerprint():
    from dataclasses import replace

    from t2s.config import TinyModelConfig
    from t2s.tiny import corpus_fingerprint

    here = TinyModelConfig(base_dir="outputs/tiny_base")
    moved = replace(here, base_dir="/elsewhere/bases")
    texts = ["SELECT 1", "TABLE: t (a (int))"]
    assert corpus_fingerprint(texts, here, 0) == corpus_fingerprint(texts, moved, 0)
    assert corpus_fingerprint(texts, here, 0) != corpus_fingerprint(
        texts, replace(here, hidden_size=here.hidden_size * 2), 0)
