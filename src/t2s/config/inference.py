"""``infer.*``: the model to generate with, how it decodes, and the limits of what it executes."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from t2s.config.sql import SQL_MAX_RESULT_BYTES, SQL_TIMEOUT_S, SqlLimits
from t2s.config.train import Precision

GuidedStrategy = Literal["first_ok", "majority"]
"""How execution-guided selection picks among candidates (``infer.guided_strategy``)."""


@dataclass(frozen=True)
class Decoding:
    """How a generation backend decodes: what every backend takes, built from ``infer.*``.

    :attr:`InferConfig.decoding` builds it (the fields are the ``infer.*`` keys
    of the same names and defaults, documented there); a benchmark or a server
    batch derives its own with :func:`dataclasses.replace`.
    """

    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    num_beams: int = 1
    seed: int = 0
    batch_size: int = 8
    stop_at_eos: bool = True
    """False only for benchmarks that must generate exactly ``max_new_tokens``
    (no config key: a job always stops at the end of the SQL)."""

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for each setting no backend can decode with."""
        problems = []
        if self.batch_size <= 0:
            problems.append(("batch_size", "must be positive"))
        if self.do_sample and not self.temperature > 0:  # `not >` also refuses NaN
            problems.append(("temperature", "must be positive when infer.do_sample is true"))
        if self.max_new_tokens <= 0:
            problems.append(("max_new_tokens", "must be positive"))
        if self.num_beams < 1:
            problems.append(("num_beams", "must be at least 1"))
        if not 0 < self.top_p <= 1:
            problems.append(("top_p", f"must be in (0, 1], got {self.top_p}"))
        return problems


@dataclass
class InferConfig:
    """Generation settings shared by single, batch, REPL and evaluation."""

    adapter_path: str = "outputs/final_model"
    """Trained adapter (or merged/full model) folder."""
    backend: Literal["hf", "openai", "vllm"] = "hf"
    """``hf``: transformers generate; ``openai``: a running OpenAI-compatible server
    (vLLM started by ``t2s engine``) at ``infer.endpoint``. ``vllm`` (vLLM inside this
    process) is gone and refused with a pointer to ``openai``; it stays a known value
    only so that an old config gets that message, not "must be one of"."""
    endpoint: str = ""
    """Backend openai: the server's base URL, e.g. ``http://127.0.0.1:8000`` (``.../v1`` also accepted)."""
    engine_model: str = ""
    """Backend openai: the name the server serves this adapter under (vLLM ``--lora-modules NAME=DIR``)."""
    api_key_env: str = ""
    """Backend openai: the environment variable that holds the server's API key (sent as a
    bearer token, never logged); empty: no key."""
    engine_concurrency: int = 8
    """Backend openai: requests in flight at once (the server batches them)."""
    engine_timeout_s: float = 300.0
    """Backend openai: seconds one request may take before its question is an error row."""
    engine_retries: int = 3
    """Backend openai: retries of a request after a connection error or a 5xx reply (backoff 0.5, 1, 2 s ...)."""
    batch_size: int = Decoding.batch_size
    """Questions generated together (greedy results do not depend on it)."""
    max_new_tokens: int = Decoding.max_new_tokens
    """Longest completion in tokens."""
    do_sample: bool = Decoding.do_sample
    """Sample instead of greedy/beam decoding."""
    temperature: float = Decoding.temperature
    """Sampling temperature (with do_sample)."""
    top_p: float = Decoding.top_p
    """Nucleus sampling mass, in (0, 1]."""
    num_beams: int = Decoding.num_beams
    """Beam width (1: greedy)."""
    seed: int = Decoding.seed
    """Seed for sampling, so sampled runs are repeatable."""
    execution_guided: bool = False
    """Generate ``num_candidates`` (beams, or samples when do_sample) and execute them read-only."""
    guided_strategy: GuidedStrategy = "first_ok"
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
    dialect_override: bool = False
    """Run a model on a database of the other engine than its ``data.dialect``
    (a PostgreSQL model on an SQLite file, or the other way round); otherwise refused."""
    precision: Precision = "auto"
    """Compute precision when loading the model for generation: ``auto``: bf16 on
    GPUs that support it, fp16 on other GPUs, fp32 on CPU."""

    @property
    def limits(self) -> SqlLimits:
        """The budget of each query inference runs (``--execute``, guided, serve)."""
        return SqlLimits(self.execute_timeout_s, self.max_rows, self.max_result_bytes)

    @property
    def decoding(self) -> Decoding:
        """The decoding settings every backend takes (``max_new_tokens`` ... ``batch_size``)."""
        return Decoding(max_new_tokens=self.max_new_tokens, do_sample=self.do_sample,
                        temperature=self.temperature, top_p=self.top_p, num_beams=self.num_beams,
                        seed=self.seed, batch_size=self.batch_size)

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for the limits, the decoding and execution-guided selection."""
        # SqlLimits calls the time limit timeout_s; here its key is execute_timeout_s.
        problems = [("execute_timeout_s" if key == "timeout_s" else key, message)
                    for key, message in self.limits.problems()]
        problems.extend(self.decoding.problems())
        if self.execution_guided and self.num_candidates < 2:
            problems.append(("num_candidates", "must be at least 2 when infer.execution_guided is true"))
        if self.backend == "openai":
            problems.extend(self._engine_problems())
        if self.backend == "vllm":
            # Removed (issue 17): it could not be installed beside t2s (vllm pins
            # other transformers/torch versions) and never ran in a test.
            problems.append(("backend", "vllm (vLLM inside this process) was removed: run vLLM "
                                        "as a server with `t2s engine --config ...` and set "
                                        "infer.backend=openai, infer.endpoint=http://HOST:PORT "
                                        "and infer.engine_model=NAME (README \"Serving\")"))
        return problems

    def _engine_problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for the settings of ``backend: openai``."""
        problems = []
        if not re.match(r"https?://[^/\s]+", self.endpoint):
            problems.append(("endpoint", "must be the server's http:// or https:// URL with "
                                         f"infer.backend=openai, got {self.endpoint!r}"))
        if not self.engine_model:
            problems.append(("engine_model", "must name the server's model for this adapter "
                                             "with infer.backend=openai"))
        if self.api_key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            problems.append(("api_key_env", "must be an environment variable's name "
                                            f"(letters, digits, _), got {self.api_key_env!r}"))
        if self.engine_concurrency < 1:
            problems.append(("engine_concurrency", "must be at least 1"))
        if not (self.engine_timeout_s > 0 and math.isfinite(self.engine_timeout_s)):
            problems.append(("engine_timeout_s", f"must be > 0 seconds, got {self.engine_timeout_s}"))
        if self.engine_retries < 0:
            problems.append(("engine_retries", "must be >= 0"))
        if self.num_beams > 1:
            # The completions API has no beam search; silently decoding greedily would
            # give other answers than the same config on the HF backend.
            problems.append(("num_beams", "beam search is not available with infer.backend=openai "
                                          "(use 1, or infer.backend=hf)"))
        return problems
