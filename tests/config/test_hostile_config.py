"""Hostile config values are refused at load with one ConfigError, never a traceback.

Two classes (issue 20): numbers no setting means (negative rates, NaN, infinity),
and values nested deep enough to exhaust Python's recursion (a file or an override).
"""

from __future__ import annotations

import pytest

from t2s.config import describe_keys, load_config, read_yaml
from t2s.errors import ConfigError

# ---------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize(("text", "expected"), [
    ("-1", "train.learning_rate: must be positive, got -1.0"),
    ("0", "train.learning_rate: must be positive, got 0.0"),
    (".nan", "train.learning_rate: must be positive, got nan"),
    (".inf", "train.learning_rate: must be a finite number, got inf"),
])
def test_a_learning_rate_no_optimizer_can_use_is_refused_in_yaml(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(f"train:\n  learning_rate: {text}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"1 configuration problem:\n  {path}: {expected}"


def _float_keys() -> list[str]:
    return [k.key for k in describe_keys() if "float" in k.type.split(" | ")]


def test_the_float_keys_are_the_ones_this_module_tests():
    # A new float key is covered by the parametrized tests below without an edit here;
    # this only guards against describe_keys() silently listing none.
    assert {"train.learning_rate", "eval.timeout_s", "infer.top_p", "serve.cache_ttl_s",
            "lora.dropout", "train.warmup_steps"} <= set(_float_keys())


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize("key", _float_keys())
def test_no_float_key_takes_nan_or_infinity(key, value):
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"{key}={value}"])
    message = str(info.value)
    assert message.startswith("1 configuration problem:")  # one message per key, not two
    assert f"command line: {key}: " in message


def test_a_mixture_weight_of_nan_or_infinity_is_refused():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["data.sources=[{root: a, weight: .nan}, {root: b, weight: .inf}]"])
    message = str(info.value)
    assert "data.sources.0.weight: must be >= 0, got nan" in message
    assert "data.sources.1.weight: must be a finite number, got inf" in message


@pytest.mark.parametrize(("override", "expected"), [
    ("train.num_train_epochs=-1", "train.num_train_epochs: must be positive, got -1.0"),
    ("train.weight_decay=-0.1", "train.weight_decay: must be >= 0, got -0.1"),
    ("train.max_grad_norm=-1", "train.max_grad_norm: must be >= 0, got -1.0"),
    ("train.warmup_steps=-5", "train.warmup_steps: must be >= 0, got -5"),
    ("train.dataloader_num_workers=-1", "train.dataloader_num_workers: must be >= 0, got -1"),
    ("serve.max_wait_ms=.nan", "serve.max_wait_ms: must be >= 0, got nan"),
])
def test_negative_schedule_values_are_refused(override, expected):
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        load_config(None, [override])


def test_the_tiny_model_refuses_a_shape_it_cannot_build():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["model.name_or_path=tiny", "model.tiny.num_attention_heads=0",
                           "model.tiny.pretrain_learning_rate=-1"])
    message = str(info.value)
    assert "model.tiny.num_attention_heads: must be positive, got 0" in message
    assert "model.tiny.pretrain_learning_rate: must be positive, got -1.0" in message
    # Another base leaves model.tiny unused: its values are not this run's concern.
    load_config(None, ["model.tiny.num_attention_heads=0"])


# ---------------------------------------------------------------------------
# Nesting and size


def test_a_deeply_nested_config_file_is_a_config_error(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 100_000)
    with pytest.raises(ConfigError, match=r"deep\.yaml: nested deeper than 32 levels"):
        load_config(path)


def test_a_deeply_nested_override_is_listed_with_the_other_problems():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["train.seed=" + "[" * 100_000, "lora.r=0"])
    message = str(info.value)
    assert message.startswith("2 configuration problems:")
    assert "command line: train.seed: nested deeper than 32 levels" in message
    assert "lora.r: must be positive, got 0" in message


def test_nesting_that_python_could_parse_is_still_refused_past_the_limit(tmp_path):
    # 40 levels load without a RecursionError; the limit refuses them anyway, before
    # any recursive step of the loader (merge, sources, build) walks them.
    path = tmp_path / "c.yaml"
    path.write_text("train: " + "{a: " * 40 + "1" + "}" * 40 + "\n")
    with pytest.raises(ConfigError, match="nested deeper than 32 levels"):
        read_yaml(path)
    path.write_text("train: " + "{a: " * 25 + "1" + "}" * 25 + "\n")
    with pytest.raises(ConfigError, match="train.a: unknown key"):
        load_config(path)  # within the limit: an ordinary unknown key


def test_nested_aliases_are_refused_before_they_are_walked(tmp_path):
    # "Billion laughs": each level maps ten keys to the level below, so the 9-line
    # file holds 10**8 paths; the loader records the file of every dotted key it
    # sets, which used to walk all of them (hours), now it stops after 100,000.
    keys = "abcdefghij"
    lines = ["train:", "  k0: &l0 {" + ", ".join(f"{k}: 1" for k in keys) + "}"]
    lines += [f"  k{i}: &l{i} {{" + ", ".join(f"{k}: *l{i - 1}" for k in keys) + "}"
              for i in range(1, 9)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"laughs\.yaml: more than 100,000 values"):
        load_config(path)
