"""Serving: ``t2s serve``, an HTTP API over the inference library.

- :mod:`.command` — the CLI (``t2s serve``); loads FastAPI/uvicorn inside ``run``;
- :mod:`.app` — ``create_app``: the routers, error handlers and CORS inside
  :class:`~t2s.serve.middleware.RequestContext`;
- :mod:`.routes` — one ``APIRouter`` per area (generation, catalog, monitoring,
  admin, public), each declaring its key check;
- :mod:`.bodies` — request and response models; :mod:`.errors` — the error
  kinds, body and handlers; :mod:`.keys` / :mod:`.auth` — the accepted keys and
  the key check; :mod:`.middleware` — request id, body limit, access log;
- :mod:`.service` — what ``POST /generate`` does apart from HTTP: prompt (built
  by :class:`~t2s.inference.pipeline.Predictor`, exactly as in training), cache,
  micro-batch, read-only execution (:mod:`t2s.sqlexec`), request log;
- :mod:`.adapters` — adapters loaded by name, hot-swapped without dropping
  requests in flight;
- :mod:`.batcher` — gathers concurrent requests into one batched ``generate``;
- :mod:`.cache` — the LRU + TTL response cache;
- :mod:`.metrics` — Prometheus metrics;
- :mod:`.requestlog` — one JSON line per request (:class:`~t2s.serve.requestlog.RequestRecord`),
  read by ``t2s monitor report``;
- :mod:`.ddl` — an inline schema given as ``CREATE TABLE`` statements;
- :mod:`.embedded` — a server in a background thread (tests, benchmarks).

Nothing else in t2s imports this package.
"""
