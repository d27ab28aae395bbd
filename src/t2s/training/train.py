"""Supervised fine-tuning (LoRA or full) with TRL's SFTTrainer.

Imported only by ``jobs/train.py`` and the ``t2s train`` command. One call,
:func:`train`, runs the whole job: data -> model -> SFTTrainer -> final model,
and leaves a reproducible run folder::

    <train.output_dir>/
        config.yaml          resolved config
        run_info.json        versions, git commit, data fingerprints, lengths, result
        checkpoint-N/        every train.save_steps (t2s_complete.json marks finished ones),
                             with config.yaml: evaluable like final_model/
        logs/                TensorBoard events
        final_model/         adapter (or full model) + tokenizer + config.yaml
        loss_curve.png       train/eval loss per step
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2s.config import Config, TrainConfig, dump_yaml, precision_problem, resolve_precision, to_dict
from t2s.data.chat_templates import setup_chat_template
from t2s.data.prompts import SchemaTextCache
from t2s.data.selection import eval_examples as eval_examples_of
from t2s.data.sft import (
    LengthReport,
    apply_length_limit,
    build_records,
    check_token_boundary,
    in_dialect,
)
from t2s.data.sources import data_report, open_dataset
from t2s.data.spider import Example, SpiderDataset
from t2s.db.dialect import live_databases
from t2s.errors import T2SError
from t2s.faults import crash_point, min_step_callbacks
from t2s.models.card import write_training_card
from t2s.models.loading import (
    apply_lora,
    count_parameters,
    load_base_model,
    load_tokenizer,
    lora_target_problems,
)
from t2s.models.quantization import quantization_problems
from t2s.models.tiny import ensure_tiny_base
from t2s.outputs import WriterLock, check_output_dir
from t2s.provenance import (
    disk_full_message,
    environment,
    file_sha256,
    write_json_atomic,
)
from t2s.training.ex_metric import make_callback as make_ex_callback
from t2s.training.packing import packing_arguments
from t2s.training.preemption import raise_if_stopped, save_and_stop_callback
from t2s.training.runs import identity_digest, mark_complete, prepare_run_folder, run_identity
from t2s.training.tracking import set_tracking_environment, tracking_problems

log = logging.getLogger(__name__)



@dataclass
class PreparedData:
    """Examples and prompt records of the train and eval splits."""

    dataset: SpiderDataset
    train_examples: list[Example]
    eval_examples: list[Example]
    train_records: list[dict[str, Any]]
    eval_records: list[dict[str, Any]]
    fingerprints: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def prepare_data(config: Config) -> PreparedData:
    """Load both splits and build prompt/completion records.

    Raises:
        DataError: if files, schemas or databases are missing.
    """
    data = config.data
    dataset = open_dataset(data)
    train_examples = dataset.examples(data.train_file)[: data.max_train_examples]
    eval_examples = eval_examples_of(dataset, data)
    # data.databases: schema text from the server; data.dialect: targets in its SQL.
    live = live_databases(data, {e.db_id for e in [*train_examples, *eval_examples]})
    schema_texts = SchemaTextCache.from_config(dataset.schemas, dataset.database_dir, data.schema,
                                               live, data.dialect)
    # The records' targets in data.dialect; the examples keep their (SQLite) gold,
    # which scoring (eval_ex) transpiles for a server itself.
    train_targets, train_dropped = in_dialect(train_examples, schema_texts, data.dialect)
    eval_targets, eval_dropped = in_dialect(eval_examples, schema_texts, data.dialect)
    fingerprints = {data.tables_file: file_sha256(dataset.tables_path),
                    data.train_file: file_sha256(dataset.split_path(data.train_file))}
    if data.eval_file:
        fingerprints[data.eval_file] = file_sha256(dataset.split_path(data.eval_file))
    return PreparedData(
        dataset=dataset,
        train_examples=train_examples,
        eval_examples=eval_examples,
        train_records=build_records(train_targets, schema_texts, data.prompt_format,
                                    data.evidence, data.prompt),
        eval_records=build_records(eval_targets, schema_texts, data.prompt_format,
                                   data.evidence, data.prompt),
        fingerprints=fingerprints,
        report={**data_report(data, dataset, train_examples, eval_examples),
                **({"not_transpiled": {"train": train_dropped, "eval": eval_dropped}}
                   if data.dialect != "sqlite" else {})},
    )


def base_model_path(config: Config, prepared: PreparedData) -> str:
    """The base model to fine-tune: hub id / folder, or the tiny base (built if needed)."""
    if config.model.name_or_path != "tiny":
        return config.model.name_or_path

    corpus = [_record_text(r) for r in prepared.train_records]
    return str(ensure_tiny_base(config.model.tiny, corpus, seed=config.train.seed).resolve())


def _record_text(record: dict[str, Any]) -> str:
    prompt, completion = record["prompt"], record["completion"]
    if isinstance(prompt, list):
        return "\n".join(m["content"] for m in prompt + completion)
    return prompt + completion


def _make_callbacks(run_digest: str):
    from transformers import TrainerCallback

    class CheckpointCompleteCallback(TrainerCallback):
        """Marks a checkpoint folder complete (with its files' sizes and hashes) once written."""

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if folder.is_dir():
                    # The run's config travels with the checkpoint, so evaluating or
                    # serving it (infer.adapter_path=.../checkpoint-N) prompts as
                    # training did (t2s.inference.adapter_prompt), as final_model/ does.
                    run_config = Path(args.output_dir) / "config.yaml"
                    if run_config.is_file():
                        shutil.copyfile(run_config, folder / "config.yaml")
                    mark_complete(folder, state.global_step, run_digest)
                    crash_point("checkpoint", state.global_step)  # tests only: see t2s.faults
            return control

    return [CheckpointCompleteCallback()]


def sft_config(config: Config, precision: str, has_eval: bool, use_cpu: bool):
    """Build TRL's SFTConfig from our train section.

    ``use_cpu`` means "no CUDA GPU". Under a DeepSpeed launch it is not passed
    on: measured (accelerate 1.15, deepspeed 0.19.8, transformers 5.24), use_cpu
    makes accelerate pick DDP instead of DeepSpeed, so the ZeRO-3-sharded model
    gets a DDP wrapper and fails on its empty embedding shard. Without it and
    with the gloo backend (DeepSpeed's CPU accelerator uses gloo; oneCCL is not
    installed) accelerate selects DeepSpeed and sees all processes.
    """

    from trl import SFTConfig

    train = config.train
    # Recent transformers (5.24 here) renamed gradient_checkpointing (the old name, an alias,
    # warns on every run); older releases in our bounds may know only the old name.
    known = {f.name for f in dataclasses.fields(SFTConfig)}
    checkpointing = ("activation_checkpointing" if "activation_checkpointing" in known
                     else "gradient_checkpointing")
    deepspeed_cpu = use_cpu and _deepspeed_launch()
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(Path(train.output_dir) / "logs"))
    set_tracking_environment(train)
    return SFTConfig(
        output_dir=train.output_dir,
        completion_only_loss=True,
        **packing_arguments(train),
        **_schedule_arguments(train, has_eval),
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=use_cpu and not deepspeed_cpu,
        ddp_backend="gloo" if deepspeed_cpu else None,
        **{checkpointing: train.gradient_checkpointing},
        seed=train.seed,
        data_seed=train.seed,
        report_to=list(train.report_to),
        run_name=train.run_name or Path(train.output_dir).name,
        dataloader_num_workers=train.dataloader_num_workers,
        remove_unused_columns=True,
        # Real tokens (not padding) for the tokens/s figure in run_info.json. Packed and
        # padding-free batches hold no padding and no attention mask, and without a mask
        # transformers counts the tokens that differ from the pad id: where pad is EOS
        # (Llama, Qwen2) that dropped every example's EOS (64 of 18,198 tokens in 8
        # Spider steps), so there every token is counted.
        include_num_input_tokens_seen=("all" if train.packing or train.padding_free
                                       else "non_padding"),
    )


