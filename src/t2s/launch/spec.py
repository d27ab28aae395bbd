"""What a submitted job runs: the command line of each node, built from the environment.

Pure functions, no submitit and no Slurm calls except through the injected
``node_address`` lookup, so every launch line can be checked in a unit test.
A job is launched *as a command* (``python jobs/train.py --config ...`` or
``accelerate launch ... jobs/train.py ...``): the launch layer never imports the
training code, and the same line works locally, in a batch job and in a
container.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from t2s.errors import ConfigError

STAGES = ("train", "evaluate", "infer", "serve")
# Rendezvous port of multi-node jobs. Two multi-node jobs whose first node is
# the same host must not both bind 29500 (and emulated nodes of the local test
# cluster share one host), so the port moves with the job id: 20000 + id % 10000
# stays in 20000-29999, below Linux's ephemeral range (32768+).
BASE_PORT = 20_000
PORT_SPAN = 10_000
DEFAULT_PORT = 29_500


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to build a node's command line once the job runs."""

    stage: str
    """``train``, ``evaluate``, ``infer`` or ``serve``."""
    entry: tuple[str, ...]
    """What python runs: ``("/repo/jobs/train.py",)`` or ``("-m", "t2s.cli", "train")``
    (see :func:`entry_point`)."""
    config_path: str
    """The resolved config written into the job folder (absolute path)."""
    workdir: str
    """Directory the command runs in (the submitting shell's cwd): relative
    paths in the config mean the same thing in the job."""
    python: str = "python"
    """Interpreter outside a container (the submitting venv's python)."""
    nodes: int = 1
    processes_per_node: int = 1
    """GPUs per node, or 1 on CPU: accelerate starts one process per GPU."""
    accelerate_config: str | None = None
    """File under accelerate_configs/ (relative to workdir); None: plain python."""
    container_image: str | None = None
    """Apptainer image; the command then runs inside ``apptainer exec --nv``."""
    overrides: tuple[str, ...] = ()
    """``key.sub=value`` overrides added after the config (e.g. on requeue)."""
    extra_args: tuple[str, ...] = ()
    """Stage arguments after the overrides (e.g. infer's ``--input``)."""
    shard: tuple[int, int] | None = None
    """(shard, num_shards) of an inference array task."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment variables for the command."""

    def with_override(self, override: str) -> LaunchSpec:
        """A copy with ``override`` appended (it wins over earlier ones)."""
        return replace(self, overrides=(*self.overrides, override))


def check_spec(spec: LaunchSpec) -> None:
    """Reject combinations the launch line cannot express.

    Raises:
        ConfigError: for an unknown stage, a multi-node or multi-process job that
            is not a training job under accelerate, or a shard out of range.
    """
    problems = []
    if spec.stage not in STAGES:
        problems.append(f"stage must be one of {', '.join(STAGES)}, got {spec.stage!r}")
    if spec.nodes < 1 or spec.processes_per_node < 1:
        problems.append("slurm.nodes and processes per node must be positive")
    if spec.nodes > 1 and spec.stage != "train":
        problems.append(f"slurm.nodes={spec.nodes}: only training runs on several nodes; "
                        f"{spec.stage} jobs use one")
    if spec.nodes > 1 and spec.accelerate_config is None:
        problems.append(f"slurm.nodes={spec.nodes} needs slurm.accelerate_config "
                        "(e.g. accelerate_configs/multi_node.yaml): plain python runs one process")
    if spec.shard is not None and not 0 <= spec.shard[0] < spec.shard[1]:
        problems.append(f"shard {spec.shard[0]} of {spec.shard[1]} is out of range")
    if problems:
        raise ConfigError("cannot launch this job:\n  " + "\n  ".join(problems))


def entry_point(stage: str, jobs_dir: Path | None, in_container: bool) -> tuple[str, ...]:
    """The script or module a stage runs.

    Training runs ``jobs/train.py`` (the accelerate/Slurm entry point) when the
    repository's jobs/ folder is known, by absolute path so the job's working
    directory does not matter. Inside a container the host's checkout is not
    visible, and an installed (non-editable) t2s has no jobs/ folder: both use
    the identical ``python -m t2s.cli train``. Evaluation and inference always
    run through the t2s CLI module, with the same flags as on the command line.
    """
    script = jobs_dir / f"{stage}.py" if jobs_dir is not None else None
    if stage == "train" and script is not None and script.is_file() and not in_container:
        return (str(script),)
    return ("-m", "t2s.cli", stage)


def stage_command(spec: LaunchSpec) -> list[str]:
    """The stage's own arguments: script or module, ``--config``, overrides, extras."""
    head = list(spec.entry)
    tail = [*spec.overrides, *spec.extra_args]
    if spec.shard is not None:
        tail += ["--shard", str(spec.shard[0]), "--num-shards", str(spec.shard[1])]
    return [*head, "--config", spec.config_path, *tail]


def rendezvous_port(environ: Mapping[str, str]) -> int:
    """The main process port of a multi-node job (see ``BASE_PORT``)."""
    job_id = environ.get("SLURM_JOB_ID", "")
    return BASE_PORT + int(job_id) % PORT_SPAN if job_id.isdigit() else DEFAULT_PORT


def node_argv(spec: LaunchSpec, environ: Mapping[str, str],
              node_address: Callable[[str], str]) -> list[str]:
    """The command this node runs.

    Args:
        spec: What to launch.
        environ: The job's environment (``SLURM_NODEID``, ``SLURM_JOB_NODELIST``...).
        node_address: Maps ``SLURM_JOB_NODELIST`` to the address of its first
            node (see :func:`t2s.launch.slurm.first_node_address`); only
            called for multi-node jobs.

    Raises:
        ConfigError: if the spec is invalid (see :func:`check_spec`).
        RuntimeError: if a multi-node job lacks Slurm's node variables.
    """
    check_spec(spec)
    python = "python" if spec.container_image else spec.python
    if spec.accelerate_config is None:
        argv = [python, *stage_command(spec)]
    else:
        total = spec.nodes * spec.processes_per_node
        argv = [python, "-m", "accelerate.commands.launch",
                "--config_file", spec.accelerate_config, "--num_processes", str(total)]
        if spec.nodes > 1:
            missing = [k for k in ("SLURM_NODEID", "SLURM_JOB_NODELIST") if k not in environ]
            if missing:
                raise RuntimeError(f"multi-node launch outside a Slurm allocation: "
                                   f"{', '.join(missing)} not set")
            argv += ["--num_machines", str(spec.nodes),
                     "--machine_rank", environ["SLURM_NODEID"],
                     "--main_process_ip", node_address(environ["SLURM_JOB_NODELIST"]),
                     "--main_process_port", str(rendezvous_port(environ))]
        argv += stage_command(spec)
    if spec.container_image:
        # --nv binds the host's NVIDIA driver; binding workdir keeps relative
        # config paths (outputs/, data) valid inside the image.
        argv = ["apptainer", "exec", "--nv", "--bind", spec.workdir, "--pwd", spec.workdir,
                spec.container_image, *argv]
    return argv


def format_argv(argv: Sequence[str]) -> str:
    """A shell-quoted command line, for logs and job records."""
    return shlex.join(argv)
