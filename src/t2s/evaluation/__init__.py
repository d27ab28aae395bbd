"""Scoring text-to-SQL predictions: exact match, execution accuracy, reports.

Nothing here needs torch; only the "score a model" mode of ``t2s evaluate``
calls into :mod:`t2s.inference`. This ``__init__`` stays light: the scoring
entry point is imported on first use.

Modules:
    execution: execution accuracy with the official Spider semantics.
    exact_match, spider_sql, hardness, categories: exact set match and breakdowns.
    inputs: reading gold and prediction files.
    runner: scoring in parallel; :func:`evaluate_predictions`.
    report: REPORT.json / REPORT.md and the printed summary.
    compare: comparing two reports (flips, McNemar test).
"""

from __future__ import annotations

from typing import Any

# Bump when a change can alter any verdict; t2s compare warns when it differs.
EVALUATOR_VERSION = "1"

__all__ = ["EVALUATOR_VERSION", "evaluate_predictions"]


def __getattr__(name: str) -> Any:
    if name == "evaluate_predictions":
        from t2s.evaluation.runner import evaluate_predictions

        return evaluate_predictions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
