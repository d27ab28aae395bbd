"""``t2s serve``: the HTTP API (FastAPI on uvicorn) over trained adapters.

Examples::

    t2s serve --config configs/tiny.yaml                       # http://127.0.0.1:8000
    T2S_API_KEY=secret t2s serve --host 0.0.0.0 --port 8080 \\
        --adapter v2=outputs/run2/final_model --db shop=data/shop.sqlite
    PGPASSWORD=... t2s serve --db kennels=postgresql://t2s_reader@db.example/kennels
    t2s serve --port 0 serve.max_batch_size=16                 # any free port (printed)
    t2s serve --engine http://127.0.0.1:8001 --config ...      # generate on a running vLLM
    t2s serve --engine auto --config ...                       # start vLLM as a child first

The server prints one JSON line ``{"listening": "http://HOST:PORT", ...}`` once
its socket is bound. SIGTERM (exit 0) and SIGINT (exit 130) stop it gracefully:
no new connections, requests in flight (and queued for generation) are answered
first, for at most ``serve.graceful_timeout_s``. This module stays light; FastAPI, uvicorn and the
model load inside :func:`run`.

``--engine auto`` starts ``t2s engine``'s vLLM command for the served adapters
on a free loopback port (its output in ``serve.engine_log``), waits for it
(``serve.engine_ready_s``) and stops it when the server stops, on a signal or
an error (and, on Linux, when this process dies: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from t2s.cli_args import add_config_arguments, config_path, setup_logging
from t2s.config import Config, load_config, parse_named_path
from t2s.data.sources import open_dataset_if_any
from t2s.errors import ConfigError, DataError
from t2s.inference.openai_backend import EngineClient
from t2s.inference.pipeline import check_engines
from t2s.launch.engine import EngineProcess, engine_spec, free_port
from t2s.serve.adapters import AdapterRegistry
from t2s.serve.engine import EngineLoras
from t2s.serve.keys import configured_keys
from t2s.serve.requestlog import RequestLog
from t2s.sqlexec import is_dsn

log = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``t2s serve``; everything else is the ``serve:`` config section."""
    parser.add_argument("--host", help="address to listen on (default: serve.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port, 0 for any free one (default: serve.port)")
    parser.add_argument("--adapter", action="append", default=[], metavar="NAME=DIR",
                        help="one more adapter to load (repeatable); infer.adapter_path is 'default'")
    parser.add_argument("--db", action="append", default=[], metavar="NAME=PATH",
                        help="a SQLite file or postgresql:// DSN requests may name and "
                             "execute on (repeatable)")
    parser.add_argument("--engine", metavar="URL|auto",
                        help="generate through the OpenAI-compatible engine at URL, or start "
                             "vLLM for the adapters (auto) (default: serve.engine)")
    add_config_arguments(parser)


def resolve_settings(args: argparse.Namespace) -> tuple[Config, list[tuple[str, str]],
                                                         dict[str, Path | str]]:
    """The config (with ``--host``/``--port`` applied), adapters to load and databases.

    Raises:
        ConfigError: for a malformed NAME=PATH, a duplicate name, a public
            address without an API key, or an admin key that is a client key too.
        DataError: for a registered database that is neither a SQLite file nor a DSN
            (a DSN's server is reached on first use, not here).
        ConfigError: also for a database of the other engine than ``data.dialect``
            (unless ``infer.dialect_override``).
    """
    overrides = list(args.overrides)
    if args.host is not None:
        overrides.append(f"serve.host={args.host}")
    if args.port is not None:
        overrides.append(f"serve.port={args.port}")
    # getattr: callers that build the namespace themselves (tests, t2s submit) may omit it.
    if getattr(args, "engine", None) is not None:
        overrides.append(f"serve.engine={args.engine}")
    config = load_config(config_path(args.config), overrides)
    serve = config.serve
    adapters = [("default", config.infer.adapter_path)] if serve.default_adapter == "default" else []
    adapters += [parse_named_path(a) for a in [*serve.adapters, *args.adapter]]
    names = [n for n, _ in adapters]
    problems = [f"adapter {n!r} given twice" for n in sorted(set(names)) if names.count(n) > 1]
    if serve.default_adapter not in names:
        problems.append(f"serve.default_adapter {serve.default_adapter!r} is not among the "
                        f"adapters ({', '.join(names) or 'none'})")
    databases: dict[str, Path | str] = {}
    for name, path in [parse_named_path(d) for d in [*serve.databases, *args.db]]:
        if name in databases:
            problems.append(f"database {name!r} given twice")
        databases[name] = path if is_dsn(path) else Path(path)
    keys = configured_keys(serve)
    if not keys.client and serve.host not in _LOOPBACK:
        problems.append(f"serve.host {serve.host} is not loopback: set serve.api_keys or "
                        f"${serve.api_key_env}")
    if set(keys.client) & set(keys.admin):
        problems.append("an admin key (serve.admin_api_keys, $serve.admin_api_key_env) is also "
                        "a client key (serve.api_keys, $serve.api_key_env): give it its own")
    if config.infer.do_sample or config.infer.execution_guided:
        problems.append("serving decodes greedily, one candidate (the cache and micro-batching "
                        "rely on it): set infer.do_sample=false and infer.execution_guided=false")
    if problems:
        raise ConfigError("; ".join(problems))
    for name, path in databases.items():
        if isinstance(path, Path) and not path.is_file():
            raise DataError(f"--db {name}: {path} is not a file")
    # A model writes one engine's SQL (data.dialect): refused on the other's databases.
    check_engines(config, dict(databases))
    return config, adapters, databases


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: any free one), before any model loads.

    Raises:
        ConfigError: if the address cannot be bound (the port is in use, the
            address is not this machine's, a port below 1024 without the right).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"serve.host/serve.port: cannot listen on {host}:{port}: "
                          f"{exc.strerror or exc}") from None
    return sock


