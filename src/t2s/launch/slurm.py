"""The few Slurm client calls the launch layer makes: node addresses and job states."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable

# Slurm client commands answer in milliseconds when slurmctld is up; 30 s
# covers a busy controller without letting a dead one hang `t2s jobs`.
CLIENT_TIMEOUT_S = 30


class SlurmUnavailable(RuntimeError):
    """A Slurm client command is missing or failed."""


def _client(*argv: str) -> str:
    """Run a Slurm client command and return its stdout.

    Raises:
        SlurmUnavailable: if the command is not installed, fails or times out.
    """
    if shutil.which(argv[0]) is None:
        raise SlurmUnavailable(f"{argv[0]} not found: is this a Slurm login node?")
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        raise SlurmUnavailable(f"{' '.join(argv)} gave no answer in {CLIENT_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        raise SlurmUnavailable(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def expand_hostnames(nodelist: str) -> list[str]:
    """``t2s-[1-2]`` -> ``["t2s-1", "t2s-2"]`` through ``scontrol show hostnames``.

    Raises:
        SlurmUnavailable: if scontrol fails or returns no host.
    """
    hosts = _client("scontrol", "show", "hostnames", nodelist).split()
    if not hosts:
        raise SlurmUnavailable(f"scontrol show hostnames {nodelist!r} returned no host")
    return hosts


def node_address(node: str) -> str:
    """The address other nodes reach ``node`` at (its ``NodeAddr``; usually the hostname).

    Emulated nodes of the local test cluster are named t2s-1, t2s-2 but all live
    at 127.0.0.1, so the node *name* is not always resolvable.

    Raises:
        SlurmUnavailable: if scontrol fails.
    """
    out = _client("scontrol", "show", "node", "--oneliner", node)
    for item in out.split():
        key, _, value = item.partition("=")
        if key == "NodeAddr" and value:
            return value
    return node


def first_node_address(nodelist: str) -> str:
    """Address of the first node of ``SLURM_JOB_NODELIST``: the rendezvous host.

    Raises:
        SlurmUnavailable: if scontrol fails.
    """
    return node_address(expand_hostnames(nodelist)[0])


def job_states(job_ids: Iterable[str]) -> dict[str, str]:
    """Latest accounting state of each job id, with why it ended where sacct says.

    ``CANCELLED by 0`` -> ``CANCELLED``; a job Slurm cancelled because its
    dependency can never be met -> ``CANCELLED: dependency never satisfied``;
    a failed one -> ``FAILED: exit 3``. Array tasks are reported under their
    own ids (``123_4``); a requeued job's last record wins. Jobs sacct does not
    know are absent from the result.

    Raises:
        SlurmUnavailable: if sacct is missing or fails (e.g. accounting disabled).
    """
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    out = _client("sacct", "-n", "-X", "-P", "-o", "JobID,State,Reason,ExitCode",
                  "-j", ",".join(ids))
    states: dict[str, str] = {}
    for line in out.splitlines():
        job_id, state, reason, exit_code = (line.split("|") + ["", "", ""])[:4]
        if job_id and state:
            states[job_id] = describe_state(state.split()[0], reason, exit_code)
    return states


def describe_state(state: str, reason: str, exit_code: str) -> str:
    """``CANCELLED`` + reason ``Dependency`` -> ``CANCELLED: dependency never satisfied``.

    sacct's Reason is the job's last scheduling reason: for a job cancelled
    without ever running (Slurm's ``--kill-on-invalid-dep``) it is the
    dependency it waited for; ExitCode is ``status:signal``.
    """
    if state == "CANCELLED" and reason.startswith("Dependency"):
        return "CANCELLED: dependency never satisfied"
    if state == "PENDING" and reason not in ("", "None"):
        return f"PENDING: {reason}"
    if state == "FAILED" and exit_code not in ("", "0:0"):
        status, _, signum = exit_code.partition(":")
        return f"FAILED: exit {status}" if signum in ("", "0") else f"FAILED: signal {signum}"
    return state
