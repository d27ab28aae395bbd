"""``t2s synth``: synthetic question/SQL pairs for your own databases (SQLite or PostgreSQL).

    t2s synth --db shop.sqlite --out outputs/data/synth --n 500
    t2s synth --db postgresql://t2s_reader@db.example/kennels --out outputs/data/kennels
    t2s synth --db a.sqlite --db b.sqlite --out outputs/data/synth --n 1000 --seed 1
    t2s train data.source=spider data.root=outputs/data/synth      # fine-tune on them

Writes a Spider-format directory (tables.json, train.json, dev.json, a copy of
each database, SYNTH.json with the counts); every pair's SQL was executed
read-only and returned rows. See :mod:`t2s.data.synth`.
"""

from __future__ import annotations

import argparse

from t2s.data.synth import synthesize
from t2s.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this sub-command's options to ``parser``."""
    parser.add_argument("--db", action="append", required=True, metavar="FILE|DSN",
                        help="SQLite file or postgresql:// DSN to write questions for "
                             "(repeatable)")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write")
    parser.add_argument("--n", type=int, default=500,
                        help="question/SQL pairs in all, at most (default: 500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--dev-fraction", type=float, default=0.1,
                        help="share of the pairs written to dev.json (default: 0.1)")
    parser.add_argument("--force", action="store_true",
                        help="replace DIR even if t2s synth did not write it")


def run(args: argparse.Namespace) -> int:
    """Write the dataset and print its counts; returns the exit status.

    Raises:
        InputError: for a non-positive --n or a --dev-fraction outside [0, 1).
        DataError: for a missing or non-SQLite database, or an occupied DIR.
    """
    if args.n <= 0:
        raise InputError(f"--n must be positive, got {args.n}")
    if not 0 <= args.dev_fraction < 1:
        raise InputError(f"--dev-fraction must be in [0, 1), got {args.dev_fraction}")
    report = synthesize(args.db, args.out, n=args.n, seed=args.seed,
                        dev_fraction=args.dev_fraction, force=args.force)
    print(report.summary())
    for db_id, skipped in report.skipped_tables.items():
        if skipped:
            print(f"{db_id}: tables not used: {', '.join(skipped)}")
    return 0
