"""Completion-only loss: prompt tokens are masked, the SQL and EOS are trained."""

from __future__ import annotations

from conftest import sft_trainer
from t2s.data.sft import apply_length_limit, token_lengths


def test_loss_mask_covers_exactly_the_completion(make_config):
    config = make_config("data.eval_file=null", "train.load_best_model_at_end=false")
    trainer, tokenizer, records = sft_trainer(config, 4)
    collator = trainer.data_collator
    for record, row in zip(records, trainer.train_dataset, strict=True):
        batch = collator([row])
        ids, labels = batch["input_ids"][0], batch["labels"][0]
        trained = ids[labels != -100].tolist()
        masked = ids[labels == -100].tolist()
        # The trained part is exactly "\n" + SQL + EOS; the prompt is fully masked.
        assert tokenizer.decode(trained) == record["completion"] + tokenizer.eos_token
        assert tokenizer.decode(masked, skip_special_tokens=True) == record["prompt"]
        assert trained[-1] == tokenizer.eos_token_id


def test_length_accounting_drops_and_reports(make_config):
    from t2s.models.loading import load_tokenizer
    from t2s.training.train import base_model_path, prepare_data

    config = make_config()
    prepared = prepare_data(config)
    tokenizer = load_tokenizer(base_model_path(config, prepared))
    records = prepared.train_records[:50]
    lengths = token_lengths(records, tokenizer)
    limit = sorted(lengths)[len(lengths) // 2]  # the median: about half must go
    kept, report = apply_length_limit(records, tokenizer, limit, "drop", "train")
    assert report.total == 50 and report.kept == len(kept) == sum(n <= limit for n in lengths)
    assert report.dropped == 50 - len(kept) > 0
    assert report.longest == max(lengths)
    assert all(n <= limit for n in token_lengths(kept, tokenizer))
    import pytest

    from t2s.errors import DataError

    with pytest.raises(DataError, match="raise train.max_seq_length or set data.overlength=drop"):
        apply_length_limit(records, tokenizer, limit, "error", "train")
