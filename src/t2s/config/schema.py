"""The whole configuration (:class:`Config`), and the checks that need two of its sections.

Each section validates itself (its ``problems()`` beside its fields);
:func:`config_problems` gathers them under their dotted keys and adds the few
checks that genuinely read two sections, one small function each.
Hardware- and model-dependent checks (bf16 support, LoRA target modules) run
where those are known: :func:`~t2s.config.train.resolve_precision` and
``t2s.models.loading``, passed to ``load_config`` as :data:`ConfigCheck`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from t2s.config.data import DataConfig
from t2s.config.evaluation import EvalConfig
from t2s.config.inference import InferConfig
from t2s.config.launch import SlurmConfig
from t2s.config.model import LoraConfig, ModelConfig
from t2s.config.serve import ServeConfig
from t2s.config.train import TrainConfig


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


# A check that needs more than the config (the hardware, the model's layers):
# returns (dotted key, message) pairs, reported with the config's own problems.
ConfigCheck = Callable[[Config], Iterable[tuple[str, str]]]

# (dotted key, message) pairs; `sources` maps a dotted key to the file (or
# "command line") that set it, for the checks that care who asked.
Problems = list[tuple[str, str]]
Sources = dict[str, str]


def config_problems(config: Config, sources: Sources) -> Problems:
    """Every problem of ``config``: each section's own, then the cross-section checks."""
    problems = [(f"{f.name}.{key}", message) for f in dataclasses.fields(config)
                for key, message in getattr(config, f.name).problems()]
    for check in CROSS_CHECKS:
        problems.extend(check(config, sources))
    return problems


def exec_metric_for(config: Config) -> str:
    """The execution metric ``config`` scores with: ``eval.exec_metric``, or for ``auto``
    ``bird`` on BIRD data (one BIRD source, or a mixture whose evaluation sources
    are all BIRD), else ``spider``."""
    if config.eval.exec_metric != "auto":
        return config.eval.exec_metric
    data = config.data
    kinds = {s.source for s in data.sources if s.eval_file} if data.sources else {data.source}
    return "bird" if kinds == {"bird"} else "spider"


def _ves_needs_bird_execution(config: Config, sources: Sources) -> Problems:
    # Checked on the resolved metric: auto on Spider data (or prediction files,
    # which name no source) would silently skip R-VES.
    if config.eval.ves_runs > 0 and exec_metric_for(config) != "bird":
        return [("eval.ves_runs", "R-VES is BIRD's metric: it needs eval.exec_metric bird "
                                  "(auto picks it for BIRD data only)")]
    return []


def _eval_ex_needs_an_eval_split(config: Config, sources: Sources) -> Problems:
    if config.train.metric_for_best_model == "eval_ex" and config.data.eval_file is None:
        return [("train.metric_for_best_model",
                 "eval_ex needs an evaluation split, but data.eval_file is null")]
    return []


def _best_model_needs_evaluated_checkpoints(config: Config, sources: Sources) -> Problems:
    """Keeping the best model needs an eval split, and a checkpoint at every scored step."""
    train = config.train
    if not train.load_best_model_at_end:
        return []
    if config.data.eval_file is None:
        return [("train.load_best_model_at_end", "needs an evaluation split, but data.eval_file is null")]
    if train.eval_steps > 0 and train.save_steps % train.eval_steps:
        return [("train.save_steps", f"must be a multiple of train.eval_steps ({train.eval_steps}) "
                                     f"when load_best_model_at_end is true, got {train.save_steps}")]
    return []


def _eval_steps_need_an_eval_split(config: Config, sources: Sources) -> Problems:
    # A YAML's eval_steps (a preset, or a resolved config dumped with every
    # key) stays harmless when the eval split is dropped; asking for eval steps
    # on the command line without an eval split is a contradiction.
    if config.data.eval_file is None and sources.get("train.eval_steps") == "command line":
        return [("train.eval_steps", "set, but there is no evaluation split (data.eval_file is null)")]
    return []


def _lora_needs_target_modules(config: Config, sources: Sources) -> Problems:
    if config.train.method == "lora" and not config.lora.target_modules:
        return [("lora.target_modules", "is empty; LoRA needs at least one module")]
    return []


def _four_bit_trains_only_adapters(config: Config, sources: Sources) -> Problems:
    if config.model.quantization.load_in_4bit and config.train.method != "lora":
        return [("model.quantization.load_in_4bit",
                 "4-bit weights cannot be trained: use train.method: lora")]
    return []


def _samples_are_sampled(config: Config, sources: Sources) -> Problems:
    """pass@k's estimator assumes independent draws: beams (or guided picks) are not."""
    if config.eval.samples <= 1:
        return []
    problems = []
    if not config.infer.do_sample:
        problems.append(("eval.samples", f"{config.eval.samples} candidates per question need "
                                         "infer.do_sample: true (beams are not independent draws)"))
    if config.infer.execution_guided:
        problems.append(("eval.samples", "cannot be combined with infer.execution_guided "
                                         "(maj@k in the report is the guided majority vote)"))
    return problems


CROSS_CHECKS: tuple[Callable[[Config, Sources], Problems], ...] = (
    _eval_ex_needs_an_eval_split,
    _best_model_needs_evaluated_checkpoints,
    _eval_steps_need_an_eval_split,
    _lora_needs_target_modules,
    _four_bit_trains_only_adapters,
    _samples_are_sampled,
    _ves_needs_bird_execution,
)
"""The checks that read two sections (train and data, train and lora, model and train)."""
