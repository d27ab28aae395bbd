"""Reading job folders back: what ``t2s jobs`` lists.

Slurm jobs' states come from accounting (one ``sacct`` call for all of them),
with why a job ended where accounting says (a dependency that can never be met,
an exit status);
local and debug runs are waited for by ``t2s submit``, which writes their final
state into ``job.json``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from t2s.launch.slurm import SlurmUnavailable, job_states
from t2s.launch.submit import RECORD


@dataclass
class SubmissionRow:
    """One submission as listed by ``t2s jobs``."""

    folder: Path
    stage: str
    cluster: str
    job_ids: list[str]
    state: str
    submitted_at: str


def _read_record(folder: Path) -> dict | None:
    try:
        return json.loads((folder / RECORD).read_text())
    except (OSError, json.JSONDecodeError):
        return None  # not a job folder, or one being written: not listed


def summarize_states(states: list[str]) -> str:
    """``["COMPLETED", "COMPLETED", "FAILED"]`` -> ``"COMPLETED x2, FAILED"``."""
    if len(set(states)) == 1:
        return states[0] if len(states) == 1 else f"{states[0]} x{len(states)}"
    counts = Counter(states)
    return ", ".join(f"{state} x{n}" if n > 1 else state for state, n in sorted(counts.items()))


def list_submissions(jobs_dir: str | Path, limit: int = 10) -> list[SubmissionRow]:
    """The ``limit`` newest submissions under ``jobs_dir`` with their current states.

    Folder names start with the UTC submission time, so name order is time order.
    When sacct cannot be reached, Slurm jobs show ``UNKNOWN (sacct: ...)``.
    """
    root = Path(jobs_dir)
    folders = sorted((p for p in root.iterdir() if p.is_dir()), reverse=True) \
        if root.is_dir() else []
    records = [(f, r) for f in folders if (r := _read_record(f)) is not None][:limit]
    slurm_ids = [i for _, r in records if r.get("cluster") == "slurm"
                 for i in [*r["job_ids"], *_parents(r.get("dependency"))]]
    try:
        states = job_states(slurm_ids)
        unavailable = ""
    except SlurmUnavailable as exc:
        states, unavailable = {}, f" (sacct: {exc})"
    rows = []
    for folder, record in records:
        if record.get("cluster") == "slurm" and record["job_ids"]:
            found = [states.get(i, "PENDING?" if not unavailable else "UNKNOWN")
                     for i in record["job_ids"]]
            parents = [states.get(i, "") for i in _parents(record.get("dependency"))]
            if found == ["CANCELLED"] and any(p and not p.startswith(_NOT_ENDED_BADLY)
                                              for p in parents):
                # sacct's Reason does not always say it (an idle cluster cancelled the
                # job before it was ever scheduled): an afterok parent that ended
                # without completing is why the job could never run.
                found = ["CANCELLED: dependency never satisfied"]
            state = summarize_states(found) + unavailable
            if "dependency never satisfied" in state and record.get("dependency"):
                state += f" ({record['dependency']})"
        else:
            state = record.get("state") or "UNKNOWN"
        rows.append(SubmissionRow(folder, record["stage"], record["cluster"],
                                  record["job_ids"], state, record["submitted_at"]))
    return rows


# Parent states that do not doom an afterok dependent: done well, or not done yet.
_NOT_ENDED_BADLY = ("COMPLETED", "PENDING", "RUNNING", "REQUEUED", "SUSPENDED")


def _parents(dependency: str | None) -> list[str]:
    """The job ids of an ``afterok:1:2`` dependency (none for other kinds)."""
    kind, _, ids = (dependency or "").partition(":")
    return [i for i in ids.split(":") if i] if kind == "afterok" else []


def format_table(rows: list[SubmissionRow]) -> str:
    """A plain-text table, newest first."""
    if not rows:
        return "no submissions found"
    header = ("SUBMITTED (UTC)", "STAGE", "CLUSTER", "JOB IDS", "STATE", "FOLDER")
    lines = [header] + [
        (r.submitted_at[:19].replace("T", " "), r.stage, r.cluster,
         _short_ids(r.job_ids), r.state, str(r.folder)) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False))
                     + "  " + line[-1] for line in lines)


def _short_ids(ids: list[str]) -> str:
    """``["7_0", "7_1", "7_2"]`` -> ``"7_[0-2]"``; a single id unchanged."""
    if not ids:
        return "-"
    if len(ids) > 1 and all("_" in i for i in ids):
        base = ids[0].split("_")[0]
        return f"{base}_[0-{len(ids) - 1}]"
    return ",".join(ids)
