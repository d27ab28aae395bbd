"""``serve.*``: the HTTP server, and the ``NAME=PATH`` spelling of what it serves."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from t2s.errors import ConfigError

# A name for an adapter or a registered database: what a db_id may be. The one
# spelling: parse_named_path checks it, and serve's request models take it as pattern.
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}$"
_NAME = re.compile(NAME_PATTERN)
# One label of a DNS name (or an IPv4 octet); a bracketed IPv6 address.
_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_HOST_IPV6 = re.compile(r"^\[[0-9A-Fa-f:.]{2,45}\]$")
_ENGINE_URL = re.compile(r"^https?://[^/\s]+")


def _is_host_name(text: str) -> bool:
    """A name as a ``Host`` header carries it, without port: ``node-3``, ``10.0.0.5``, ``[::1]``."""
    if _HOST_IPV6.match(text):
        return True
    return 0 < len(text) <= 253 and all(_HOST_LABEL.match(label) for label in text.split("."))


@dataclass
class ServeConfig:
    """The HTTP server of ``t2s serve`` (FastAPI + uvicorn); see README "Serving"."""

    host: str = "127.0.0.1"
    """Address to listen on; anything but loopback needs an API key."""
    port: int = 8000
    """TCP port; 0 picks a free one (printed at start)."""
    api_keys: list[str] = field(default_factory=list)
    """Accepted API keys (``Authorization: Bearer KEY`` or ``X-API-Key``)."""
    api_key_env: str | None = "T2S_API_KEY"
    """Environment variable holding one more accepted key (null: none)."""
    admin_api_keys: list[str] = field(default_factory=list)
    """Keys of the admin routes (``/admin/...``), apart from ``api_keys``: a client
    key never loads or unloads an adapter. None (and none in ``admin_api_key_env``)
    while client keys are set: the admin routes refuse every request."""
    admin_api_key_env: str | None = "T2S_ADMIN_API_KEY"
    """Environment variable holding one more admin key (null: none)."""
    allowed_hosts: list[str] = field(default_factory=list)
    """Host names a request's ``Host`` header may carry besides the bound address
    and ``localhost``. Checked whenever this is set, and always when serving
    without a client key (a DNS-rebinding page cannot reach the server then)."""
    adapters: list[str] = field(default_factory=list)
    """More adapters to load at start, ``NAME=DIR`` (``infer.adapter_path`` is ``default``)."""
    default_adapter: str = "default"
    """Adapter used when a request names none."""
    adapter_roots: list[str] = field(default_factory=lambda: ["outputs"])
    """Folders under which the admin endpoint may load adapters (a key alone
    must not let a caller load any folder of the server's disk)."""
    databases: list[str] = field(default_factory=list)
    """Databases callers may name and execute on, ``NAME=PATH`` with a SQLite
    file or ``NAME=postgresql://USER@HOST/DB`` (besides the databases of
    ``data.root``). A DSN holds no password here: libpq takes it from
    ``PGPASSWORD`` or ``~/.pgpass``."""
    db_pool_size: int = 4
    """Sessions the server keeps open at most per PostgreSQL database (SQLite
    files are opened per request). A request waits for a free one up to
    ``infer.execute_timeout_s``, then gets 503 ``overloaded``. 4 sessions x
    ~10 MB of server memory each; PostgreSQL's default max_connections is 100."""
    cache_size: int = 1024
    """Responses kept in the LRU cache (0: no cache)."""
    cache_ttl_s: float = 3600.0
    """Seconds a cached response stays valid."""
    max_batch_size: int = 8
    """Requests gathered into one ``generate`` call (1: no micro-batching)."""
    max_wait_ms: float = 5.0
    """How long the first request of a batch waits for company. A tiny-model
    generation takes ~100 ms on 2 CPU cores, so 5 ms costs <5% latency."""
    max_queue: int = 256
    """Requests waiting for generation at most; more are refused with 503."""
    max_question_chars: int = 2000
    """Longest question accepted (422 beyond)."""
    max_body_bytes: int = 262_144
    """Largest request body (413 beyond); 256 KiB holds a 200-table schema."""
    max_new_tokens: int = 512
    """Upper bound of a request's ``max_new_tokens`` override."""
    cors_origins: list[str] = field(default_factory=list)
    """Origins allowed by CORS (empty: CORS off, browsers allow same origin only)."""
    request_log: str | None = "outputs/serve/requests.jsonl"
    """One JSON line per request, for ``t2s monitor report`` (null: none)."""
    log_questions: bool = True
    """Write the question and SQL text into the request log (drift reports need them)."""
    graceful_timeout_s: float = 30.0
    """On shutdown, how long in-flight requests may still run."""
    engine: str = ""
    """Where the adapters generate: ``""`` (here, as ``infer.backend`` says), the URL
    of an OpenAI-compatible server (vLLM) whose model for each adapter is named as
    the adapter (``t2s engine`` names them so), or ``auto``: start that vLLM as a
    child on a free loopback port (``t2s engine``'s command) and stop it with the
    server. Adapters loaded later go to the engine through vLLM's runtime LoRA API."""
    engine_python: str = ".venv-vllm/bin/python"
    """With ``engine: auto``: the interpreter of the venv vLLM is in
    (``scripts/install-vllm-cpu.sh``)."""
    engine_log: str = "outputs/serve/engine.log"
    """With ``engine: auto``: vLLM's own output (overwritten at each start)."""
    engine_ready_s: float = 900.0
    """With ``engine: auto``: how long vLLM may take to answer ``/v1/models``. A
    135M model is ready in 1 to 4 minutes on 2 busy CPU cores; 15 minutes only
    bounds a start that hangs."""
    engine_max_model_len: int | None = None
    """With ``engine: auto``: vLLM's ``--max-model-len`` (null: the model's own)."""

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for each bound out of range, key and ``NAME=PATH`` entry."""
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append(("port", f"must be in 0..65535, got {self.port}"))
        for key in ("max_batch_size", "max_queue", "max_question_chars", "max_body_bytes",
                    "max_new_tokens", "db_pool_size"):
            if getattr(self, key) < 1:
                problems.append((key, f"must be at least 1, got {getattr(self, key)}"))
        for key in ("cache_size", "max_wait_ms", "graceful_timeout_s"):
            if not getattr(self, key) >= 0:  # `not >=` also refuses NaN
                problems.append((key, f"must be >= 0, got {getattr(self, key)}"))
        if self.engine not in ("", "auto") and not _ENGINE_URL.match(self.engine):
            problems.append(("engine", "must be empty, 'auto' or the engine's http:// or "
                                       f"https:// URL, got {self.engine!r}"))
        if not self.engine_ready_s > 0:
            problems.append(("engine_ready_s", f"must be positive, got {self.engine_ready_s}"))
        if self.engine_max_model_len is not None and self.engine_max_model_len < 1:
            problems.append(("engine_max_model_len",
                             f"must be at least 1, got {self.engine_max_model_len}"))
        if not self.cache_ttl_s > 0:
            problems.append(("cache_ttl_s", f"must be positive, got {self.cache_ttl_s}"))
        for key in ("api_keys", "admin_api_keys"):
            if any(not value.strip() for value in getattr(self, key)):
                problems.append((key, "holds an empty key"))
        if set(self.api_keys) & set(self.admin_api_keys):
            problems.append(("admin_api_keys",
                             "shares a key with serve.api_keys (an admin key is its own)"))
        bad_hosts = [h for h in self.allowed_hosts if not _is_host_name(h)]
        if bad_hosts:
            problems.append(("allowed_hosts",
                             f"{', '.join(map(repr, bad_hosts))}: host names only "
                             "(no scheme, port or path), e.g. 'gpu-node-3' or '10.0.0.5'"))
        if not _NAME.match(self.default_adapter):
            problems.append(("default_adapter", f"{self.default_adapter!r} is not a valid name"))
        for key in ("adapters", "databases"):
            problems.extend((key, message) for message in _named_path_problems(getattr(self, key)))
        return problems


def _named_path_problems(items: list[str]) -> list[str]:
    """Why each ``NAME=PATH`` item is malformed, then the names given twice."""
    problems, names = [], []
    for item in items:
        try:
            names.append(parse_named_path(item)[0])
        except ConfigError as exc:
            problems.append(str(exc))
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"names given twice: {', '.join(duplicates)}")
    return problems


def parse_named_path(text: str) -> tuple[str, str]:
    """Split ``NAME=PATH`` (``--adapter``, ``--db``, ``serve.adapters``).

    Raises:
        ConfigError: if there is no ``=``, the name is not letters, digits,
            '_' and '-', or the path is empty.
    """
    name, sep, path = text.partition("=")
    if not sep or not _NAME.match(name) or not path:
        # A DSN may hold a password: such an entry is not repeated.
        shown = "a database URI" if "://" in text else repr(text)
        raise ConfigError(f"{shown} is not NAME=PATH (NAME: letters, digits, '_', '-')")
    return name, path
