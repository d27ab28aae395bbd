"""Generation backends behind one interface: Hugging Face (default) and an OpenAI-compatible engine.

Both take the same prompts, tokenize them the same way (:func:`~t2s.inference.generate.encode_prompt`,
exactly as training did) and return the same :class:`~t2s.inference.generate.Generation`
records, so single questions, batch jobs, the REPL and evaluation do not care
which one runs (``infer.backend``). vLLM runs as a server beside t2s
(``t2s engine``) behind ``infer.backend=openai``
(:class:`~t2s.inference.openai_backend.OpenAIBackend`), in a venv of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from t2s.config import DataConfig, Decoding, InferConfig, ModelConfig
from t2s.inference.generate import (
    Generation,
    Prompt,
    SQLGenerator,
)
from t2s.inference.openai_backend import OpenAIBackend


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
        T2SError: if the model cannot be loaded, or the engine of
            ``infer.backend=openai`` fails its start-up checks.
    """
    if infer.backend == "openai":
        return OpenAIBackend.from_config(infer, model_config, data)

    return SQLGenerator.from_config(infer, model_config, data)
