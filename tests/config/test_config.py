"""Config schema: every shipped YAML parses; errors list every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2s.config import Config, load_config, parse_override, read_yaml, resolve_precision
from t2s.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


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

    from t2s.training.train import preflight_checks

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
    from t2s.models.tiny import corpus_fingerprint

    here = TinyModelConfig(base_dir="outputs/tiny_base")
    moved = replace(here, base_dir="/elsewhere/bases")
    texts = ["SELECT 1", "TABLE: t (a (int))"]
    assert corpus_fingerprint(texts, here, 0) == corpus_fingerprint(texts, moved, 0)
    assert corpus_fingerprint(texts, here, 0) != corpus_fingerprint(
        texts, replace(here, hidden_size=here.hidden_size * 2), 0)


# ---------------------------------------------------------------------------
# Numbers as people type them, and messages under the right key and source


@pytest.mark.parametrize(("text", "value"), [("1e-4", 1e-4), ("5E-5", 5e-5), ("3.0e-3", 3e-3),
                                             ("2e-4", 2e-4), ("0.0002", 2e-4)])
def test_scientific_notation_is_a_float_in_yaml_and_on_the_command_line(tmp_path, text, value):
    assert load_config(None, [f"train.learning_rate={text}"]).train.learning_rate == value
    path = tmp_path / "c.yaml"
    path.write_text(f"train:\n  learning_rate: {text}\n")
    assert load_config(path).train.learning_rate == value


def test_duplicate_yaml_keys_are_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  learning_rate: 1e-4\n  seed: 1\n  learning_rate: 2e-4\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'learning_rate' \(first on line 2\)"):
        load_config(path)


def test_a_directory_as_config_says_so(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_a_malformed_override_is_listed_with_every_other_problem():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["=5", "lora.alpha=-1", "eval.max_rows=-5", "train.lerning_rate=1"])
    message = str(info.value)
    assert "4 configuration problems" in message
    assert "override '=5' is not of the form key.sub=value" in message
    assert "command line: lora.alpha: must be positive, got -1" in message
    assert "command line: eval.max_rows: must be >= 1, got -5" in message
    assert "did you mean 'train.learning_rate'" in message


def test_a_command_line_key_below_a_yaml_value_is_blamed_on_the_command_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lora:\n  r: 8\n")
    with pytest.raises(ConfigError, match=r"command line: lora\.r: expected an integer"):
        load_config(path, ["lora.r.x=5"])


def test_value_checks_happen_at_load_under_their_own_key():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["infer.execute_timeout_s=0", "eval.workers=0", "infer.max_rows=0",
                           "eval.timeout_s=-1", "infer.max_result_bytes=0"])
    message = str(info.value)
    for expected in ("infer.execute_timeout_s: must be > 0", "eval.workers: must be >= 1",
                     "infer.max_rows: must be >= 1", "eval.timeout_s: must be > 0",
                     "infer.max_result_bytes: must be >= 1"):
        assert expected in message
    assert "eval.timeout_s: must be > 0 seconds, got -1" in message
    assert message.count("eval.timeout_s") == 1  # infer's limit is no longer reported here


def test_config_show_names_each_values_source(tmp_path, capsys):
    from t2s.cli import main

    parent = tmp_path / "parent.yaml"
    parent.write_text("train:\n  seed: 7\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: parent.yaml\ntrain:\n  max_steps: 3\n")
    assert main(["config", "show", "--config", str(child), "train.learning_rate=1e-4"]) == 0
    out = capsys.readouterr().out
    assert f"  seed: 7  # {parent}" in out
    assert f"  max_steps: 3  # {child}" in out
    assert "  learning_rate: 0.0001  # command line" in out
    assert "  weight_decay: 0.0  # default" in out
    # The printed YAML loads back to the same config.
    shown = tmp_path / "shown.yaml"
    shown.write_text(out)
    assert load_config(shown) == load_config(child, ["train.learning_rate=1e-4"])


def test_config_keys_lists_every_key_with_type_default_and_doc(capsys):
    from t2s.cli import main
    from t2s.config import describe_keys, to_dict

    keys = describe_keys()
    assert all(k.doc for k in keys), [k.key for k in keys if not k.doc]

    def leaves(tree, prefix=""):
        for name, value in tree.items():
            if isinstance(value, dict) and value:  # an empty mapping (data.databases) is a leaf
                yield from leaves(value, f"{prefix}{name}.")
            else:
                yield prefix + name

    assert [k.key for k in keys] == list(leaves(to_dict(Config())))
    assert main(["config", "keys", "train.learning"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("train.learning_rate (float) = 0.0002\n    Peak learning rate")


def test_one_sql_limits_section_serves_evaluation_and_inference():
    """eval.* and infer.* limits are the same SqlLimits: one check, each under its own key."""
    config = load_config(None, ["eval.timeout_s=3", "eval.max_rows=7", "infer.execute_timeout_s=2",
                                "infer.max_rows=5", "infer.max_result_bytes=11"])
    assert config.eval.limits.kwargs() == {"timeout_s": 3.0, "max_rows": 7,
                                           "max_result_bytes": config.eval.max_result_bytes}
    assert config.infer.limits.kwargs() == {"timeout_s": 2.0, "max_rows": 5, "max_result_bytes": 11}
    with pytest.raises(ConfigError) as info:
        load_config(None, ["eval.timeout_s=.nan", "infer.execute_timeout_s=.nan"])
    message = str(info.value)
    assert "eval.timeout_s: must be > 0 seconds, got nan" in message
    assert "infer.execute_timeout_s: must be > 0 seconds, got nan" in message
