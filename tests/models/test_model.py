"""Model loading and LoRA: parameter arithmetic, frozen base, save/reload, merge."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from t2s.config import LoraConfig
from t2s.errors import ConfigError, T2SError
from t2s.models.loading import (
    apply_lora,
    check_target_modules,
    count_parameters,
    load_base_model,
    load_tokenizer,
    load_trained,
)

ROOT = Path(__file__).resolve().parents[2]


def test_tinyllama_lora_parameter_arithmetic():
    """The seed expects ~1.1M trainable (0.10%) for TinyLlama with r=8 on q/v.

    Per layer: q_proj 2048->2048 gives r*(2048+2048) = 32,768; v_proj 2048->256
    (4 KV heads x 64) gives r*(2048+256) = 18,432; x 22 layers = 1,126,400.
    Built on the meta device: shapes only, no weights downloaded or allocated.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                         num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                         max_position_embeddings=2048)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    counts = count_parameters(apply_lora(model, LoraConfig()))
    assert counts.trainable == 22 * (8 * (2048 + 2048) + 8 * (2048 + 256)) == 1_126_400
    assert counts.total == 1_100_048_384 + 1_126_400
    assert round(counts.percent, 2) == 0.10


@pytest.fixture(scope="module")
def tiny_base(request):
    """Path of the session's tiny base model (built on first use)."""
    make_config = request.getfixturevalue("make_config")
    from t2s.training.train import base_model_path, prepare_data

    config = make_config()
    return base_model_path(config, prepare_data(config))


@pytest.fixture(scope="module")
def make_config(sample_dir, tiny_base_dir, tiny_overrides, tmp_path_factory):
    from t2s.config import load_config

    out = tmp_path_factory.mktemp("model_run")

    def build(*overrides: str):
        return load_config(ROOT / "configs" / "tiny.yaml", [
            f"data.root={sample_dir}", f"model.tiny.base_dir={tiny_base_dir}",
            f"train.output_dir={out}", "train.report_to=[]", *tiny_overrides, *overrides])

    return build


def test_missing_target_module_is_a_config_error(tiny_base):
    model = load_base_model(_model_config(), tiny_base)
    with pytest.raises(ConfigError, match=r"lora.target_modules: \['query'\] not in this model"):
        check_target_modules(model, ["q_proj", "query"])


def test_unloadable_model_names_the_problem(tmp_path):
    with pytest.raises(T2SError, match="could not be fetched from the hub"):
        load_tokenizer("no-such-org/no-such-model-t2s")
    with pytest.raises(T2SError, match="does not exist; train first"):
        load_trained(tmp_path / "missing")


def _model_config():
    from t2s.config import ModelConfig

    return ModelConfig(name_or_path="tiny")


def test_lora_trains_adapter_only_and_round_trips(tiny_base, make_config, tmp_path):
    """A few SFT steps move LoRA weights, leave base weights bit-identical; the
    saved adapter reloads to identical logits, and merging keeps them (tolerance)."""
    from datasets import Dataset
    from trl import SFTTrainer

    from t2s.training.train import prepare_data, sft_config

    config = make_config(f"train.output_dir={tmp_path}", "train.max_steps=3",
                         "train.learning_rate=0.01", "data.eval_file=null",
                         "train.load_best_model_at_end=false")
    tokenizer = load_tokenizer(tiny_base)
    model = apply_lora(load_base_model(config.model, tiny_base), config.lora)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    records = prepare_data(config).train_records[:24]
    trainer = SFTTrainer(
        model=model, args=sft_config(config, "fp32", has_eval=False, use_cpu=True),
        train_dataset=Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]}
                                         for r in records]),
        processing_class=tokenizer)
    trainer.train()
    after = dict(model.named_parameters())
    lora_names = [n for n in before if "lora_" in n]
    base_names = [n for n in before if "lora_" not in n]
    assert lora_names and base_names
    assert all(torch.equal(before[n], after[n]) for n in base_names)
    assert any(not torch.equal(before[n], after[n]) for n in lora_names if "lora_B" in n)

    adapter_dir = tmp_path / "adapter"
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    assert (adapter_dir / "adapter_model.safetensors").stat().st_size > 0
    batch = tokenizer(["[INST] how many rows? [/INST]"], return_tensors="pt")
    model.eval()
    with torch.no_grad():
        expected = model(**batch).logits
        reloaded, _ = load_trained(adapter_dir)
        assert torch.equal(reloaded(**batch).logits, expected)
        merged = reloaded.merge_and_unload()
        torch.testing.assert_close(merged(**batch).logits, expected, atol=1e-4, rtol=1e-4)
