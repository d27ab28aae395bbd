"""The one typed configuration schema of t2s, its loading and its validation.

Precedence: dataclass defaults < YAML file (which may ``extends:`` another YAML,
resolved relative to itself) < command-line overrides ``key.sub=value``.

Every problem found (unknown key, wrong type, impossible combination) is
collected and raised once as a :class:`~t2s.errors.ConfigError` whose message
names the file (or "command line") and the key, and suggests the nearest valid
key. This module imports no other t2s module except :mod:`t2s.errors`.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import re
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

# Why 64 MiB of result per query: the largest gold result on Spider dev is
# ~60 KB (world_1, 1,860 rows), so this is >1000x it, while a prediction that
# returns many large values (``zeroblob`` per row, a self-join of long texts)
# passes the row cap but is stopped here before it allocates gigabytes. Peak
# memory per query: this budget plus one row (at most sqlexec.MAX_COLUMNS x
# sqlexec.MAX_VALUE_BYTES; one large value per row: 64 MiB + 256 KiB).
SQL_MAX_RESULT_BYTES = 64 * 1024 * 1024

# Settings that shape the prompt a model sees. Training saves them with the
# model (final_model/config.yaml); every command that prompts the model reads
# them from there (t2s.inference.adapter_prompt). A key added to the schema
# that shapes prompts belongs here. (train.max_seq_length does not: t2s never
# cuts a prompt; at training it only drops overlong examples.)
PROMPT_KEYS = ("data.prompt_format", "data.schema", "data.prompt", "data.evidence")

EType = Literal["all", "match", "exec"]
"""What ``t2s evaluate`` scores: exact set match and execution accuracy, or one of them."""

DEFAULT_INSTRUCTION = ("Generate a SQLite query that answers the question, "
                       "given the database schema.")


SchemaStyle = Literal["compact", "ddl"]
"""How schema text is written: ``TABLE:`` lines or ``CREATE TABLE`` statements."""
DEFAULT_SCHEMA_STYLE: SchemaStyle = "compact"

Cluster = Literal["slurm", "local", "debug"]
"""Where ``t2s submit`` runs a job (see :class:`SlurmConfig`)."""

# A name for an adapter or a registered database: what a db_id may be. The one
# spelling: parse_named_path checks it, and serve's request models take it as pattern.
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}$"

# data.eval_select's values: ``every:N`` (N >= 1); t2s.data.selection reads the N.
EVAL_SELECT_PATTERN = r"every:([1-9][0-9]*)"


@dataclass
class SchemaTextConfig:
    """How a database schema is written into the prompt."""

    include_keys: bool = False
    """Append primary/foreign keys after the table lines."""
    sample_values: int = 0
    """Distinct sample values per text column read from the SQLite file (0: none)."""
    style: SchemaStyle = DEFAULT_SCHEMA_STYLE
    """``compact``: one ``TABLE: t (col (type), ...)`` line per table (the seed's);
    ``ddl``: ``CREATE TABLE`` statements, as OmniSQL/CodeS prompt."""
    matched_values: int = 0
    """Per text column, up to N of the database's values that the question names
    (its words, case-insensitively; BRIDGE/CodeS-style value retrieval), shown like
    sample values and before them; the schema text becomes per question (0: none)."""


@dataclass
class PromptConfig:
    """The prompt's wording and layout: what the model sees before the SQL."""

    system: str | None = None
    """System text: the chat template's system turn, or the inst prompt's first line; null: none."""
    instruction: str = DEFAULT_INSTRUCTION
    """First line of the user turn, before the schema."""
    completion_separator: str = " "
    """``inst`` format: text between ``[/INST]`` and the SQL. A space keeps the
    prompt a token prefix of prompt+completion for SentencePiece and Qwen2
    vocabularies (Qwen2 merges ``]\\n`` into one token)."""
    chat_template: Literal["tokenizer", "llama2", "chatml"] = "tokenizer"
    """``chat_template`` format: the tokenizer's own template, or one t2s ships
    (``llama2``: ``<s>[INST] ... [/INST] SQL</s>``; ``chatml``: ``<|im_start|>`` turns)."""


@dataclass
class ColumnMap:
    """Which column of a ``files``/``hf`` dataset holds each field of an example.

    Fields set to null are absent from the data; ``question``, ``sql`` and
    ``db_id`` are required.
    """

    question: str = "question"
    """Question column."""
    sql: str = "query"
    """Gold SQL column (``query`` in Spider, ``SQL`` in BIRD)."""
    db_id: str = "db_id"
    """Database column: a db_id of ``data.tables_file``, or a SQLite file's stem under ``data.database_dir``."""
    evidence: str | None = None
    """External knowledge shown with the question (BIRD's ``evidence``)."""
    difficulty: str | None = None
    """A difficulty label reported as a breakdown (BIRD's ``difficulty``)."""
    category: str | None = None
    """A category label (kept with each example in the view's split files)."""


@dataclass
class SourceConfig:
    """One source of a mixture (``data.sources``); unset fields follow ``data``."""

    name: str = ""
    """Label in reports and run_info.json (unique; default the adapter name)."""
    source: Literal["sample", "spider", "wikisql", "bird", "files", "hf"] = "spider"
    """Adapter, as ``data.source``."""
    root: str = ""
    """Dataset location, as ``data.root``."""
    train_file: str | None = None
    """Training split of this source; null: this source adds no training examples."""
    eval_file: str | None = None
    """Evaluation split of this source; null: it adds no evaluation examples."""
    tables_file: str | None = None
    """As ``data.tables_file`` (null: that value)."""
    database_dir: str | None = None
    """As ``data.database_dir`` (null: that value)."""
    columns: ColumnMap | None = None
    """As ``data.columns`` (null: that value)."""
    weight: float = 1.0
    """Training examples drawn per example of this source: 2 repeats each one
    twice, 0.5 keeps a seeded half (evaluation splits are never reweighted)."""


@dataclass
class DataConfig:
    """Which dataset to read, through which adapter, and how prompts are built from it."""

    source: Literal["sample", "spider", "wikisql", "bird", "files", "hf"] = "sample"
    """``sample``: the embedded dataset, generated into ``root`` when missing;
    ``spider``: a Spider-format directory; ``wikisql``: WikiSQL's ``*.jsonl`` +
    ``*.tables.jsonl`` (+ ``*.db``); ``bird``: BIRD's JSON + ``dev_tables.json``;
    ``files``: JSON/JSONL/CSV/Parquet files read with ``datasets`` through
    ``data.columns``; ``hf``: a ``datasets`` folder (``save_to_disk``) or a hub
    id already in the local cache, through ``data.columns``."""
    root: str = "outputs/data/sample"
    """Dataset directory (for ``hf``: the folder or the cached hub id)."""
    train_file: str = "train.json"
    """Training split inside ``root``: a file name (``train.jsonl`` for WikiSQL,
    ``train.csv`` for files) or, for ``hf``, a split name."""
    eval_file: str | None = "dev.json"
    """Evaluation split inside ``root`` (as ``train_file``); null disables evaluation."""
    tables_file: str = "tables.json"
    """Schema file inside ``root`` (Spider's tables.json layout; BIRD: ``dev_tables.json``
    or its cleaned variant). ``files``/``hf`` without it read schemas from the SQLite files."""
    database_dir: str = "database"
    """Folder of ``<db_id>/<db_id>.sqlite`` (or ``<db_id>.sqlite``) files, relative to ``root``."""
    columns: ColumnMap = field(default_factory=ColumnMap)
    """Column map of ``files``/``hf`` sources."""
    bad_rows: Literal["error", "skip"] = "error"
    """A row missing a field, or with an empty one: stop with its file, row and
    field (``error``), or leave it out, counted and reported (``skip``)."""
    evidence: bool = False
    """Put each example's evidence (BIRD) under the question in the prompt, in
    training, evaluation and inference alike."""
    sources: list[SourceConfig] = field(default_factory=list)
    """A mixture of several sources (replaces ``source``/``root``/``*_file``);
    de-duplicated by normalised question + SQL."""
    contamination: Literal["warn", "error", "ignore"] = "warn"
    """Train/eval overlap (same or near-same question, same database in both):
    report it in run_info.json and warn, refuse to train (``error``), or skip the check (``ignore``)."""
    prepared_dir: str = "outputs/data/prepared"
    """Where non-Spider sources are written as Spider-format views
    (``<source>-<fingerprint>/``: tables.json, splits, database/), rebuilt when
    their inputs change, so evaluation and inference read one layout."""
    max_train_examples: int | None = None
    """Use only the first N training examples (null: all)."""
    max_eval_examples: int | None = None
    """Use only the first N evaluation examples (null: all)."""
    eval_select: str | None = None
    """A named subset of the evaluation split, taken before ``max_eval_examples``:
    ``every:N`` keeps the examples whose index in the file is a multiple of N and
    whose SQLite database is present (Spider dev ``every:5`` = spider-dev-194: 194
    questions over 19 databases, wta_1's database being absent); null: the whole split."""
    schema: SchemaTextConfig = field(default_factory=SchemaTextConfig)
    """Schema serialisation switches."""
    prompt: PromptConfig = field(default_factory=PromptConfig)
    """Prompt wording, separator and chat template."""
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
    """Width of the tiny model."""
    intermediate_size: int = 256
    """MLP width of the tiny model."""
    num_hidden_layers: int = 2
    """Decoder layers of the tiny model."""
    num_attention_heads: int = 4
    """Attention heads (must divide hidden_size)."""
    max_position_embeddings: int = 1024
    """Longest sequence the tiny model accepts, in tokens."""
    pretrain_steps: int = 300
    """Full-parameter steps on the training split's text before LoRA (a random
    base barely learns through LoRA alone: measured loss 7.5 -> 7.2)."""
    pretrain_learning_rate: float = 3e-3
    """Learning rate of the tiny base's pretraining."""
    pretrain_batch_size: int = 16
    """Examples per pretraining step."""


@dataclass
class QuantizationConfig:
    """bitsandbytes 4-bit loading of the frozen base (QLoRA)."""

    load_in_4bit: bool = False
    """Load the base in 4 bits (LoRA only; needs a CUDA GPU and ``pip install 't2s[qlora]'``)."""
    quant_type: Literal["nf4", "fp4"] = "nf4"
    """4-bit data type: ``nf4`` (normal float, for normally distributed weights) or ``fp4``."""
    double_quant: bool = True
    """Quantize the quantization constants too (about 0.4 bit/parameter saved)."""
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    """Dtype the 4-bit weights are dequantized to for each matmul."""


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
    """Run the model repository's own Python code (only for models you trust)."""
    attn_implementation: str | None = None
    """e.g. ``sdpa`` or ``flash_attention_2``; null lets transformers choose."""
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)
    """4-bit loading of the base (QLoRA); needs CUDA and the ``qlora`` extra."""


