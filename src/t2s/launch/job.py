"""The callable submitit runs on each node: start the job's command, wait, report.

It is *checkpointable* in submitit's sense (it has ``checkpoint()``): when Slurm
signals a timeout or preemption, submitit calls ``checkpoint()`` on the first
task and requeues the job with what it returns — the same command with
``train.resume=auto``, so training continues from its last complete checkpoint.

Training saves that checkpoint on the signal itself (:mod:`t2s.training.preemption`):
``checkpoint()`` waits for the training command to save at its next optimizer
step and exit (bounded: the signal delay less a margin, or up to the margin
before the time limit when Slurm signalled early), so no step is lost or redone.
Evaluation and inference commands ignore the signal and are requeued at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from t2s.launch.slurm import first_node_address
from t2s.launch.spec import LaunchSpec, format_argv, node_argv

# The warning signal (``--signal=USR2@N``, submitit's default) and the status
# of a training that saved and stopped on it: t2s.training.preemption's STOP_SIGNAL and
# STOPPED_EXIT_CODE, repeated here because launch/ imports no training module
# (a test checks they agree).
STOP_SIGNAL = signal.SIGUSR2
STOPPED_EXIT_CODE = 75
# Time kept back from the signal delay for what follows the save: dumping the
# requeued submission and one `scontrol requeue` (milliseconds on a live
# controller). Slurm may signal up to one limit-check interval (30-60 s) early,
# so the real time left is usually longer than the delay.
SAVE_MARGIN_S = 10.0


class CommandFailed(RuntimeError):
    """The job's command exited with a non-zero status."""


def save_wait_s(signal_delay_s: float) -> float:
    """How long ``checkpoint()`` waits for training to save: the delay less a margin.

    The margin is ``SAVE_MARGIN_S``, or a third of a delay shorter than 30 s.
    """
    return max(0.0, signal_delay_s - min(SAVE_MARGIN_S, signal_delay_s / 3))


def descendants(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """Every process below ``pid``, read from ``/proc`` (empty where there is none)."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir() if proc.is_dir() else ():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited while we looked
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            ppid = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def exit_status(process: subprocess.Popen) -> int | None:
    """The process's exit status, or None while it runs; never reaps it.

    ``checkpoint()`` runs inside submitit's signal handler, which interrupts
    ``process.wait()`` in :meth:`CommandJob.__call__`: that wait holds the
    Popen's lock, so ``poll()``/``wait()`` there never see the exit (measured:
    the handler waited out its whole bound after training had exited).
    ``waitid(WNOWAIT)`` looks without reaping and without the lock.
    """
    if process.returncode is not None:
        return process.returncode
    try:
        result = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped meanwhile by Popen in another thread
        return process.returncode
    return None if result is None else result.si_status


def signal_tree(pid: int, signum: int) -> None:
    """Send ``signum`` to ``pid`` and every process below it that still exists."""
    for target in [pid, *descendants(pid)]:
        try:
            os.kill(target, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _ignore_usr2() -> None:
    # Slurm's --signal=USR2@N reaches every process of the job step (linuxproc
    # and cgroup proctrack both signal the whole tree). USR2's default action
    # is to terminate: the training process would die at the warning instead
    # of running on while submitit requeues. Ignored dispositions survive exec.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


class FinishedCommand:
    """What a requeue runs when the command had already finished well: nothing.

    submitit requeues whatever ``checkpoint()`` returns and has no way to end
    the job as completed from its signal handler; a training that finished
    while the handler waited must not be run again.
    """

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv

    def __call__(self) -> dict[str, Any]:
        """Report the earlier run's success."""
        print(f"[t2s launch] {format_argv(self.argv)} completed before the requeue",
              flush=True)
        return {"argv": self.argv, "returncode": 0}


