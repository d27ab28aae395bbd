"""The one typed configuration schema of t2s, its loading and its validation.

Precedence: dataclass defaults < YAML file (which may ``extends:`` another YAML,
resolved relative to itself) < command-line overrides ``key.sub=value``.

Every problem found (unknown key, wrong type, impossible combination) is
collected and raised once as a :class:`~t2s.errors.ConfigError` whose message
names the file (or "command line") and the key, and suggests the nearest valid
key. This module imports no other t2s module except :mod:`t2s.errors`.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from t2s.errors import ConfigError

# Why 10 s: the slowest gold query of Spider dev runs in 7.5 ms on this 2-core
# machine (972 executable queries take 0.31 s in total), so 10 s is >1000x the
# slowest legitimate query and still leaves room for a slower disk or CPU, while
# a runaway prediction costs at most 10 s of one worker (the issue asks for
# <= 30 s).
SQL_TIMEOUT_S = 10.0

# Why 100,000 rows: the largest gold result on Spider dev has 1,860 rows
# (world_1), so the cap is >50x that; 100k rows of ~10 small values is tens of
# MB per worker, bounded. A prediction with more rows than the cap cannot equal a
# gold result below the cap, so capping never changes a verdict there.
SQL_MAX_ROWS = 100_000

EType = Literal["all", "match", "exec"]
"""What ``t2s evaluate`` scores: exact set match and execution accuracy, or one of them."""


@dataclass
class SchemaTextConfig:
    """How a database schema is written into the prompt."""

    include_keys: bool = False
    """Append primary/foreign keys after the table lines."""
    sample_values: int = 0
    """Distinct sample values per text column read from the SQLite file (0: none)."""


@dataclass
class DataConfig:
    """Where the Spider-format data lives and how prompts are built from it."""

    source: Literal["sample", "spider"] = "sample"
    """``sample``: the embedded dataset, generated into ``root`` when missing;
    ``spider``: an existing Spider-format directory at ``root``."""
    root: str = "outputs/data/sample"
    """Spider-format directory (tables.json, question files, database/)."""
    train_file: str = "train.json"
    """Training question file inside ``root``."""
    eval_file: str | None = "dev.json"
    """Evaluation question file inside ``root``; null disables evaluation during training."""
    tables_file: str = "tables.json"
    """Schema file inside ``root``."""
    database_dir: str = "database"
    """Folder of ``<db_id>/<db_id>.sqlite`` files, relative to ``root``."""
    max_train_examples: int | None = None
    """Use only the first N training examples (null: all)."""
    max_eval_examples: int | None = None
    """Use only the first N evaluation examples (null: all)."""
    schema: SchemaTextConfig = field(default_factory=SchemaTextConfig)
    """Schema serialisation switches."""
    prompt_format: Literal["inst", "chat_template"] = "inst"
    """``inst``: ``[INST] ... [/INST]`` layout; ``chat_template``: the tokenizer's chat template."""
    overlength: Literal["drop", "error"] = "drop"
    """What to do with examples longer than ``train.max_seq_length``: drop them
    (counted and reported) or stop. SQL and the EOS token are never cut."""


@dataclass
class TinyModelConfig:
    """Shape of the offline tiny Llama model built when ``model.name_or_path: tiny``."""

    base_dir: str = "outputs/tiny_base"
    """Folder of pretrained tiny bases, one sub-folder per (shape, corpus, seed) fingerprint."""
    vocab_size: int = 2048
    """BPE vocabulary trained on the training corpus."""
    hidden_size: int = 64
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    max_position_embeddings: int = 1024
    pretrain_steps: int = 300
    """Full-parameter steps on the training split's text before LoRA (a random
    base barely learns through LoRA alone: measured loss 7.5 -> 7.2)."""
    pretrain_learning_rate: float = 3e-3
    pretrain_batch_size: int = 16


