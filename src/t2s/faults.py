"""Fault injection for tests: kill a job at a named point, slow its steps, deterministically.

Tests that must kill a process "in the middle" (a batch job between two
windows, a training right after a checkpoint) set ``T2S_CRASH_AT=<point>:<n>``
in the child's environment; the job SIGKILLs itself when it reaches that point
for that count. No timer, no polling: the kill lands at the same place on a
busy machine as on an idle one. Unset (always, outside tests), this costs one
dictionary lookup per point.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "T2S_CRASH_AT"


def crash_point(name: str, count: int) -> None:
    """SIGKILL this process if ``T2S_CRASH_AT`` is ``<name>:<count>``."""
    if os.environ.get(ENV) == f"{name}:{count}":
        os.kill(os.getpid(), signal.SIGKILL)


MIN_STEP_ENV = "T2S_MIN_STEP_S"


def min_step_callbacks() -> list:
    """Tests only: with ``T2S_MIN_STEP_S=x``, every optimizer step lasts at least x seconds.

    Slurm time-limit tests need a training that outlasts the limit however fast
    the machine is; a floor on each step makes "N steps take at least N x s"
    true on an idle CI machine as on a loaded one. Unset: no callback.
    """
    floor = float(os.environ.get(MIN_STEP_ENV, "0") or 0)
    if floor <= 0:
        return []
    from transformers import TrainerCallback

    class MinStepCallback(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            time.sleep(max(0.0, floor - (time.monotonic() - self.started)))

    return [MinStepCallback()]