def _schedule_arguments(train: TrainConfig, has_eval: bool) -> dict[str, Any]:
    """SFTConfig's steps, batches, optimizer, logging, evaluation and checkpoint arguments."""
    return {
        "num_train_epochs": train.num_train_epochs,
        "max_steps": train.max_steps,
        "per_device_train_batch_size": train.per_device_train_batch_size,
        "per_device_eval_batch_size": train.per_device_eval_batch_size,
        "gradient_accumulation_steps": train.gradient_accumulation_steps,
        "learning_rate": train.learning_rate,
        "lr_scheduler_type": train.lr_scheduler_type,
        "warmup_steps": train.warmup_steps,
        "weight_decay": train.weight_decay,
        "max_grad_norm": train.max_grad_norm,
        "logging_steps": train.logging_steps,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": train.eval_steps if has_eval else None,
        "save_strategy": "steps",
        "save_steps": train.save_steps,
        "save_total_limit": train.save_total_limit,
        "load_best_model_at_end": train.load_best_model_at_end and has_eval,
        "metric_for_best_model": train.metric_for_best_model,
        "greater_is_better": not train.metric_for_best_model.endswith("loss"),
    }


@dataclass
class TrainResult:
    """What a training run produced."""

    output_dir: Path
    final_model_dir: Path
    global_step: int
    train_loss: float | None
    best_metric: float | None
    """Best value of ``train.metric_for_best_model`` (eval_loss, or eval_ex); None without eval."""
    lengths: list[LengthReport]
    seconds: float
    train_tokens: int
    best_metric_name: str = "eval_loss"


