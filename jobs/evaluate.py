"""Nightly evaluation job: score a prediction file into a dated report folder.

Exact command (from the repository root)::

    python jobs/evaluate.py --gold ../shared/data/spider/dev_gold.sql \
        --pred outputs/predictions/dev_pred.sql --db ../shared/data/spider/database \
        --table ../shared/data/spider/tables.json --out-dir reports/

It writes ``reports/<YYYY-MM-DD>/REPORT.json`` and ``REPORT.md`` (UTC date) and,
when an earlier dated report exists in ``--out-dir`` with the same data and
flags, prints the flips against it and McNemar's p-value, so a nightly drop can
be told from noise. Everything else is the library: :mod:`t2s.evaluation`.
Exit status 2 on bad input (message, no traceback), as ``t2s evaluate``.
"""

from __future__ import annotations

import argparse
import sys

from t2s.sqlexec import DEFAULT_TIMEOUT_S


def main(argv: list[str] | None = None) -> int:
    """Score, write the dated report, compare with the previous night."""
    from t2s.errors import T2SError
    from t2s.evaluation.compare import (
        check_comparable,
        compare_reports,
        format_comparison,
        load_report,
    )
    from t2s.evaluation.inputs import read_gold, read_predictions
    from t2s.evaluation.report import dated_report_path, format_summary, previous_report
    from t2s.evaluation.runner import EvalOptions, evaluate_predictions

    args = _parser().parse_args(argv)
    try:
        out = dated_report_path(args.out_dir)
        gold = read_gold(args.gold)
        report = evaluate_predictions(
            gold, read_predictions(args.pred, gold), db_dir=args.db, tables_path=args.table,
            options=EvalOptions(etype=args.etype, timeout_s=args.timeout), out_path=out,
            gold_path=args.gold, pred_path=args.pred, workers=args.workers, progress=False)
        print(format_summary(report), f"\nwrote {out}", sep="")
        baseline = previous_report(args.out_dir, out)
        if baseline is not None:
            old = load_report(baseline)
            problems = check_comparable(old, report)
            if problems:
                print(f"\nnot comparable with {baseline}: " + "; ".join(problems))
            else:
                comparison = compare_reports(old, report)
                print(f"\nvs {baseline}:\n" + format_comparison(comparison, (str(baseline),
                                                                             str(out))))
    except T2SError as exc:
        print(f"jobs/evaluate.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", required=True, help="dev_gold.sql or a Spider JSON file")
    parser.add_argument("--pred", required=True, help="predictions (text or JSONL)")
    parser.add_argument("--db", required=True, help="folder of <db_id>/<db_id>.sqlite")
    parser.add_argument("--table", required=True, help="tables.json")
    parser.add_argument("--out-dir", default="reports", help="dated reports go under here")
    parser.add_argument("--etype", choices=("all", "match", "exec"), default="all")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds per query")
    parser.add_argument("--workers", type=int, default=None, help="default: min(2, CPUs)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
