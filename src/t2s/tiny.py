"""The offline tiny model: a BPE tokenizer and a small Llama, built locally.

No weights can be downloaded on the machines t2s is developed and tested on, so
``model.name_or_path: tiny`` builds a base model from scratch:

1. a byte-level BPE tokenizer trained with the ``tokenizers`` library on the
   training split's text (schemas, questions, SQL);
2. a Llama-architecture model from ``model.tiny`` (default 2 layers, dim 128);
3. a short full-parameter pretraining on the same text, because a randomly
   initialised base barely learns through LoRA alone (measured: loss 7.5 -> 7.2).

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
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from t2s.config import TinyModelConfig

log = logging.getLogger(__name__)

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
_FINGERPRINT_FILE = "t2s_tiny_base.json"
# Bump when the way the base is built changes, so stale bases are rebuilt.
_BUILD_VERSION = 2


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
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
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


def pretrain(model, tokenizer, texts: Sequence[str], config: TinyModelConfig, seed: int) -> list[float]:
    """Full-parameter causal-LM pretraining on ``texts``; returns the loss per step.

    Texts are joined with EOS and cut into ``pretrain_seq_length`` blocks:
    16 blocks x 256 tokens = 4,096 tokens per step, 300 steps ~ 1.2M tokens,
    about 15-30 s on 2 CPU cores for the default shape.
    """
    import torch
    from tqdm.auto import tqdm

    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        ids.append(tokenizer.eos_token_id)
    block = min(config.pretrain_seq_length, config.max_position_embeddings)
    n_blocks = len(ids) // block
    if n_blocks == 0:
        raise ValueError(f"pretraining corpus has {len(ids)} tokens, fewer than one block of {block}")
    data = torch.tensor(ids[: n_blocks * block]).view(n_blocks, block)
    generator = torch.Generator().manual_seed(seed)
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
    for _ in bar:
        batch = data[torch.randint(0, n_blocks, (config.pretrain_batch_size,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
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
