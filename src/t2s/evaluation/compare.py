"""Comparing two evaluation reports: what flipped, and is the change noise?

Two reports are comparable only if they scored the same examples the same
way: equal data fingerprints (gold file, tables.json, every database) and
equal flags (etype, keep_distinct, timeout, row cap). Otherwise
:func:`check_comparable` lists every difference; ``t2s compare`` refuses, or
with ``--force`` prints the list as a loud warning and goes on.

The paired test is McNemar's: only the discordant examples carry information,
``b`` (right in A, wrong in B) and ``c`` (wrong in A, right in B). Under "no
change", each discordant example is a fair coin, so the two-sided p-value is the
exact binomial test of ``min(b, c)`` in ``b + c`` trials when ``b + c < 25``
(where the chi-square approximation is poor), else the chi-square statistic with
continuity correction ``(|b - c| - 1)^2 / (b + c)`` on one degree of freedom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2s.errors import InputError
from t2s.evaluation.metrics import paired, paired_metric
from t2s.evaluation.report import previous_report
from t2s.jsonio import BadJSON, loads

# Below this many discordant pairs, use the exact binomial test (the usual rule
# of thumb: the chi-square approximation needs b + c >= 25).
EXACT_TEST_BELOW = 25


@dataclass(frozen=True)
class McNemarResult:
    """A paired test on two sets of verdicts for the same examples.

    Attributes:
        b: Examples right in A and wrong in B (regressions).
        c: Examples wrong in A and right in B (fixes).
        p_value: Two-sided p-value of "A and B are equally accurate".
        method: ``exact-binomial``, ``chi2-continuity`` or ``none`` (b + c = 0).
    """

    b: int
    c: int
    p_value: float
    method: str


def mcnemar(b: int, c: int) -> McNemarResult:
    """McNemar's test from the discordant counts.

    Raises:
        ValueError: if a count is negative.
    """
    if b < 0 or c < 0:
        raise ValueError(f"counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return McNemarResult(b, c, 1.0, "none")
    if n < EXACT_TEST_BELOW:
        from scipy.stats import binomtest

        return McNemarResult(b, c, float(binomtest(min(b, c), n, 0.5).pvalue), "exact-binomial")
    from scipy.stats import chi2

    statistic = (abs(b - c) - 1) ** 2 / n
    return McNemarResult(b, c, float(chi2.sf(statistic, df=1)), "chi2-continuity")


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a ``REPORT.json``.

    Raises:
        InputError: if it is missing, not JSON, or lacks summary/examples/manifest.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file does not exist")
    try:
        report = loads(path.read_text(encoding="utf-8"), max_bytes=None)
    except (BadJSON, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a JSON report ({exc})") from None
    missing = [key for key in ("summary", "examples", "manifest")
               if not isinstance(report, dict) or key not in report]
    if missing:
        raise InputError(f"{path}: not a t2s evaluation report (missing {', '.join(missing)})")
    return report


def check_comparable(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Every reason the two reports should not be compared (empty if none).

    Compares the manifests' data fingerprints and flags, and the examples'
    count, gold SQL and db_id; an evaluator version change is reported too.
    """
    problems = []
    man_a, man_b = a["manifest"], b["manifest"]
    flags_a, flags_b = man_a.get("flags", {}), man_b.get("flags", {})
    for key in sorted(set(flags_a) | set(flags_b)):
        if flags_a.get(key) != flags_b.get(key):
            problems.append(f"flag {key}: {flags_a.get(key)!r} vs {flags_b.get(key)!r}")
    data_a, data_b = man_a.get("data", {}), man_b.get("data", {})
    for key in ("gold", "tables"):
        hash_a = (data_a.get(key) or {}).get("sha256")
        hash_b = (data_b.get(key) or {}).get("sha256")
        if hash_a != hash_b:
            problems.append(f"{key} file differs (sha256 {str(hash_a)[:12]} vs {str(hash_b)[:12]})")
    dbs_a, dbs_b = data_a.get("databases", {}), data_b.get("databases", {})
    changed = sorted(db for db in set(dbs_a) | set(dbs_b) if dbs_a.get(db) != dbs_b.get(db))
    if changed:
        problems.append(f"databases differ: {', '.join(changed[:10])}"
                        + (" ..." if len(changed) > 10 else ""))
    version_a = man_a.get("evaluator", {}).get("version")
    version_b = man_b.get("evaluator", {}).get("version")
    if version_a != version_b:
        problems.append(f"evaluator version {version_a!r} vs {version_b!r}")
    ex_a, ex_b = a["examples"], b["examples"]
    if len(ex_a) != len(ex_b):
        problems.append(f"{len(ex_a)} vs {len(ex_b)} examples")
    else:
        differing = [x["index"] for x, y in zip(ex_a, ex_b, strict=True)
                     if (x["gold"], x["db_id"]) != (y["gold"], y["db_id"])]
        if differing:
            problems.append(f"{len(differing)} examples have different gold SQL or db_id "
                            f"(first: index {differing[0]})")
    return problems


