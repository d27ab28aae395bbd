"""Fault injection for tests: kill a job at a named point, deterministically.

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

ENV = "T2S_CRASH_AT"


def crash_point(name: str, count: int) -> None:
    """SIGKILL this process if ``T2S_CRASH_AT`` is ``<name>:<count>``."""
    if os.environ.get(ENV) == f"{name}:{count}":
        os.kill(os.getpid(), signal.SIGKILL)
