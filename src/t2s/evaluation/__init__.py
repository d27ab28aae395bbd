"""Scoring text-to-SQL predictions: exact match, execution accuracy, reports.

Nothing here needs torch; only the "score a model" mode of ``t2s evaluate``
calls into :mod:`t2s.inference`. The scoring entry point is
:func:`t2s.evaluation.runner.evaluate_predictions`.

Modules:
    execution: execution accuracy with the official Spider semantics.
    exact_match, spider_sql, hardness, categories: exact set match and breakdowns.
    inputs: reading gold and prediction files.
    runner: scoring in parallel; :func:`evaluate_predictions`.
    report: REPORT.json / REPORT.md and the printed summary.
    compare: comparing two reports (flips, McNemar test).
"""

# Bump when a change can alter any verdict; t2s compare warns when it differs.
EVALUATOR_VERSION = "1"
