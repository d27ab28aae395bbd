"""The model carries its prompt: inference prompts as training did, conflicts refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from conftest import TEST_TINY
from t2s.cli import main
from t2s.config import dump_yaml, load_config
from t2s.errors import ConfigError
from t2s.inference.adapter_prompt import load_inference_config, prompt_record
from t2s.training.train import train

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "tiny.yaml"


def _model_folder(tmp_path: Path, *trained_with: str) -> Path:
    """A model folder whose saved config was trained with ``trained_with`` overrides."""
    folder = tmp_path / "final_model"
    folder.mkdir()
    dump_yaml(load_config(TINY, list(trained_with)), folder / "config.yaml")
    return folder


def test_defaults_take_the_models_prompt_settings(tmp_path):
    folder = _model_folder(tmp_path, "data.schema.include_keys=true",
                           "data.schema.sample_values=3")
    config = load_inference_config(TINY, [f"infer.adapter_path={folder}"])
    assert config.data.schema.include_keys is True and config.data.schema.sample_values == 3
    assert prompt_record(config)["overrides_model"] is False


def test_a_conflicting_given_setting_is_refused_unless_overridden(tmp_path):
    folder = _model_folder(tmp_path, "data.schema.include_keys=true")
    given = [f"infer.adapter_path={folder}", "data.schema.include_keys=false"]
    with pytest.raises(ConfigError) as info:
        load_inference_config(TINY, given)
    message = str(info.value)
    assert "data.schema.include_keys: True (model) -> False (given in command line)" in message
    assert "infer.prompt_override=true" in message
    config = load_inference_config(TINY, [*given, "infer.prompt_override=true"])
    assert config.data.schema.include_keys is False
    assert prompt_record(config)["overrides_model"] is True


def test_a_foreign_model_folder_keeps_the_given_settings_with_a_warning(tmp_path, caplog):
    folder = tmp_path / "foreign"
    folder.mkdir()
    with caplog.at_level(logging.WARNING):
        config = load_inference_config(TINY, [f"infer.adapter_path={folder}",
                                              "data.schema.include_keys=true"])
    assert config.data.schema.include_keys is True
    assert "has no saved config.yaml" in caplog.text


@pytest.mark.slow
def test_show_prompt_follows_each_adapter(make_config, tmp_path, sample_dir, capsys):
    """Two adapters that differ only in a prompt setting; one inference config for both."""
    adapters = {}
    for keys in ("true", "false"):
        out = tmp_path / f"keys-{keys}"
        train(make_config("train.max_steps=1", "train.save_steps=1", "data.eval_file=null",
                          "train.load_best_model_at_end=false",
                          f"data.schema.include_keys={keys}", output_dir=out))
        adapters[keys] = out / "final_model"
    prompts = {}
    for keys, adapter in adapters.items():
        status = main(["infer", "How many venues are there?", "--db-id", "concert_hall",
                       "--data-dir", str(sample_dir), "--show-prompt", "--config", str(TINY),
                       f"infer.adapter_path={adapter}", f"data.root={sample_dir}",
                       "infer.max_new_tokens=4", *TEST_TINY])
        assert status == 0
        prompts[keys] = capsys.readouterr().err
    assert "PRIMARY KEY:" in prompts["true"]
    assert "PRIMARY KEY:" not in prompts["false"]
    # Asking the keys-trained adapter for a keyless prompt is refused, before the model loads.
    status = main(["infer", "How many venues are there?", "--db-id", "concert_hall",
                   "--data-dir", str(sample_dir), "--config", str(TINY),
                   f"infer.adapter_path={adapters['true']}", "data.schema.include_keys=false"])
    assert status == 2
    assert "trained with other prompt settings" in capsys.readouterr().err


def test_a_model_saved_before_a_setting_existed_is_compared_on_what_it_recorded(tmp_path):
    import yaml

    folder = _model_folder(tmp_path, "data.schema.include_keys=true")
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    del saved["data"]["schema"]["style"]  # as written by an older t2s
    (folder / "config.yaml").write_text(yaml.safe_dump(saved))
    config = load_inference_config(TINY, [f"infer.adapter_path={folder}",
                                          "data.schema.include_keys=true"])
    assert config.data.schema.include_keys is True and config.data.schema.style == "compact"
