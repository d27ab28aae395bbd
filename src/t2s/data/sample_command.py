"""``t2s sample-data``: write the embedded sample Spider-format dataset.

    t2s sample-data --out outputs/data/sample            # write, refresh if stale, else keep
    t2s sample-data --out outputs/data/sample --force    # always rewrite
    t2s sample-data --out /tmp/sample --seed 3           # another draw of rows/questions
    t2s sample-data --format wikisql --out outputs/data/wikisql   # WikiSQL-format fixture
    t2s sample-data --format bird --out outputs/data/bird         # BIRD-shaped fixture

Without ``--force`` a current copy is kept and a stale copy of the same seed is
rewritten (so ``make demo`` can run it every time); a dataset of another seed,
or one this command did not write, is an error rather than overwritten.
"""

from __future__ import annotations

import argparse

from t2s.data.sample import (
    ensure_sample_dataset,
    is_current,
    read_manifest,
    write_sample_dataset,
)
from t2s.data.sample.bird_fixture import write_bird_fixture
from t2s.data.sample.wikisql_fixture import write_wikisql_fixture
from t2s.errors import DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this sub-command's options to ``parser``."""
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="directory to write (created if needed)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of every random choice (default: 0)")
    parser.add_argument("--force", action="store_true",
                        help="replace whatever dataset DIR holds")
    parser.add_argument("--format", choices=("spider", "wikisql", "bird"), default="spider",
                        help="layout to write: the Spider-format sample dataset (default), a "
                             "WikiSQL-format fixture (train/dev/test .jsonl, .tables.jsonl, "
                             "test.db), or a BIRD-shaped fixture built from the sample data")


def run(args: argparse.Namespace) -> int:
    """Write the dataset and print its counts; returns the exit status.

    Raises:
        DataError: if DIR holds another seed's dataset, or one this command did
            not write, and ``--force`` is not given; or DIR cannot be written.
    """

    if args.format != "spider":
        return write_fixture(args)
    if args.force:
        write_sample_dataset(args.out, seed=args.seed, overwrite=True)
        print(f"wrote the sample dataset to {args.out} (seed {args.seed})")
    elif is_current(args.out, args.seed):
        print(f"{args.out}: already current (seed {args.seed}); --force rewrites it")
    else:
        old = read_manifest(args.out) or {}
        if old.get("seed", args.seed) != args.seed:
            raise DataError(f"{args.out} holds the sample dataset of seed {old['seed']}; "
                            f"pass --force to replace it with seed {args.seed}")
        ensure_sample_dataset(args.out, seed=args.seed)
        print(f"wrote the sample dataset to {args.out} (seed {args.seed})")
    print(format_counts((read_manifest(args.out) or {}).get("counts", {})))
    return 0


def write_fixture(args: argparse.Namespace) -> int:
    """Write the WikiSQL or BIRD fixture (always rewritten: it is small and seeded)."""
    writer = write_wikisql_fixture if args.format == "wikisql" else write_bird_fixture
    out = writer(args.out, seed=args.seed)
    print(f"wrote the {args.format} fixture to {out} (seed {args.seed}): "
          + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0


def format_counts(counts: dict) -> str:
    """A small table of pairs per database and per shape, train / dev."""
    train, dev = counts.get("train", {}), counts.get("dev", {})
    lines = [f"{'':<16}{'train':>7}{'dev':>6}"]
    for key in ("by_db", "by_shape"):
        for name, count in train.get(key, {}).items():
            lines.append(f"{name:<16}{count:>7}{dev.get(key, {}).get(name, 0):>6}")
        lines.append("")
    lines.append(f"{'total':<16}{train.get('total', 0):>7}{dev.get('total', 0):>6}")
    return "\n".join(lines)