def start_engine(config: Config, adapters: list[tuple[str, str]]) -> EngineProcess | None:
    """With ``serve.engine=auto``: vLLM for ``adapters``, started and ready; else None.

    Raises:
        ConfigError: if the adapters cannot share one vLLM.
        EngineStartError: if vLLM is missing, exits or is not ready in time (stopped then).
    """
    serve = config.serve
    if serve.engine != "auto":
        return None
    spec = engine_spec(config, serve.engine_python, "127.0.0.1", free_port(),
                       serve.engine_max_model_len, adapters)
    engine = EngineProcess(spec, serve.engine_log).start()
    log.info("engine (vLLM) starting at %s, its log in %s", engine.url, serve.engine_log)
    try:
        engine.wait_ready(serve.engine_ready_s)
    except BaseException:
        engine.stop()
        raise
    log.info("engine ready at %s", engine.url)
    return engine


def engine_loras(config: Config, url: str | None) -> EngineLoras | None:
    """The engine client of ``serve.engine`` (``url``: the started one's), or None."""
    if url is None:
        return None
    infer = config.infer
    api_key = os.environ.get(infer.api_key_env) if infer.api_key_env else None
    return EngineLoras(EngineClient(url, api_key, infer.engine_timeout_s, infer.engine_retries))


def run(args: argparse.Namespace) -> int:
    """Load the adapters and serve until SIGTERM/SIGINT; returns the exit status."""
    setup_logging()
    config, adapters, databases = resolve_settings(args)
    sock = bind(config.serve.host, config.serve.port)
    # Until uvicorn takes the signals over: SIGTERM unwinds, so vLLM is stopped below.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    engine = start_engine(config, adapters)
    try:
        url = engine.url if engine is not None else (config.serve.engine or None)
        return _serve(config, adapters, databases, sock, engine_loras(config, url))
    finally:
        if engine is not None:
            engine.stop()
            log.info("engine stopped")


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _serve(config: Config, adapters: list[tuple[str, str]], databases: dict[str, Path | str],
           sock: socket.socket, engine: EngineLoras | None) -> int:
    import uvicorn

    from t2s.serve.app import create_app
    from t2s.serve.service import Service

    serve = config.serve
    dataset = open_dataset_if_any(config.data, create_sample=False)
    service = Service(config, AdapterRegistry(config, dataset, engine=engine), databases,
                      RequestLog(serve.request_log, serve.log_questions))
    host, port = sock.getsockname()[:2]
    fatal: list[BaseException] = []

    def stop_on_fatal(exc: BaseException) -> None:
        fatal.append(exc)
        server.should_exit = True

    keys = configured_keys(serve)
    app = create_app(service, adapters, keys, on_fatal=stop_on_fatal)
    server = uvicorn.Server(uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on",
        timeout_graceful_shutdown=int(serve.graceful_timeout_s) or None))
    # Bound to every interface (a Slurm job): name the node, so the job log says
    # where to connect from elsewhere.
    shown = socket.getfqdn() if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    print(json.dumps({"listening": f"http://{shown}:{port}",
                      "adapters": [n for n, _ in adapters], "databases": sorted(databases),
                      "auth": bool(keys.client), "request_log": serve.request_log,
                      "engine": engine.endpoint if engine else None,
                      **({"engine_log": serve.engine_log} if serve.engine == "auto" else {})}),
          flush=True)
    # uvicorn catches SIGTERM, drains, restores the previous handler and raises
    # the signal again; with Python's default handler that would kill the
    # process after a clean drain (exit -15). A stop asked for is a success.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run(sockets=[sock])
    if fatal:
        print(f"t2s serve: error: {fatal[0]}", file=sys.stderr)
        return 2
    return 0
