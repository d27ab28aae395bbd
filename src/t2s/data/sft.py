"""Supervised fine-tuning records: prompt/completion pairs and length accounting.

Records are TRL's prompt-completion format (``{"prompt", "completion"}``), so
SFTTrainer masks the prompt tokens and trains on the completion only.
Examples longer than ``max_seq_length`` are never cut (a cut would drop the end
of the SQL or the EOS token, teaching the model to stop mid-query): they are
dropped and counted, or the run stops, per ``data.overlength``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from t2s.config import Dialect, PromptConfig
from t2s.data.prompts import SchemaTextCache, build_completion, build_prompt, prompt_evidence
from t2s.data.spider import Example
from t2s.db.transpile import TranspileError, schema_names, to_postgres
from t2s.errors import DataError

log = logging.getLogger(__name__)


def build_records(examples: Sequence[Example], schema_texts: SchemaTextCache,
                  prompt_format: str = "inst", evidence: bool = False,
                  prompt: PromptConfig | None = None) -> list[dict[str, Any]]:
    """Prompt/completion records for ``examples`` (plus ``db_id`` and ``index``).

    ``evidence`` is ``data.evidence``: put each example's evidence in its prompt.
    """
    prompt = prompt or PromptConfig()
    return [
        {
            "prompt": build_prompt(e.question, schema_texts.text(e.db_id, e.question), prompt_format,
                                   prompt, prompt_evidence(e.evidence, evidence)),
            "completion": build_completion(e.query, prompt_format, prompt),
            "db_id": e.db_id,
            "index": e.index,
        }
        for e in examples
    ]


def in_dialect(examples: Sequence[Example], schema_texts: SchemaTextCache,
               dialect: Dialect) -> tuple[list[Example], list[int]]:
    """``examples`` with their gold SQL (written for SQLite) in ``dialect``, and the
    indices of those that could not be carried over (left out).

    For ``postgres`` each query goes through :func:`t2s.db.transpile.to_postgres`
    with the names of its database as the prompt shows it (the server's, for a
    DSN). Measured on Spider dev: 882 of 972 gold queries then return the same
    rows on both engines (BENCHMARKS.md); the rest transpile but differ or fail
    on PostgreSQL, which training cannot see without running them.

    Raises:
        DataError: if a database's schema cannot be read (a DSN's server is down).
    """
    if dialect == "sqlite":
        return list(examples), []
    kept, dropped = [], []
    names: dict[str, set[str]] = {}
    for example in examples:
        if example.db_id not in names:
            names[example.db_id] = schema_names(schema_texts.schema(example.db_id))
        try:
            kept.append(replace(example, query=to_postgres(example.query, names[example.db_id])))
        except TranspileError as exc:
            log.warning("example %d (%s) left out: its gold SQL %s", example.index, example.db_id, exc)
            dropped.append(example.index)
    return kept, dropped


@dataclass
class LengthReport:
    """How many records of a split fit ``max_length`` tokens, and what was done."""

    split: str
    max_length: int
    total: int
    kept: int
    longest: int
    dropped_indices: list[int] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return self.total - self.kept

    def summary(self) -> str:
        return (f"{self.split}: {self.kept}/{self.total} examples fit {self.max_length} tokens "
                f"(longest {self.longest}); dropped {self.dropped}")


def token_lengths(records: Sequence[dict[str, Any]], tokenizer: Any) -> list[int]:
    """Tokens of prompt + completion + EOS for each record, as training sees them."""
    lengths = []
    for record in records:
        prompt, completion = record["prompt"], record["completion"]
        if isinstance(prompt, list):  # chat messages
            # _ids: transformers 5 tokenizers return a BatchEncoding here, whose len()
            # is its number of keys (2), which let every chat record "fit" any limit.
            lengths.append(len(_ids(tokenizer, prompt + completion)))
        else:
            ids = tokenizer(prompt + completion)["input_ids"]
            lengths.append(len(ids) + 1)  # + EOS, which TRL appends
    return lengths


def apply_length_limit(records: list[dict[str, Any]], tokenizer: Any, max_length: int,
                       policy: str, split: str) -> tuple[list[dict[str, Any]], LengthReport]:
    """Keep records that fit ``max_length`` tokens; report the rest.

    Raises:
        DataError: if ``policy`` is ``error`` and any record is too long, or if
            no record fits at all.
    """
    lengths = token_lengths(records, tokenizer)
    kept = [r for r, n in zip(records, lengths, strict=True) if n <= max_length]
    report = LengthReport(
        split=split, max_length=max_length, total=len(records), kept=len(kept),
        longest=max(lengths, default=0),
        dropped_indices=[r["index"] for r, n in zip(records, lengths, strict=True) if n > max_length],
    )
    if report.dropped and policy == "error":
        raise DataError(f"{report.summary()}; raise train.max_seq_length or set "
                        "data.overlength=drop (first too-long example indices: "
                        f"{report.dropped_indices[:10]})")
    if records and not kept:
        raise DataError(f"{report.summary()}: no example fits; raise train.max_seq_length")
    if report.dropped:
        log.warning("%s", report.summary())
    return kept, report


def _ids(tokenizer: Any, prompt: Any, **chat: Any) -> list[int]:
    if isinstance(prompt, list):
        ids = tokenizer.apply_chat_template(prompt, tokenize=True, **chat)
        return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
    return list(tokenizer(prompt)["input_ids"])


def check_token_boundary(records: Sequence[dict[str, Any]], tokenizer: Any,
                         sample: int = 32) -> None:
    """Check that each tokenized prompt is a prefix of its tokenized prompt+completion.

    TRL starts the completion mask where the two diverge; when tokens merge across
    the boundary (Qwen2's byte-level BPE makes ``]\\n`` one token), the end of the
    prompt is trained as completion and the model is trained on a context it
    never sees at inference. The boundary text is the same for every record, so
    the first ``sample`` records show it.

    Raises:
        DataError: naming the merged tokens and the setting that avoids them.
    """
    for record in records[:sample]:
        prompt, completion = record["prompt"], record["completion"]
        if isinstance(prompt, list):
            alone = _ids(tokenizer, prompt, add_generation_prompt=True)
            whole = _ids(tokenizer, prompt + completion)
        else:
            alone, whole = _ids(tokenizer, prompt), _ids(tokenizer, prompt + completion)
        if whole[:len(alone)] != alone:
            shared = next((i for i, (a, b) in enumerate(zip(alone, whole, strict=False))
                           if a != b), min(len(alone), len(whole)))
            raise DataError(
                f"record {record['index']}: the tokenized prompt is not a prefix of prompt + "
                f"completion: the prompt ends {tokenizer.decode(alone[shared:])!r} alone but "
                f"{tokenizer.decode(whole[shared:shared + 2])!r} with the completion (tokens merge "
                "across the boundary). Set data.prompt.completion_separator to ' ' (inst) or use "
                "a chat template that renders the prompt the same way alone")
