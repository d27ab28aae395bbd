"""``slurm.*``: where and how ``t2s submit`` runs a job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Cluster = Literal["slurm", "local", "debug"]
"""Where ``t2s submit`` runs a job (see :class:`SlurmConfig`)."""


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

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for a request no cluster can grant."""
        return [("nodes", "must be positive")] if self.nodes <= 0 else []
