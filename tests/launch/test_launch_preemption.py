"""The launch side of save-on-signal, without Slurm: the requeue waits for the save,
dependent jobs are cancelled with their parent, and ``t2s jobs`` says why.

A stand-in "training" command plays the trainer: it installs a SIGUSR2
handler, "saves" when signalled and exits with the stopped status, like
:mod:`t2s.training.preemption` does. Its real counterpart on Slurm is in
tests/launch/test_slurm_preemption.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import t2s.training.preemption
from t2s.config import load_config
from t2s.launch import job as job_module
from t2s.launch.job import CommandFailed, CommandJob, FinishedCommand, descendants, save_wait_s
from t2s.launch.registry import list_submissions
from t2s.launch.slurm import describe_state
from t2s.launch.spec import LaunchSpec
from t2s.launch.submit import executor_parameters, make_executor, sbatch_script

# Installs the handler only after a short nap, so Slurm's first signal is
# ignored (as during a real model load): only the re-sent ones can stop it.
TRAINER = """
import signal, sys, time
time.sleep(0.5)
stop = []
signal.signal(signal.SIGUSR2, lambda *a: stop.append(1))
open('ready.txt', 'w').write('ready')
while not stop:
    time.sleep(0.01)
open('saved.txt', 'w').write('saved')
sys.exit(75)
"""


def python_job(tmp_path: Path, code: str, stage: str = "train", wait_s: float = 60.0) -> CommandJob:
    spec = LaunchSpec(stage=stage, entry=("-c", code), config_path="unused.yaml",
                      workdir=str(tmp_path), python=sys.executable)
    return CommandJob(spec, wait_s)


def start(job: CommandJob) -> tuple[threading.Thread, dict]:
    """Run ``job()`` in a thread (submitit's main thread is blocked the same way)."""
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = job()
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    while job._process is None:  # set right after Popen
        time.sleep(0.01)
    return thread, box


def test_launch_and_trainer_agree_on_signal_and_status():
    assert job_module.STOP_SIGNAL == t2s.training.preemption.STOP_SIGNAL
    assert job_module.STOPPED_EXIT_CODE == t2s.training.preemption.STOPPED_EXIT_CODE


class Requeued(Exception):  # noqa: N818 - stands for submitit's exit after requeueing
    """Raised by the test's handler where submitit's would exit the process."""


def test_checkpoint_in_the_signal_handler_waits_for_training_to_save(tmp_path):
    # As under submitit: the handler interrupts job()'s own process.wait() in
    # the main thread, which holds the Popen's lock (poll() there sees nothing).
    pytest.importorskip("submitit")
    job = python_job(tmp_path, TRAINER)
    box: dict = {}

    def handler(signum, frame):
        box["delayed"] = job.checkpoint()
        box["status"] = job_module.exit_status(job._process)
        box["waited"] = time.monotonic() - job._started
        raise Requeued

    def send_once_started() -> None:
        while job._process is None:
            time.sleep(0.01)
        os.kill(os.getpid(), job_module.STOP_SIGNAL)  # may land before the trainer listens

    previous = signal.signal(job_module.STOP_SIGNAL, handler)
    try:
        threading.Thread(target=send_once_started, daemon=True).start()
        with pytest.raises(Requeued):
            job()
    finally:
        signal.signal(job_module.STOP_SIGNAL, previous)
    assert box["status"] == 75, "checkpoint() returned before training exited"
    assert box["waited"] < 60, "it waited out its whole bound"
    assert (tmp_path / "saved.txt").read_text() == "saved"
    assert box["delayed"].function.spec.overrides[-1] == "train.resume=auto"
    assert box["delayed"].function.save_wait_s == 60.0  # the requeued job waits the same


def test_stopped_training_without_a_requeue_fails_the_job(tmp_path):
    job = python_job(tmp_path, "raise SystemExit(75)")
    with pytest.raises(CommandFailed, match="without a requeue"):
        job()


def test_checkpoint_gives_up_after_the_wait(tmp_path):
    pytest.importorskip("submitit")
    code = "import time\nwhile True: time.sleep(1)"  # ignores USR2, as launch arranges
    # A 13 s limit less the 10 s margin: the wait lasts to 3 s after the start,
    # longer than the 0.5 s the delay alone gives (Slurm signalled early).
    job = python_job(tmp_path, code, wait_s=0.5)
    job.time_limit_s = 13.0
    thread, _ = start(job)
    try:
        job.checkpoint()
        assert time.monotonic() - job._started >= 3.0 - 0.01
        assert job._process.poll() is None  # requeued anyway; submitit's exit ends it
    finally:
        job._process.kill()
        thread.join(10)


def test_a_command_that_finished_during_the_wait_is_not_run_again(tmp_path):
    pytest.importorskip("submitit")
    job = python_job(tmp_path, "pass")
    thread, box = start(job)
    thread.join(60)
    assert box["result"]["returncode"] == 0
    delayed = job.checkpoint()  # the warning came while it was finishing
    assert isinstance(delayed.function, FinishedCommand)
    assert delayed.function()["returncode"] == 0


def test_other_stages_are_requeued_at_once_and_keep_running(tmp_path):
    pytest.importorskip("submitit")
    job = python_job(tmp_path, TRAINER, stage="evaluate")
    thread, _ = start(job)
    try:
        while not (tmp_path / "ready.txt").exists():
            time.sleep(0.01)
        job.checkpoint()  # sends nothing: evaluation does not save on the signal
        assert job._process.poll() is None and not (tmp_path / "saved.txt").exists()
    finally:
        job._process.kill()
        thread.join(10)


def test_descendants_finds_grandchildren(tmp_path):
    code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(60)']); print(p.pid, flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        grandchild = int(child.stdout.readline())
        assert grandchild in descendants(child.pid)
        assert child.pid not in descendants(child.pid)
    finally:
        for pid in descendants(child.pid):
            subprocess.run(["kill", str(pid)], check=False)
        child.kill()
        child.wait()


def test_save_wait_keeps_a_margin_for_the_requeue():
    assert save_wait_s(90) == 80  # the default delay: 10 s kept back
    assert save_wait_s(15) == 10  # a short delay keeps a third
    assert save_wait_s(0) == 0


def test_dependent_jobs_are_cancelled_with_their_parent(tmp_path):
    pytest.importorskip("submitit")
    config = load_config(None, [])
    params = executor_parameters(config.slurm, "evaluate", dependency="afterok:7")
    assert params["slurm_additional_parameters"]["kill_on_invalid_dep"] == "yes"
    script = sbatch_script(make_executor(tmp_path, "slurm", params))
    assert "#SBATCH --dependency=afterok:7" in script
    assert "#SBATCH --kill-on-invalid-dep=yes" in script
    assert "kill_on_invalid_dep" not in executor_parameters(config.slurm, "train").get(
        "slurm_additional_parameters", {})


@pytest.mark.parametrize(("state", "reason", "exit_code", "shown"), [
    ("CANCELLED", "Dependency", "0:0", "CANCELLED: dependency never satisfied"),
    ("CANCELLED", "DependencyNeverSatisfied", "0:0", "CANCELLED: dependency never satisfied"),
    ("CANCELLED", "None", "0:15", "CANCELLED"),
    ("PENDING", "Dependency", "0:0", "PENDING: Dependency"),
    ("PENDING", "None", "0:0", "PENDING"),
    ("FAILED", "None", "3:0", "FAILED: exit 3"),
    ("FAILED", "None", "0:9", "FAILED: signal 9"),
    ("COMPLETED", "None", "0:0", "COMPLETED"),
])
def test_sacct_reasons_are_described(state, reason, exit_code, shown):
    assert describe_state(state, reason, exit_code) == shown


def test_jobs_names_the_dependency_that_was_never_satisfied(tmp_path, monkeypatch):
    import json

    import t2s.launch.registry as registry

    folder = tmp_path / "20260101-000000-evaluate-aaaaaa"
    folder.mkdir()
    (folder / "job.json").write_text(json.dumps({
        "stage": "evaluate", "cluster": "slurm", "job_ids": ["12"], "state": None,
        "submitted_at": "2026-01-01T00:00:00", "dependency": "afterok:11"}))
    monkeypatch.setattr(registry, "job_states",
                        lambda ids: {"12": "CANCELLED: dependency never satisfied"})
    assert list_submissions(tmp_path)[0].state == \
        "CANCELLED: dependency never satisfied (afterok:11)"
