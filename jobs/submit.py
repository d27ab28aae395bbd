"""Submission job entry point (thin: everything lives in :mod:`t2s.launch`).

Usage (from the repository root; the same as ``t2s submit``)::

    python jobs/submit.py train --config configs/config.yaml slurm.partition=gpu
    python jobs/submit.py train --config configs/config.yaml --then-evaluate
    python jobs/submit.py infer --config configs/config.yaml --shards 8 \\
        --args "--input questions.jsonl --output outputs/answers.jsonl"
    python jobs/submit.py train --config configs/tiny.yaml --cluster local
"""

import sys

from t2s.cli import main

if __name__ == "__main__":
    sys.exit(main(["submit", *sys.argv[1:]]))