@dataclass
class LoraConfig:
    """LoRA adapter settings (used when ``train.method: lora``)."""

    r: int = 8
    """Rank of the LoRA update matrices."""
    alpha: int = 16
    """LoRA scaling numerator: updates are scaled by alpha / r."""
    dropout: float = 0.05
    """Dropout on the LoRA input, in [0, 1)."""
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    """Module names that get LoRA adapters (checked against the model before training),
    or ``[all-linear]`` for every Linear layer but the LM head."""
    bias: Literal["none", "all", "lora_only"] = "none"
    """Which biases train: none, all, or only those of LoRA layers."""
    use_dora: bool = False
    """DoRA: learn a magnitude per output feature besides the LoRA direction."""
    use_rslora: bool = False
    """rsLoRA: scale by alpha/sqrt(r) instead of alpha/r (stable at large r)."""
    modules_to_save: list[str] = field(default_factory=list)
    """Modules trained in full and saved with the adapter, e.g. ``[lm_head, embed_tokens]``."""


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
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
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


@dataclass(frozen=True)
class SqlLimits:
    """The budget of one SQL statement: the guards every path that executes SQL applies.

    Evaluation (``eval.timeout_s``, ``eval.max_rows``, ``eval.max_result_bytes``)
    and inference/serving (``infer.execute_timeout_s``, ``infer.max_rows``,
    ``infer.max_result_bytes``) each hold one; its fields are the keyword
    arguments of :func:`t2s.sqlexec.execute` (``**limits.kwargs()``).
    """

    timeout_s: float = SQL_TIMEOUT_S
    max_rows: int = SQL_MAX_ROWS
    max_result_bytes: int = SQL_MAX_RESULT_BYTES

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for each limit out of range."""
        problems = []
        if not self.timeout_s > 0:  # `not >` also refuses NaN
            problems.append(("timeout_s", f"must be > 0 seconds, got {self.timeout_s}"))
        if self.max_rows < 1:
            problems.append(("max_rows", f"must be >= 1, got {self.max_rows}"))
        if self.max_result_bytes < 1:
            problems.append(("max_result_bytes", f"must be >= 1, got {self.max_result_bytes}"))
        return problems

    def kwargs(self) -> dict[str, float | int]:
        """The limits as sqlexec's keyword arguments."""
        return {"timeout_s": self.timeout_s, "max_rows": self.max_rows,
                "max_result_bytes": self.max_result_bytes}


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
    max_result_bytes: int = SQL_MAX_RESULT_BYTES
    """Bytes of result (all rows and values) fetched per query at most; a larger
    result is stopped and scored ``result_too_large``, like a timeout."""
    workers: int = 2
    """Scoring worker processes (the dev and CI machines have 2 cores)."""
    keep_distinct: bool = False
    """Keep DISTINCT when executing (the official default removes it)."""
    report_dir: str = "outputs/eval"
    """Where ``t2s evaluate --config`` writes predictions and REPORT.json."""
    exec_metric: Literal["auto", "spider", "bird"] = "auto"
    """Execution accuracy: ``spider`` compares multisets of rows (order when the
    gold query orders, columns may be permuted), ``bird`` compares sets of rows
    as BIRD's official evaluator does; ``auto`` picks ``bird`` for BIRD data."""

    @property
    def limits(self) -> SqlLimits:
        """The budget of each gold and predicted query."""
        return SqlLimits(self.timeout_s, self.max_rows, self.max_result_bytes)

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
    """``hf``: transformers generate; ``vllm``: vLLM (GPU, extra ``vllm``)."""
    batch_size: int = 8
    """Questions generated together (greedy results do not depend on it)."""
    max_new_tokens: int = 256
    """Longest completion in tokens."""
    do_sample: bool = False
    """Sample instead of greedy/beam decoding."""
    temperature: float = 1.0
    """Sampling temperature (with do_sample)."""
    top_p: float = 1.0
    """Nucleus sampling mass, in (0, 1]."""
    num_beams: int = 1
    """Beam width (1: greedy)."""
    seed: int = 0
    """Seed for sampling, so sampled runs are repeatable."""
    execution_guided: bool = False
    """Generate ``num_candidates`` (beams, or samples when do_sample) and execute them read-only."""
    guided_strategy: Literal["first_ok", "majority"] = "first_ok"
    """Pick the first candidate that executes without error, or the majority result."""
    num_candidates: int = 4
    """Candidates per question for execution-guided selection."""
    execute_timeout_s: float = SQL_TIMEOUT_S
    """Time limit of each query that inference runs (``--execute``, execution-guided)."""
    max_rows: int = 1000
    """Rows fetched (and shown) per executed query at most."""
    max_result_bytes: int = SQL_MAX_RESULT_BYTES
    """Bytes of result fetched per executed query at most (``result_too_large`` beyond)."""
    prompt_override: bool = False
    """Prompt with the settings given here even where they differ from the ones
    saved with the model (otherwise refused); recorded in manifests and reports."""
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    """Compute precision when loading the model for generation: ``auto``: bf16 on
    GPUs that support it, fp16 on other GPUs, fp32 on CPU."""

    @property
    def limits(self) -> SqlLimits:
        """The budget of each query inference runs (``--execute``, guided, serve)."""
        return SqlLimits(self.execute_timeout_s, self.max_rows, self.max_result_bytes)


