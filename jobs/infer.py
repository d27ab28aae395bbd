"""Batch inference job entry point (thin: everything lives in :mod:`t2s.inference`).

Usage:
    python jobs/infer.py --input questions.jsonl --output answers.jsonl --config configs/tiny.yaml
    python jobs/infer.py --input dev.json --data-dir /data/spider --output preds.jsonl \\
        --config configs/config.yaml infer.adapter_path=runs/v3/final_model infer.batch_size=32

    # a Slurm job array of 8 tasks: each task answers every 8th question into
    # answers.shard-0000i-of-00008.jsonl (shard taken from SLURM_ARRAY_TASK_ID)
    sbatch --array=0-7 --wrap "python jobs/infer.py --input q.jsonl --output answers.jsonl"
    python jobs/infer.py --input q.jsonl --output answers.jsonl --shard 3 --num-shards 8

Re-running the same command after a crash, a kill or a preemption resumes
where it stopped (rows already written are skipped).
"""

import sys

from t2s.cli import main

if __name__ == "__main__":
    sys.exit(main(["infer", *sys.argv[1:]]))