@dataclass(frozen=True)
class Comparison:
    """The result of comparing report A (baseline) with report B (candidate)."""

    metric: str
    count: int
    correct_a: int
    correct_b: int
    regressions: list[dict[str, Any]]
    fixes: list[dict[str, Any]]
    test: McNemarResult

    @property
    def accuracy_a(self) -> float:
        """Accuracy of A on the compared examples."""
        return self.correct_a / self.count if self.count else 0.0

    @property
    def accuracy_b(self) -> float:
        """Accuracy of B on the compared examples."""
        return self.correct_b / self.count if self.count else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for ``t2s compare --out``)."""
        return {
            "metric": self.metric, "count": self.count,
            "accuracy_a": round(self.accuracy_a, 4), "accuracy_b": round(self.accuracy_b, 4),
            "mcnemar": {"b_regressions": self.test.b, "c_fixes": self.test.c,
                        "p_value": self.test.p_value, "method": self.test.method},
            "regressions": self.regressions, "fixes": self.fixes,
        }


def compare_reports(a: Mapping[str, Any], b: Mapping[str, Any],
                    metric: str | None = None) -> Comparison:
    """Pair the examples of A and B by position and count flips of ``metric``.

    ``metric`` is a paired metric's name (:func:`~t2s.evaluation.metrics.paired`;
    default: the first, ``execution``). Examples scored in neither report
    (execution skipped for a missing database in both) are left out of the
    pairs and of ``count``.

    Raises:
        InputError: if the metric is unknown, was not scored in one of the
            reports, an example is scored in one report only, or the example
            counts differ.
    """
    metric = metric or paired()[0].name
    key = paired_metric(metric).example_key
    ex_a, ex_b = a["examples"], b["examples"]
    if len(ex_a) != len(ex_b):
        raise InputError(f"cannot pair {len(ex_a)} examples with {len(ex_b)}")
    if all(x.get(key) is None for x in ex_a) or all(y.get(key) is None for y in ex_b):
        raise InputError(f"{metric} was not scored in both reports (see their --etype)")
    one_sided = [x["index"] for x, y in zip(ex_a, ex_b, strict=True)
                 if (x.get(key) is None) != (y.get(key) is None)]
    if one_sided:
        raise InputError(f"{metric} was scored in one report only for {len(one_sided)} examples "
                         f"(first: index {one_sided[0]}; a database missing in one run?)")
    pairs = [(x, y) for x, y in zip(ex_a, ex_b, strict=True) if x.get(key) is not None]
    regressions, fixes = [], []
    for x, y in pairs:
        if x[key] and not y[key]:
            regressions.append(_flip(x, y))
        elif y[key] and not x[key]:
            fixes.append(_flip(x, y))
    return Comparison(
        metric=metric, count=len(pairs), correct_a=sum(1 for x, _ in pairs if x[key]),
        correct_b=sum(1 for _, y in pairs if y[key]), regressions=regressions, fixes=fixes,
        test=mcnemar(len(regressions), len(fixes)))


def _flip(x: Mapping[str, Any], y: Mapping[str, Any]) -> dict[str, Any]:
    return {"index": x["index"], "db_id": x["db_id"], "question": x.get("question"),
            "gold": x["gold"], "pred_a": x["pred"], "pred_b": y["pred"],
            "error_a": x.get("error"), "error_b": y.get("error")}


def format_comparison(comparison: Comparison, names: Sequence[str] = ("A", "B"),
                      show: int = 20, alpha: float = 0.05) -> str:
    """The human-readable comparison printed by ``t2s compare``."""
    c = comparison
    test = c.test
    delta = 100 * (c.accuracy_b - c.accuracy_a)
    if test.method == "none":
        verdict = "no example flipped"
    elif test.p_value < alpha:
        verdict = (f"significant at alpha={alpha}: B is {'worse' if delta < 0 else 'better'} "
                   "than A")
    else:
        verdict = f"not significant at alpha={alpha}: consistent with noise"
    lines = [
        f"metric: {c.metric}, {c.count} paired examples",
        f"  A {names[0]}: {100 * c.accuracy_a:.1f}% ({c.correct_a})",
        f"  B {names[1]}: {100 * c.accuracy_b:.1f}% ({c.correct_b})  delta {delta:+.1f} points",
        f"  flips: {test.b} right->wrong, {test.c} wrong->right",
        f"  McNemar ({test.method}): p = {test.p_value:.4g} -> {verdict}",
    ]
    for title, flips, wrong in (("right in A, wrong in B", c.regressions, "error_b"),
                                ("wrong in A, right in B", c.fixes, "error_a")):
        if not flips:
            continue
        lines += ["", f"{title} ({len(flips)}):"]
        for flip in flips[:show]:
            lines.append(f"  [{flip['index']}] {flip['db_id']}: "
                         f"{flip['question'] or flip['gold']}")
            lines.append(f"      A: {flip['pred_a']}")
            lines.append(f"      B: {flip['pred_b']}")
            if flip[wrong]:
                lines.append(f"      wrong one's error: {flip[wrong]}")
        if len(flips) > show:
            lines.append(f"  ... {len(flips) - show} more (--show N, or --out FILE for all)")
    return "\n".join(lines)


def compare_with_previous_night(out_dir: str | Path, report_path: str | Path,
                                report: Mapping[str, Any]) -> str | None:
    """Text comparing ``report`` with the newest earlier dated report in ``out_dir``.

    None when there is no earlier report; a one-line refusal when the two are
    not comparable (different data or flags).

    Raises:
        InputError: if the earlier report cannot be read.
    """

    baseline = previous_report(out_dir, report_path)
    if baseline is None:
        return None
    old = load_report(baseline)
    problems = check_comparable(old, report)
    if problems:
        return f"not comparable with {baseline}: " + "; ".join(problems)
    # Same flags, so both scored the same metrics: pair the first one scored
    # (execution when it was run).
    choices = paired()
    metric = next((m for m in choices
                   if any(x.get(m.example_key) is not None for x in report["examples"])),
                  choices[-1])
    # Opt-in metrics (TS) join the trend whenever they were scored.
    shown = [metric, *(m for m in choices if m is not metric and m.enabled is not None
                       and any(x.get(m.example_key) is not None for x in report["examples"]))]
    names = (str(baseline), str(report_path))
    return f"vs {baseline}:\n" + "\n".join(
        format_comparison(compare_reports(old, report, metric=m.name), names) for m in shown)
