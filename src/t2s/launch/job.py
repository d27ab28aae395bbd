"""The callable submitit runs on each node: start the job's command, wait, report.

It is *checkpointable* in submitit's sense (it has ``checkpoint()``): when Slurm
signals a timeout or preemption, submitit calls ``checkpoint()`` on the first
task and requeues the job with what it returns — the same command with
``train.resume=auto``, so training continues from its last complete checkpoint
(the trainer saves every ``train.save_steps``; work since then is redone).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from t2s.launch.slurm import first_node_address
from t2s.launch.spec import LaunchSpec, format_argv, node_argv


class CommandFailed(RuntimeError):
    """The job's command exited with a non-zero status."""


def _ignore_usr2() -> None:
    # Slurm's --signal=USR2@N reaches every process of the job step (linuxproc
    # and cgroup proctrack both signal the whole tree). USR2's default action
    # is to terminate: the training process would die at the warning instead
    # of running on while submitit requeues. Ignored dispositions survive exec.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


class CommandJob:
    """Run a :class:`LaunchSpec` as a subprocess; requeue it with resume on timeout."""

    def __init__(self, spec: LaunchSpec) -> None:
        self.spec = spec

    def argv(self, environ: dict[str, str] | None = None) -> list[str]:
        """This node's command line (reads Slurm's variables from ``environ``)."""

        return node_argv(self.spec, os.environ if environ is None else environ,
                         first_node_address)

    def __call__(self) -> dict[str, Any]:
        """Run the command in the spec's workdir; return its argv and exit status.

        Raises:
            CommandFailed: if the command exits non-zero (the job then fails,
                so an ``afterok`` dependency does not start).
        """
        argv = self.argv()
        env = {**os.environ, **self.spec.env}
        print(f"[t2s launch] node {env.get('SLURM_NODEID', '0')}: {format_argv(argv)}",
              flush=True)
        process = subprocess.Popen(argv, cwd=self.spec.workdir, env=env,
                                   preexec_fn=_ignore_usr2)
        try:
            returncode = process.wait()
        finally:
            # Reached early only when submitit's signal handler exits this
            # process after requeueing: take the command down with us.
            if process.poll() is None:
                process.terminate()
        if returncode != 0:
            raise CommandFailed(f"{format_argv(argv)} exited with status {returncode}")
        return {"argv": argv, "returncode": returncode}

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """The submission to requeue: the same command, resuming training.

        Only training resumes from a checkpoint; evaluation and inference jobs
        are rerun as they are (batch inference skips questions already written).
        """
        import submitit

        spec = self.spec
        if spec.stage == "train" and spec.overrides[-1:] != ("train.resume=auto",):
            spec = spec.with_override("train.resume=auto")
        print(f"[t2s launch] requeueing {spec.stage} job", file=sys.stderr, flush=True)
        return submitit.helpers.DelayedSubmission(CommandJob(spec))