@dataclass
class SlurmConfig:
    """Cluster settings for ``t2s submit``; node and process counts go on the launch line."""

    cluster: Cluster = "slurm"
    """``slurm``: sbatch; ``local``: a subprocess here; ``debug``: in this process."""
    partition: str | None = None
    """Slurm partition (null: the cluster's default)."""
    nodes: int = 1
    """Nodes per job (multi-node training launches one task per node)."""
    gpus_per_node: int = 0
    """GPUs requested per node."""
    cpus_per_task: int = 2
    """CPUs requested per task."""
    mem_gb: int = 8
    """Memory requested per node, GB."""
    time_min: int = 60
    """Time limit per job, minutes (training requeues itself at the limit)."""
    account: str | None = None
    """Slurm account to charge."""
    qos: str | None = None
    """Slurm quality of service."""
    constraint: str | None = None
    """Slurm node feature constraint, e.g. ``a100``."""
    additional_sbatch: list[str] = field(default_factory=list)
    """Extra ``#SBATCH`` lines, e.g. ``--exclusive``."""
    container_image: str | None = None
    """Apptainer .sif to run the job in (``apptainer exec --nv``); null: no container."""
    accelerate_config: str | None = None
    """File in accelerate_configs/ for the launch line; null: plain python."""
    jobs_dir: str = "outputs/jobs"
    """Where each submission gets its own folder (config, logs, job.json)."""
    signal_delay_s: int = 90
    """Seconds before the time limit at which Slurm signals the job to checkpoint."""
    max_requeues: int = 3
    """Requeues after a time limit or preemption before the job fails."""


