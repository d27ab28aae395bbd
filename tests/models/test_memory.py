"""``t2s estimate-memory``: the formula checked against real parameter counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from t2s.cli import main
from t2s.config import LoraConfig, load_config
from t2s.models.memory import GIB, KNOWN_SHAPES, Shape, estimate, parameter_counts

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(p for p in (ROOT / "configs").glob("*.yaml")
                 if "Estimated peak memory" in p.read_text())

# Totals from each model card / config (billions, rounded as published).
PUBLISHED = {"TinyLlama/TinyLlama-1.1B-Chat-v1.0": 1.10, "Qwen/Qwen2.5-Coder-1.5B-Instruct": 1.54,
             "Qwen/Qwen2.5-Coder-7B-Instruct": 7.62, "meta-llama/Llama-3.2-1B-Instruct": 1.24,
             "meta-llama/Llama-3.2-3B-Instruct": 3.21, "codellama/CodeLlama-7b-Instruct-hf": 6.74,
             "HuggingFaceTB/SmolLM2-135M-Instruct": 0.13}  # 134.5M (t2s base --from-gguf)


@pytest.mark.parametrize("name", list(KNOWN_SHAPES))
def test_parameter_count_matches_the_published_size(name):
    assert round(sum(parameter_counts(KNOWN_SHAPES[name])) / 1e9, 2) == PUBLISHED[name]


@pytest.mark.parametrize("model_type", ["llama", "qwen2"])
def test_parameter_count_equals_transformers_on_the_meta_device(model_type):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    shape = Shape(1000, 96, 3, 6, 2, 200, tie_word_embeddings=model_type == "qwen2",
                  qkv_bias=model_type == "qwen2")
    cls = LlamaConfig if model_type == "llama" else Qwen2Config
    config = cls(vocab_size=1000, hidden_size=96, num_hidden_layers=3, num_attention_heads=6,
                 num_key_value_heads=2, intermediate_size=200,
                 tie_word_embeddings=shape.tie_word_embeddings)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    unique = {id(p): p.numel() for p in model.parameters()}
    assert sum(parameter_counts(shape)) == sum(unique.values())


@pytest.mark.parametrize("lora", [LoraConfig(r=4, target_modules=["all-linear"]),
                                  LoraConfig(r=8, use_dora=True),
                                  LoraConfig(r=2, modules_to_save=["lm_head"])],
                         ids=["all-linear", "dora", "modules_to_save"])
def test_trainable_lora_parameters_equal_peft(lora):
    import dataclasses

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from t2s.models.loading import apply_lora, count_parameters

    shape = Shape(300, 32, 2, 4, 2, 64)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2,
                                         intermediate_size=64, tie_word_embeddings=False))
    with torch.no_grad():
        trainable = count_parameters(apply_lora(model, lora)).trainable
    config = load_config(None)
    config = dataclasses.replace(config, lora=lora)
    assert estimate(config, shape).trainable_params == trainable


def test_checkpointing_and_4bit_lower_the_estimate():
    base = estimate(load_config(ROOT / "configs" / "config.yaml"))
    off = estimate(load_config(ROOT / "configs" / "config.yaml",
                               ["train.gradient_checkpointing=false"]))
    four = estimate(load_config(ROOT / "configs" / "config.yaml",
                                ["model.quantization.load_in_4bit=true"]))
    assert off.activations > 5 * base.activations
    assert four.weights < 0.4 * base.weights and four.optimizer == base.optimizer


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_header_states_the_estimate(path):
    stated = float(re.search(r"Estimated peak memory: ([\d.]+) GiB", path.read_text()).group(1))
    assert stated == round(estimate(load_config(path)).peak / GIB, 1)
    assert f"--config configs/{path.name}" in path.read_text()


def test_recipes_cover_the_issue_models():
    names = {p.name for p in RECIPES}
    assert {"config.yaml", "qwen2.5-coder-1.5b_lora.yaml", "qwen2.5-coder-1.5b_qlora.yaml",
            "qwen2.5-coder-7b_lora.yaml", "qwen2.5-coder-7b_qlora.yaml", "llama-3.2-1b_lora.yaml",
            "llama-3.2-3b_lora.yaml", "codellama-7b_qlora.yaml"} <= names


def test_estimate_memory_command(capsys):
    assert main(["estimate-memory", "--config", str(ROOT / "configs" / "qwen2.5-coder-7b_qlora.yaml")]) == 0
    out = capsys.readouterr().out
    assert "7.62 B parameters" in out and "4-bit off" in out and "PEAK GiB" in out
    assert main(["estimate-memory", "--config", str(ROOT / "configs" / "config.yaml"),
                 "model.name_or_path=nowhere/unknown"]) == 2
