"""The real-model path on shrunken bases with the real vocabularies.

Each test runs on the Llama-2 SentencePiece tokenizer (TinyLlama, 32,000
tokens) and the Qwen2 byte-level BPE tokenizer (Qwen2.5-Coder, 151,936 tokens),
built into local base folders by ``t2s base`` (the ``real_base`` fixture), and
loaded through the same code as a hub id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t2s.cli import main
from t2s.config import PromptConfig
from t2s.data.prompts import build_completion, build_prompt
from t2s.data.sft import check_token_boundary
from t2s.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "TABLE: singer (Singer_ID (number), Name (text), Age (number))"
SQL = "SELECT count(*) FROM singer WHERE Age > 30"


def _record(prompt_format="inst", prompt=None):
    prompt = prompt or PromptConfig()
    return {"index": 0,
            "prompt": build_prompt("How many singers are older than 30?", SCHEMA, prompt_format, prompt),
            "completion": build_completion(SQL, prompt_format, prompt)}


def _family(base: Path) -> str:
    return json.loads((base / "config.json").read_text())["model_type"]


@pytest.fixture
def real_config(make_config, real_base):
    """A tiny-preset config over the real base, with the default (space) separator."""

    def build(*overrides: str, **kwargs):
        return make_config(f"model.name_or_path={real_base}",
                           "data.prompt.completion_separator=' '", *overrides, **kwargs)

    return build


def _trainer(config, tokenizer, records):
    from datasets import Dataset
    from trl import SFTTrainer

    from t2s.models.loading import apply_lora, load_base_model
    from t2s.training.train import sft_config

    return SFTTrainer(
        model=apply_lora(load_base_model(config.model, config.model.name_or_path), config.lora),
        args=sft_config(config, "fp32", has_eval=False, use_cpu=True),
        train_dataset=Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]}
                                         for r in records]),
        processing_class=tokenizer)


def test_prompt_ends_on_inst_and_completion_starts_with_spaced_select(real_base):
    from t2s.models.loading import load_tokenizer

    tokenizer = load_tokenizer(str(real_base))
    record = _record()
    alone = tokenizer(record["prompt"])["input_ids"]
    whole = tokenizer(record["prompt"] + record["completion"])["input_ids"]
    assert whole[:len(alone)] == alone
    # SentencePiece marks the word's leading space with '▁', byte-level BPE with 'Ġ':
    # one token " SELECT", not a space token followed by "SELECT".
    assert tokenizer.convert_ids_to_tokens(whole[len(alone)]) in ("▁SELECT", "ĠSELECT")
    assert tokenizer.decode(alone).endswith("[/INST]")
    check_token_boundary([record], tokenizer)


def test_newline_separator_merges_into_the_prompt_for_qwen2_only(real_base):
    from t2s.models.loading import load_tokenizer

    tokenizer = load_tokenizer(str(real_base))
    record = _record(prompt=PromptConfig(completion_separator="\n"))
    if _family(real_base) == "qwen2":
        # Qwen2's pre-tokenizer keeps "]\n" together: TRL would train on "]\n".
        with pytest.raises(DataError, match="completion_separator"):
            check_token_boundary([record], tokenizer)
    else:
        check_token_boundary([record], tokenizer)


def test_completion_only_mask_bos_eos_and_pad(real_config):
    from t2s.models.loading import load_tokenizer
    from t2s.training.train import prepare_data

    config = real_config("data.eval_file=null", "train.load_best_model_at_end=false")
    tokenizer = load_tokenizer(config.model.name_or_path)
    records = prepare_data(config).train_records[:3]
    trainer = _trainer(config, tokenizer, records)
    rows = list(trainer.train_dataset)
    for record, row in zip(records, rows, strict=True):
        batch = trainer.data_collator([row])
        ids, labels = batch["input_ids"][0], batch["labels"][0]
        trained = ids[labels != -100].tolist()
        prompt_ids = tokenizer(record["prompt"])["input_ids"]
        # The masked part is exactly the prompt as inference tokenizes it, the
        # trained part the completion's own tokens + EOS.
        assert ids[labels == -100].tolist() == prompt_ids
        assert tokenizer.decode(prompt_ids + trained) == (
            tokenizer.decode(prompt_ids) + record["completion"] + tokenizer.eos_token)
        assert trained[-1] == tokenizer.eos_token_id
        assert tokenizer.convert_ids_to_tokens(trained[0]) in ("▁SELECT", "ĠSELECT")
        bos = [i for i in ids.tolist() if i == tokenizer.bos_token_id and i != tokenizer.eos_token_id]
        if tokenizer.bos_token_id != tokenizer.eos_token_id:  # Llama: exactly one BOS, first
            assert ids[0] == tokenizer.bos_token_id and len(bos) == 1
    # Llama and Qwen2 pad with EOS; padding must not hide the trained EOS.
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    batch = trainer.data_collator(rows[:2])
    for _ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"],
                                 strict=True):
        real = int(mask.sum())
        assert labels[real - 1] == tokenizer.eos_token_id
        assert (labels[real:] == -100).all()


def test_chat_template_shipped_for_tokenizers_without_one(real_config):
    from t2s.data.chat_templates import setup_chat_template
    from t2s.models.loading import load_tokenizer

    config = real_config("data.prompt_format=chat_template")
    base = config.model.name_or_path
    tokenizer = load_tokenizer(base)
    record = _record("chat_template")
    if _family(Path(base)) == "llama":
        assert not tokenizer.chat_template
        with pytest.raises(ConfigError, match="data.prompt.chat_template"):
            setup_chat_template(tokenizer, "chat_template", PromptConfig(), base)
        with pytest.raises(ConfigError, match="chatml needs"):
            setup_chat_template(tokenizer, "chat_template", PromptConfig(chat_template="chatml"),
                                base)
        setup_chat_template(tokenizer, "chat_template", PromptConfig(chat_template="llama2"), base)
        answer = " " + SQL + tokenizer.eos_token
    else:  # Qwen2 ships its own ChatML template
        setup_chat_template(tokenizer, "chat_template", PromptConfig(), base)
        answer = SQL + "<|im_end|>\n"
    check_token_boundary([record], tokenizer)
    trainer = _trainer(config, tokenizer, [record])
    row = next(iter(trainer.train_dataset))
    batch = trainer.data_collator([row])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    prompt_ids = tokenizer.apply_chat_template(record["prompt"], add_generation_prompt=True,
                                               tokenize=True, return_dict=True)["input_ids"]
    assert ids[labels == -100].tolist() == list(prompt_ids)
    trained = ids[labels != -100].tolist()
    assert tokenizer.decode(list(prompt_ids) + trained) == tokenizer.decode(prompt_ids) + answer


def test_infer_without_a_usable_chat_template_is_a_clear_error(real_base, sample_dir, capsys):
    """The seed's raw ValueError traceback becomes one line naming the setting."""
    if _family(real_base) != "llama":
        pytest.skip("Qwen2 has a chat template")
    status = main(["infer", "--config", str(ROOT / "configs" / "tiny.yaml"),
                   f"infer.adapter_path={real_base}", "data.prompt_format=chat_template",
                   "--db-id", "university", "--data-dir", str(sample_dir), "How many?"])
    err = capsys.readouterr().err
    assert status == 2
    assert "has no chat template; set data.prompt.chat_template" in err
    assert "Traceback" not in err


