"""``train.*``: the fine-tuning schedule, and the precision the hardware allows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from t2s.errors import ConfigError

Precision = Literal["auto", "bf16", "fp16", "fp32"]
"""Compute precision (``train.precision``, ``infer.precision``); ``auto`` follows the hardware."""


@dataclass
class TrainConfig:
    """Supervised fine-tuning schedule (TRL SFTTrainer)."""

    output_dir: str = "outputs"
    """Run folder: checkpoints, logs, ``final_model/``."""
    method: Literal["lora", "full"] = "lora"
    """``lora``: train adapters on a frozen base; ``full``: train every weight."""
    max_seq_length: int = 1024
    """Longest prompt + SQL in tokens; longer examples follow ``data.overlength``."""
    num_train_epochs: float = 3.0
    """Passes over the training split (when ``max_steps`` is -1)."""
    max_steps: int = -1
    """Positive: stop after this many optimizer steps (overrides epochs)."""
    per_device_train_batch_size: int = 4
    """Sequences per process per micro-step."""
    per_device_eval_batch_size: int = 4
    """Sequences per process per evaluation step."""
    gradient_accumulation_steps: int = 4
    """Micro-steps per optimizer step: effective batch = per-device batch x processes x this."""
    learning_rate: float = 2e-4
    """Peak learning rate (``1e-4`` and ``2e-4`` are both accepted spellings)."""
    lr_scheduler_type: str = "cosine"
    """Transformers scheduler name: cosine, linear, constant, ..."""
    warmup_steps: int | float = 0.03
    """An integer: warm-up steps; a float below 1: fraction of all steps."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    logging_steps: int = 25
    """Log the training loss every N optimizer steps."""
    eval_steps: int = 250
    """Evaluate on the eval split every N optimizer steps."""
    save_steps: int = 250
    """Write a checkpoint every N optimizer steps (a multiple of eval_steps when keeping the best)."""
    save_total_limit: int | None = 3
    """Checkpoints kept (the best one is never deleted); null keeps all."""
    load_best_model_at_end: bool = True
    """Save the checkpoint with the best ``metric_for_best_model`` as the final model."""
    metric_for_best_model: str = "eval_loss"
    """``eval_loss``, or ``eval_ex``: execution accuracy of generated SQL on the
    first ``ex_eval_examples`` eval examples, computed at each eval step."""
    ex_eval_examples: int = 32
    """Eval examples generated and executed for ``eval_ex`` (a fixed subset: the first N)."""
    precision: Precision = "auto"
    """``auto``: bf16 on GPUs that support it, fp16 on other GPUs, fp32 on CPU."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, ~30% more compute."""
    seed: int = 42
    """Seed of model init, data order and dropout."""
    resume: str = "auto"
    """``auto``: resume from the last complete checkpoint in output_dir if any;
    ``never``; or a checkpoint folder."""
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])
    """Trackers: ``tensorboard``, ``wandb`` or ``mlflow`` (extras of the same names)."""
    run_name: str | None = None
    """Run name shown by the trackers; null: the output folder's name."""
    project: str | None = None
    """Tracker project (W&B project, MLflow experiment); null: the tracker's default."""
    packing: bool = False
    """Pack several examples into each row (best-fit), attention kept per example."""
    padding_free: bool = False
    """Concatenate a batch into one row without padding (implied by packing)."""
    dataloader_num_workers: int = 0
    """Data-loading worker processes (0: in the training process)."""

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for each step count, size or rate out of range.

        Checks that need the data section (an evaluation split for eval_ex and
        the best model) are in :mod:`t2s.config.schema`.
        """
        problems = [(key, f"must be positive, got {getattr(self, key)}")
                    for key in ("logging_steps", "eval_steps", "save_steps", "gradient_accumulation_steps",
                                "per_device_train_batch_size", "per_device_eval_batch_size",
                                "max_seq_length")
                    if getattr(self, key) <= 0]
        if self.max_steps == 0 or self.max_steps < -1:
            problems.append(("max_steps", "must be -1 (use epochs) or positive"))
        if self.ex_eval_examples <= 0:
            problems.append(("ex_eval_examples", f"must be positive, got {self.ex_eval_examples}"))
        # `not >` also refuses NaN: YAML's .nan is a float like any other.
        for key in ("learning_rate", "num_train_epochs"):
            if not getattr(self, key) > 0:
                problems.append((key, f"must be positive, got {getattr(self, key)}"))
        for key in ("warmup_steps", "weight_decay", "max_grad_norm", "dataloader_num_workers"):
            if not getattr(self, key) >= 0:
                problems.append((key, f"must be >= 0, got {getattr(self, key)}"))
        return problems


def resolve_precision(requested: str, cuda_available: bool, bf16_supported: bool,
                      key: str = "train.precision") -> str:
    """Choose ``bf16``/``fp16``/``fp32`` from the request and the hardware.

    Args:
        key: The config key that asked, named in the error.

    Raises:
        ConfigError: if bf16/fp16 is requested where the hardware lacks it.
    """
    problem = precision_problem(requested, cuda_available, bf16_supported)
    if problem:
        raise ConfigError(f"{key}: {problem}")
    if requested == "auto":
        if cuda_available:
            return "bf16" if bf16_supported else "fp16"
        return "fp32"
    return requested


def precision_problem(requested: str, cuda_available: bool, bf16_supported: bool) -> str | None:
    """Why ``requested`` precision cannot run on this hardware, or None."""
    if requested == "bf16" and not (cuda_available and bf16_supported):
        # CPU bf16 autocast exists but TRL/transformers refuse it without
        # use_cpu, and it is slower than fp32 on these 2-core machines.
        return "bf16 requested, but this machine has no bf16-capable GPU; use auto or fp32"
    if requested == "fp16" and not cuda_available:
        return "fp16 requested, but no CUDA GPU is available; use auto or fp32"
    return None