def preflight_checks() -> list:
    """Checks ``t2s train`` adds to config validation: precision, LoRA targets,
    4-bit loading and trackers."""

    return [_precision_problems, lora_target_problems, quantization_problems, tracking_problems]


def _precision_problems(config: Config) -> list[tuple[str, str]]:
    import torch

    cuda = torch.cuda.is_available()
    problem = precision_problem(config.train.precision, cuda,
                                cuda and torch.cuda.is_bf16_supported())
    return [("train.precision", problem)] if problem else []


@dataclass
class TrainingRun:
    """Everything :func:`setup` prepared for one run; :func:`fit` and :func:`finalize` use it."""

    config: Config
    started: float
    precision: str
    args: Any                      # trl.SFTConfig
    prepared: PreparedData
    base_path: str
    tokenizer: Any
    lengths: list[LengthReport]
    trainer: Any                   # trl.SFTTrainer
    resume_from: str | None
    lock: WriterLock | None        # held by the main process for the whole run

    def release(self) -> None:
        """Release the run folder's writer lock (idempotent)."""
        if self.lock is not None:
            self.lock.release()

    @property
    def output_dir(self) -> Path:
        return Path(self.config.train.output_dir)


def train(config: Config) -> TrainResult:
    """Run one fine-tuning job from a validated config: setup, fit, finalize.

    Raises:
        T2SError: for data, model or configuration problems found before training,
            and as one message for a save that failed for want of room.
    """
    run = None
    try:
        run = setup(config)
        train_output = fit(run)
        return finalize(run, train_output)
    except Exception as exc:
        # A full disk (or quota, or file-size limit) surfaces as OSError,
        # safetensors' or torch's own error types, in set-up (config.yaml,
        # run.json) as in a checkpoint save; each becomes one message, and the
        # last complete checkpoint stays valid for the rerun.
        message = disk_full_message(exc, Path(config.train.output_dir))
        if message is None:
            raise
        raise T2SError(message) from None
    finally:
        if run is not None:
            run.release()


def setup(config: Config) -> TrainingRun:
    """Hardware, data, tokenizer, model and run folder, ready to fit.

    Raises:
        LockedError: at once, before any set-up, if another job writes the run folder.
        T2SError: for data, model or configuration problems (before any step).
    """
    started = time.time()
    check_output_dir(config.train.output_dir, "train.output_dir")
    # One writer per run folder, taken first: a second training into it is
    # refused at once, not after the set-up below (hardware, data, base model:
    # 43 s in the hostile-input pass of issue 20). The launcher's RANK says which process
    # is the main one before torch.distributed is up (unset: a single process).
    main_rank = os.environ.get("RANK", "0") == "0"
    lock = WriterLock(config.train.output_dir, "run folder").acquire() if main_rank else None
    try:
        precision, args = _setup_hardware(config)
        main = args.process_index == 0
        # Under DDP/ZeRO every rank runs this: rank 0 generates the sample data and
        # builds the tiny base first; the others then find them and reuse them.
        with args.main_process_first(desc="data and base model"):
            prepared = prepare_data(config)
            base_path = base_model_path(config, prepared)
        identity = run_identity(config, prepared.fingerprints, base_fingerprint(config, base_path))
        with args.main_process_first(desc="run folder"):
            resume_from = _setup_run_folder(config, identity, main)
        tokenizer = load_tokenizer(base_path, config.model.revision,
                                   config.model.trust_remote_code)
        setup_chat_template(tokenizer, config.data.prompt_format, config.data.prompt, base_path)
        check_token_boundary(prepared.train_records, tokenizer)
        lengths = _setup_lengths(config, prepared, tokenizer)
        model = _setup_model(config, base_path, precision)
        trainer = _build_trainer(model, args, prepared, tokenizer, identity_digest(identity),
                                 make_ex_callback(config, prepared.dataset, prepared.eval_examples))
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return TrainingRun(config=config, started=started, precision=precision, args=args,
                       prepared=prepared, base_path=base_path, tokenizer=tokenizer,
                       lengths=lengths, trainer=trainer, resume_from=resume_from, lock=lock)


