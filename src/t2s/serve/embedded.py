"""A server in a background thread of this process: for tests and benchmarks.

It binds a free loopback port first (so there is no race for the port), runs
uvicorn in a thread (no signal handlers there), waits until the service is
ready, and on exit stops uvicorn gracefully as SIGTERM would and joins it.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn

from t2s.serve.app import create_app
from t2s.serve.keys import ApiKeys
from t2s.serve.service import Service


class EmbeddedServer:
    """``with EmbeddedServer(service, adapters) as server: server.url ...``.

    Args:
        service: The service to serve.
        adapters: (name, folder) pairs to load at start.
        keys: Accepted keys (default: none, open).
        ready_timeout_s: How long start-up may take (loading a tiny model: seconds).
    """

    def __init__(self, service: Service, adapters: list[tuple[str, str]],
                 keys: ApiKeys | None = None, ready_timeout_s: float = 300.0) -> None:
        self.service = service
        self.fatal: list[BaseException] = []
        self.app = create_app(service, adapters, keys or ApiKeys(), on_fatal=self._on_fatal)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on",
            timeout_graceful_shutdown=int(service.serve.graceful_timeout_s) or None))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="t2s-embedded-server", daemon=True)
        self.ready_timeout_s = ready_timeout_s

    def _on_fatal(self, exc: BaseException) -> None:
        self.fatal.append(exc)
        self.service.ready_event.set()  # wake the waiting caller; it sees ``fatal``
        self.server.should_exit = True

    def start(self) -> EmbeddedServer:
        """Start and wait until ready.

        Raises:
            RuntimeError: if start-up failed or took longer than ``ready_timeout_s``.
        """
        self.thread.start()
        if not self.service.ready_event.wait(self.ready_timeout_s):
            self.stop()
            raise RuntimeError(f"server not ready after {self.ready_timeout_s} s")
        if self.fatal:
            self.stop()
            raise RuntimeError(f"server start-up failed: {self.fatal[0]}")
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop as SIGTERM does (in-flight requests finish) and join the thread."""
        self.server.should_exit = True
        self.thread.join(timeout_s)
        self.sock.close()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
