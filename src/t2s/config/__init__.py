"""The one typed configuration schema of t2s, its loading and its validation.

One module per group of sections, each section a dataclass that validates
itself (``problems()`` beside its fields):

- :mod:`.data` (``data.*``), :mod:`.model` (``model.*``, ``lora.*``),
  :mod:`.train` (``train.*``, precision), :mod:`.evaluation` (``eval.*``),
  :mod:`.inference` (``infer.*``, :class:`Decoding`), :mod:`.launch`
  (``slurm.*``), :mod:`.serve` (``serve.*``), :mod:`.sql` (:class:`SqlLimits`,
  shared by evaluation, inference, serving and sqlexec);
- :mod:`.schema`: the whole :class:`Config` and the checks that need two sections;
- :mod:`.loader`: YAML, overrides, type checks, ``load_config`` (every problem
  gathered and raised once); :mod:`.keys`: ``t2s config keys``.

``from t2s.config import X`` is the way in for every name below. This package
imports no other t2s module except :mod:`t2s.errors`.
"""

from t2s.config.data import (
    DEFAULT_DIALECT,
    DEFAULT_INSTRUCTION,
    DEFAULT_SCHEMA_STYLE,
    EVAL_SELECT_PATTERN,
    PROMPT_KEYS,
    ColumnMap,
    DataConfig,
    DataSource,
    Dialect,
    PromptConfig,
    SchemaStyle,
    SchemaTextConfig,
    SourceConfig,
)
from t2s.config.evaluation import EType, EvalConfig, eval_problems
from t2s.config.inference import Decoding, GuidedStrategy, InferConfig
from t2s.config.keys import KeyInfo, describe_keys
from t2s.config.launch import Cluster, SlurmConfig
from t2s.config.loader import (
    dump_yaml,
    get_value,
    load_config,
    load_config_with_sources,
    parse_override,
    read_yaml,
    to_dict,
    with_values,
)
from t2s.config.model import LoraConfig, ModelConfig, QuantizationConfig, TinyModelConfig
from t2s.config.schema import Config, ConfigCheck
from t2s.config.serve import NAME_PATTERN, ServeConfig, parse_named_path
from t2s.config.sql import SQL_MAX_RESULT_BYTES, SQL_MAX_ROWS, SQL_TIMEOUT_S, SqlLimits
from t2s.config.train import Precision, TrainConfig, precision_problem, resolve_precision

__all__ = [
    "DEFAULT_DIALECT", "DEFAULT_INSTRUCTION", "DEFAULT_SCHEMA_STYLE", "EVAL_SELECT_PATTERN", "NAME_PATTERN",
    "PROMPT_KEYS",
    "SQL_MAX_RESULT_BYTES", "SQL_MAX_ROWS", "SQL_TIMEOUT_S",
    "Cluster", "ColumnMap", "Config", "ConfigCheck", "DataConfig", "DataSource", "Decoding", "Dialect",
    "EType", "EvalConfig", "GuidedStrategy", "InferConfig", "KeyInfo", "LoraConfig",
    "ModelConfig", "Precision", "PromptConfig", "QuantizationConfig", "SchemaStyle",
    "SchemaTextConfig", "ServeConfig", "SlurmConfig", "SourceConfig", "SqlLimits",
    "TinyModelConfig", "TrainConfig",
    "describe_keys", "dump_yaml", "eval_problems", "get_value", "load_config",
    "load_config_with_sources", "parse_named_path", "parse_override", "precision_problem",
    "read_yaml", "resolve_precision", "to_dict", "with_values",
]
