"""Each config section validates itself; the loader only gathers and names the keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from t2s.config import (
    ColumnMap,
    Config,
    DataConfig,
    Decoding,
    InferConfig,
    LoraConfig,
    SourceConfig,
    TrainConfig,
    load_config,
)
from t2s.config.schema import CROSS_CHECKS, config_problems
from t2s.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_every_section_of_the_defaults_and_shipped_configs_is_valid():
    assert config_problems(Config(), {}) == []
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        assert config_problems(load_config(path), {}) == [], path.name


def test_a_section_names_its_own_fields_and_the_loader_prefixes_them():
    assert LoraConfig(r=0).problems() == [("r", "must be positive, got 0")]
    assert TrainConfig(learning_rate=float("nan")).problems() == [
        ("learning_rate", "must be positive, got nan")]
    data = DataConfig(columns=ColumnMap(sql=""), sources=[SourceConfig(root="", weight=-1)])
    assert data.problems() == [
        ("columns.sql", "is required (the column holding it)"),
        ("sources.0.root", "is required"),
        ("sources.0.train_file", "neither train_file nor eval_file is set: the source adds nothing"),
        ("sources.0.weight", "must be >= 0, got -1"),
        ("sources", "no source has a train_file"),
    ]
    with pytest.raises(ConfigError, match=r"data\.sources\.0\.weight: must be >= 0, got -1"):
        load_config(None, ["data.sources=[{root: r, train_file: t.json, weight: -1}]"])


def test_infer_reports_its_limits_and_decoding_under_infer_keys():
    infer = InferConfig(execute_timeout_s=0, max_new_tokens=0, execution_guided=True, num_candidates=1)
    assert infer.problems() == [
        ("execute_timeout_s", "must be > 0 seconds, got 0"),  # SqlLimits' timeout_s, renamed
        ("max_new_tokens", "must be positive"),
        ("num_candidates", "must be at least 2 when infer.execution_guided is true"),
    ]


def test_cross_section_checks_each_read_two_sections():
    config = load_config(None, ["train.method=full", "lora.target_modules=[]"])  # full: no LoRA
    assert [check(config, {}) for check in CROSS_CHECKS] == [[]] * len(CROSS_CHECKS)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, method="lora"))
    assert ("lora.target_modules", "is empty; LoRA needs at least one module") in \
        config_problems(config, {})


def test_infer_decoding_is_the_one_decoding_section_built_from_infer_keys():
    config = load_config(None, ["infer.max_new_tokens=7", "infer.do_sample=true",
                                "infer.temperature=0.5", "infer.top_p=0.9", "infer.num_beams=2",
                                "infer.seed=3", "infer.batch_size=5"])
    assert config.infer.decoding == Decoding(max_new_tokens=7, do_sample=True, temperature=0.5,
                                             top_p=0.9, num_beams=2, seed=3, batch_size=5)
    # Written once: the infer.* defaults are Decoding's.
    assert InferConfig().decoding == Decoding()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.infer.decoding.max_new_tokens = 1  # type: ignore[misc]
    assert Decoding(do_sample=True, temperature=float("nan")).problems() == [
        ("temperature", "must be positive when infer.do_sample is true")]
