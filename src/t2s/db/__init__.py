"""Database engines beyond SQLite, and the commands that prepare them (``t2s db``).

- :mod:`t2s.db.postgres`: PostgreSQL execution with sqlexec's guarantees
  (:mod:`t2s.sqlexec` hands it every ``postgresql://`` DSN).
- :mod:`t2s.db.grants`: the SQL for a SELECT-only role (``t2s db grant-readonly``).
- :mod:`t2s.db.importer`: a SQLite database into PostgreSQL (``t2s db import``).

Only :mod:`t2s.db.postgres` connects to a server; the others go through it.
"""
