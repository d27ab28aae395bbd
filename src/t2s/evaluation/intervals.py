"""95% confidence intervals by bootstrap over examples: one report's, and a paired difference's.

A report's accuracy is the mean of per-example values (0/1 for EX and EM, a
fraction for pass@k). Its interval is the percentile bootstrap: draw the
examples ``eval.bootstrap_samples`` times with replacement, take each draw's
mean, and report the 2.5th and 97.5th percentiles of those means. The
difference of two reports on the same examples is bootstrapped the same way
over the per-example differences (the *paired* bootstrap: one draw picks the
same examples from both reports, so what the two runs share cancels).

Every interval is seeded by ``eval.seed`` alone, not by its position in the
report, so adding a metric (or a group) never moves another metric's interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LEVEL = 0.95
"""The coverage of every interval (the ``ci95`` keys of REPORT.json)."""

# Resampled values held at once: 2**20 float64s = 8 MiB per chunk, whatever
# the number of examples (1,000 draws of Spider dev's 1,034 examples is ~1M).
_CHUNK_VALUES = 1 << 20


def bootstrap_interval(values: Sequence[float], samples: int, seed: int,
                       level: float = LEVEL) -> tuple[float, float] | None:
    """The percentile-bootstrap interval of the mean of ``values``.

    Args:
        values: One value per example (bools count as 0/1).
        samples: Bootstrap draws; 0 gives no interval.
        seed: Seed of the draws (the same seed and values give the same interval).
        level: Coverage, in (0, 1).

    Returns:
        ``(low, high)``, rounded to 4 places like the report's accuracies, or
        ``None`` when there are no values or no draws.

    Raises:
        ValueError: if ``level`` is not in (0, 1) or ``samples`` is negative.
    """
    import numpy as np

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if samples < 0:
        raise ValueError(f"samples must be >= 0, got {samples}")
    if not values or samples == 0:
        return None
    data = np.asarray(values, dtype=np.float64)
    n = len(data)
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_VALUES // n)
    means = np.empty(samples)
    for start in range(0, samples, rows):
        stop = min(samples, start + rows)
        means[start:stop] = data[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return round(float(low), 4), round(float(high), 4)


def paired_difference_interval(a: Sequence[float], b: Sequence[float], samples: int, seed: int,
                               level: float = LEVEL) -> tuple[float, float] | None:
    """The paired-bootstrap interval of ``mean(b) - mean(a)`` over the same examples.

    Raises:
        ValueError: if ``a`` and ``b`` differ in length, or as :func:`bootstrap_interval`.
    """
    if len(a) != len(b):
        raise ValueError(f"cannot pair {len(a)} values with {len(b)}")
    return bootstrap_interval([float(y) - float(x) for x, y in zip(a, b, strict=True)],
                              samples, seed, level)


def with_interval(stats: dict[str, Any] | None, values: Sequence[bool | float | None],
                  samples: int, seed: int) -> dict[str, Any] | None:
    """``stats`` with its ``ci95`` added, over the scored (not ``None``) values.

    ``stats`` (an aggregate's entry, or ``None`` when nothing was scored) is
    returned as is when there is no interval to give.
    """
    scored = [v for v in values if v is not None]
    interval = bootstrap_interval(scored, samples, seed) if stats is not None else None
    if interval is None:
        return stats
    return {**stats, "ci95": list(interval)}


def is_zero_one(values: Sequence[Any]) -> bool:
    """Whether every scored value is a bool: a per-example 0/1 metric, which gets an interval."""
    scored = [v for v in values if v is not None]
    return bool(scored) and all(isinstance(v, bool) for v in scored)


def format_interval(interval: Sequence[float] | None) -> str:
    """``[38.1, 44.3]`` in percent, or ``""`` when there is none."""
    if not interval:
        return ""
    return f"[{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"