@dataclass
class ServeConfig:
    """The HTTP server of ``t2s serve`` (FastAPI + uvicorn); see README "Serving"."""

    host: str = "127.0.0.1"
    """Address to listen on; anything but loopback needs an API key."""
    port: int = 8000
    """TCP port; 0 picks a free one (printed at start)."""
    api_keys: list[str] = field(default_factory=list)
    """Accepted API keys (``Authorization: Bearer KEY`` or ``X-API-Key``)."""
    api_key_env: str | None = "T2S_API_KEY"
    """Environment variable holding one more accepted key (null: none)."""
    adapters: list[str] = field(default_factory=list)
    """More adapters to load at start, ``NAME=DIR`` (``infer.adapter_path`` is ``default``)."""
    default_adapter: str = "default"
    """Adapter used when a request names none."""
    adapter_roots: list[str] = field(default_factory=lambda: ["outputs"])
    """Folders under which the admin endpoint may load adapters (a key alone
    must not let a caller load any folder of the server's disk)."""
    databases: list[str] = field(default_factory=list)
    """SQLite files callers may name and execute on, ``NAME=PATH`` (besides
    the databases of ``data.root``)."""
    cache_size: int = 1024
    """Responses kept in the LRU cache (0: no cache)."""
    cache_ttl_s: float = 3600.0
    """Seconds a cached response stays valid."""
    max_batch_size: int = 8
    """Requests gathered into one ``generate`` call (1: no micro-batching)."""
    max_wait_ms: float = 5.0
    """How long the first request of a batch waits for company. A tiny-model
    generation takes ~100 ms on 2 CPU cores, so 5 ms costs <5% latency."""
    max_queue: int = 256
    """Requests waiting for generation at most; more are refused with 503."""
    max_question_chars: int = 2000
    """Longest question accepted (422 beyond)."""
    max_body_bytes: int = 262_144
    """Largest request body (413 beyond); 256 KiB holds a 200-table schema."""
    max_new_tokens: int = 512
    """Upper bound of a request's ``max_new_tokens`` override."""
    cors_origins: list[str] = field(default_factory=list)
    """Origins allowed by CORS (empty: CORS off, browsers allow same origin only)."""
    request_log: str | None = "outputs/serve/requests.jsonl"
    """One JSON line per request, for ``t2s monitor report`` (null: none)."""
    log_questions: bool = True
    """Write the question and SQL text into the request log (drift reports need them)."""
    graceful_timeout_s: float = 30.0
    """On shutdown, how long in-flight requests may still run."""


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
    serve: ServeConfig = field(default_factory=ServeConfig)


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


