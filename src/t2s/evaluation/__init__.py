"""Scoring text-to-SQL predictions: exact match, execution accuracy, reports.

Nothing here needs torch; only the "score a model" path (:mod:`t2s.evaluation.model`
and ``t2s evaluate --config``) calls into :mod:`t2s.inference`. The scoring entry
point is :func:`t2s.evaluation.runner.evaluate_predictions`.

Modules:
    metrics: the metric registry (per-example score, aggregate, printing, pairing).
    execution: execution accuracy with the official Spider semantics.
    exact_match, spider_sql, hardness, categories: exact set match and breakdowns.
    inputs: reading gold and prediction files.
    runner: scoring in parallel; :func:`evaluate_predictions`.
    report: REPORT.json / REPORT.md and the printed summary.
    compare: comparing two reports (flips, McNemar test).
    model: scoring a model: generate the eval split's SQL, then score it.
"""

# Bump when a change can alter any verdict; t2s compare warns when it differs.
EVALUATOR_VERSION = "1"
