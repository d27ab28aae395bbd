"""The local Slurm cluster itself (scripts/slurm-local/): jobs, accounting, submitit.

Run after ``scripts/slurm-local/install.sh && scripts/slurm-local/start.sh`` (as
root); every test here skips with the reason when the cluster is not up::

    PYTHONPATH=src .venv/bin/python -m pytest tests/launch/test_slurm_cluster.py -m slurm -q

These check the cluster that the launch tests rely on: that sacct reports real
states (submitit polls it; without accounting a cancelled job's ``result()``
would wait forever), that cancellation and time-limit requeue behave, and that
the emulated nodes run one multi-node job.
"""

from __future__ import annotations

import operator
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import JOB_WAIT_S, TERMINAL, run_slurm, state_history, wait_state

pytestmark = pytest.mark.slurm

def sbatch(tmp_path: Path, *args: str) -> str:
    """Submit a batch job with its output in tmp_path; return the job id."""
    out = run_slurm("sbatch", "--parsable", f"--chdir={tmp_path}",
               f"--output={tmp_path}/%j.out", *args)
    return out.strip().split(";")[0]


def test_batch_job_completes_in_accounting(cluster, tmp_path):
    job_id = sbatch(tmp_path, "--wrap", "echo hello from $SLURM_JOB_ID")
    assert wait_state(job_id, lambda s: s in TERMINAL) == "COMPLETED"
    assert (tmp_path / f"{job_id}.out").read_text().strip() == f"hello from {job_id}"


def test_failing_job_is_failed_in_accounting(cluster, tmp_path):
    job_id = sbatch(tmp_path, "--wrap", "exit 3")
    assert wait_state(job_id, lambda s: s in TERMINAL) == "FAILED"
    exit_code = run_slurm("sacct", "-n", "-X", "-P", "-o", "ExitCode", "-j", job_id).split()[-1]
    assert exit_code == "3:0"


def test_cancelled_job_is_cancelled_in_accounting(cluster, tmp_path):
    job_id = sbatch(tmp_path, "--wrap", "sleep 300")
    wait_state(job_id, lambda s: s == "RUNNING")
    run_slurm("scancel", job_id)
    assert wait_state(job_id, lambda s: s in TERMINAL) == "CANCELLED"


def test_two_node_job_runs_one_task_per_node(cluster, tmp_path):
    if len(cluster) < 2:
        pytest.skip(f"one node only ({cluster[0]}); start.sh with T2S_SLURM_NODES>=2")
    job_id = sbatch(tmp_path, "--nodes=2", "--ntasks-per-node=1", "--wrap",
                    "srun bash -c 'echo $SLURM_NODEID $SLURMD_NODENAME $SLURM_NNODES'")
    assert wait_state(job_id, lambda s: s in TERMINAL) == "COMPLETED"
    lines = sorted((tmp_path / f"{job_id}.out").read_text().split("\n"))
    rows = [line.split() for line in lines if line.strip()]
    assert [row[0] for row in rows] == ["0", "1"]
    assert {row[1] for row in rows} <= set(cluster) and len({row[1] for row in rows}) == 2
    assert {row[2] for row in rows} == {"2"}