def test_save_load_merge_gives_the_same_logits(real_config, tmp_path):
    import torch

    from t2s.models.loading import apply_lora, load_base_model, load_tokenizer, load_trained

    config = real_config("lora.target_modules=[q_proj,v_proj]")
    base = config.model.name_or_path
    tokenizer = load_tokenizer(base)
    torch.manual_seed(0)
    model = apply_lora(load_base_model(config.model, base), config.lora)
    with torch.no_grad():  # a fresh adapter is the identity (B = 0): make it matter
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.eval()
    ids = tokenizer([_record()["prompt"]], return_tensors="pt")
    with torch.no_grad():
        before = model(**ids).logits
    model.save_pretrained(tmp_path / "adapter")
    tokenizer.save_pretrained(tmp_path / "adapter")
    loaded, _ = load_trained(tmp_path / "adapter", config.model)
    with torch.no_grad():
        after = loaded(**ids).logits
        merged = loaded.merge_and_unload()(**ids).logits
    assert torch.allclose(before, after, atol=1e-5)
    assert torch.allclose(before, merged, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("switch", ["train.padding_free=true", "train.packing=true"])
def test_packed_batches_count_every_eos_as_a_real_token(real_config, switch, tmp_path):
    """Pad is EOS on these bases; the tokens/s count of packed batches must keep each EOS."""
    from t2s.models.loading import load_tokenizer

    records = [_record(), {**_record(), "completion": build_completion(
        "SELECT Name FROM singer ORDER BY Age DESC", "inst", PromptConfig())}]
    seen, lengths = {}, []
    for name, extra in (("padded", []), ("packed", [switch])):
        config = real_config("data.eval_file=null", "train.load_best_model_at_end=false",
                             "train.max_steps=1", "train.per_device_train_batch_size=2",
                             "train.gradient_accumulation_steps=1", *extra,
                             output_dir=tmp_path / name)
        tokenizer = load_tokenizer(config.model.name_or_path)
        trainer = _trainer(config, tokenizer, records)
        trainer.train()
        seen[name] = trainer.state.num_input_tokens_seen
        lengths = [len(row["input_ids"]) for row in trainer.train_dataset]
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # what made the count drop EOS
    assert seen["packed"] == seen["padded"] == sum(lengths)


def test_batched_greedy_equals_one_at_a_time(real_base):
    import torch
    from transformers import AutoModelForCausalLM

    from t2s.config import Decoding
    from t2s.inference.generate import SQLGenerator
    from t2s.models.loading import load_tokenizer

    tokenizer = load_tokenizer(str(real_base))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(real_base)).eval()
    prompts = [build_prompt(q, SCHEMA) for q in
               ("How many?", "Name every singer older than thirty, by age.", "Oldest singer?")]
    options = dict(max_new_tokens=8, stop_at_eos=False)
    batched = SQLGenerator(model, tokenizer, Decoding(batch_size=3, **options)).generate(prompts)
    single = SQLGenerator(model, tokenizer, Decoding(batch_size=1, **options)).generate(prompts)
    assert len({g.prompt_tokens for g in batched}) == 3, "equal lengths would not test padding"
    assert [g.completion for g in batched] == [g.completion for g in single]
    assert all(g.completion_tokens == 8 for g in batched)