def _setup_hardware(config: Config) -> tuple[str, Any]:
    """The precision and TRL's training arguments for this machine and launch.

    Raises:
        ConfigError: if the precision does not fit the hardware.
        T2SError: if the launch topology cannot work here.
    """
    import torch

    cuda = torch.cuda.is_available()
    precision = resolve_precision(config.train.precision, cuda,
                                  cuda and torch.cuda.is_bf16_supported())
    _check_launch_topology(cuda)
    log.info("precision: %s (requested %s, %s)", precision, config.train.precision,
             "CUDA GPU" if cuda else "CPU")
    # Building the training arguments sets up the distributed state, which the
    # checks and main_process_first rely on.
    args = sft_config(config, precision, has_eval=config.data.eval_file is not None,
                      use_cpu=not cuda)
    _check_world_size(args.world_size)
    return precision, args


def _setup_lengths(config: Config, prepared: PreparedData, tokenizer: Any) -> list[LengthReport]:
    """Apply ``train.max_seq_length`` to both splits (in place) and report what was dropped.

    Raises:
        DataError: if an example is too long and ``data.overlength`` is ``error``.
    """
    limit, policy = config.train.max_seq_length, config.data.overlength
    prepared.train_records, train_len = apply_length_limit(
        prepared.train_records, tokenizer, limit, policy, "train")
    lengths = [train_len]
    if prepared.eval_records:
        prepared.eval_records, eval_len = apply_length_limit(
            prepared.eval_records, tokenizer, limit, policy, "eval")
        lengths.append(eval_len)
    for report in lengths:
        print(f"[t2s] {report.summary()}")
    return lengths


def _setup_model(config: Config, base_path: str, precision: str) -> Any:
    """The base model, with LoRA adapters when ``train.method`` is ``lora``.

    The LoRA weights are drawn from ``train.seed``: the Trainer seeds only when
    it is built, after this, so the same command used to start from different
    adapters (and differ from its third step on) in every fresh process.
    """
    from transformers import set_seed

    model = load_base_model(config.model, base_path, precision)
    if config.train.method == "lora":
        set_seed(config.train.seed)
        model = apply_lora(model, config.lora)
    print(f"[t2s] {config.train.method}: {count_parameters(model)}")
    return model


def _setup_run_folder(config: Config, identity: dict[str, Any], main: bool) -> str | None:
    """Apply ``train.resume`` (see :mod:`t2s.training.runs`), then record the config; returns the checkpoint.

    Nothing is written before the check: a refused run leaves the folder as it was.

    Raises:
        T2SError: if the folder holds another run, or ``train.resume`` cannot be honoured.
    """
    output_dir = Path(config.train.output_dir)
    resume_from = prepare_run_folder(output_dir, config.train.resume, identity, main=main)
    if main:
        dump_yaml(config, output_dir / "config.yaml")
    if resume_from:
        print(f"[t2s] resuming from {resume_from}")
    return resume_from


def base_fingerprint(config: Config, base_path: str) -> str:
    """What identifies the base model of a run, cheaply (no weights are hashed).

    The tiny base's folder is named by its fingerprint; a local folder is its
    config, tokenizer and weight files' names and sizes; a hub id is id and revision.
    """
    path = Path(base_path)
    if config.model.name_or_path == "tiny":
        return f"tiny:{path.name}"
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.iterdir() if p.is_file()):
            digest.update(file.name.encode())
            if file.suffix in (".json", ".model", ".txt", ".jinja"):
                digest.update(file.read_bytes())
            else:  # weights: name and size; hashing gigabytes per run start is too slow
                digest.update(str(file.stat().st_size).encode())
        return f"folder:{digest.hexdigest()[:16]}"
    return f"hub:{base_path}@{config.model.revision or 'default'}"


