"""Generation backends behind one interface: Hugging Face (default) and vLLM (GPU, optional).

Both take the same prompts, tokenize them the same way (:func:`~t2s.inference.generate.encode_prompt`,
exactly as training did) and return the same :class:`~t2s.inference.generate.Generation`
records, so single questions, batch jobs, the REPL and evaluation do not care
which one runs (``infer.backend``).

The vLLM backend (``pip install 't2s[vllm]'``, CUDA only) loads the base model
and passes a LoRA adapter through as a ``LoRARequest``; vLLM schedules its own
batches (continuous batching); a batch job hands it windows of
``4 x infer.batch_size`` questions, so set ``infer.batch_size`` high (e.g. 256)
with vLLM. Not run
on the CPU machines t2s is developed on: only the parts that need no vLLM
(sampling settings, turning outputs into records) are tested there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from t2s.config import DataConfig, Decoding, InferConfig, ModelConfig
from t2s.errors import T2SError
from t2s.inference.generate import (
    Generation,
    Prompt,
    PromptTooLongError,
    SQLGenerator,
    check_prompt_length,
    encode_prompt,
    render_prompt,
)
from t2s.inference.openai_backend import OpenAIBackend
from t2s.inference.postprocess import extract_sql
from t2s.models.loading import is_adapter_folder, load_tokenizer


class Backend(Protocol):
    """What every generation backend offers: it decodes as its :class:`~t2s.config.Decoding` says."""

    decoding: Decoding
    context_length: int | None

    def encode(self, prompt: Prompt) -> list[int]:
        """Token ids of a prompt, as training tokenized it."""

    def render(self, prompt: Prompt) -> str:
        """The prompt text the model sees."""

    def generate(self, prompts: Sequence[Prompt], num_candidates: int = 1,
                 on_batch: Callable[[int], None] | None = None) -> list[Generation]:
        """One :class:`Generation` per prompt, in order."""


def load_backend(infer: InferConfig, model_config: ModelConfig,
                 data: DataConfig | None = None) -> Backend:
    """Load the backend named by ``infer.backend`` with the model at ``infer.adapter_path``.

    Raises:
        T2SError: if the model cannot be loaded, vLLM is asked for but not installed, or
            the engine of ``infer.backend=openai`` fails its start-up checks.
    """
    if infer.backend == "vllm":
        return VLLMGenerator.from_config(infer, model_config)
    if infer.backend == "openai":
        return OpenAIBackend.from_config(infer, model_config, data)

    return SQLGenerator.from_config(infer, model_config, data)


# ---------------------------------------------------------------------------- vLLM


def vllm_sampling_kwargs(decoding: Decoding, n: int, eos_ids: Sequence[int],
                         sample: bool) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for one request kind.

    Args:
        decoding: Decoding settings.
        n: Sequences per prompt.
        eos_ids: Token ids that end a sequence.
        sample: Sample (``temperature``/``top_p`` from ``decoding``) rather than
            decode greedily (temperature 0, vLLM's greedy).
    """
    return {
        "n": n,
        "max_tokens": decoding.max_new_tokens,
        "temperature": decoding.temperature if sample else 0.0,
        "top_p": decoding.top_p if sample else 1.0,
        "seed": decoding.seed if sample else None,
        "stop_token_ids": list(eos_ids),
        "ignore_eos": not decoding.stop_at_eos,
        "skip_special_tokens": True,
    }


def generations_from_outputs(primary: Sequence[Any], extra: Sequence[Any] | None,
                             latency_s: float) -> list[Generation]:
    """Turn vLLM ``RequestOutput`` lists into :class:`Generation` records.

    Args:
        primary: One output per prompt; its first completion is the answer.
        extra: Optional second request per prompt whose completions are
            appended as further candidates (execution-guided selection).
        latency_s: Wall time of the requests.
    """
    generations = []
    for index, output in enumerate(primary):
        completions = list(output.outputs)
        if extra is not None:
            completions += list(extra[index].outputs)
        top = completions[0]
        generations.append(Generation(
            sql=extract_sql(top.text), completion=top.text,
            candidates=tuple(extract_sql(c.text) for c in completions),
            prompt_tokens=len(output.prompt_token_ids), completion_tokens=len(top.token_ids),
            latency_s=latency_s, batch_size=len(primary)))
    return generations


