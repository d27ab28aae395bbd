"""The SQL that creates a SELECT-only PostgreSQL role for t2s (``t2s db grant-readonly``).

t2s refuses to run model-written SQL as a superuser or as a role that may read
server files or run programs (:func:`t2s.db.postgres.connect_readonly`); this is
the role to connect as instead. The statements are printed, not run: a database
administrator reviews and runs them (``psql -f``), and sets the password with
``\\password ROLE`` so that it never appears in a shell history or a log.
"""

from __future__ import annotations

from dataclasses import dataclass

from t2s.errors import InputError

# PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1); a longer role
# name would silently become another name.
MAX_IDENTIFIER_BYTES = 63

# Per-role settings, so that any client of the role (psql, a BI tool), not only
# t2s, gets them. 30 s: 3x t2s's default statement limit (10 s); 1 GB of
# temporary files bounds a cartesian join's sort spill on the server's disk.
STATEMENT_TIMEOUT = "30s"
IDLE_IN_TRANSACTION_TIMEOUT = "60s"
TEMP_FILE_LIMIT = "1GB"


def quote_ident(name: str) -> str:
    """``name`` as a PostgreSQL quoted identifier (``"a""b"`` for ``a"b``)."""
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class ReadOnlyGrant:
    """A SELECT-only role on some schemas of one database.

    Attributes:
        role: The role to create (LOGIN, no other attribute).
        database: The database it may connect to; ``None`` leaves CONNECT as it
            is (PUBLIC has it by default).
        schemas: Schemas whose tables and views it may read.
    """

    role: str
    database: str | None = None
    schemas: tuple[str, ...] = ("public",)

    def problems(self) -> list[str]:
        """Every reason these names cannot be used, one line each."""
        found = []
        names = [("role", self.role), *(("schema", s) for s in self.schemas)]
        if self.database is not None:
            names.append(("database", self.database))
        for what, name in names:
            if not name:
                found.append(f"the {what} name is empty")
            elif len(name.encode()) > MAX_IDENTIFIER_BYTES:
                found.append(f"{what} {name!r} is longer than {MAX_IDENTIFIER_BYTES} bytes")
            elif "\x00" in name:
                found.append(f"{what} {name!r} contains a NUL character")
        if not self.schemas:
            found.append("no schema given")
        if self.role.lower() in ("public", "none", "current_user", "session_user", "current_role"):
            found.append(f"{self.role!r} is a reserved role name")
        return found


def grant_readonly_sql(grant: ReadOnlyGrant) -> list[str]:
    """The statements that create ``grant.role`` with SELECT only, in order.

    Raises:
        InputError: listing every problem with the names.
    """
    problems = grant.problems()
    if problems:
        raise InputError("cannot write the grants: " + "; ".join(problems))
    role = quote_ident(grant.role)
    statements = [
        # NOINHERIT: privileges granted to other roles it may later join do not
        # flow to it; every other attribute is off explicitly.
        f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
        "NOREPLICATION NOBYPASSRLS",
        f"ALTER ROLE {role} SET default_transaction_read_only = on",
        f"ALTER ROLE {role} SET statement_timeout = {_quote_literal(STATEMENT_TIMEOUT)}",
        f"ALTER ROLE {role} SET idle_in_transaction_session_timeout = "
        f"{_quote_literal(IDLE_IN_TRANSACTION_TIMEOUT)}",
        # temp_file_limit may be set only by a superuser: this line needs one.
        f"ALTER ROLE {role} SET temp_file_limit = {_quote_literal(TEMP_FILE_LIMIT)}",
    ]
    if grant.database is not None:
        statements.append(f"GRANT CONNECT ON DATABASE {quote_ident(grant.database)} TO {role}")
    for schema in grant.schemas:
        name = quote_ident(schema)
        statements += [
            f"GRANT USAGE ON SCHEMA {name} TO {role}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {name} TO {role}",
            # Tables created later by the role that runs this are readable too.
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {name} GRANT SELECT ON TABLES TO {role}",
        ]
    return statements


def grant_readonly_script(grant: ReadOnlyGrant) -> str:
    """:func:`grant_readonly_sql` as a psql script with a header saying how to run it.

    Raises:
        InputError: listing every problem with the names.
    """
    statements = grant_readonly_sql(grant)
    where = f"database {grant.database}" if grant.database else "the database t2s will read"
    header = [
        f"-- A SELECT-only role for t2s on {where}; run as a superuser (the",
        "-- temp_file_limit line needs one; an owner with CREATEROLE may drop that line):",
        "--   t2s db grant-readonly ... > grant.sql && psql -d DB -f grant.sql",
        f"-- then set its password in psql with: \\password {grant.role}",
    ]
    return "\n".join(header + [s + ";" for s in statements]) + "\n"


__all__ = ["ReadOnlyGrant", "grant_readonly_script", "grant_readonly_sql", "quote_ident"]