@dataclass
class ModelConfig:
    """The base causal language model."""

    name_or_path: str = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
    """Hub id, local folder, or ``tiny`` for the offline model built from ``model.tiny``."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) for reproducible downloads."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights dtype at load; ``auto`` follows ``train.precision``."""
    trust_remote_code: bool = False
    attn_implementation: str | None = None
    """e.g. ``sdpa`` or ``flash_attention_2``; null lets transformers choose."""
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)


@dataclass
class LoraConfig:
    """LoRA adapter settings (used when ``train.method: lora``)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    bias: Literal["none", "all", "lora_only"] = "none"


@dataclass
class TrainConfig:
    """Supervised fine-tuning schedule (TRL SFTTrainer)."""

    output_dir: str = "outputs"
    """Run folder: checkpoints, logs, ``final_model/``."""
    method: Literal["lora", "full"] = "lora"
    max_seq_length: int = 1024
    num_train_epochs: float = 3.0
    max_steps: int = -1
    """Positive: stop after this many optimizer steps (overrides epochs)."""
    per_device_train_batch_size: int = 4
    per_device_eval_batch_size: int = 4
    gradient_accumulation_steps: int = 4
    learning_rate: float = 2e-4
    lr_scheduler_type: str = "cosine"
    warmup_steps: int | float = 0.03
    """An integer: warm-up steps; a float below 1: fraction of all steps."""
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    logging_steps: int = 25
    eval_steps: int = 250
    save_steps: int = 250
    save_total_limit: int | None = 3
    load_best_model_at_end: bool = True
    metric_for_best_model: str = "eval_loss"
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    """``auto``: bf16 on GPUs that support it, fp16 on other GPUs, fp32 on CPU."""
    gradient_checkpointing: bool = False
    seed: int = 42
    resume: str = "auto"
    """``auto``: resume from the last complete checkpoint in output_dir if any;
    ``never``; or a checkpoint folder."""
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])
    dataloader_num_workers: int = 0


@dataclass
class EvalConfig:
    """Scoring of predictions (exact match and execution accuracy)."""

    etype: EType = "all"
    """``all`` (exact match and execution), ``match`` or ``exec``."""
    timeout_s: float = SQL_TIMEOUT_S
    """Per-query limit; a runaway query is interrupted and scored as a timeout.
    The slowest Spider dev gold query runs in 7.5 ms here, so 10 s is >1000x headroom."""
    max_rows: int = SQL_MAX_ROWS
    """Rows fetched per query at most."""
    workers: int = 2
    """Scoring worker processes (the dev and CI machines have 2 cores)."""
    keep_distinct: bool = False
    """Keep DISTINCT when executing (the official default removes it)."""
    report_dir: str = "outputs/eval"
    """Where ``t2s evaluate --config`` writes predictions and REPORT.json."""

    @property
    def exact(self) -> bool:
        """Whether exact match is scored."""
        return self.etype in ("all", "match")

    @property
    def execution(self) -> bool:
        """Whether execution accuracy is scored."""
        return self.etype in ("all", "exec")


@dataclass
class InferConfig:
    """Generation settings shared by single, batch, REPL and evaluation."""

    adapter_path: str = "outputs/final_model"
    """Trained adapter (or merged/full model) folder."""
    backend: Literal["hf", "vllm"] = "hf"
    batch_size: int = 8
    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    num_beams: int = 1
    seed: int = 0
    """Seed for sampling, so sampled runs are repeatable."""
    execution_guided: bool = False
    """Generate ``num_candidates`` (beams, or samples when do_sample) and execute them read-only."""
    guided_strategy: Literal["first_ok", "majority"] = "first_ok"
    """Pick the first candidate that executes without error, or the majority result."""
    num_candidates: int = 4
    execute_timeout_s: float = SQL_TIMEOUT_S
    """Time limit of each query that inference runs (``--execute``, execution-guided)."""
    max_rows: int = 1000
    """Rows fetched (and shown) per executed query at most."""
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    """Compute precision when loading the model for generation: ``auto``: bf16 on
    GPUs that support it, fp16 on other GPUs, fp32 on CPU."""


@dataclass
class SlurmConfig:
    """Cluster settings for ``t2s submit``; node and process counts go on the launch line."""

    cluster: Literal["slurm", "local", "debug"] = "slurm"
    partition: str | None = None
    nodes: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int = 2
    mem_gb: int = 8
    time_min: int = 60
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    additional_sbatch: list[str] = field(default_factory=list)
    """Extra ``#SBATCH`` lines, e.g. ``--exclusive``."""
    container_image: str | None = None
    """Apptainer .sif to run the job in (``apptainer exec --nv``); null: no container."""
    accelerate_config: str | None = None
    """File in accelerate_configs/ for the launch line; null: plain python."""
    jobs_dir: str = "outputs/jobs"
    signal_delay_s: int = 90
    """Seconds before the time limit at which Slurm signals the job to checkpoint."""
    max_requeues: int = 3


