"""The offline tiny model: a BPE tokenizer and a small Llama, built locally.

No weights can be downloaded on the machines t2s is developed and tested on, so
``model.name_or_path: tiny`` builds a base model from scratch:

1. a byte-level BPE tokenizer trained with the ``tokenizers`` library on the
   training split's text (schemas, questions, SQL);
2. a Llama-architecture model from ``model.tiny`` (default 2 layers, dim 128);
3. a short full-parameter pretraining on the same text, because a randomly
   initialised base barely learns through LoRA alone (measured: loss 7.5 -> 7.2).
   Pretraining sees whole examples (never a block cut between question and
   SQL), weights its loss towards the SQL, spends 3 steps in 4 on the question
   + SQL alone (4x the examples per step), and swaps the literal values that a
   question spells out for random ones in both question and SQL, so the model
   learns to copy values instead of recalling the ones it saw (measured on the
   sample dev split: EX 5% -> ~30%).

The result is saved with ``save_pretrained`` into ``model.tiny.base_dir`` and is
then loaded like any hub model, so LoRA fine-tuning runs exactly the real path.
Each (tiny config, corpus, seed) is built once, in its own fingerprint-named
sub-folder of ``model.tiny.base_dir``, and reused after.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from t2s.config import TinyModelConfig
from t2s.data.prompts import INST_CLOSE, QUESTION_LABEL

log = logging.getLogger(__name__)

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
_FINGERPRINT_FILE = "t2s_tiny_base.json"
# Bump when the way the base is built changes, so stale bases are rebuilt.
_BUILD_VERSION = 3


def corpus_fingerprint(texts: Sequence[str], config: TinyModelConfig, seed: int) -> str:
    """A hash of everything the tiny base depends on (not where it is stored).

    ``base_dir`` is left out so a moved or copied base folder is found again
    instead of being rebuilt.
    """
    shape = {k: v for k, v in asdict(config).items() if k != "base_dir"}
    digest = hashlib.sha256(json.dumps([shape, seed, _BUILD_VERSION], sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def train_tokenizer(texts: Sequence[str], vocab_size: int):
    """Train a byte-level BPE tokenizer on ``texts``; returns a PreTrainedTokenizerFast.

    Byte-level pre-tokenization splits at whitespace, so ``[/INST]`` and the
    ``\\n`` that starts each completion never merge into one token: the prompt
    stays a token prefix of prompt+completion, as TRL's completion mask needs.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    # One token per digit: a number is spelled with the same tokens in the
    # question and in the SQL, so the model can copy it digit by digit.
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, show_progress=False,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    bos = SPECIAL_TOKENS["bos_token"]
    bpe.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bpe.token_to_id(bos))])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, **SPECIAL_TOKENS)
    tokenizer.model_max_length = 1_000_000  # the model config bounds length, not the tokenizer
    return tokenizer


def build_tiny_model(config: TinyModelConfig, tokenizer, seed: int):
    """A randomly initialised LlamaForCausalLM shaped by ``config``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_attention_heads,
        max_position_embeddings=config.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # Untied, like TinyLlama: under DeepSpeed ZeRO-3 a tied input embedding
        # stayed sharded in TRL's fused-LM-head forward ("Padding_idx must be
        # within num_embeddings"), measured with trl 1.16 / deepspeed 0.19.
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(model_config)


# Pretraining batches: 1 step in TAIL_EVERY sees pretrain_batch_size whole
# examples, the others TAIL_BATCH_FACTOR x as many "Question: ... [/INST]\nSQL"
# tails (about as many tokens). Loss weights per token: instruction + schema
# SCHEMA_WEIGHT, question QUESTION_WEIGHT, SQL + EOS 1. Each example has its
# values swapped with probability SWAP_PROBABILITY.
TAIL_EVERY = 4
TAIL_BATCH_FACTOR = 4
SCHEMA_WEIGHT = 0.0
QUESTION_WEIGHT = 0.3
SWAP_PROBABILITY = 1.0

_QUESTION_MARK = "\n" + QUESTION_LABEL
# The inst completion starts with data.prompt.completion_separator (the tiny
# preset's: a newline; the default: a space), which the split keeps with it.
_ANSWER_MARK = f" {INST_CLOSE}"
_LITERAL = re.compile(r'"[^"]*"|\'[^\']*\'|(?<![\w.])\d+(?:\.\d+)?(?![\w.])')
_SYLLABLES = ("ka", "lo", "mi", "ren", "do", "va", "ste", "or", "bel", "tu", "an", "gri", "po", "sel", "mar", "ix")


def _split_example(text: str) -> tuple[str, str, str, str] | None:
    """(instruction + schema, question, separator, SQL) of an ``inst`` record text, or None."""
    q_at, a_at = text.rfind(_QUESTION_MARK), text.rfind(_ANSWER_MARK)
    if q_at < 0 or a_at < q_at:
        return None
    q0, s0 = q_at + len(_QUESTION_MARK), a_at + len(_ANSWER_MARK)
    s0 += len(text[s0:]) - len(text[s0:].lstrip(" \n"))
    return text[:q0], text[q0:a_at], text[a_at:s0], text[s0:]


def _literal_pool(texts: Sequence[str]) -> list[str]:
    """The string literals with letters in the corpus' SQL, without quotes and ``%``."""
    pool = set()
    for text in texts:
        parts = _split_example(text)
        for m in _LITERAL.finditer(parts[3] if parts else ""):
            if m.group()[0] in "\"'" and re.search("[A-Za-z]", m.group()):
                pool.add(m.group()[1:-1].strip("%"))
    return sorted(pool)


