"""Packed and padding-free batches (``train.packing``, ``train.padding_free``).

Padded batches spend compute on pad tokens: Spider prompts run from ~100 to
~900 tokens, so a batch padded to its longest row is often half padding.
Packing (TRL's best-fit-decreasing, ``packing_strategy="bfd"``) places whole
examples into rows of up to ``train.max_seq_length`` tokens; padding-free puts a
batch into one row. Both keep each example intact (no cut between prompt and
SQL) and emit ``position_ids`` that restart at 0 for every example and no
attention mask; transformers then derives a block-diagonal causal mask from the
position ids (SDPA/eager on CPU) or calls varlen flash-attention (GPU), so no
token attends across examples (``tests/data/test_packing.py`` checks both the labels
and the logits). The completion-only labels are carried per example.
"""

from __future__ import annotations

from typing import Any

from t2s.config import TrainConfig


def packing_arguments(train: TrainConfig) -> dict[str, Any]:
    """SFTConfig arguments for ``train.packing`` / ``train.padding_free``.

    Without packing, padding-free rows are not cut to ``max_length`` by TRL
    (it refuses the combination); t2s drops over-long examples before training
    (:func:`t2s.data.sft.apply_length_limit`), so no length limit is needed there.
    """
    unbounded = train.padding_free and not train.packing
    return {"packing": train.packing, "packing_strategy": "bfd",
            "padding_free": train.padding_free,
            "max_length": None if unbounded else train.max_seq_length}


def segments(position_ids: list[int]) -> list[tuple[int, int]]:
    """(start, end) of each packed example in a row: a new one starts where positions reset to 0.

    >>> segments([0, 1, 2, 0, 1, 0])
    [(0, 3), (3, 5), (5, 6)]
    """
    starts = [i for i, p in enumerate(position_ids) if p == 0]
    return list(zip(starts, [*starts[1:], len(position_ids)], strict=True))
