"""A bounded pool of read-only PostgreSQL sessions, shared by the threads of one server.

``t2s serve --db NAME=postgresql://...`` runs each request's SQL through the
pool of its database (:class:`ConnectionPool`, ``serve.db_pool_size`` sessions
at most): a burst of requests queues for a session instead of opening one each,
so the server never holds more than the pool's size (a PostgreSQL server allows
100 connections by default, shared by every client of it).

A session that the server dropped while it sat idle (restart, ``pg_terminate_backend``,
an idle timeout) is found out on its next use and replaced by a fresh one, once,
within the same call; a server that cannot be reached raises
:class:`~t2s.db.postgres.PostgresConnectionError`, which serving answers as
``database_unavailable`` (HTTP 503). Every session is opened by
:func:`t2s.db.postgres.connect_readonly`, so each has all of its guards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from t2s import sqlexec
from t2s.db import postgres
from t2s.errors import T2SError


class PoolBusyError(T2SError):
    """Every session of the pool stayed busy for longer than the caller would wait."""


class ConnectionPool:
    """At most ``size`` read-only sessions to one database, opened on demand, kept while idle.

    Args:
        dsn: The database (a ``postgresql://`` DSN).
        size: Sessions open at most (``serve.db_pool_size``).
        on_session: Called with the open session count each time a call holds a
            session, before its SQL runs (a deterministic hook for tests).
    """

    def __init__(self, dsn: str, size: int,
                 on_session: Callable[[int], None] | None = None) -> None:
        self.dsn = dsn
        self.size = size
        self.on_session = on_session
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._open = 0
        self.replaced = 0
        """Sessions found dropped by the server and replaced (for the server's log)."""

    @property
    def open_sessions(self) -> int:
        """Sessions open now (idle or in use)."""
        return self._open

    def execute(self, sql: str, *, wait_s: float, prepare_only: bool = False,
                **limits: Any) -> sqlexec.ExecResult:
        """Run one statement on a pooled session (:func:`t2s.db.postgres.execute`).

        Args:
            sql: The statement.
            wait_s: How long to wait for a free session.
            prepare_only: Plan it without running it (see :func:`t2s.sqlexec.execute`).
            limits: ``timeout_s``, ``max_rows``, ``max_result_bytes``.

        Raises:
            PoolBusyError: if no session came free within ``wait_s``.
            PostgresConnectionError: if the server cannot be reached (or drops a
                fresh session too).
        """
        if not self._slots.acquire(timeout=max(wait_s, 0.0)):
            raise PoolBusyError(f"all {self.size} sessions to {postgres.redact_dsn(self.dsn)} "
                                f"stayed busy for {wait_s:g} s (serve.db_pool_size)")
        try:
            conn, reused = self._take()
            try:
                return self._run(conn, sql, prepare_only, limits)
            except postgres.PostgresConnectionError:
                self._discard(conn)
                if not reused:
                    raise
            # An idle session the server had dropped: once more on a fresh one.
            self.replaced += 1
            conn, _ = self._take(fresh=True)
            try:
                return self._run(conn, sql, prepare_only, limits)
            except postgres.PostgresConnectionError:
                self._discard(conn)
                raise
        finally:
            self._slots.release()

    def _run(self, conn: Any, sql: str, prepare_only: bool,
             limits: dict[str, Any]) -> sqlexec.ExecResult:
        try:
            if self.on_session is not None:
                self.on_session(self._open)
            result = postgres.execute(conn, sql, prepare_only=prepare_only, **limits)
        except postgres.PostgresConnectionError:
            raise  # the caller discards the session (and may replace it)
        except BaseException:
            self._discard(conn)
            raise
        with self._lock:
            self._idle.append(conn)
        return result

    def _take(self, fresh: bool = False) -> tuple[Any, bool]:
        """An idle session (``reused`` True) or a new one; the caller holds a slot.

        Raises:
            PostgresConnectionError: if a new session cannot be opened.
        """
        with self._lock:
            if self._idle and not fresh:
                return self._idle.pop(), True
            self._open += 1
        try:
            return postgres.connect_readonly(self.dsn), False
        except BaseException:
            with self._lock:
                self._open -= 1
            raise

    def _discard(self, conn: Any) -> None:
        with self._lock:
            self._open -= 1
        conn.close()

    def close(self) -> None:
        """Close the idle sessions (sessions in use close when their call ends)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for conn in idle:
            conn.close()


__all__ = ["ConnectionPool", "PoolBusyError"]