class _Loader(yaml.SafeLoader):
    """YAML as people write configs: ``1e-4`` is a float, a repeated key is an error.

    PyYAML follows YAML 1.1, where a float needs a dot (``1e-4`` is a string);
    YAML 1.2 and every fine-tuning recipe read it as 0.0001. A repeated key in
    one mapping silently keeps the last value in PyYAML; here it is refused.
    It is still a *safe* loader: no Python object can be constructed.
    """

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


# YAML 1.2's float: digits with an exponent and no dot (1e-4, 5E-5) join 1.1's forms.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


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
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory; give a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        # A SafeLoader: a config must never be able to construct Python objects.
        data = _load_yaml(path.read_text(encoding="utf-8")) or {}
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
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise ConfigError(f"command line: override {text!r} is not of the form key.sub=value")
    try:
        value = _load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return [p.strip() for p in parts], value


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> list[str]:
    """Set ``value`` at ``path``; returns the dotted prefixes whose value it replaced."""
    node = tree
    replaced = []
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            if child is not None:  # `lora.r.x=5` over `lora.r: 8`: the command line's doing
                replaced.append(".".join(path[:depth + 1]))
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value
    return replaced


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
    return load_config_with_sources(path, overrides, checks)[0]


def load_config_with_sources(path: str | Path | None = None,
                             overrides: list[str] | tuple[str, ...] = (),
                             checks: Sequence[ConfigCheck] = ()) -> tuple[Config, dict[str, str]]:
    """:func:`load_config`, and where each key set was set: ``dotted.key -> file or "command line"``.

    Keys absent from the mapping have their default.

    Raises:
        ConfigError: as :func:`load_config`.
    """
    problems = _Problems()
    sources: dict[str, str] = {}
    tree: dict[str, Any] = {}
    if path is not None:
        tree = read_yaml(path, sources)
    for text in overrides:
        try:
            keys, value = parse_override(text)
        except ConfigError as exc:  # reported with every other problem
            problems.items.append(str(exc))
            continue
        for prefix in _set_path(tree, keys, value):
            sources[prefix] = "command line"
        sources[".".join(keys)] = "command line"
    config = _build(Config, tree, [], sources, problems, str(path) if path else "defaults")
    # Fields that failed their type check kept their defaults, so the
    # combination checks still run and the user sees every problem at once.
    _check_combinations(config, sources, problems)
    for check in checks:
        for key, message in check(config):
            problems.add(_source_of(key, sources, "config"), key, message)
    problems.raise_if_any()
    return config, sources


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
        nested = _nested_dataclass(hint_type)
        if nested is not None and value is not None:
            if typing.get_origin(hint_type) is not list:
                kwargs[key] = _build(nested, value, [*prefix, key], sources, problems, fallback)
            elif not isinstance(value, list):
                problems.add(source, dotted, f"expected a list of {nested.__name__}, got {value!r}")
            else:
                kwargs[key] = [_build(nested, item, [*prefix, key, str(i)], sources, problems,
                                      source) for i, item in enumerate(value)]
            continue
        error = _type_error(value, hint_type)
        if error:
            problems.add(source, dotted, error)
            continue
        kwargs[key] = _coerce(value, hint_type)
    return cls(**kwargs)


