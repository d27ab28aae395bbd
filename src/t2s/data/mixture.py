"""Mixtures of sources, de-duplication and the train/eval contamination check.

A mixture (``data.sources``) concatenates the training splits of its sources,
each repeated or sub-sampled by its ``weight``, and their evaluation splits
(never reweighted). Within each split, examples with the same normalised
question and SQL on the same database are kept once (first source wins).

:func:`contamination` compares any training split with its evaluation split:
exact and near-duplicate questions, and databases present in both. It runs for
every training run (one source or a mixture); ``data.contamination`` decides
whether overlap warns, stops the run, or is not checked.
"""

from __future__ import annotations

import random
import re
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from t2s.config import SourceConfig
from t2s.data.prompts import normalize_sql
from t2s.data.records import SourceData
from t2s.data.spider import Example
from t2s.errors import DataError

# Two questions whose word sets overlap by >= 0.8 (Jaccard) are near-duplicates:
# on Spider dev this flags rephrasings such as "How many singers are there?" vs
# "How many singers do we have?" (0.5) as distinct, and "What is the name of
# the oldest singer?" vs "What is the name of the oldest singer ?" (1.0) as the same.
NEAR_DUPLICATE_JACCARD = 0.8

_WORD = re.compile(r"[a-z0-9]+")


def normalize_question(question: str) -> str:
    """Lower case, words only: ``"How many  Singers?"`` -> ``"how many singers"``."""
    return " ".join(_WORD.findall(question.lower()))


def dedup_key(example: Example) -> tuple[str, str, str]:
    """What makes two examples the same: normalised question, SQL and database."""
    return (normalize_question(example.question), normalize_sql(example.query).lower(),
            example.db_id)


def apply_weight(examples: Sequence[Example], weight: float, seed: str) -> list[Example]:
    """Repeat ``examples`` ``int(weight)`` times, plus a seeded sample of the fraction.

    >>> len(apply_weight([Example(i, "q", "s", "d") for i in range(10)], 1.5, "a"))
    15
    """
    whole, fraction = int(weight), weight - int(weight)
    out = [e for _ in range(whole) for e in examples]
    if fraction > 0:
        rng = random.Random(zlib.crc32(seed.encode()))
        picked = sorted(rng.sample(range(len(examples)), round(fraction * len(examples))))
        out.extend(examples[i] for i in picked)
    return out


def mix_sources(parts: Sequence[tuple[SourceConfig, SourceData]], train_name: str,
                eval_name: str | None) -> SourceData:
    """One :class:`SourceData` from several, under the split names ``train_name``/``eval_name``.

    Raises:
        DataError: if two sources define the same db_id with different tables.
    """
    tables: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    databases = {}
    train: list[Example] = []
    evaluation: list[Example] = []
    per_source: dict[str, dict[str, int]] = {}
    seen_train: set[tuple[str, str, str]] = set()
    seen_eval: set[tuple[str, str, str]] = set()
    for spec, data in parts:
        label = spec.name or spec.source
        for db_id, entry in data.tables.items():
            if db_id in tables and _shape(tables[db_id]) != _shape(entry):
                raise DataError(f"sources {owner[db_id]!r} and {label!r} both define db_id "
                                f"{db_id!r} with different tables; rename one")
            tables.setdefault(db_id, entry)
            owner.setdefault(db_id, label)
        for db_id, path in data.databases.items():
            databases.setdefault(db_id, path)
        counts = {"train": 0, "train_duplicates": 0, "train_weighted": 0,
                  "eval": 0, "eval_duplicates": 0}
        if spec.train_file:
            examples = _new(data.splits[spec.train_file], seen_train, label)
            counts["train"], counts["train_duplicates"] = (
                len(examples), len(data.splits[spec.train_file]) - len(examples))
            weighted = apply_weight(examples, spec.weight, label)
            counts["train_weighted"] = len(weighted)
            train.extend(weighted)
        if spec.eval_file:
            examples = _new(data.splits[spec.eval_file], seen_eval, label)
            counts["eval"], counts["eval_duplicates"] = (
                len(examples), len(data.splits[spec.eval_file]) - len(examples))
            evaluation.extend(examples)
        per_source[label] = counts
    splits = {train_name: _reindex(train)}
    if eval_name:
        splits[eval_name] = _reindex(evaluation)
    return SourceData(
        kind="mixture", splits=splits, tables=tables, databases=databases,
        inputs=[p for _, data in parts for p in data.inputs],
        skipped=[s for _, data in parts for s in data.skipped],
        report={"sources": per_source,
                "duplicates_removed": sum(c["train_duplicates"] + c["eval_duplicates"]
                                          for c in per_source.values())})


