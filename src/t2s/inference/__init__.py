"""Inference: the only place in t2s that generates SQL with a model.

- :mod:`.generate` — :class:`~t2s.inference.generate.SQLGenerator`, batched
  Hugging Face generation (left padding, length-sorted batches);
- :mod:`.backends` — the backend interface, HF and an OpenAI-compatible engine
  (:mod:`.openai_backend`, e.g. vLLM started by ``t2s engine``);
- :mod:`.shared_base` — many LoRA adapters on one base model (``t2s serve``);
- :mod:`.postprocess` — SQL extraction from raw completions, pretty printing;
- :mod:`.pipeline` — questions -> prompts -> predictions (used by evaluation);
- :mod:`.guided` — execution-guided selection among candidates;
- :mod:`.batch` — resumable batch jobs over question files;
- :mod:`.command`, :mod:`.repl_command`, :mod:`.export_command` — the CLI.

This ``__init__`` imports nothing heavy: torch and transformers load when a
model does.
"""

from t2s.inference.pipeline import generate_predictions

__all__ = ["generate_predictions"]