class VLLMGenerator:
    """vLLM generation with the same interface as :class:`~t2s.inference.generate.SQLGenerator`.

    Candidates for execution-guided selection: with ``do_sample`` all ``k`` are
    sampled; otherwise the first is the greedy answer and ``k - 1`` more are
    sampled at ``infer.temperature`` (vLLM's beam search is a separate,
    slower API), so "changed the answer" is measured against greedy decoding.

    Args:
        llm: A ``vllm.LLM``.
        tokenizer: The Hugging Face tokenizer of the model.
        decoding: Decoding settings.
        lora_request: A ``vllm.lora.request.LoRARequest`` or None for a merged model.
        context_length: Maximum prompt + generated tokens.
    """

    def __init__(self, llm: Any, tokenizer: Any, decoding: Decoding,
                 lora_request: Any = None, context_length: int | None = None) -> None:
        self.llm = llm
        self.tokenizer = tokenizer
        self.decoding = decoding
        self.lora_request = lora_request
        self.context_length = context_length
        eos = tokenizer.eos_token_id
        self.eos_ids = [eos] if eos is not None else []

    @classmethod
    def from_config(cls, infer: InferConfig, model_config: ModelConfig) -> VLLMGenerator:
        """Start vLLM on the adapter's base model, with the adapter as a LoRA request.

        Raises:
            T2SError: if vLLM is not installed or the model folder is missing.
        """
        try:
            from vllm import LLM
            from vllm.lora.request import LoRARequest
        except ImportError:
            raise T2SError("infer.backend=vllm needs vLLM on a CUDA machine: "
                           "pip install 't2s[vllm]' (or use infer.backend=hf)") from None

        path = Path(infer.adapter_path)
        if not path.is_dir():
            raise T2SError(f"model folder {path} does not exist; set infer.adapter_path")
        # The engine's own seed is fixed (the default infer.seed); a sampled
        # request carries infer.seed itself (vllm_sampling_kwargs).
        kwargs: dict[str, Any] = {"seed": Decoding().seed,
                                  "trust_remote_code": model_config.trust_remote_code}
        if model_config.dtype != "auto":
            kwargs["dtype"] = model_config.dtype
        lora_request = None
        model_path = str(path)
        if is_adapter_folder(path):
            adapter = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
            model_path = adapter["base_model_name_or_path"]
            kwargs.update(enable_lora=True, max_lora_rank=max(8, int(adapter.get("r", 8))))
            lora_request = LoRARequest("t2s-adapter", 1, str(path.resolve()))
        tokenizer_source = str(path) if (path / "tokenizer_config.json").is_file() else model_path
        tokenizer = load_tokenizer(tokenizer_source)
        llm = LLM(model=model_path, tokenizer=tokenizer_source, **kwargs)
        context = llm.llm_engine.model_config.max_model_len
        return cls(llm, tokenizer, infer.decoding, lora_request, context)

    def encode(self, prompt: Prompt) -> list[int]:
        return encode_prompt(self.tokenizer, prompt)

    def render(self, prompt: Prompt) -> str:
        return render_prompt(self.tokenizer, prompt)

    def generate(self, prompts: Sequence[Prompt], num_candidates: int = 1,
                 on_batch: Callable[[int], None] | None = None) -> list[Generation]:
        """Generate for all prompts in one vLLM call (it batches internally)."""
        from vllm import SamplingParams

        encoded = [self.encode(p) for p in prompts]
        results: list[Generation | None] = [None] * len(prompts)
        ready: list[int] = []
        for index, ids in enumerate(encoded):
            try:
                check_prompt_length(len(ids), self.decoding.max_new_tokens, self.context_length)
            except PromptTooLongError as exc:
                results[index] = Generation(prompt_tokens=len(ids), error=str(exc))
                continue
            ready.append(index)
        inputs = [{"prompt_token_ids": encoded[i]} for i in ready]
        sample = self.decoding.do_sample
        first_n = num_candidates if sample else 1
        started = time.perf_counter()
        primary = self.llm.generate(
            inputs, SamplingParams(**vllm_sampling_kwargs(self.decoding, first_n, self.eos_ids, sample)),
            lora_request=self.lora_request, use_tqdm=False)
        extra = None
        if not sample and num_candidates > 1:
            extra = self.llm.generate(
                inputs, SamplingParams(**vllm_sampling_kwargs(self.decoding, num_candidates - 1,
                                                              self.eos_ids, True)),
                lora_request=self.lora_request, use_tqdm=False)
        latency = time.perf_counter() - started
        for index, generation in zip(ready, generations_from_outputs(primary, extra, latency),
                                     strict=True):
            results[index] = generation
        if on_batch is not None:
            on_batch(len(prompts))
        return [r if r is not None else Generation(error="not generated") for r in results]
