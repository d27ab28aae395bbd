"""Drift statistics: the population stability index (PSI) and the two-sample KS test.

PSI compares two histograms over the same bins:
``sum((served - ref) * ln(served / ref))`` over bin shares. The usual reading,
used as thresholds here: < 0.1 no shift, 0.1-0.25 moderate, > 0.25 a major shift
(flagged). Each bin gets half a count added on both sides before the shares are
taken, so an empty bin (no unseen database in training, say) gives a large but
finite PSI: 10% unseen databases against 700 reference questions is PSI 0.5,
1% is 0.03.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

PSI_THRESHOLD = 0.25
KS_P_THRESHOLD = 0.01
"""A numeric check flags when PSI > 0.25 and the KS test agrees (p < 0.01): PSI
over ten bins is noisy on a few dozen requests, and with thousands of requests
a KS p-value alone flags shifts too small to matter."""
SMOOTHING = 0.5


@dataclass
class DriftCheck:
    """One drift check: what was compared, the statistic, and whether it flags."""

    name: str
    description: str
    statistic: str
    value: float
    threshold: float
    flagged: bool
    reference: dict[str, Any] = field(default_factory=dict)
    served: dict[str, Any] = field(default_factory=dict)
    ks_p_value: float | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["value"] = round(self.value, 4)
        return record


def psi(reference: Sequence[float], served: Sequence[float]) -> float:
    """PSI of two count (or share) vectors over the same bins, with smoothing.

    Raises:
        ValueError: if the vectors differ in length or either is empty.
    """
    if len(reference) != len(served) or not reference:
        raise ValueError("psi needs two count vectors of the same, non-zero length")
    ref = [c + SMOOTHING for c in reference]
    new = [c + SMOOTHING for c in served]
    ref_total, new_total = sum(ref), sum(new)
    value = 0.0
    for r, n in zip(ref, new, strict=True):
        p, q = r / ref_total, n / new_total
        value += (q - p) * math.log(q / p)
    return value


def numeric_bins(reference: Sequence[float], count: int = 10) -> list[float]:
    """Bin edges at the reference's quantiles (distinct, increasing); inner edges only."""
    ordered = sorted(reference)
    if not ordered:
        return []
    edges = []
    for i in range(1, count):
        edge = ordered[min(len(ordered) - 1, int(len(ordered) * i / count))]
        if not edges or edge > edges[-1]:
            edges.append(edge)
    return edges


def histogram(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin: ``< edges[0]``, ``[edges[i], edges[i+1])``, ``>= edges[-1]``."""
    counts = [0] * (len(edges) + 1)
    for value in values:
        index = sum(1 for edge in edges if value >= edge)
        counts[index] += 1
    return counts


def numeric_check(name: str, description: str, reference: Sequence[float],
                  served: Sequence[float], threshold: float = PSI_THRESHOLD) -> DriftCheck:
    """PSI over reference-quantile bins, with the KS p-value beside it."""
    from scipy.stats import ks_2samp

    edges = numeric_bins(reference)
    value = psi(histogram(reference, edges), histogram(served, edges)) if served else 0.0
    p_value = float(ks_2samp(reference, served).pvalue) if served and reference else None
    return DriftCheck(
        name=name, description=description, statistic="psi", value=value, threshold=threshold,
        flagged=bool(served) and value > threshold and (p_value is None or p_value < KS_P_THRESHOLD),
        ks_p_value=p_value,
        reference=_summary(reference), served=_summary(served),
        note="" if served else "no served values")


def categorical_check(name: str, description: str, reference: Sequence[str],
                      served: Sequence[str], threshold: float = PSI_THRESHOLD) -> DriftCheck:
    """PSI over the categories of both sides."""
    ref_counts, new_counts = Counter(reference), Counter(served)
    labels = sorted(set(ref_counts) | set(new_counts))
    value = (psi([ref_counts[k] for k in labels], [new_counts[k] for k in labels])
             if served and labels else 0.0)
    return DriftCheck(
        name=name, description=description, statistic="psi", value=value, threshold=threshold,
        flagged=bool(served) and value > threshold,
        reference=_shares(ref_counts), served=_shares(new_counts),
        note="" if served else "no served values")


def rate_check(name: str, description: str, reference_hits: int, reference_total: int,
               served_hits: int, served_total: int, threshold: float = PSI_THRESHOLD) -> DriftCheck:
    """PSI of a yes/no rate (e.g. execution errors) against the reference's rate."""
    value = (psi([reference_hits, reference_total - reference_hits],
                 [served_hits, served_total - served_hits]) if served_total else 0.0)
    return DriftCheck(
        name=name, description=description, statistic="psi", value=value, threshold=threshold,
        flagged=served_total > 0 and value > threshold,
        reference={"rate": _rate(reference_hits, reference_total), "n": reference_total},
        served={"rate": _rate(served_hits, served_total), "n": served_total},
        note="" if served_total else "no served values")


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _summary(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(values), "mean": round(sum(values) / len(values), 3),
            "p50": round(ordered[len(ordered) // 2], 3),
            "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 3)}


def _shares(counts: Counter) -> dict[str, Any]:
    total = sum(counts.values())
    return {k: round(v / total, 4) for k, v in sorted(counts.items())} if total else {}