def _nested_dataclass(hint: Any) -> type | None:
    """The dataclass inside ``list[D]`` or ``D | None``, or None."""
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


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
    run where those are known: :func:`resolve_precision` and ``t2s.models.loading``.
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
    if train.metric_for_best_model == "eval_ex" and config.data.eval_file is None:
        add("train.metric_for_best_model", "eval_ex needs an evaluation split, but "
                                           "data.eval_file is null")
    if train.ex_eval_examples <= 0:
        add("train.ex_eval_examples", f"must be positive, got {train.ex_eval_examples}")
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
    if config.lora.alpha <= 0:
        add("lora.alpha", f"must be positive, got {config.lora.alpha}")
    if train.method == "lora" and not config.lora.target_modules:
        add("lora.target_modules", "is empty; LoRA needs at least one module")
    _check_data(config.data, add)
    quant = config.model.quantization
    if quant.load_in_4bit and train.method != "lora":
        add("model.quantization.load_in_4bit", "4-bit weights cannot be trained: use train.method: lora")
    if quant.load_in_4bit and config.model.name_or_path == "tiny":
        add("model.quantization.load_in_4bit", "the tiny model is pretrained here in full precision")
    if "all-linear" in config.lora.target_modules and len(config.lora.target_modules) > 1:
        add("lora.target_modules", "all-linear already covers every Linear layer; give it alone")
    if config.data.schema.sample_values < 0:
        add("data.schema.sample_values", "must be >= 0")
    if config.data.schema.matched_values < 0:
        add("data.schema.matched_values", "must be >= 0")
    for key, message in eval_problems(config.eval):
        add(f"eval.{key}", message)
    for key, message in config.infer.limits.problems():
        add("infer.execute_timeout_s" if key == "timeout_s" else f"infer.{key}", message)
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
    _check_serve(config.serve, add)


