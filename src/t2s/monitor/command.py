"""``t2s monitor report``: latency, failures and drift of ``t2s serve`` from its request log.

Example::

    t2s monitor report --log outputs/serve/requests.jsonl \\
        --reference outputs/run_info.json --out outputs/monitor

Writes REPORT.json, REPORT.md and PNG plots into ``--out`` and prints the
flagged drift checks; ``--fail-on-drift`` exits 1 when any check flags or a
line of the log is unreadable (a torn last line, still being written, aside),
for a nightly job. A log with no readable request is an error (exit 2), with
or without the flag: no data is not "no drift". No torch is loaded.
"""

from __future__ import annotations

import argparse

from t2s.monitor.report import write_report
from t2s.outputs import check_output_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``t2s monitor``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    report = sub.add_parser("report", help="REPORT.json/.md + plots from a serve request log")
    report.add_argument("--log", required=True, help="the server's request log (JSONL)")
    report.add_argument("--reference", required=True,
                        help="run_info.json of the training run, or its train.json")
    report.add_argument("--out", required=True, help="output folder")
    report.add_argument("--fail-on-drift", action="store_true",
                        help="exit 1 when a drift check flags or log lines are unreadable")


def run(args: argparse.Namespace) -> int:
    """Write the report; returns 1 with ``--fail-on-drift`` and a flag or a damaged line, else 0.

    Raises:
        InputError: if the log or reference cannot be read, the log holds no
            readable request, or ``--out`` holds files that are not an earlier report.
    """
    # REPORT.json marks an earlier report: rewriting it replaces only its own files.
    check_output_folder(args.out, "--out", ours=lambda out: (out / "REPORT.json").is_file())
    report = write_report(args.log, args.reference, args.out)
    summary = report["summary"]
    latency = summary["latency_ms"]
    print(f"[t2s] {summary['requests']} requests, failure rate {summary['failure_rate']}, "
          f"latency p50/p95/p99 {latency['p50']}/{latency['p95']}/{latency['p99']} ms")
    for check in report["drift"]:
        mark = "FLAG" if check["flagged"] else "ok  "
        print(f"[t2s] {mark} {check['name']:<18} PSI {check['value']:.3f} "
              f"(threshold {check['threshold']})")
    inputs = report["inputs"]
    # A torn last line is a record the server is still writing, not damage.
    damaged = inputs["unreadable_log_lines"] - int(inputs["torn_last_line"])
    if inputs["unreadable_log_lines"]:
        print(f"[t2s] WARN {inputs['unreadable_log_lines']} unreadable log line(s) left out"
              + (" (the last one torn, still being written)" if inputs["torn_last_line"] else ""))
    print(f"[t2s] report: {args.out}/REPORT.md")
    return 1 if args.fail_on_drift and (report["flagged"] or damaged > 0) else 0
