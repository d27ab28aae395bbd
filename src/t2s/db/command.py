"""``t2s db``: prepare a PostgreSQL database for t2s.

    t2s db grant-readonly t2s_reader --database spider > grant.sql   # review, then:
    psql -d spider -f grant.sql                                      # as its owner
    t2s db import --from-sqlite concert_singer.sqlite \\
        --to postgresql://admin@localhost/concert_singer             # created if missing

``grant-readonly`` prints the statements for a SELECT-only role (t2s refuses to
run model-written SQL as a superuser); ``import`` copies a SQLite database's
tables, data and keys (:mod:`t2s.db.importer`). Passwords come from the DSN,
``PGPASSWORD`` or ``~/.pgpass``, and are never printed.
"""

from __future__ import annotations

import argparse
import sys

from t2s.db.grants import ReadOnlyGrant, grant_readonly_script
from t2s.db.importer import import_sqlite
from t2s.db.postgres import is_dsn, redact_dsn
from t2s.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``t2s db``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    grant = sub.add_parser("grant-readonly", help="print the SQL for a SELECT-only role")
    grant.add_argument("role", metavar="ROLE", help="the role to create")
    grant.add_argument("--database", help="grant CONNECT on this database")
    grant.add_argument("--schema", action="append", dest="schemas", metavar="SCHEMA",
                       help="schema whose tables it may read (repeatable; default: public)")
    load = sub.add_parser("import", help="copy a SQLite database into PostgreSQL")
    load.add_argument("--from-sqlite", required=True, metavar="DB.sqlite", help="the SQLite file")
    load.add_argument("--to", required=True, metavar="DSN",
                      help="postgresql://USER@HOST/NAME (NAME is created when missing)")
    load.add_argument("--schema", default="public", help="target schema (default: public)")
    load.add_argument("--replace", action="store_true", help="drop tables of the same names first")


def run(args: argparse.Namespace) -> int:
    """Print the grants, or import and print one line per table; returns 0.

    Raises:
        InputError: for bad names, a non-PostgreSQL ``--to`` or an existing table.
        PostgresConnectionError: if the server cannot be reached.
    """
    if args.action == "grant-readonly":
        grant = ReadOnlyGrant(args.role, args.database, tuple(args.schemas or ("public",)))
        sys.stdout.write(grant_readonly_script(grant))
        return 0
    if not is_dsn(args.to):
        raise InputError(f"--to must be a postgresql:// DSN, got {redact_dsn(args.to)!r}")
    report = import_sqlite(args.from_sqlite, args.to, schema=args.schema, replace=args.replace)
    if report.created_database:
        print(f"[t2s] created database {redact_dsn(args.to)}")
    for table, rows in report.rows.items():
        types = ", ".join(f"{c} {t}" for c, t in report.types[table].items())
        print(f"[t2s] {table}: {rows} rows ({types})")
    for skipped in report.skipped:
        print(f"[t2s] skipped {skipped}")
    return 0