def _new_value(old: str, rng: random.Random, pool: Sequence[str]) -> str:
    if re.fullmatch(r"[\d.\-: ]+", old):  # numbers and dates: new digits, same layout
        digits = [str(rng.randint(1 if i == 0 else 0, 9)) for i in range(len(old))]
        return "".join(d if c.isdigit() else c for c, d in zip(old, digits, strict=True))
    if pool and rng.random() < 0.5:
        return rng.choice(pool)
    return " ".join("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))).capitalize()
                    for _ in old.split() or [old])


def swap_values(text: str, rng: random.Random, pool: Sequence[str]) -> str:
    """Replace each SQL literal that the question spells out by a random value, in both,
    and in the schema where it shows the value quoted (``data.schema.matched_values``
    or ``sample_values``), so the schema never contradicts the swapped question.

    >>> swap_values("[INST] ...\\nQuestion: Venues above 300? [/INST]\\nSELECT name FROM venue WHERE capacity > 300",
    ...             random.Random(0), []).split("\\n")[1:]
    ['Question: Venues above 760? [/INST]', 'SELECT name FROM venue WHERE capacity > 760']
    """
    parts = _split_example(text)
    if parts is None:
        return text
    head, question, separator, sql = parts
    for m in list(_LITERAL.finditer(sql)):
        core = m.group()[1:-1].strip("%") if m.group()[0] in "\"'" else m.group()
        pattern = re.compile(r"(?<![\w.])" + re.escape(core) + r"(?![\w]|\.\d)")
        if core and pattern.search(question):
            new = _new_value(core, rng, pool)
            replacement = new.replace("\\", "\\\\")  # a literal for re.sub
            question, sql = pattern.sub(replacement, question), pattern.sub(replacement, sql)
            head = head.replace(repr(core), repr(new))
    return head + question + separator + sql


def _encode(tokenizer, text: str, tail: bool, max_length: int) -> tuple[list[int], list[float]]:
    """Token ids (BOS ... EOS) of ``text``, or of its question + SQL when ``tail``,
    and the loss weight of predicting each of them (the BOS is never predicted)."""
    def encode(t: str) -> list[int]:
        return tokenizer(t, add_special_tokens=False)["input_ids"]

    parts = _split_example(text)
    if parts is None:  # not an ``inst`` record: plain language modelling
        ids = encode(text)
        weights = [1.0] * len(ids)
    else:
        head, question, separator, sql = parts
        if tail:
            head = head[head.rfind(_QUESTION_MARK) + 1:]  # "Question: "
        ids = encode(head + question + separator + sql)
        n_head = len(encode(head))
        n_prompt = len(encode(head + question + separator.rstrip(" \n")))
        weights = ([QUESTION_WEIGHT if tail else SCHEMA_WEIGHT] * n_head
                   + [QUESTION_WEIGHT] * (n_prompt - n_head) + [1.0] * (len(ids) - n_prompt))
    ids = [tokenizer.bos_token_id] + ids + [tokenizer.eos_token_id]
    weights = [0.0] + weights + [1.0]
    return ids[:max_length], weights[:max_length]


