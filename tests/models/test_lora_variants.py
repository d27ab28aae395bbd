"""LoRA variants (all-linear, DoRA, rsLoRA, modules_to_save), QLoRA checks, trackers.

Each switch is checked by what it changes in the wrapped model, so the test
fails when the switch is not passed on to peft.
"""

from __future__ import annotations

import math

import pytest

from t2s.config import LoraConfig, load_config
from t2s.errors import ConfigError


def _model():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=2, num_attention_heads=2,
                                        num_key_value_heads=1, tie_word_embeddings=False))


def _lora_layers(model) -> set[str]:
    return {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
            if hasattr(module, "lora_A") and len(module.lora_A)}


def test_all_linear_targets_every_linear_layer_but_the_head():
    from t2s.models.loading import apply_lora

    model = apply_lora(_model(), LoraConfig(target_modules=["all-linear"]))
    assert _lora_layers(model) == {"q_proj", "k_proj", "v_proj", "o_proj",
                                   "gate_proj", "up_proj", "down_proj"}


def test_default_targets_only_q_and_v():
    from t2s.models.loading import apply_lora

    assert _lora_layers(apply_lora(_model(), LoraConfig())) == {"q_proj", "v_proj"}


def test_dora_adds_a_trained_magnitude_vector():
    from t2s.models.loading import apply_lora

    names = [n for n, p in apply_lora(_model(), LoraConfig(use_dora=True)).named_parameters()
             if p.requires_grad]
    assert any("lora_magnitude_vector" in n for n in names)
    plain = [n for n, _ in apply_lora(_model(), LoraConfig()).named_parameters()]
    assert not any("lora_magnitude_vector" in n for n in plain)


def test_rslora_scales_by_alpha_over_sqrt_r():
    from t2s.models.loading import apply_lora

    def scaling(**kwargs):
        model = apply_lora(_model(), LoraConfig(r=16, alpha=16, **kwargs))
        layer = next(m for m in model.modules() if hasattr(m, "lora_A") and len(m.lora_A))
        return layer.scaling["default"]

    assert scaling() == 1.0
    assert scaling(use_rslora=True) == 16 / math.sqrt(16)


def test_modules_to_save_trains_and_saves_the_head(tmp_path):
    from safetensors.torch import load_file

    from t2s.models.loading import apply_lora

    model = apply_lora(_model(), LoraConfig(modules_to_save=["lm_head"]))
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("lm_head" in n for n in trained)
    model.save_pretrained(tmp_path)
    assert any("lm_head" in k for k in load_file(tmp_path / "adapter_model.safetensors"))


def test_all_linear_passes_the_target_check_and_cannot_be_mixed():
    from t2s.models.loading import _missing_targets

    assert _missing_targets(["all-linear"], ["q_proj"]) is None
    with pytest.raises(ConfigError, match="all-linear already covers"):
        load_config(None, ["lora.target_modules=[all-linear,q_proj]"])


def test_qlora_needs_cuda_and_lora_at_config_load(monkeypatch):
    import torch

    from t2s.training.train import preflight_checks

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError) as error:
        load_config(None, ["model.quantization.load_in_4bit=true", "train.report_to=[]"],
                    checks=preflight_checks())
    assert "model.quantization.load_in_4bit: needs CUDA" in str(error.value)
    with pytest.raises(ConfigError, match="use train.method: lora"):
        load_config(None, ["model.quantization.load_in_4bit=true", "train.method=full"])


def test_qlora_quantization_config_is_nf4_double_quant_bf16():
    import torch

    from t2s.config import QuantizationConfig
    from t2s.models.quantization import bnb_config

    config = bnb_config(QuantizationConfig(load_in_4bit=True))
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant and config.bnb_4bit_compute_dtype == torch.bfloat16


@pytest.fixture(scope="session")
def cuda_gpu() -> None:
    """Skip unless a CUDA GPU is here (before building any base)."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")


@pytest.mark.gpu
def test_qlora_trains_a_4bit_base(cuda_gpu, real_base, tmp_path):
    import torch

    pytest.importorskip("bitsandbytes")
    from t2s.config import ModelConfig, QuantizationConfig
    from t2s.models.loading import apply_lora, load_base_model

    model_config = ModelConfig(name_or_path=str(real_base),
                               quantization=QuantizationConfig(load_in_4bit=True))
    model = apply_lora(load_base_model(model_config, str(real_base), "bf16"),
                       LoraConfig(target_modules=["all-linear"]))
    assert model.is_loaded_in_4bit
    ids = torch.randint(0, 1000, (2, 16), device=model.device)
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None for g in grads)


def test_uninstalled_tracker_names_the_extra(monkeypatch):
    import importlib.util

    from t2s.training import tracking

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ConfigError) as error:
        load_config(None, ["train.report_to=[wandb,tensorboard,neptune]"],
                    checks=[tracking.tracking_problems])
    message = str(error.value)
    assert "wandb is not installed: pip install 't2s[wandb]'" in message
    assert "unknown tracker 'neptune'" in message and "tensorboard is not" not in message


def test_run_name_and_project_reach_the_trainer(make_config, monkeypatch):
    from t2s.training.train import sft_config

    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    config = make_config("train.run_name=qv-r8", "train.project=t2s-spider")
    args = sft_config(config, "fp32", has_eval=False, use_cpu=True)
    assert args.run_name == "qv-r8"
    import os

    assert os.environ["WANDB_PROJECT"] == "t2s-spider"
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
