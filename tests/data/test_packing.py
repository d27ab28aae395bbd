"""Packed / padding-free batches: completion-only labels per example, no attention across examples."""

from __future__ import annotations

import pytest

from conftest import sft_trainer
from t2s.training.packing import packing_arguments, segments


def _trainer(make_config, *overrides):
    config = make_config("data.eval_file=null", "train.load_best_model_at_end=false",
                         "train.per_device_train_batch_size=2", *overrides)
    return sft_trainer(config, 12)


@pytest.mark.parametrize("switch", ["train.packing=true", "train.padding_free=true"])
def test_each_packed_example_trains_exactly_its_completion(make_config, switch):
    trainer, tokenizer, records = _trainer(make_config, switch)
    batch = trainer.data_collator(list(trainer.train_dataset)[:2])
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    positions = batch["position_ids"][0].tolist()
    parts = segments(positions)
    assert len(parts) >= 2, "one example per row would not test packing"
    completions = {r["completion"] + tokenizer.eos_token for r in records}
    for start, end in parts:
        assert positions[start:end] == list(range(end - start))  # reset per example
        trained = [t for t, lab in zip(ids[start:end], labels[start:end], strict=True) if lab != -100]
        assert trained == [lab for lab in labels[start:end] if lab != -100]
        assert tokenizer.decode(trained) in completions
        assert trained[-1] == tokenizer.eos_token_id


def test_packed_row_gives_each_example_its_own_logits():
    """Positions restarting at 0 must also cut attention: no token sees another example."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    for attention in ("sdpa", "eager"):
        model = LlamaForCausalLM(LlamaConfig(
            vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2,
            attn_implementation=attention)).eval()
        first, second = torch.randint(0, 50, (1, 7)), torch.randint(0, 50, (1, 5))
        packed = torch.cat([first, second], dim=1)
        positions = torch.tensor([list(range(7)) + list(range(5))])
        with torch.no_grad():
            # use_cache=False, as TRL's compute_loss passes: with a cache, transformers
            # does not look for packed sequences and the second example would see the first.
            together = model(input_ids=packed, position_ids=positions, use_cache=False).logits
            alone = torch.cat([model(input_ids=first).logits, model(input_ids=second).logits], dim=1)
        assert torch.allclose(together, alone, atol=1e-5), attention


def test_packing_arguments():
    from t2s.config import TrainConfig

    assert packing_arguments(TrainConfig()) == {
        "packing": False, "packing_strategy": "bfd", "padding_free": False, "max_length": 1024}
    assert packing_arguments(TrainConfig(padding_free=True))["max_length"] is None
    assert packing_arguments(TrainConfig(packing=True, padding_free=True))["max_length"] == 1024


@pytest.mark.slow
def test_packed_training_runs(make_config):
    from t2s.training.train import train

    config = make_config("data.eval_file=null", "train.load_best_model_at_end=false",
                         "train.packing=true", "train.max_steps=2", "train.save_steps=2")
    result = train(config)
    assert result.global_step == 2 and result.train_loss is not None
