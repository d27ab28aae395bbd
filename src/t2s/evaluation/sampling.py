"""Sampling metrics over several candidates per question: pass@k and maj@k.

With ``eval.samples: n`` the model draws n candidates per question (or a
prediction file brings them, a ``candidates`` list per JSONL record). Each
candidate is executed once and scored against gold (:func:`score_candidates`);
the per-candidate verdicts are kept in the report (``samples`` of each
example), so pass@k and maj@k for any k <= n are computed from the report
alone, by the report and by ``t2s compare``, with no re-execution.

* **pass@k**, the unbiased estimator of Chen et al. (2021, "Evaluating Large
  Language Models Trained on Code", eq. 1): with c of the n candidates right,
  the chance that k of them drawn without replacement hold a right one,
  ``1 - C(n - c, k) / C(n, k)``, averaged over questions. The binomials are
  exact integers (:func:`math.comb`) and ``(C(n, k) - C(n - c, k)) / C(n, k)``
  is rounded once, so the value is correct to a float's last bit for any n
  (the product form ``1 - prod(1 - k / i)`` rounds n times and cancels).
* **maj@k**: the first k candidates vote with their execution results, one
  vote each (empty and failing candidates do not vote); the largest group wins,
  ties go to the group whose first member comes first, and its first member is
  the answer (:func:`t2s.sqlexec.majority_index`, the rule of
  ``infer.guided_strategy: majority``). Right when that answer matches gold;
  wrong when no candidate ran.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from t2s.errors import InputError
from t2s.sqlexec import majority_index, result_key

if TYPE_CHECKING:
    from t2s.evaluation.execution import ExecutionEvaluator


@dataclass(frozen=True)
class CandidateVerdicts:
    """Every candidate of one question, scored.

    Attributes:
        candidates: The SQL of each candidate, in the order drawn.
        matches: Whether each one's result matches gold (execution accuracy).
        votes: Each one's result group (candidates with equal results share a
            number, numbered by first appearance); ``None``: it did not run.
    """

    candidates: tuple[str, ...]
    matches: tuple[bool, ...]
    votes: tuple[int | None, ...]

    @property
    def n(self) -> int:
        """Candidates of the question."""
        return len(self.candidates)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (an example's ``samples`` in REPORT.json)."""
        return {"candidates": list(self.candidates), "matches": list(self.matches),
                "votes": list(self.votes)}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> CandidateVerdicts:
        """Read :meth:`to_dict`'s form back.

        Raises:
            InputError: if the lists are missing or differ in length.
        """
        try:
            verdicts = cls(tuple(record["candidates"]), tuple(bool(m) for m in record["matches"]),
                           tuple(record["votes"]))
        except (KeyError, TypeError):
            raise InputError("an example's samples need candidates, matches and votes") from None
        if not len(verdicts.candidates) == len(verdicts.matches) == len(verdicts.votes):
            raise InputError("an example's samples have lists of different lengths")
        return verdicts


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al.'s unbiased pass@k of one question: ``1 - C(n - c, k) / C(n, k)``.

    Raises:
        ValueError: unless ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    # One integer division, correctly rounded: 1 - ratio would cancel for small
    # values (1 - 199/200 = 0.0050000000000000044). C(n - c, k) is 0 when fewer
    # than k candidates are wrong: every draw holds a right one.
    total = math.comb(n, k)
    return (total - math.comb(n - c, k)) / total


def pass_value(verdicts: CandidateVerdicts, k: int) -> float:
    """pass@k of one question from its candidates' verdicts."""
    return pass_at_k(verdicts.n, sum(verdicts.matches), k)


def majority_choice(verdicts: CandidateVerdicts, k: int) -> int | None:
    """The index of maj@k's answer among the first ``k`` candidates (``None``: none ran)."""
    return majority_index(verdicts.votes[:k])


def majority_value(verdicts: CandidateVerdicts, k: int) -> bool:
    """maj@k of one question: whether the majority answer of the first ``k`` matches gold."""
    chosen = majority_choice(verdicts, k)
    return chosen is not None and verdicts.matches[chosen]


def score_candidates(executor: ExecutionEvaluator, db_id: str, gold: str,
                     candidates: Sequence[str]) -> CandidateVerdicts:
    """Execute every candidate on ``db_id`` and score it against ``gold``.

    A SQL text drawn several times runs once (sampling at low temperature
    repeats itself) but keeps one vote per draw. Each distinct text runs twice,
    once for the verdict (:meth:`~ExecutionEvaluator.evaluate`) and once for its
    rows (the vote); a Spider query takes ~1 ms.

    Raises:
        DataError: if the database is missing or unreadable.
    """
    seen: dict[str, tuple[bool, tuple[str, ...] | None]] = {}
    for sql in candidates:
        if sql in seen:
            continue
        match = executor.evaluate(db_id, gold, sql).match
        result = executor.run_prediction(db_id, sql) if sql.strip() else None
        seen[sql] = (match, result_key(result) if result is not None and result.ok else None)
    groups: dict[tuple[str, ...], int] = {}
    votes: list[int | None] = []
    for sql in candidates:
        key = seen[sql][1]
        votes.append(None if key is None else groups.setdefault(key, len(groups)))
    return CandidateVerdicts(tuple(candidates), tuple(seen[sql][0] for sql in candidates),
                             tuple(votes))


def resolve_ks(pass_k: Sequence[int], n: int) -> list[int]:
    """The k reported: ``eval.pass_k`` (sorted, once each), or 1 and n when it is empty.

    Raises:
        InputError: if a k is larger than ``n``, the candidates per question.
    """
    ks = sorted(set(pass_k)) or sorted({1, n})
    too_large = [k for k in ks if k > n]
    if too_large:
        raise InputError(f"eval.pass_k {too_large} exceed the {n} candidates per question")
    return ks


def check_candidates(candidates: Sequence[Sequence[str]], count: int, where: str) -> int:
    """The candidates per question, the same for every one of ``count`` examples.

    Raises:
        InputError: if the lists are not one per example, or differ in length, or are empty.
    """
    if len(candidates) != count:
        raise InputError(f"{where}: candidates for {len(candidates)} of {count} examples")
    sizes = sorted({len(c) for c in candidates})
    if len(sizes) != 1 or sizes[0] < 1:
        raise InputError(f"{where}: every example needs the same number (>= 1) of candidates, "
                         f"got {', '.join(map(str, sizes))}")
    return sizes[0]