class CommandJob:
    """Run a :class:`LaunchSpec` as a subprocess; requeue it with resume on timeout.

    Args:
        spec: What to run.
        save_wait_s: How long ``checkpoint()`` gives a training command to save
            and exit (see :func:`save_wait_s`); 0: requeue at once.
        time_limit_s: The job's time limit. Slurm checks limits every 30 s and
            may signal that much earlier than asked; the wait then extends to
            the limit (counted from this command's start) less ``SAVE_MARGIN_S``.
    """

    # Class defaults: a job pickled by an older t2s (without them) still requeues.
    save_wait_s: float = 0.0
    time_limit_s: float | None = None
    _process: subprocess.Popen | None = None
    _started: float = 0.0
    _argv: list[str] | None = None

    def __init__(self, spec: LaunchSpec, save_wait_s: float = 0.0,
                 time_limit_s: float | None = None) -> None:
        self.spec = spec
        self.save_wait_s = save_wait_s
        self.time_limit_s = time_limit_s
        self._process: subprocess.Popen | None = None
        self._started = time.monotonic()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_process": None, "_argv": None}  # submitit pickles the job; a process is not

    def argv(self, environ: dict[str, str] | None = None) -> list[str]:
        """This node's command line (reads Slurm's variables from ``environ``)."""

        return node_argv(self.spec, os.environ if environ is None else environ,
                         first_node_address)

    def __call__(self) -> dict[str, Any]:
        """Run the command in the spec's workdir; return its argv and exit status.

        Raises:
            CommandFailed: if the command exits non-zero (the job then fails,
                so an ``afterok`` dependency does not start), including a
                training that saved and stopped on a signal nobody requeued.
        """
        self._started = time.monotonic()
        argv = self.argv()
        env = {**os.environ, **self.spec.env}
        print(f"[t2s launch] node {env.get('SLURM_NODEID', '0')}: {format_argv(argv)}",
              flush=True)
        self._argv = argv
        process = self._process = subprocess.Popen(argv, cwd=self.spec.workdir, env=env,
                                                   preexec_fn=_ignore_usr2)
        try:
            returncode = process.wait()
        finally:
            # Reached early only when submitit's signal handler exits this
            # process after requeueing: take the command down with us.
            if process.poll() is None:
                process.terminate()
        if returncode == STOPPED_EXIT_CODE and self.spec.stage == "train":
            raise CommandFailed(f"{format_argv(argv)} saved a checkpoint and stopped on "
                                f"{STOP_SIGNAL.name} without a requeue; submit it again to "
                                "resume (train.resume=auto)")
        if returncode != 0:
            raise CommandFailed(f"{format_argv(argv)} exited with status {returncode}")
        return {"argv": argv, "returncode": returncode}

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """The submission to requeue: the same command, resuming training.

        Called by submitit's signal handler. A training command is first given
        ``save_wait_s`` to save a checkpoint and exit. Only training resumes
        from a checkpoint; evaluation and inference jobs are rerun as they are
        (batch inference skips questions already written).
        """
        import submitit

        if self.spec.stage == "train":
            self._wait_for_save()
        if self._process is not None and exit_status(self._process) == 0 and self._argv:
            return submitit.helpers.DelayedSubmission(FinishedCommand(self._argv))
        spec = self.spec
        if spec.stage == "train" and spec.overrides[-1:] != ("train.resume=auto",):
            spec = spec.with_override("train.resume=auto")
        print(f"[t2s launch] requeueing {spec.stage} job", file=sys.stderr, flush=True)
        return submitit.helpers.DelayedSubmission(
            CommandJob(spec, self.save_wait_s, self.time_limit_s))

    def _wait_for_save(self) -> None:
        """Wait up to ``save_wait_s`` (or the time limit less a margin, if later)
        for the training command to save and exit.

        The signal is sent again to the command's whole process tree every
        second: Slurm's own signal is lost on a trainer that had not installed
        its handler yet (USR2 is ignored until then), e.g. one still loading
        its model; a second request to a trainer already stopping is harmless.
        """
        process = self._process
        if process is None or exit_status(process) is not None or self.save_wait_s <= 0:
            return
        started = time.monotonic()
        deadline = started + self.save_wait_s
        if self.time_limit_s is not None:
            deadline = max(deadline, self._started + self.time_limit_s - SAVE_MARGIN_S)
        print(f"[t2s launch] waiting up to {deadline - started:.0f} s for training to save "
              "a checkpoint", file=sys.stderr, flush=True)
        signalled = 0.0
        while (status := exit_status(process)) is None and time.monotonic() < deadline:
            if time.monotonic() - signalled >= 1.0:
                signal_tree(process.pid, STOP_SIGNAL)
                signalled = time.monotonic()
            time.sleep(0.05)
        waited = time.monotonic() - started
        if status is None:
            print(f"[t2s launch] training did not stop within {waited:.0f} s; requeueing "
                  "from its last complete checkpoint", file=sys.stderr, flush=True)
        else:
            print(f"[t2s launch] training exited with status {status} after "
                  f"{waited:.0f} s", file=sys.stderr, flush=True)
