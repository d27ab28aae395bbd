"""Training job entry point (thin: everything lives in :mod:`t2s.training.train`).

Usage:
    accelerate launch jobs/train.py --config configs/tiny.yaml train.max_steps=20
    accelerate launch --config_file accelerate_configs/single_gpu.yaml \\
        jobs/train.py --config configs/config.yaml data.root=/data/spider
    python jobs/train.py --config configs/tiny.yaml
"""

import sys

from t2s.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
