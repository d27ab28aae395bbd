"""Batched SQL generation with a Hugging Face model: the only place that calls ``generate``.

Prompts are tokenized exactly as TRL tokenized them in training (``tokenizer(text)``
for the ``inst`` format, ``apply_chat_template(..., add_generation_prompt=True)``
for chat models), sorted by length so each batch holds prompts of similar length
(less padding), left-padded (a decoder continues from the last position, so the
padding must sit on the left) and generated with an attention mask; transformers
derives the position ids from that mask, so a padded prompt sees the same
positions as it would alone. Greedy decoding in a batch therefore gives the same
tokens as one prompt at a time (``tests/inference/test_inference.py`` checks it, in fp32 on
CPU). In bf16/fp16 on a GPU, kernels may sum in a different order for another
batch shape, so a near-tie between two tokens can rarely flip.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from t2s.config import DataConfig, Decoding, InferConfig, ModelConfig, resolve_precision
from t2s.data.chat_templates import END_OF_TURN, setup_chat_template
from t2s.errors import InputError
from t2s.inference.postprocess import extract_sql
from t2s.models.loading import load_trained

log = logging.getLogger(__name__)

# A prompt is the rendered ``[INST] ... [/INST]`` string or chat messages
# (see :func:`t2s.data.prompts.build_prompt`).
Prompt = str | list[dict[str, str]]

class PromptTooLongError(InputError):
    """A prompt plus the tokens to generate does not fit the model's context."""


@dataclass(frozen=True)
class Generation:
    """What the model produced for one prompt.

    Attributes:
        sql: The SQL of the top sequence (see :func:`~t2s.inference.postprocess.extract_sql`).
        completion: The raw decoded text of the top sequence (special tokens removed).
        candidates: The SQL of every returned sequence, best first (one unless
            several candidates were asked for).
        prompt_tokens: Tokens in the prompt.
        completion_tokens: Generated tokens of the top sequence, up to and
            including the end-of-sequence token.
        latency_s: Wall time of the ``generate`` call that produced it (the
            whole batch: what a user of the batch waited).
        batch_size: Prompts in that call.
        error: Why nothing was generated (e.g. the prompt is too long); the
            other fields are then empty.
        retryable: The error is the engine's (``infer.backend=openai``: down,
            failing or too slow), not the prompt's: the same request may succeed later.
    """

    sql: str = ""
    completion: str = ""
    candidates: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    batch_size: int = 0
    error: str | None = None
    retryable: bool = False


@dataclass
class _Encoded:
    index: int
    ids: list[int]
    error: str | None = None


def encode_prompt(tokenizer: Any, prompt: Prompt) -> list[int]:
    """Token ids of ``prompt`` as TRL's SFTTrainer tokenized prompts in training.

    A string goes through ``tokenizer(text=...)`` (special tokens such as BOS
    added); chat messages through ``apply_chat_template`` with the generation
    prompt, which adds its own special tokens.
    """
    if isinstance(prompt, list):
        encoded = tokenizer.apply_chat_template(prompt, tokenize=True, return_dict=True,
                                                add_generation_prompt=True)
        return list(encoded["input_ids"])
    return list(tokenizer(text=prompt)["input_ids"])


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    """The prompt as the model sees it (chat messages rendered by the template)."""
    if isinstance(prompt, list):
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return prompt


def check_prompt_length(prompt_tokens: int, max_new_tokens: int, context_length: int | None) -> None:
    """Check that a prompt leaves room for ``max_new_tokens`` in the context.

    Raises:
        PromptTooLongError: naming both numbers and the limit.
    """
    if context_length is not None and prompt_tokens + max_new_tokens > context_length:
        raise PromptTooLongError(
            f"the prompt has {prompt_tokens} tokens; with infer.max_new_tokens={max_new_tokens} "
            f"that exceeds the model's context of {context_length} tokens (shorten the "
            "question, use a smaller schema, or lower infer.max_new_tokens)")


