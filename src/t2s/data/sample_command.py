"""``t2s sample-data``: write the embedded sample Spider-format dataset.

    t2s sample-data --out outputs/data/sample            # write, refresh if stale, else keep
    t2s sample-data --out outputs/data/sample --force    # always rewrite
    t2s sample-data --out /tmp/sample --seed 3           # another draw of rows/questions
    t2s sample-data --format wikisql --out outputs/data/wikisql   # WikiSQL-format fixture
    t2s sample-data --format bird --out outputs/data/bird         # BIRD-shaped fixture

Without ``--force`` a current copy is kept and a stale copy of the same seed is
rewritten (so ``make demo`` can run it every time); a dataset of another seed,
or one this command did not write, is an error rather than overwritten. So is
a folder holding any file t2s did not write (``--out src`` or a folder with your
own ``train.json``): without ``--force`` only a new or empty folder, or this
command's earlier output, is written into.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from t2s.data.sample import (
    ensure_sample_dataset,
    is_current,
    read_manifest,
    write_sample_dataset,
)
from t2s.data.sample.bird_fixture import write_bird_fixture
from t2s.data.sample.wikisql_fixture import write_wikisql_fixture
from t2s.data.sample.writer import GENERATOR_NAME
from t2s.errors import DataError
from t2s.outputs import check_output_folder


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
        InputError: if DIR holds files t2s did not write and ``--force`` is not
            given, or is not a folder.
    """
    if not args.force:
        check_output_folder(args.out, "--out", force="--force",
                            ours=lambda out: written_by_sample_data(out, args.format))

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


# What the fixtures write (they carry no manifest): a folder holding only these
# names is an earlier fixture; one more name (a real BIRD's dev.sql) is the user's.
FIXTURE_NAMES = {
    "wikisql": {f"{split}{ext}" for split in ("train", "dev", "test")
                for ext in (".tables.jsonl", ".jsonl", ".answers.jsonl")} | {"test.db"},
    "bird": {"dev_tables.json", "dev_databases", "train.json", "dev.json"},
}


def written_by_sample_data(out: Path, fmt: str = "spider") -> bool:
    """Whether ``out`` is this command's earlier output of format ``fmt``.

    The sample dataset is recognised by its manifest (a copy of it counts too:
    :func:`ensure_sample_dataset` then refuses it with its own message); a
    fixture by holding only the names it writes.
    """
    if fmt == "spider":
        manifest = read_manifest(out)
        return manifest is not None and manifest.get("generator") == GENERATOR_NAME
    return {entry.name for entry in out.iterdir()} <= FIXTURE_NAMES[fmt]


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