def _build_trainer(model: Any, args: Any, prepared: PreparedData, tokenizer: Any,
                   run_digest: str, ex_callback: Any = None) -> Any:
    """TRL's SFTTrainer over the prompt/completion records (completion-only loss)."""
    from datasets import Dataset
    from trl import SFTTrainer

    def dataset(records: list[dict[str, Any]]) -> Any:
        return Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]}
                                  for r in records])

    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset(prepared.train_records),
        eval_dataset=dataset(prepared.eval_records) if prepared.eval_records else None,
        processing_class=tokenizer,
        # Saves a complete checkpoint and stops on Slurm's time-limit signal.
        callbacks=[*_make_callbacks(run_digest), save_and_stop_callback(),
                   *([ex_callback] if ex_callback else []), *min_step_callbacks()],
    )
    if ex_callback:
        ex_callback.attach(trainer)  # it logs eval_ex through the trainer
    return trainer


def fit(run: TrainingRun) -> Any:
    """Train (resuming when :func:`setup` found a checkpoint); returns TRL's TrainOutput.

    Raises:
        TrainingStopped: if a stop signal made it save a checkpoint and stop early.
    """
    output = run.trainer.train(resume_from_checkpoint=run.resume_from)
    raise_if_stopped(run.trainer)
    return output


def finalize(run: TrainingRun, train_output: Any) -> TrainResult:
    """Save the final model, and (main process) run_info.json and the loss curve."""
    trainer = run.trainer
    final_dir = run.output_dir / "final_model"
    _save_final(trainer, run.tokenizer, run.config, final_dir)
    history = trainer.state.log_history
    loss = train_output.training_loss
    result = TrainResult(
        output_dir=run.output_dir, final_model_dir=final_dir, global_step=trainer.state.global_step,
        train_loss=loss if math.isfinite(loss) else None,
        best_metric=trainer.state.best_metric if run.prepared.eval_records else None,
        best_metric_name=run.config.train.metric_for_best_model,
        lengths=run.lengths, seconds=time.time() - run.started,
        train_tokens=int(trainer.state.num_input_tokens_seen or 0),
    )
    if trainer.is_world_process_zero():
        info = _write_run_info(run.config, run.prepared, run.base_path, run.precision, result,
                               history)
        # Replaces PEFT's template README with the facts of this run (t2s.models.card).
        write_training_card(final_dir, info, base_fingerprint(run.config, run.base_path))
        plot_loss_curve(history, run.output_dir / "loss_curve.png")
    return result


def _env_flag(name: str) -> bool:
    """Whether environment variable ``name`` is set to a true value."""
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def _deepspeed_launch() -> bool:
    """Whether accelerate launched this process with DeepSpeed."""
    return _env_flag("ACCELERATE_USE_DEEPSPEED")