class SQLGenerator:
    """Generates SQL for prompts with a Hugging Face causal LM (optionally a PEFT model).

    Args:
        model: A causal LM in eval mode, on its device.
        tokenizer: Its tokenizer (needs a pad token; :func:`t2s.models.loading.load_tokenizer` sets one).
        decoding: Decoding settings (default: ``infer.*``'s defaults).
        context_length: Maximum prompt + generated tokens; default: the model's
            ``max_position_embeddings``.
        adapter_name: The PEFT adapter to generate with when the model holds
            several (:class:`~t2s.inference.shared_base.SharedBase`), else None.
        model_lock: Entered around every ``generate`` of a model shared with
            other generators (the shared base), else None.
    """

    def __init__(self, model: Any, tokenizer: Any, decoding: Decoding | None = None,
                 context_length: int | None = None, adapter_name: str | None = None,
                 model_lock: AbstractContextManager | None = None) -> None:
        self.model = model
        self.adapter_name = adapter_name
        self.model_lock = model_lock
        self.tokenizer = tokenizer
        self.decoding = decoding or Decoding()
        self.context_length = context_length or getattr(model.config, "max_position_embeddings", None)
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer has no pad token; load it with t2s.models.loading.load_tokenizer")
        self.eos_ids = self._eos_ids()

    @classmethod
    def from_config(cls, infer: InferConfig, model_config: ModelConfig,
                    data: DataConfig | None = None) -> SQLGenerator:
        """Load ``infer.adapter_path`` (adapter over its base, or a merged model).

        ``data`` gives the prompt format and chat-template choice (default: inst).

        Raises:
            T2SError: if the model folder is missing or cannot be loaded.
            ConfigError: if the requested precision does not fit the hardware, or
                the chat format meets a tokenizer without a usable template.
        """
        import torch

        cuda = torch.cuda.is_available()
        precision = resolve_precision(infer.precision, cuda,
                                      cuda and torch.cuda.is_bf16_supported(), key="infer.precision")
        model, tokenizer = load_trained(infer.adapter_path, model_config, precision=precision)
        # A clear error, not transformers' ValueError at the first prompt, when
        # the chat format meets a tokenizer without a template.
        data = data or DataConfig()
        setup_chat_template(tokenizer, data.prompt_format, data.prompt, infer.adapter_path)
        if cuda:
            model = model.to("cuda")
        return cls(model, tokenizer, infer.decoding)

    def _eos_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif isinstance(configured, list | tuple):
            ids.update(configured)
        if END_OF_TURN in (getattr(self.tokenizer, "chat_template", None) or ""):
            # ChatML turns end on <|im_end|>, which is not the tokenizer's EOS (Qwen2: <|endoftext|>).
            ids.add(self.tokenizer.convert_tokens_to_ids(END_OF_TURN))
        return sorted(i for i in ids if i is not None)

    # ------------------------------------------------------------------ prompts

    def encode(self, prompt: Prompt) -> list[int]:
        """Token ids of ``prompt``, exactly as training tokenized the prompt."""
        return encode_prompt(self.tokenizer, prompt)

    def render(self, prompt: Prompt) -> str:
        """The prompt as the model sees it (chat messages rendered by the template)."""
        return render_prompt(self.tokenizer, prompt)

    def check_length(self, prompt_tokens: int) -> None:
        """Check that a prompt leaves room for ``max_new_tokens`` in the context.

        Raises:
            PromptTooLongError: naming both numbers and the limit.
        """
        check_prompt_length(prompt_tokens, self.decoding.max_new_tokens, self.context_length)

    # --------------------------------------------------------------- generation

    def generate(self, prompts: Sequence[Prompt], num_candidates: int = 1,
                 on_batch: Callable[[int], None] | None = None) -> list[Generation]:
        """Generate for every prompt, in batches of ``decoding.batch_size``.

        Args:
            prompts: Rendered prompts or chat messages.
            num_candidates: Sequences to return per prompt (beam search with at
                least this many beams, or sampling when ``do_sample``).
            on_batch: Called with the number of prompts finished after each batch.

        Returns:
            One :class:`Generation` per prompt, in the order of ``prompts``; a
            prompt too long for the context gets ``error`` set instead of raising.
        """
        return self.generate_ids([self.encode(p) for p in prompts], num_candidates, on_batch)

    def generate_ids(self, prompt_ids: Sequence[list[int]], num_candidates: int = 1,
                     on_batch: Callable[[int], None] | None = None,
                     adapter_names: Sequence[str] | None = None) -> list[Generation]:
        """:meth:`generate` for prompts already tokenized, optionally one adapter per prompt.

        Args:
            adapter_names: The PEFT adapter of each prompt (a batch mixing the
                adapters of one shared base); default: ``adapter_name`` for all.
        """
        names = list(adapter_names) if adapter_names is not None else (
            [self.adapter_name] * len(prompt_ids) if self.adapter_name else None)
        encoded = []
        for index, ids in enumerate(prompt_ids):
            try:
                self.check_length(len(ids))
            except PromptTooLongError as exc:
                encoded.append(_Encoded(index, ids, str(exc)))
                continue
            encoded.append(_Encoded(index, ids))
        results: list[Generation | None] = [None] * len(prompt_ids)
        for item in encoded:
            if item.error:
                results[item.index] = Generation(prompt_tokens=len(item.ids), error=item.error)
        # Longest first: similar lengths share a batch (less padding), and a batch
        # too big for memory fails at the start rather than after an hour.
        ready = sorted((e for e in encoded if not e.error), key=lambda e: -len(e.ids))
        size = self.decoding.batch_size
        for start in range(0, len(ready), size):
            batch = ready[start:start + size]
            rows = [names[e.index] for e in batch] if names is not None else None
            for item, generation in zip(batch, self._generate_batch([e.ids for e in batch],
                                                                    num_candidates, rows),
                                        strict=True):
                results[item.index] = generation
            if on_batch is not None:
                on_batch(len(batch))
        return [r if r is not None else Generation(error="not generated") for r in results]

    def _generation_config(self, num_candidates: int):
        decoding = self.decoding
        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = decoding.max_new_tokens
        config.max_length = None
        config.do_sample = decoding.do_sample
        config.num_return_sequences = num_candidates
        config.pad_token_id = self.tokenizer.pad_token_id
        # Without EOS the model runs to max_new_tokens; only benchmarks want that.
        config.eos_token_id = self.eos_ids if decoding.stop_at_eos else None
        if not decoding.stop_at_eos:
            # generate() falls back to the model's own eos_token_id when ours is
            # None (measured, transformers 5.24): masking EOS until the last
            # token is what makes every row really run to max_new_tokens.
            config.min_new_tokens = decoding.max_new_tokens
        if decoding.do_sample:
            config.temperature = decoding.temperature
            config.top_p = decoding.top_p
            config.num_beams = 1
        else:
            # Greedy for one candidate; beam search must return k distinct beams.
            config.temperature, config.top_p, config.top_k = None, None, None
            config.num_beams = max(decoding.num_beams, num_candidates)
        return config

    def _generate_batch(self, batch_ids: list[list[int]], num_candidates: int,
                        adapter_names: list[str] | None = None) -> list[Generation]:
        import torch

        device = next(self.model.parameters()).device
        width = max(len(ids) for ids in batch_ids)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(batch_ids), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(batch_ids), width), dtype=torch.long)
        for row, ids in enumerate(batch_ids):
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids):] = 1
        if self.decoding.do_sample:
            torch.manual_seed(self.decoding.seed)
        generation_config = self._generation_config(num_candidates)
        extra: dict[str, Any] = {}
        if adapter_names is not None:
            extra["adapter_names"] = adapter_names
            if generation_config.num_beams > 1:
                # peft repeats each row's adapter name per beam only when it sees
                # num_beams as an argument (it does not read the generation config).
                extra["num_beams"] = generation_config.num_beams
        started = time.perf_counter()
        with self.model_lock or nullcontext(), torch.inference_mode():
            output = self.model.generate(input_ids=input_ids.to(device),
                                         attention_mask=attention_mask.to(device),
                                         generation_config=generation_config, **extra)
        latency = time.perf_counter() - started
        sequences = output.sequences if hasattr(output, "sequences") else output
        new_tokens = sequences[:, width:].tolist()
        generations = []
        for row, ids in enumerate(batch_ids):
            texts, counts = [], []
            for seq in new_tokens[row * num_candidates:(row + 1) * num_candidates]:
                kept = self._cut_at_eos(seq)
                counts.append(len(kept))
                texts.append(self.tokenizer.decode(kept, skip_special_tokens=True))
            generations.append(Generation(
                sql=extract_sql(texts[0]), completion=texts[0],
                candidates=tuple(extract_sql(t) for t in texts), prompt_tokens=len(ids),
                completion_tokens=counts[0], latency_s=latency, batch_size=len(batch_ids)))
        return generations

    def _cut_at_eos(self, tokens: list[int]) -> list[int]:
        """Tokens up to and including the first EOS (later ones are padding)."""
        if not self.decoding.stop_at_eos:
            return tokens
        for position, token in enumerate(tokens):
            if token in self.eos_ids:
                return tokens[:position + 1]
        return tokens