@dataclass
class Config:
    """The whole t2s configuration; each stage receives only its own section."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)


# ----------------------------------------------------------------------------
# Loading


@dataclass
class _Problems:
    """Collects every problem so the user sees them all in one message."""

    items: list[str] = field(default_factory=list)

    def add(self, source: str, key: str, message: str) -> None:
        self.items.append(f"{source}: {key}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            count = len(self.items)
            header = f"{count} configuration problem{'s' if count > 1 else ''}:"
            raise ConfigError("\n  ".join([header, *self.items]))


def read_yaml(path: str | Path, sources: dict[str, str] | None = None,
              _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML config, resolving ``extends:`` (a path relative to the file).

    Args:
        path: The YAML file.
        sources: If given, filled with ``dotted.key -> file`` for every key, the
            file that set it last (so messages name the right file).

    Raises:
        ConfigError: if the file is missing, not UTF-8, not a mapping, not
            valid YAML, or the ``extends`` chain is circular.
    """
    path = Path(path)
    resolved = path.resolve()
    if resolved in _seen:
        raise ConfigError(f"{path}: circular 'extends' chain")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        # safe_load: a config must never be able to construct Python objects.
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte {exc.object[exc.start]:#x})") \
            from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    parent = data.pop("extends", None)
    base = {} if parent is None else read_yaml(path.parent / str(parent), sources,
                                                (*_seen, resolved))
    if sources is not None:
        _record_sources(data, str(path), sources, [])
    return _deep_merge(base, data)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``key.sub=value`` into a key path and a YAML-typed value.

    Raises:
        ConfigError: if there is no ``=`` or the key is empty.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"command line: override {text!r} is not of the form key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


# A check that needs more than the config (the hardware, the model's layers):
# returns (dotted key, message) pairs, reported with the config's own problems.
ConfigCheck = Callable[["Config"], Iterable[tuple[str, str]]]


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                checks: Sequence[ConfigCheck] = ()) -> Config:
    """Build a :class:`Config` from defaults, an optional YAML file and overrides.

    Args:
        path: YAML file, or None for defaults only.
        overrides: ``key.sub=value`` strings, applied after the file.
        checks: extra checks run on the built config (``t2s train`` adds the
            hardware and model checks), so one message lists every problem.

    Raises:
        ConfigError: listing every unknown key, wrong type and invalid
            combination found, each with its source and key.
    """
    problems = _Problems()
    sources: dict[str, str] = {}
    tree: dict[str, Any] = {}
    if path is not None:
        tree = read_yaml(path, sources)
    for text in overrides:
        keys, value = parse_override(text)
        _set_path(tree, keys, value)
        sources[".".join(keys)] = "command line"
    config = _build(Config, tree, [], sources, problems, str(path) if path else "defaults")
    # Fields that failed their type check kept their defaults, so the
    # combination checks still run and the user sees every problem at once.
    _check_combinations(config, sources, problems)
    for check in checks:
        for key, message in check(config):
            problems.add(_source_of(key, sources, "config"), key, message)
    problems.raise_if_any()
    return config