def _check_launch_topology(cuda: bool) -> None:
    """Refuse launches that cannot work on this hardware.

    Raises:
        T2SError: naming the problem and the accelerate config to use instead.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if _env_flag("ACCELERATE_USE_FSDP") and not cuda:
        # Measured (accelerate 1.15, CPU): the Trainer's FSDP path does not run on CPU.
        raise T2SError("FSDP needs CUDA GPUs: the Trainer's FSDP path does not run on CPU. "
                       "On CPU use accelerate_configs/cpu_ddp.yaml or zero3.yaml")
    if _deepspeed_launch() and _env_flag("ACCELERATE_USE_CPU"):
        # Measured (accelerate 1.15, deepspeed 0.19.8): with ACCELERATE_USE_CPU
        # accelerate never selects DeepSpeed and wraps the ZeRO-3-sharded model
        # in plain DDP, whose first forward fails on an empty embedding shard.
        raise T2SError("DeepSpeed ZeRO-3 cannot run with ACCELERATE_USE_CPU=true (or "
                       "accelerate launch --cpu): unset it; on CPU t2s runs ZeRO-3 over gloo")
    if _deepspeed_launch() and world == 1:
        raise T2SError("DeepSpeed ZeRO-3 was launched with one process: nothing to shard. "
                       "Pass --num_processes N (N > 1) or use accelerate_configs/single_gpu.yaml")


def _check_world_size(trainer_world_size: int) -> None:
    """Refuse N launched processes that would each train alone.

    Measured (accelerate 1.15, CPU): ``accelerate launch --multi_gpu
    --num_processes 2`` without ``ACCELERATE_USE_CPU=true`` starts two processes
    whose Trainers each see a world of one and train the full model alone,
    with only a warning.

    Raises:
        T2SError: when the launcher started more processes than the Trainer's world.
    """
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and trainer_world_size != launched:
        raise T2SError(
            f"{launched} processes were launched but the trainer sees a world of "
            f"{trainer_world_size}, so each would train alone. Launch with one of "
            "accelerate_configs/ (cpu_ddp.yaml for DDP on CPU, zero3.yaml for ZeRO-3)")


def _save_final(trainer, tokenizer, config: Config, final_dir: Path) -> None:
    """Save adapter (or full model) + tokenizer + config, via a staging folder.

    Every rank calls this: under ZeRO-3 saving gathers the sharded weights, a
    collective that all ranks must join (measured: with rank 0 alone it fails
    once rank 1 exits). Only the world-process-zero rank writes files.
    """
    staging = final_dir.with_name(final_dir.name + ".partial")
    main = trainer.is_world_process_zero()
    if main:
        shutil.rmtree(staging, ignore_errors=True)
    trainer.save_model(str(staging))
    if not main:
        return
    tokenizer.save_pretrained(str(staging))
    dump_yaml(config, staging / "config.yaml")
    shutil.rmtree(final_dir, ignore_errors=True)
    staging.rename(final_dir)
    print(f"[t2s] final model saved to {final_dir}")


def _write_run_info(config: Config, prepared: PreparedData, base_path: str, precision: str,
                    result: TrainResult, history: list[dict[str, Any]]) -> dict[str, Any]:
    info = {
        "environment": environment(),
        "config": to_dict(config),
        "base_model": base_path,
        "precision": precision,
        "data_fingerprints": prepared.fingerprints,
        "data": prepared.report,
        "lengths": [vars(r) | {"dropped": r.dropped} for r in result.lengths],
        "result": {
            "global_step": result.global_step, "train_loss": result.train_loss,
            "best_metric": {result.best_metric_name: result.best_metric}, "seconds": round(result.seconds, 1),
            "train_tokens": result.train_tokens,
        },
        "log_history": history,
    }
    write_json_atomic(result.output_dir / "run_info.json", info)
    return info


def plot_loss_curve(history: list[dict[str, Any]], path: Path) -> Path | None:
    """Plot train and eval loss per step to a PNG; returns the path, or None without data."""
    train_points = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    if not train_points:  # fewer steps than train.logging_steps: the run's mean loss
        train_points = [(h["step"], h["train_loss"]) for h in history
                        if "train_loss" in h and "step" in h]
    eval_points = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    ex_points = [(h["step"], h["eval_ex"]) for h in history if "eval_ex" in h]
    if not train_points and not eval_points:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display on batch nodes
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    if train_points:
        axis.plot(*zip(*train_points, strict=True), marker="." if len(train_points) < 3 else "",
                  label="train loss")
    if eval_points:
        axis.plot(*zip(*eval_points, strict=True), marker="o", label="eval loss")
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("loss")
    axis.legend(loc="upper left")
    if ex_points:
        ex_axis = axis.twinx()
        ex_axis.plot(*zip(*ex_points, strict=True), marker="s", color="tab:green",
                     label="eval execution accuracy")
        ex_axis.set_ylabel("execution accuracy")
        ex_axis.set_ylim(0, 1)
        ex_axis.legend(loc="upper right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def summarize(result: TrainResult) -> str:
    """One human-readable line about a finished run."""
    parts = [f"steps={result.global_step}"]
    if result.train_loss is not None:
        parts.append(f"train_loss={result.train_loss:.4f}")
    if result.best_metric is not None:
        parts.append(f"best_{result.best_metric_name}={result.best_metric:.4f}")
    parts.append(f"time={result.seconds:.0f}s")
    parts.append(f"tokens/s={result.train_tokens / max(result.seconds, 1e-9):.0f}")
    return "[t2s] training done: " + " ".join(parts) + f" -> {result.final_model_dir}"