_SERVE_NAME = re.compile(NAME_PATTERN)


def parse_named_path(text: str) -> tuple[str, str]:
    """Split ``NAME=PATH`` (``--adapter``, ``--db``, ``serve.adapters``).

    Raises:
        ConfigError: if there is no ``=``, the name is not letters, digits,
            '_' and '-', or the path is empty.
    """
    name, sep, path = text.partition("=")
    if not sep or not _SERVE_NAME.match(name) or not path:
        raise ConfigError(f"{text!r} is not NAME=PATH (NAME: letters, digits, '_', '-')")
    return name, path


def _check_serve(serve: ServeConfig, add: Callable[[str, str], None]) -> None:
    if not 0 <= serve.port <= 65535:
        add("serve.port", f"must be in 0..65535, got {serve.port}")
    for key in ("max_batch_size", "max_queue", "max_question_chars", "max_body_bytes",
                "max_new_tokens"):
        if getattr(serve, key) < 1:
            add(f"serve.{key}", f"must be at least 1, got {getattr(serve, key)}")
    for key in ("cache_size", "max_wait_ms", "graceful_timeout_s"):
        if getattr(serve, key) < 0:
            add(f"serve.{key}", f"must be >= 0, got {getattr(serve, key)}")
    if serve.cache_ttl_s <= 0:
        add("serve.cache_ttl_s", f"must be positive, got {serve.cache_ttl_s}")
    if any(not key.strip() for key in serve.api_keys):
        add("serve.api_keys", "holds an empty key")
    if not _SERVE_NAME.match(serve.default_adapter):
        add("serve.default_adapter", f"{serve.default_adapter!r} is not a valid name")
    for key in ("adapters", "databases"):
        names = []
        for item in getattr(serve, key):
            try:
                names.append(parse_named_path(item)[0])
            except ConfigError as exc:
                add(f"serve.{key}", str(exc))
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            add(f"serve.{key}", f"names given twice: {', '.join(duplicates)}")