def _record_sources(tree: dict[str, Any], source: str, sources: dict[str, str], prefix: list[str]) -> None:
    for key, value in tree.items():
        dotted = ".".join([*prefix, str(key)])
        sources[dotted] = source
        if isinstance(value, dict):
            _record_sources(value, source, sources, [*prefix, str(key)])


def _source_of(dotted: str, sources: dict[str, str], fallback: str) -> str:
    return sources.get(dotted, fallback)


def _build(cls: type, tree: Any, prefix: list[str], sources: dict[str, str],
           problems: _Problems, fallback: str) -> Any:
    """Turn a mapping into dataclass ``cls``, recording problems instead of raising."""
    dotted_prefix = ".".join(prefix)
    if not isinstance(tree, dict):
        problems.add(_source_of(dotted_prefix, sources, fallback), dotted_prefix,
                     f"expected a mapping of {cls.__name__} fields, got {tree!r}")
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = ".".join([*prefix, str(key)])
        source = _source_of(dotted, sources, fallback)
        if key not in fields:
            near = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean '{'.'.join([*prefix, near[0]])}'?" if near else ""
            valid = ", ".join(fields)
            problems.add(source, dotted, f"unknown key{hint} (valid keys here: {valid})")
            continue
        hint_type = hints[key]
        if dataclasses.is_dataclass(hint_type):
            kwargs[key] = _build(hint_type, value, [*prefix, key], sources, problems, fallback)
            continue
        error = _type_error(value, hint_type)
        if error:
            problems.add(source, dotted, error)
            continue
        kwargs[key] = _coerce(value, hint_type)
    return cls(**kwargs)


