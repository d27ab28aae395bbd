"""Inference: the only place in t2s that generates SQL with a model.

- :mod:`.generate` — :class:`~t2s.inference.generate.SQLGenerator`, batched
  Hugging Face generation (left padding, length-sorted batches);
- :mod:`.backends` — the backend interface, HF and vLLM;
- :mod:`.postprocess` — SQL extraction from raw completions, pretty printing;
- :mod:`.pipeline` — questions -> prompts -> predictions (used by evaluation);
- :mod:`.guided` — execution-guided selection among candidates;
- :mod:`.batch` — resumable batch jobs over question files;
- :mod:`.command`, :mod:`.repl_command`, :mod:`.export_command` — the CLI.

This ``__init__`` imports nothing heavy; :func:`generate_predictions` loads the
pipeline (and torch) only when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from t2s.config import Config
    from t2s.data.spider import Example, SpiderDataset
    from t2s.inference.pipeline import Prediction


def generate_predictions(config: Config, examples: Sequence[Example], dataset: SpiderDataset,
                         progress: bool = True, backend: Any = None) -> list[Prediction]:
    """Predict SQL for Spider-format examples with ``infer.adapter_path``.

    See :func:`t2s.inference.pipeline.generate_predictions` (this is a lazy alias).

    Raises:
        T2SError: if the model cannot be loaded.
    """
    from t2s.inference.pipeline import generate_predictions as _generate

    return _generate(config, examples, dataset, progress=progress, backend=backend)


__all__ = ["generate_predictions"]