def eval_problems(eval_config: EvalConfig) -> list[tuple[str, str]]:
    """``(field, message)`` for each invalid scoring setting.

    Shared by config loading (keys ``eval.<field>``) and ``t2s evaluate``'s
    prediction-file flags, which build an :class:`EvalConfig` of their own.
    """
    problems = []
    if eval_config.etype not in typing.get_args(EType):
        problems.append(("etype", f"must be one of {', '.join(typing.get_args(EType))}, "
                                  f"got {eval_config.etype!r}"))
    problems.extend(eval_config.limits.problems())
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


def get_value(tree: dict[str, Any], dotted: str, default: Any = None) -> Any:
    """The value at ``dotted`` in a plain config tree, or ``default`` when absent."""
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def with_values(config: Config, values: dict[str, Any], source: str) -> Config:
    """A copy of ``config`` with ``dotted.key -> plain value`` set, validated like a file.

    Raises:
        ConfigError: if a value does not fit its key (named with ``source``).
    """
    tree = to_dict(config)
    for dotted, value in values.items():
        _set_path(tree, dotted.split("."), value)
    problems = _Problems()
    rebuilt = _build(Config, tree, [], {k: source for k in values}, problems, source)
    problems.raise_if_any()
    return rebuilt


def dump_yaml(config: Config, path: str | Path) -> None:
    """Write the resolved config to ``path`` as YAML."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")


def _check_data(data: DataConfig, add: Callable[[str, str], None]) -> None:
    """Record problems of the data section: required columns, mixture entries."""
    for name in ("question", "sql", "db_id"):
        if not getattr(data.columns, name):
            add(f"data.columns.{name}", "is required (the column holding it)")
    names: dict[str, int] = {}
    for index, entry in enumerate(data.sources):
        key = f"data.sources.{index}"
        label = entry.name or entry.source
        if label in names:
            add(f"{key}.name", f"{label!r} is also source {names[label]}; give each a unique name")
        names.setdefault(label, index)
        if not entry.root and entry.source != "sample":
            add(f"{key}.root", "is required")
        if entry.train_file is None and entry.eval_file is None:
            add(f"{key}.train_file", "neither train_file nor eval_file is set: the source adds nothing")
        if entry.weight < 0:
            add(f"{key}.weight", f"must be >= 0, got {entry.weight}")
        if entry.columns is not None:
            for name in ("question", "sql", "db_id"):
                if not getattr(entry.columns, name):
                    add(f"{key}.columns.{name}", "is required (the column holding it)")
    if data.sources and not any(e.train_file for e in data.sources):
        add("data.sources", "no source has a train_file")
    if data.eval_select is not None and not re.fullmatch(EVAL_SELECT_PATTERN, data.eval_select):
        add("data.eval_select", f"{data.eval_select!r} is not a selection; use every:N (N >= 1)")


# ----------------------------------------------------------------------------
# The schema, described (``t2s config keys``): generated, so it never drifts.


@dataclass(frozen=True)
class KeyInfo:
    """One configuration key: its dotted name, type, default and docstring."""

    key: str
    type: str
    default: Any
    doc: str


def describe_keys() -> list[KeyInfo]:
    """Every leaf key of :class:`Config`, in schema order, with its field docstring."""
    docs = _field_docstrings()
    keys: list[KeyInfo] = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        defaults = cls()
        for f in dataclasses.fields(cls):
            dotted = f"{prefix}{f.name}"
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], dotted + ".")
                continue
            keys.append(KeyInfo(dotted, _type_name(hints[f.name]), getattr(defaults, f.name),
                                docs.get((cls.__name__, f.name), "")))

    walk(Config, "")
    return keys


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list[{_type_name(args[0])}]" if args else "list"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _field_docstrings() -> dict[tuple[str, str], str]:
    """``(class, field) -> docstring`` from this module's source: the string after each field."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    docs: dict[tuple[str, str], str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        body = node.body
        for current, following in zip(body, body[1:], strict=False):
            if (isinstance(current, ast.AnnAssign) and isinstance(current.target, ast.Name)
                    and isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                docs[(node.name, current.target.id)] = " ".join(following.value.value.split())
    return docs