def pretrain(model, tokenizer, texts: Sequence[str], config: TinyModelConfig, seed: int) -> list[float]:
    """Full-parameter causal-LM pretraining on ``texts``; returns the loss per step.

    Each row is one whole text (padded, cut at ``max_position_embeddings``),
    see TAIL_EVERY and the constants beside it. About 4,000-4,500 tokens per
    step like a 16 x 256 block; 450 steps take ~3 min on 2 CPU cores for the
    tiny.yaml shape.
    """
    import torch
    from tqdm.auto import tqdm

    if not texts:
        raise ValueError("pretraining corpus is empty")
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    pool = _literal_pool(texts)
    orders: dict[bool, list[int]] = {False: [], True: []}

    def next_batch(step: int) -> dict[str, torch.Tensor]:
        tail = TAIL_EVERY > 1 and step % TAIL_EVERY != TAIL_EVERY - 1
        size = config.pretrain_batch_size * (TAIL_BATCH_FACTOR if tail else 1)
        order = orders[tail]
        while len(order) < size:  # epochs of shuffled examples
            order += torch.randperm(len(texts), generator=generator).tolist()
        picked, orders[tail] = order[:size], order[size:]
        rows = [_encode(tokenizer, swap_values(texts[i], rng, pool) if rng.random() < SWAP_PROBABILITY
                        else texts[i], tail, config.max_position_embeddings) for i in picked]
        width = max(len(ids) for ids, _ in rows)
        batch = {"input_ids": torch.full((len(rows), width), tokenizer.pad_token_id),
                 "attention_mask": torch.zeros((len(rows), width), dtype=torch.long),
                 "weights": torch.zeros((len(rows), width))}
        for j, (ids, weights) in enumerate(rows):
            batch["input_ids"][j, : len(ids)] = torch.tensor(ids)
            batch["attention_mask"][j, : len(ids)] = 1
            batch["weights"][j, : len(ids)] = torch.tensor(weights)
        return batch

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.pretrain_learning_rate, weight_decay=0.01)
    warmup = max(1, config.pretrain_steps // 20)

    def lr_factor(step: int) -> float:  # linear warm-up, then cosine to 10%
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, config.pretrain_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    model.train()
    losses = []
    bar = tqdm(range(config.pretrain_steps), desc="pretraining tiny base", unit="step")
    for step in bar:
        batch = next_batch(step)
        weights = batch.pop("weights")[:, 1:]
        logits = model(**batch).logits[:, :-1]
        per_token = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), batch["input_ids"][:, 1:].reshape(-1), reduction="none")
        loss = (per_token * weights.reshape(-1)).sum() / weights.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        # refresh=False: the bar redraws at its own interval (30 s in batch logs).
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    model.eval()
    return losses


def ensure_tiny_base(config: TinyModelConfig, texts: Sequence[str], seed: int = 0) -> Path:
    """Build (or reuse) the tiny base model + tokenizer under ``config.base_dir``.

    Each distinct (tiny config, corpus, seed) gets its own sub-folder named by
    its fingerprint, because a trained adapter records the absolute path of its
    base: rebuilding a base in place (new vocabulary, new weights) would
    silently break every adapter trained on the old one. The folder is written
    to a temporary sibling and renamed into place, so a crash never leaves a
    half-built base that a later run would trust.

    Returns:
        The folder, loadable with ``AutoModelForCausalLM.from_pretrained``.
    """
    fingerprint = corpus_fingerprint(texts, config, seed)
    base_dir = Path(config.base_dir) / fingerprint[:16]
    if (base_dir / _FINGERPRINT_FILE).is_file():
        log.info("reusing tiny base model in %s", base_dir)
        return base_dir
    log.info("building tiny base model in %s", base_dir)
    tokenizer = train_tokenizer(texts, config.vocab_size)
    model = build_tiny_model(config, tokenizer, seed)
    losses = pretrain(model, tokenizer, texts, config, seed)
    staging = base_dir.with_name(f"{base_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / _FINGERPRINT_FILE).write_text(json.dumps({
        "fingerprint": fingerprint, "config": asdict(config), "seed": seed,
        "pretrain_loss_first": losses[0], "pretrain_loss_last": losses[-1],
    }, indent=2))
    try:
        staging.rename(base_dir)
    except OSError:  # another process finished the same base first: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
    log.info("tiny base pretrained: loss %.3f -> %.3f", losses[0], losses[-1])
    return base_dir
