"""Evaluation job entry point (thin: everything lives in :mod:`t2s.evaluation`).

Usage (the nightly job: a dated report compared with the previous night's)::

    # score the trained model on the eval split -> reports/<YYYY-MM-DD>/
    python jobs/evaluate.py --config configs/config.yaml --out-dir reports/
    # score a prediction file, as the official Spider evaluator does
    python jobs/evaluate.py --gold ../shared/data/spider/dev_gold.sql \\
        --pred outputs/predictions/dev_pred.sql --db ../shared/data/spider/database \\
        --table ../shared/data/spider/tables.json --out-dir reports/

Each run writes ``REPORT.json`` and ``REPORT.md`` (plus ``predictions.jsonl``
with ``--config``) into today's folder (UTC) and prints the flips against the
newest earlier dated report and McNemar's p-value, so a nightly drop can be told
from noise. Same flags as ``t2s evaluate``; exit status 2 on bad input.
"""

import sys

from t2s.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