@pytest.mark.slow
def test_train_evaluate_infer_end_to_end(real_base, sample_dir, tiny_base_dir, tmp_path, capsys):
    run = tmp_path / "run"
    common = [f"data.root={sample_dir}", f"model.name_or_path={real_base}",
              "data.prompt.completion_separator=' '",
              f"train.output_dir={run}", f"infer.adapter_path={run / 'final_model'}",
              f"eval.report_dir={tmp_path / 'eval'}", "train.report_to=[]",
              "train.max_seq_length=512", "data.max_train_examples=16",
              "data.max_eval_examples=4", "infer.max_new_tokens=8",
              "train.per_device_train_batch_size=4", "train.gradient_accumulation_steps=1"]
    config = ["--config", str(ROOT / "configs" / "tiny.yaml")]
    assert main(["train", *config, *common, "train.max_steps=2", "train.eval_steps=2",
                 "train.save_steps=2"]) == 0
    saved = json.loads((run / "final_model" / "adapter_config.json").read_text())
    assert saved["base_model_name_or_path"] == str(real_base)
    assert main(["evaluate", *config, *common, "--no-progress"]) == 0
    report = json.loads((tmp_path / "eval" / "REPORT.json").read_text())
    assert report["summary"]["count"] == 4
    capsys.readouterr()
    assert main(["infer", *config, *common, "--db-id", "university", "--data-dir",
                 str(sample_dir), "--show-prompt", "How many students are there?"]) == 0
    captured = capsys.readouterr()
    assert "[INST] Generate a SQLite query" in captured.err