def _new(examples: Sequence[Example], seen: set[tuple[str, str, str]], label: str) -> list[Example]:
    kept = []
    for example in examples:
        key = dedup_key(example)
        if key not in seen:
            seen.add(key)
            kept.append(replace(example, source=example.source or label))
    return kept


def _reindex(examples: Sequence[Example]) -> list[Example]:
    return [replace(e, index=i) for i, e in enumerate(examples)]


def _shape(entry: dict[str, Any]) -> tuple:
    """Tables and columns of a tables.json entry, case-insensitively."""
    return (tuple(n.lower() for n in entry.get("table_names_original", [])),
            tuple((t, str(c).lower()) for t, c in entry.get("column_names_original", [])))


def contamination(train: Sequence[Example], evaluation: Sequence[Example],
                  threshold: float = NEAR_DUPLICATE_JACCARD) -> dict[str, Any]:
    """Overlap between a training and an evaluation split.

    Questions are compared within one database: "How many employees are
    there?" asked of two different databases has two different answers, and
    Spider's train and dev share 6 such questions.

    Returns:
        ``exact_questions`` (eval examples whose normalised question is asked
        of the same database in train), ``near_duplicate_questions`` (word-set
        Jaccard >= ``threshold`` with a train question on the same database,
        not exact), ``shared_databases`` (db_ids in both),
        ``eval_examples_on_shared_databases`` and up to 5 ``examples``.
    """
    originals = {(e.db_id, normalize_question(e.question)): e.question for e in train}
    keys = list(originals)
    train_sets = [set(question.split()) for _, question in keys]
    by_word: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, ((db_id, _), words) in enumerate(zip(keys, train_sets, strict=True)):
        for word in words:
            by_word[(db_id, word)].append(index)
    exact, near, shown = 0, 0, []
    for example in evaluation:
        key = (example.db_id, normalize_question(example.question))
        if key in originals:
            exact += 1
            if len(shown) < 5:
                shown.append({"eval": example.question, "db_id": example.db_id, "kind": "exact"})
            continue
        match = _near_match(example.db_id, set(key[1].split()), train_sets, by_word, threshold)
        if match is not None:
            near += 1
            if len(shown) < 5:
                shown.append({"eval": example.question, "train": originals[keys[match]],
                              "db_id": example.db_id, "kind": "near"})
    shared = sorted({e.db_id for e in train} & {e.db_id for e in evaluation})
    return {
        "exact_questions": exact,
        "near_duplicate_questions": near,
        "near_duplicate_threshold": threshold,
        "shared_databases": shared,
        "eval_examples_on_shared_databases": sum(1 for e in evaluation if e.db_id in set(shared)),
        "eval_examples": len(evaluation),
        "examples": shown,
    }


def _near_match(db_id: str, words: set[str], train_sets: list[set[str]],
                by_word: dict[tuple[str, str], list[int]], threshold: float) -> int | None:
    if not words:
        return None
    # A set with Jaccard >= t shares at least one of the question's rarest
    # floor((1 - t) * n) + 1 words, so only train questions holding one are compared.
    rare = sorted(words, key=lambda w: len(by_word.get((db_id, w), ())))
    probe = rare[: int((1 - threshold) * len(words)) + 1]
    candidates = {i for w in probe for i in by_word.get((db_id, w), ())}
    for index in sorted(candidates):
        other = train_sets[index]
        if len(words & other) / len(words | other) >= threshold:
            return index
    return None


def contamination_summary(report: dict[str, Any]) -> str | None:
    """One warning line, or None when nothing overlaps."""
    parts = []
    if report["exact_questions"]:
        parts.append(f"{report['exact_questions']} eval question(s) also in train")
    if report["near_duplicate_questions"]:
        parts.append(f"{report['near_duplicate_questions']} near-duplicate eval question(s) "
                     f"(word Jaccard >= {report['near_duplicate_threshold']})")
    if report["shared_databases"]:
        dbs = report["shared_databases"]
        parts.append(f"{report['eval_examples_on_shared_databases']} of "
                     f"{report['eval_examples']} eval example(s) on {len(dbs)} database(s) "
                     f"also in train ({', '.join(dbs[:5])}{', ...' if len(dbs) > 5 else ''})")
    if not parts:
        return None
    return ("train/eval contamination: " + "; ".join(parts)
            + " (data.contamination=error refuses such runs, =ignore skips the check)")