def test_urgent_partition_preempts_and_requeues(cluster, tmp_path):
    # Occupy every node, then submit to the higher-tier partition: the first
    # job must be requeued (PreemptMode=REQUEUE), not killed or left running.
    victim = sbatch(tmp_path, "--partition=debug", f"--nodes={len(cluster)}", "--exclusive",
                    "--requeue", "--wrap", "sleep 300")
    wait_state(victim, lambda s: s == "RUNNING")
    urgent = sbatch(tmp_path, "--partition=urgent", "--nodes=1", "--wrap", "true")
    try:
        assert wait_state(urgent, lambda s: s in TERMINAL) == "COMPLETED"
        # slurmdbd records states asynchronously: poll for the preemption record.
        deadline = time.monotonic() + JOB_WAIT_S
        while (history := run_slurm("sacct", "-n", "-X", "-D", "-P", "-o", "State", "-j", victim)
               .split())[:1] != ["PREEMPTED"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert history[:1] == ["PREEMPTED"], history
        # Back in the queue (squeue: sacct adds the new record only when it starts).
        assert run_slurm("squeue", "-h", "-j", victim, "-o", "%T").strip() in {"PENDING", "RUNNING"}
    finally:
        run_slurm("scancel", victim)


# --- submitit on the cluster --------------------------------------------------


def _executor(tmp_path: Path, **params):
    submitit = pytest.importorskip("submitit")
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit" / "%j", cluster="slurm")
    executor.update_parameters(**{"timeout_min": 5, "cpus_per_task": 1, **params})
    return executor


def _result_within(job, timeout_s: float) -> tuple[bool, object]:
    """Call ``job.result()`` in a daemon thread; (finished, value or exception).

    A daemon thread, not a pool: a hung ``result()`` must not keep pytest from
    exiting, which is exactly the failure this guards against.
    """
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = job.result()
        except Exception as exc:  # noqa: BLE001 - any error is the outcome under test
            box["value"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return (not thread.is_alive(), box.get("value"))


def test_submitit_round_trip(cluster, tmp_path):
    job = _executor(tmp_path).submit(operator.add, 19, 23)
    finished, value = _result_within(job, JOB_WAIT_S)
    assert finished, f"submitit job {job.job_id} did not finish in {JOB_WAIT_S:.0f} s"
    assert value == 42
    # Read from sacct (stays UNKNOWN when accounting is off). The result file
    # can exist a moment before accounting records the end: poll, forcing sacct.
    deadline = time.monotonic() + JOB_WAIT_S
    while (state := job.watcher.get_state(job.job_id, mode="force")) != "COMPLETED" \
            and time.monotonic() < deadline:
        time.sleep(1)
    assert state == "COMPLETED"


def test_submitit_cancelled_job_raises_promptly(cluster, tmp_path):
    import submitit

    job = _executor(tmp_path).submit(time.sleep, 300)
    wait_state(job.job_id, lambda s: s == "RUNNING")
    job.cancel()
    # Measured ~20 s here: KillWait (10 s) plus submitit's sacct poll interval.
    finished, value = _result_within(job, 120.0)
    assert finished, "result() of a cancelled job hung (is accounting enabled?)"
    assert isinstance(value, submitit.core.utils.UncompletedJobError), repr(value)
    assert "CANCELLED" in str(value)
    assert job.state.startswith("CANCELLED")


class _ResumeCounter:
    """Checkpointable callable: the first run waits for the time limit, the second returns.

    Counts its runs in a file so the test can tell a requeued run from a fresh one.
    """

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __call__(self) -> int:
        runs = int(self.marker.read_text()) + 1 if self.marker.exists() else 1
        self.marker.write_text(str(runs))
        if runs == 1:
            time.sleep(600)  # far past the 1-minute limit: only the signal ends it
        return runs

    def checkpoint(self):
        import submitit

        return submitit.helpers.DelayedSubmission(_ResumeCounter(self.marker))


@pytest.mark.slow
def test_submitit_time_limit_requeues_checkpointable(cluster, tmp_path):
    import cloudpickle

    # The job process cannot import this test module; send the class by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # --time=1 with the signal 5 s before the limit (submitit's default, 90 s,
    # is longer than the whole job). slurmctld checks limits every 30 s and
    # signals at the last check before limit - 5 s: 25-55 s after the start
    # (with 20 s it could come at 10 s, before submitit's handler is installed).
    # Measured ~45-60 s end to end: the signal, requeue eligible after
    # cred_expire (10 s), a second run of one second.
    executor = _executor(tmp_path, timeout_min=1, slurm_signal_delay_s=5)
    marker = tmp_path / "runs.txt"
    job = executor.submit(_ResumeCounter(marker))
    finished, value = _result_within(job, 180.0)
    assert finished, f"job {job.job_id} not done 180 s after submission"
    assert value == 2, f"expected the requeued second run to return, got {value!r}"
    history = state_history(job.job_id)
    assert history[0] == "REQUEUED" and history[-1] == "COMPLETED", history
