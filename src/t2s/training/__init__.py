"""Training: LoRA/full SFT runs, their folders, checkpoints and signals (``t2s train``)."""
