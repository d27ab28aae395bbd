"""Submit a train/evaluate/infer job through submitit: to Slurm, locally, or in-process.

One folder per submission, never reused (a stale result read from a reused
folder is a real trap): ``<slurm.jobs_dir>/<UTC time>-<stage>-<6 hex>/`` holds
the resolved ``config.yaml`` the job reads, ``job.json`` (ids, command, state),
submitit's logs and the generated sbatch script. Slurm settings come from the
``slurm:`` config section only.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import t2s
from t2s.config import Cluster, Config, SlurmConfig, dump_yaml, load_config
from t2s.errors import ConfigError, T2SError
from t2s.launch.job import CommandJob, save_wait_s
from t2s.launch.spec import (
    STAGES,
    LaunchSpec,
    check_spec,
    entry_point,
    format_argv,
    node_argv,
)
from t2s.provenance import write_json_atomic

RECORD = "job.json"
# Slurm states that say more than "FAILED" about a job that did not complete.
FAILURE_STATES = {"CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
                  "DEADLINE", "FAILED"}
CLUSTERS = get_args(Cluster)
# sbatch options t2s sets itself from the slurm: section; setting them again
# through slurm.additional_sbatch would silently fight the typed field.
MANAGED_SBATCH = {"time", "nodes", "ntasks-per-node", "cpus-per-task", "gpus-per-node", "mem",
                  "partition", "account", "qos", "constraint", "job-name", "output", "error",
                  "signal", "dependency", "array", "begin", "kill-on-invalid-dep"}


@dataclass
class Submission:
    """What :func:`submit` did: the folder, the submitit jobs and the record written."""

    job_dir: Path
    jobs: list[Any]
    record: dict[str, Any] = field(default_factory=dict)


def new_job_dir(jobs_dir: str | Path, stage: str, now: datetime | None = None) -> Path:
    """Create ``<jobs_dir>/<YYYYmmdd-HHMMSS>-<stage>-<6 hex>/`` (absolute); never an existing one.

    Raises:
        FileExistsError: if the folder exists (same second and 24 random bits: a bug).
    """
    now = now or datetime.now(UTC)
    path = Path(jobs_dir).resolve() / f"{now:%Y%m%d-%H%M%S}-{stage}-{uuid.uuid4().hex[:6]}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def parse_additional_sbatch(lines: Sequence[str]) -> dict[str, str | bool]:
    """``["--exclusive", "--mail-type=END"]`` -> ``{"exclusive": True, "mail_type": "END"}``.

    Raises:
        ConfigError: listing every line that is not ``--option[=value]`` or that
            sets an option t2s derives from another ``slurm.*`` field.
    """
    parsed: dict[str, str | bool] = {}
    problems = []
    for line in lines:
        match = re.fullmatch(r"--([a-z][a-z0-9-]*)(?:=(.+))?", line.strip())
        if not match:
            problems.append(f"{line!r} is not of the form --option or --option=value")
        elif match[1] in MANAGED_SBATCH:
            problems.append(f"{line!r}: --{match[1]} comes from its own slurm.* field "
                            f"or t2s submit option")
        else:
            parsed[match[1].replace("-", "_")] = match[2] if match[2] is not None else True
    if problems:
        raise ConfigError("slurm.additional_sbatch:\n  " + "\n  ".join(problems))
    return parsed


def executor_parameters(slurm: SlurmConfig, stage: str, *, dependency: str | None = None,
                        begin: str | None = None) -> dict[str, Any]:
    """submitit ``AutoExecutor.update_parameters`` arguments for this job.

    One task per node: each task runs ``accelerate launch``, which starts one
    process per GPU of its node.

    Raises:
        ConfigError: if ``slurm.additional_sbatch`` is malformed.
    """
    params: dict[str, Any] = {
        "name": f"t2s-{stage}",
        "timeout_min": slurm.time_min,
        "nodes": slurm.nodes if stage == "train" else 1,
        "tasks_per_node": 1,
        "cpus_per_task": slurm.cpus_per_task,
        "mem_gb": slurm.mem_gb,
        # The warning comes signal_delay_s before the limit; submitit then
        # checkpoints and requeues (at most slurm.max_requeues times after a
        # timeout: see make_executor).
        "slurm_signal_delay_s": slurm.signal_delay_s,
    }
    if slurm.gpus_per_node:
        params["gpus_per_node"] = slurm.gpus_per_node
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(slurm, key) is not None:
            params[f"slurm_{key}"] = getattr(slurm, key)
    extra = parse_additional_sbatch(slurm.additional_sbatch)
    if dependency:
        params["slurm_dependency"] = dependency
        # A parent that failed or was cancelled can never satisfy afterok:
        # without this the dependent job would stay PENDING for ever
        # (reason DependencyNeverSatisfied); with it Slurm cancels it.
        extra["kill_on_invalid_dep"] = "yes"
    if begin:
        extra["begin"] = begin
    if extra:
        params["slurm_additional_parameters"] = extra
    return params


def launch_spec(config: Config, stage: str, config_path: Path, *, workdir: str | None = None,
                extra_args: Sequence[str] = (), shard: tuple[int, int] | None = None) -> LaunchSpec:
    """The :class:`LaunchSpec` of ``stage`` under ``config.slurm``.

    Raises:
        ConfigError: if the combination cannot be launched (see :func:`check_spec`).
    """
    slurm = config.slurm
    spec = LaunchSpec(
        stage=stage, entry=entry_point(stage, repository_jobs_dir(), slurm.container_image
                                       is not None),
        config_path=str(config_path), workdir=workdir or os.getcwd(),
        python=sys.executable, nodes=slurm.nodes if stage == "train" else 1,
        processes_per_node=max(1, slurm.gpus_per_node),
        accelerate_config=_launch_accelerate_config(slurm) if stage == "train" else None,
        container_image=slurm.container_image, extra_args=tuple(extra_args), shard=shard)
    check_spec(spec)
    return spec


def _launch_accelerate_config(slurm: SlurmConfig) -> str | None:
    """The accelerate config path as the job sees it.

    In a container the path is passed unchanged and read inside the image,
    relative to the (bound) working directory; the image's own copies are
    under /opt/t2s/accelerate_configs/.
    """
    if slurm.accelerate_config is None or slurm.container_image is not None:
        return slurm.accelerate_config
    return resolve_accelerate_config(slurm.accelerate_config) or slurm.accelerate_config


def repository_jobs_dir() -> Path | None:
    """``<checkout>/jobs`` when t2s runs from a source checkout (src layout), else None."""

    candidate = Path(t2s.__file__).resolve().parents[2] / "jobs"
    return candidate if (candidate / "train.py").is_file() else None


def resolve_accelerate_config(value: str) -> str | None:
    """Absolute path of an accelerate config: as given, relative to the cwd, or the checkout.

    ``accelerate_configs/ddp.yaml`` then works from any directory of a source
    checkout, which is where the shipped topologies live.
    """
    jobs_dir = repository_jobs_dir()
    candidates = [Path(value)] + ([jobs_dir.parent / value] if jobs_dir is not None else [])
    found = next((p for p in candidates if p.is_file()), None)
    return str(found.resolve()) if found is not None else None


# An afterok job id: a job (123), an array task (123_4), several joined by ':'.
_JOB_IDS = re.compile(r"\d+(?:_\d+)?(?::\d+(?:_\d+)?)*")

# What cluster=slurm runs on the login node: sbatch submits, and submitit
# requires srun (the script's launcher) to be on PATH to build its executor.
SLURM_CLIENTS = ("sbatch", "srun")


def check_submission(config: Config, stage: str, cluster: str, shards: int | None, *,
                     after: str | None = None, dry_run: bool = False) -> None:
    """Everything about a submission that can be wrong before a folder is made.

    A dry run needs no Slurm: it writes the folder and the sbatch script only.

    Raises:
        ConfigError: listing every problem (among them: ``after`` is not a job
            id, or Slurm's clients are not on PATH for a real Slurm submission).
    """
    problems = []
    if after is not None and not _JOB_IDS.fullmatch(after):
        problems.append(f"--after {after!r} is not a Slurm job id (e.g. 1234, 1234_5, or "
                        "1234:1240 for several)")
    missing = [name for name in SLURM_CLIENTS if shutil.which(name) is None]
    if cluster == "slurm" and not dry_run and missing:
        problems.append(f"cluster slurm needs Slurm's {' and '.join(missing)} on PATH (not "
                        "found: is this a Slurm login node?); --dry-run writes the sbatch "
                        "script without Slurm, --cluster local runs here")
    if stage not in STAGES:
        problems.append(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    if cluster not in CLUSTERS:
        problems.append(f"cluster must be one of {', '.join(CLUSTERS)}, got {cluster!r}")
    if cluster != "slurm" and config.slurm.nodes > 1 and stage == "train":
        problems.append(f"slurm.nodes={config.slurm.nodes} needs cluster slurm "
                        f"(a {cluster} run has one node)")
    if shards is not None and (stage != "infer" or shards < 1):
        problems.append("--shards is for infer jobs and must be >= 1")
    if config.slurm.time_min <= 0:
        problems.append(f"slurm.time_min must be positive, got {config.slurm.time_min}")
    if config.slurm.signal_delay_s >= config.slurm.time_min * 60:
        problems.append(f"slurm.signal_delay_s={config.slurm.signal_delay_s} is not shorter than "
                        f"the time limit ({config.slurm.time_min} min): the job would be "
                        "signalled at start")
    if config.slurm.accelerate_config and config.slurm.container_image is None \
            and resolve_accelerate_config(
            config.slurm.accelerate_config) is None:
        problems.append(f"slurm.accelerate_config: {config.slurm.accelerate_config} not found "
                        f"(relative to {os.getcwd()} or the t2s checkout)")
    if problems:
        raise ConfigError("cannot submit:\n  " + "\n  ".join(problems))


def make_executor(job_dir: Path, cluster: str, params: dict[str, Any],
                  max_requeues: int = 3) -> Any:
    """A submitit AutoExecutor writing into ``job_dir``.

    ``max_requeues`` bounds timeout requeues (preemptions do not count): a job
    that cannot finish within any number of time limits must not loop forever.

    Raises:
        ConfigError: if submitit is missing or rejects a parameter (its message
            lists the valid ones).
    """
    try:
        import submitit
    except ImportError:
        raise ConfigError("t2s submit needs submitit: pip install 't2s[slurm]'") from None
    if cluster == "slurm" and shutil.which("srun") is None:
        return _script_only_executor(submitit, job_dir, params, max_requeues)
    executor = submitit.AutoExecutor(folder=job_dir, cluster=cluster,
                                     slurm_max_num_timeout=max_requeues)
    try:
        executor.update_parameters(**params)
    except (NameError, ValueError, TypeError) as exc:
        raise ConfigError(f"submitit rejected the slurm settings: {exc}") from None
    return executor


@dataclass
class _ScriptOnly:
    """The executor of a dry run without Slurm: builds the sbatch script, submits nothing."""

    _executor: Any


def _script_only_executor(submitit: Any, job_dir: Path, params: dict[str, Any],
                          max_requeues: int) -> _ScriptOnly:
    """submitit's Slurm executor without its srun probe, for ``--dry-run`` off a cluster.

    submitit refuses to build a Slurm executor where ``srun`` is not on PATH, yet
    the script is a pure function of the parameters: this one skips the probe and
    translates the parameters as ``AutoExecutor`` does (generic names through the
    executor's equivalences, ``slurm_`` ones as they are), so the script is the same.

    Raises:
        ConfigError: if submitit rejects a parameter.
    """
    class ScriptOnlySlurmExecutor(submitit.SlurmExecutor):
        @classmethod
        def affinity(cls) -> int:
            return 1  # no srun needed: this executor only writes the script

    inner = ScriptOnlySlurmExecutor(folder=job_dir, max_num_timeout=max_requeues)
    generic = {k: v for k, v in params.items() if not k.startswith("slurm_")}
    specific = {k.removeprefix("slurm_"): v for k, v in params.items() if k.startswith("slurm_")}
    try:
        inner._internal_update_parameters(**{**inner._convert_parameters(generic), **specific})
    except (NameError, ValueError, TypeError) as exc:
        raise ConfigError(f"submitit rejected the slurm settings: {exc}") from None
    return _ScriptOnly(inner)


def sbatch_script(executor: Any) -> str:
    """The sbatch script submitit would write for one job of ``executor``.

    Uses submitit's (private) script builder so ``--dry-run`` and the golden
    test show exactly what ``sbatch`` receives; submitit is pinned below 2.
    """
    inner = executor._executor
    return inner._make_submission_file_text(inner._submitit_command_str, "dry-run")


def submit(config: Config, stage: str, *, cluster: str | None = None,
           source: str | None = None, overrides: Sequence[str] = (),
           extra_args: Sequence[str] = (), shards: int | None = None,
           dependency: str | None = None, begin: str | None = None,
           dry_run: bool = False) -> Submission:
    """Create the job folder, freeze the config into it and submit ``stage``.

    Args:
        config: The resolved configuration (``slurm:`` section included).
        stage: ``train``, ``evaluate`` or ``infer``.
        cluster: ``slurm``, ``local`` or ``debug``; default ``config.slurm.cluster``.
        source: The YAML the config came from, recorded in job.json.
        overrides: The command-line overrides, recorded in job.json.
        extra_args: Arguments appended to the stage command.
        shards: Submit an array of this many inference shards.
        dependency: sbatch dependency, e.g. ``afterok:123``.
        begin: sbatch ``--begin`` time, e.g. ``02:00`` or ``now+1hour``.
        dry_run: Write the folder, config and sbatch script but submit nothing.

    Raises:
        ConfigError: if the settings cannot be submitted (a bad ``afterok`` job
            id, no Slurm on PATH without ``dry_run``, ...).
        T2SError: if sbatch (or the local launcher) refuses the job. A failed
            submission leaves no job folder.
    """
    cluster = cluster or config.slurm.cluster
    after = dependency.removeprefix("afterok:") if dependency and \
        dependency.startswith("afterok:") else None
    check_submission(config, stage, cluster, shards, after=after, dry_run=dry_run)
    params = executor_parameters(config.slurm, stage, dependency=dependency, begin=begin)
    if cluster != "slurm":
        # Local runs have one node and no Slurm-only options.
        params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
    launch_spec(config, stage, Path("config.yaml"))  # validate before making a folder
    job_dir = new_job_dir(config.slurm.jobs_dir, stage)
    try:
        return _submit_in(job_dir, config, stage, cluster, params, source=source,
                          overrides=overrides, extra_args=extra_args, shards=shards,
                          dependency=dependency, begin=begin, dry_run=dry_run)
    except BaseException:
        # Nothing was submitted (sbatch refused, the config did not load back,
        # an interrupt): a failed submission leaves no folder behind.
        shutil.rmtree(job_dir, ignore_errors=True)
        raise


def _submit_in(job_dir: Path, config: Config, stage: str, cluster: str, params: dict[str, Any],
               *, source: str | None, overrides: Sequence[str], extra_args: Sequence[str],
               shards: int | None, dependency: str | None, begin: str | None,
               dry_run: bool) -> Submission:
    """:func:`submit`'s work inside its new folder (which it removes when this raises).

    Raises:
        ConfigError: if the frozen config does not load back, or submitit rejects a setting.
        T2SError: if sbatch refuses the job (its message quoted).
    """
    config_path = job_dir / "config.yaml"
    dump_yaml(config, config_path)
    _check_frozen_config(config_path, job_dir)
    if shards:
        specs = [launch_spec(config, stage, config_path, extra_args=extra_args, shard=(i, shards))
                 for i in range(shards)]
        params["slurm_array_parallelism"] = shards
    else:
        specs = [launch_spec(config, stage, config_path, extra_args=extra_args)]
    record: dict[str, Any] = {
        "stage": stage, "cluster": cluster, "submitted_at": datetime.now(UTC).isoformat(),
        "workdir": specs[0].workdir, "config": str(config_path), "source_config": source,
        "overrides": list(overrides), "dependency": dependency, "begin": begin,
        "command": format_argv(node_argv(specs[0], {"SLURM_NODEID": "0",
                                                    "SLURM_JOB_NODELIST": "<first node>"},
                                         lambda nodelist: nodelist)),
        "job_ids": [], "state": None,
    }
    executor = make_executor(job_dir, cluster, params, config.slurm.max_requeues)
    if cluster == "slurm":
        (job_dir / "sbatch.sh").write_text(sbatch_script(executor))
    if dry_run:
        record["state"] = "DRY-RUN"
        write_record(job_dir, record)
        return Submission(job_dir, [], record)
    try:
        jobs = _submit_all(executor, [CommandJob(spec, save_wait_s(config.slurm.signal_delay_s),
                                                 config.slurm.time_min * 60) for spec in specs])
    except (RuntimeError, OSError) as exc:  # submitit's FailedJobError: sbatch exited non-zero
        words = str(exc).strip() or type(exc).__name__
        raise T2SError(f"{'sbatch' if cluster == 'slurm' else cluster} refused the {stage} "
                       f"job (nothing submitted): {words}") from None
    record["job_ids"] = [str(job.job_id) for job in jobs]
    write_record(job_dir, record)
    return Submission(job_dir, jobs, record)


def _check_frozen_config(config_path: Path, job_dir: Path) -> None:
    """Reload the frozen config the job will read, so a problem shows now, not in the queue.

    Raises:
        ConfigError: if the written config does not load back (the caller removes the folder).
    """
    try:
        load_config(config_path)
    except ConfigError as exc:
        raise ConfigError(f"the resolved config does not load back as the job would read it "
                          f"(nothing submitted):\n{exc}") from None


def _submit_all(executor: Any, jobs: Sequence[CommandJob]) -> list[Any]:
    if len(jobs) == 1:
        return [executor.submit(jobs[0])]
    # One job array: tasks share the sbatch script and differ only by shard.
    with executor.batch():
        pending = [executor.submit(job) for job in jobs]
    return list(pending)


def write_record(job_dir: Path, record: dict[str, Any]) -> None:
    """Write ``job.json`` atomically (``t2s jobs`` may read it at any time)."""
    write_json_atomic(job_dir / RECORD, record)


def wait(submission: Submission) -> str:
    """Wait for every job of ``submission``; record and return the overall state.

    A failing ``debug`` job opens submitit's post-mortem debugger first: that
    cluster is for interactive debugging.

    Returns:
        ``COMPLETED`` when every job succeeded, else the first other state
        (``FAILED``, ``CANCELLED``...).
    """
    states = []
    for job in submission.jobs:
        try:
            job.results()  # every task: a multi-node job has one per node
            states.append("COMPLETED")
        except Exception as exc:  # noqa: BLE001 - submitit re-raises the job's own error
            # Slurm's word for why (sacct); local/debug jobs just failed.
            words = str(getattr(job, "state", "") or "").split()
            states.append(words[0] if words and words[0] in FAILURE_STATES else "FAILED")
            print(f"job {job.job_id}: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
    overall = next((s for s in states if s != "COMPLETED"), "COMPLETED")
    submission.record["state"] = overall
    write_record(submission.job_dir, submission.record)
    return overall


def describe(submission: Submission) -> str:
    """One or two lines for the user: ids, folder, command."""
    ids = ", ".join(submission.record["job_ids"]) or "(dry run: nothing submitted)"
    cmd = shlex.split(submission.record["command"])
    return (f"{submission.record['stage']} job {ids} on {submission.record['cluster']}: "
            f"{submission.job_dir}\n  {shlex.join(cmd)}")
