"""``t2s compare A.json B.json``: flipped examples, a McNemar test and a paired-bootstrap
95% interval of the difference between two reports (pass@k and maj@k too, when both have
several candidates per question).

Example (yesterday's nightly report against today's)::

    t2s compare reports/2026-11-24/REPORT.json reports/2026-11-25/REPORT.json \\
        [--metric execution|exact_match] [--show 20] [--out compare.json] [--force]

Exits 2 without comparing when the reports differ in data fingerprints, flags
or examples; ``--force`` prints those differences as a warning and compares
anyway.
"""

from __future__ import annotations

import argparse
import sys

from t2s.errors import InputError
from t2s.evaluation.compare import (
    check_comparable,
    compare_reports,
    format_comparison,
    load_report,
)
from t2s.evaluation.metrics import paired
from t2s.outputs import check_output_file
from t2s.provenance import write_json_atomic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``t2s compare`` options."""
    parser.add_argument("report_a", metavar="A.json", help="baseline REPORT.json")
    parser.add_argument("report_b", metavar="B.json", help="candidate REPORT.json")
    names = [metric.name for metric in paired()]
    parser.add_argument("--metric", choices=names, default=names[0],
                        help=f"which verdict to pair (default: {names[0]})")
    parser.add_argument("--show", type=int, default=20,
                        help="flipped examples listed per direction (default: 20)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level for the verdict line (default: 0.05)")
    parser.add_argument("--out", default=None, help="also write the comparison as JSON")
    parser.add_argument("--force", action="store_true",
                        help="compare even if data or flags differ (prints a warning)")


def run(args: argparse.Namespace) -> int:
    """Run ``t2s compare``; returns the exit status.

    Raises:
        InputError: if a report is unreadable, or the reports are not comparable
            and ``--force`` is not given; if ``--out`` is not a regular file or a
            new path.
    """
    if args.out:
        check_output_file(args.out, "--out")

    a, b = load_report(args.report_a), load_report(args.report_b)
    problems = check_comparable(a, b)
    if problems and not args.force:
        raise InputError("the reports are not comparable:\n  - " + "\n  - ".join(problems)
                         + "\n(re-run one of them, or pass --force to compare anyway)")
    if problems:
        banner = "!" * 72
        print(f"{banner}\nWARNING: comparing reports that differ (--force):\n  - "
              + "\n  - ".join(problems) + f"\n{banner}", file=sys.stderr)
    comparison = compare_reports(a, b, metric=args.metric)
    print(format_comparison(comparison, names=(args.report_a, args.report_b), show=args.show,
                            alpha=args.alpha))
    if args.out:
        write_json_atomic(args.out, {"a": args.report_a, "b": args.report_b,
                                     "problems": problems, **comparison.to_dict()})
    return 0