def _type_error(value: Any, hint: Any) -> str | None:
    """Describe why ``value`` does not fit type ``hint``, or None if it does."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        return None if value in args else f"must be one of {', '.join(map(repr, args))}, got {value!r}"
    if origin in (typing.Union, types.UnionType):
        errors = [_type_error(value, arg) for arg in args]
        if any(e is None for e in errors):
            return None
        return next(e for e in errors if e)
    if hint is type(None):
        return None if value is None else f"expected null, got {value!r}"
    if origin is list:
        if not isinstance(value, list):
            return f"expected a list, got {value!r}"
        for item in value:
            error = _type_error(item, args[0]) if args else None
            if error:
                return f"list item: {error}"
        return None
    if hint is bool:
        return None if isinstance(value, bool) else f"expected true/false, got {value!r}"
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"expected an integer, got {value!r}"
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"expected a number, got {value!r}"
    if hint is str:
        return None if isinstance(value, str) else f"expected a string, got {value!r}"
    return None


def _coerce(value: Any, hint: Any) -> Any:
    if hint is float and isinstance(value, int):
        return float(value)
    return value


# ----------------------------------------------------------------------------
# Validation of combinations


def _check_combinations(config: Config, sources: dict[str, str], problems: _Problems) -> None:
    """Record combinations that each field alone cannot express.

    Hardware- and model-dependent checks (bf16 support, LoRA target modules)
    run where those are known: :func:`resolve_precision` and ``t2s.model``.
    """

    def add(key: str, message: str) -> None:
        problems.add(sources.get(key, "config"), key, message)

    train = config.train
    for key in ("logging_steps", "eval_steps", "save_steps", "gradient_accumulation_steps",
                "per_device_train_batch_size", "per_device_eval_batch_size", "max_seq_length"):
        if getattr(train, key) <= 0:
            add(f"train.{key}", f"must be positive, got {getattr(train, key)}")
    if train.max_steps == 0 or train.max_steps < -1:
        add("train.max_steps", "must be -1 (use epochs) or positive")
    if train.load_best_model_at_end:
        if config.data.eval_file is None:
            add("train.load_best_model_at_end",
                "needs an evaluation split, but data.eval_file is null")
        elif train.eval_steps > 0 and train.save_steps % train.eval_steps:
            add("train.save_steps",
                f"must be a multiple of train.eval_steps ({train.eval_steps}) when "
                f"load_best_model_at_end is true, got {train.save_steps}")
    # A YAML's eval_steps (a preset, or a resolved config dumped with every
    # key) stays harmless when the eval split is dropped; asking for eval steps
    # on the command line without an eval split is a contradiction.
    if config.data.eval_file is None and sources.get("train.eval_steps") == "command line":
        add("train.eval_steps", "set, but there is no evaluation split (data.eval_file is null)")
    if not 0.0 <= config.lora.dropout < 1.0:
        add("lora.dropout", f"must be in [0, 1), got {config.lora.dropout}")
    if config.lora.r <= 0:
        add("lora.r", f"must be positive, got {config.lora.r}")
    if train.method == "lora" and not config.lora.target_modules:
        add("lora.target_modules", "is empty; LoRA needs at least one module")
    if config.data.schema.sample_values < 0:
        add("data.schema.sample_values", "must be >= 0")
    for key, message in eval_problems(config.eval):
        add(f"eval.{key}", message)
    if config.infer.execute_timeout_s <= 0:
        add("infer.execute_timeout_s", f"must be > 0 seconds, got {config.infer.execute_timeout_s}")
    if config.infer.max_rows < 1:
        add("infer.max_rows", f"must be >= 1, got {config.infer.max_rows}")
    if config.infer.batch_size <= 0:
        add("infer.batch_size", "must be positive")
    infer = config.infer
    if infer.do_sample and infer.temperature <= 0:
        add("infer.temperature", "must be positive when infer.do_sample is true")
    if infer.max_new_tokens <= 0:
        add("infer.max_new_tokens", "must be positive")
    if infer.num_beams < 1:
        add("infer.num_beams", "must be at least 1")
    if not 0 < infer.top_p <= 1:
        add("infer.top_p", f"must be in (0, 1], got {infer.top_p}")
    if infer.execution_guided and infer.num_candidates < 2:
        add("infer.num_candidates", "must be at least 2 when infer.execution_guided is true")
    if config.model.name_or_path == "tiny" and config.model.tiny.hidden_size % config.model.tiny.num_attention_heads:
        add("model.tiny.hidden_size", "must be divisible by model.tiny.num_attention_heads")
    if config.slurm.nodes <= 0:
        add("slurm.nodes", "must be positive")


def eval_problems(eval_config: EvalConfig) -> list[tuple[str, str]]:
    """``(field, message)`` for each invalid scoring setting.

    Shared by config loading (keys ``eval.<field>``) and ``t2s evaluate``'s
    prediction-file flags, which build an :class:`EvalConfig` of their own.
    """
    problems = []
    if eval_config.etype not in typing.get_args(EType):
        problems.append(("etype", f"must be one of {', '.join(typing.get_args(EType))}, "
                                  f"got {eval_config.etype!r}"))
    if not eval_config.timeout_s > 0:
        problems.append(("timeout_s", f"must be > 0 seconds, got {eval_config.timeout_s}"))
    if eval_config.max_rows < 1:
        problems.append(("max_rows", f"must be >= 1, got {eval_config.max_rows}"))
    if eval_config.workers < 1:
        problems.append(("workers", f"must be >= 1, got {eval_config.workers}"))
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


def to_dict(config: Any) -> dict[str, Any]:
    """The config (or one section) as plain data, for YAML/JSON dumps."""
    return dataclasses.asdict(config)


def dump_yaml(config: Config, path: str | Path) -> None:
    """Write the resolved config to ``path`` as YAML."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")
