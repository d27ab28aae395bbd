"""Slurm time limits on the real local cluster: each warning saves, requeue resumes.

(The one time-limit round trip of `t2s submit train`; tests/launch/test_launch_slurm.py
covers the other submission paths.)

Needs ``scripts/slurm-local/install.sh && scripts/slurm-local/start.sh`` (as
root); skips otherwise::

    PYTHONPATH=src .venv/bin/python -m pytest tests/launch/test_slurm_preemption.py -m slurm -q
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (
    MIN_STEP_S,
    only_job_dir,
    state_history,
    submit_cli,
    train_overrides,
    wait_state,
)
from t2s.training.runs import COMPLETE_MARKER, verify_checkpoint

pytestmark = pytest.mark.slurm

# Signalled once a checkpoint stops training, printed by `t2s train` into the job log.
STOPPED = re.compile(r"stopped on SIGUSR2 after saving checkpoint-(\d+)")
RESUMED = re.compile(r"\[t2s\] resuming from \S*checkpoint-(\d+)")


def tensor_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(folder / "adapter_model.safetensors"), "pt") as weights:
        return {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}  # noqa: SIM118 - not a dict


@pytest.mark.slow
def test_each_time_limit_warning_saves_and_the_run_resumes_from_it(trained, prebuilt_base,
                                                                   sample_dir, tmp_path,
                                                                   monkeypatch):
    work_done, code, output, _ = trained  # an uninterrupted run, for the final tensors
    assert code == 0, output
    # sbatch --signal: "the signal may be sent up to 60 seconds earlier than
    # specified" (slurmctld checks limits every 30 s), so with --time=2 and a 10 s
    # delay the warning comes 50-110 s after the job starts, startup included.
    # How long an allocation trains before it therefore depends on how fast the
    # machine starts a job (35 s loaded, a few seconds idle): a CI run on an idle
    # machine fitted 160 s of training into two allocations. What no machine can
    # do is train 130 s in one allocation: every step lasts at least MIN_STEP_S
    # (t2s.faults), so at least one warning comes before the last step. save_steps
    # is past the end, so every checkpoint before the last step is a warning's.
    monkeypatch.setenv("T2S_MIN_STEP_S", str(MIN_STEP_S))
    steps = math.ceil(130 / MIN_STEP_S)
    overrides = train_overrides(sample_dir, prebuilt_base, tmp_path, f"train.max_steps={steps}",
                                "train.save_steps=100000", "train.eval_steps=100000",
                                "train.save_total_limit=null", "slurm.time_min=2",
                                "slurm.signal_delay_s=10", "slurm.max_requeues=6")
    code, output = submit_cli(tmp_path, "train", "--wait", *overrides)
    job_dir = only_job_dir(tmp_path)
    job_id = json.loads((job_dir / "job.json").read_text())["job_ids"][0]
    log = (job_dir / f"{job_id}_0_log.out").read_text() + (job_dir / f"{job_id}_0_log.err").read_text()
    assert code == 0, output + log[-4000:]
    history = state_history(job_id)
    assert history[-1] == "COMPLETED", history
    requeues = history.count("REQUEUED")
    assert requeues >= 1, f"never signalled; make the training longer: {history}"

    # Each warning produced a complete checkpoint, and the next run resumed from it.
    stops = [int(s) for s in STOPPED.findall(log)]
    # A warning during the final save finds training done: requeued as a no-op.
    finished = log.count("completed before the requeue")
    assert len(stops) == requeues - finished, (stops, history, log[-4000:])
    assert stops == sorted(set(stops)) and stops[-1] < steps
    for step in stops:
        folder = tmp_path / "run" / f"checkpoint-{step}"
        assert json.loads((folder / COMPLETE_MARKER).read_text())["step"] == step
        assert verify_checkpoint(folder) is None  # every file as the marker lists it
    assert [int(s) for s in RESUMED.findall(log)] == stops
    assert "train.resume=auto" in log  # the requeued command asks for the resume

    # The step counter only moved forward: one loss per step, each step once.
    info = json.loads((tmp_path / "run" / "run_info.json").read_text())
    assert info["result"]["global_step"] == steps
    assert [h["step"] for h in info["log_history"] if "loss" in h] == list(range(1, steps + 1))

    # The final adapter has the tensors of an uninterrupted run's.
    final = tmp_path / "run" / "final_model"
    assert tensor_shapes(final) == tensor_shapes(work_done / "run" / "final_model")


def test_dependent_job_of_a_failed_parent_is_cancelled(cluster, prebuilt_base, sample_dir,
                                                       tmp_path):
    # A training that fails at once (no such data folder), with evaluation after it.
    overrides = train_overrides(sample_dir, prebuilt_base, tmp_path, "train.max_steps=2")
    overrides = [*overrides, "data.source=spider", f"data.root={tmp_path / 'missing'}"]
    code, output = submit_cli(tmp_path, "train", "--then-evaluate", *overrides)
    if code != 0 and "missing" in output:
        pytest.skip(f"submission refused the missing data folder up front: {output[-500:]}")
    assert code == 0, output
    records = {r["stage"]: r for r in (json.loads((d / "job.json").read_text())
                                       for d in sorted((tmp_path / "jobs").iterdir()))}
    train_id, eval_id = records["train"]["job_ids"][0], records["evaluate"]["job_ids"][0]
    try:
        assert wait_state(train_id, lambda s: s not in {"RUNNING", "PENDING", ""},
                          timeout_s=300) == "FAILED"
        # Not left PENDING (DependencyNeverSatisfied): Slurm cancels it.
        assert wait_state(eval_id, lambda s: s not in {"RUNNING", "PENDING", ""}) == "CANCELLED"
    finally:
        subprocess.run(["scancel", train_id, eval_id], check=False)
    listing = subprocess.run([sys.executable, "-m", "t2s.cli", "jobs", "--jobs-dir",
                              str(tmp_path / "jobs")], capture_output=True, text=True,
                             check=True, timeout=60).stdout
    assert f"CANCELLED: dependency never satisfied (afterok:{train_id})" in listing, listing
    assert "FAILED: exit" in listing, listing
