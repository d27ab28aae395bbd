"""Generation through a running OpenAI-compatible server (vLLM, ...): ``infer.backend=openai``.

t2s keeps what sits around the model; the server only continues text. Each
prompt is rendered here exactly as for the HF backend
(:func:`~t2s.inference.generate.render_prompt`, with the adapter's own template)
and sent as text to ``/v1/completions``, never to ``/v1/chat/completions``, so
the server applies no chat template of its own. The tokenizer stays local too:
prompt lengths, the context check and the probe below use it.

:meth:`OpenAIBackend.connect` checks once, before the first question:

- that the server lists ``infer.engine_model`` in ``/v1/models``;
- that it tokenizes a probe prompt (in the configured prompt format) to the
  same ids as t2s does (vLLM's ``/tokenize``); a server without ``/tokenize`` is
  checked on the prompt-token count of a one-token completion instead. A
  mismatch (another base, another tokenizer, a doubled BOS) is refused: the
  model would see other tokens than it was trained on.

Then every prompt is one request, at most ``infer.engine_concurrency`` in
flight (the server batches them itself). Greedy decoding is ``temperature 0``;
execution-guided candidates are the greedy answer plus ``k - 1`` samples at
``infer.temperature`` (no beam search over this API). Connection errors and
5xx replies are retried ``infer.engine_retries`` times with backoff; a request
that still fails, times out after ``infer.engine_timeout_s`` or is refused (4xx)
becomes that question's error, never an exception, so a batch job writes an
error row and goes on. The API key is read from the environment variable that
``infer.api_key_env`` names and sent as a bearer token; it is in no message or log.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from t2s.config import DataConfig, Decoding, InferConfig, ModelConfig
from t2s.data.chat_templates import END_OF_TURN, setup_chat_template
from t2s.data.prompts import build_prompt
from t2s.errors import T2SError
from t2s.inference.generate import (
    Generation,
    Prompt,
    PromptTooLongError,
    check_prompt_length,
    encode_prompt,
    render_prompt,
)
from t2s.inference.postprocess import extract_sql
from t2s.models.loading import is_adapter_folder, load_tokenizer

log = logging.getLogger(__name__)

# The probe: a schema line and a question with a non-ASCII name, quotes, digits
# and a double space, the spots where two tokenizers of one vocabulary part first.
PROBE_SCHEMA = "CREATE TABLE singer (singer_id INT PRIMARY KEY, name TEXT, age INT)"
PROBE_QUESTION = "How many singers named 'Zoë  Ng' are older than 30?"
# Seconds of the start-up checks: listing models and tokenizing answer at once
# on an idle engine; 60 s leaves room for one that is still warming up.
CHECK_TIMEOUT_S = 60.0
# First retry after 0.5 s, then 1, 2, ... (infer.engine_retries = 3: 3.5 s in all).
BACKOFF_S = 0.5
# Characters of a server's error message kept in an error row.
MESSAGE_CHARS = 300


class EngineError(T2SError):
    """A request to the engine failed; ``retry`` says whether trying again may help."""

    def __init__(self, message: str, retry: bool = False, status: int | None = None,
                 unavailable: bool | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.status = status
        # Down, failing (5xx) or too slow: the engine, not the request, is at fault.
        self.unavailable = retry if unavailable is None else unavailable


class EngineClient:
    """JSON over HTTP to one OpenAI-compatible server, with retries (stdlib only).

    Args:
        endpoint: The server's base URL (a trailing ``/v1`` is dropped).
        api_key: Bearer token, or None.
        timeout_s: Seconds per request.
        retries: Further attempts after a connection error or a 5xx reply.
    """

    def __init__(self, endpoint: str, api_key: str | None, timeout_s: float, retries: int) -> None:
        endpoint = endpoint.rstrip("/")
        self.endpoint = endpoint[:-3] if endpoint.endswith("/v1") else endpoint
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.retries = retries

    def request(self, path: str, body: dict[str, Any] | None = None,
                timeout_s: float | None = None, retries: int | None = None,
                json_reply: bool = True) -> dict[str, Any]:
        """GET ``path`` (no body) or POST ``body`` as JSON; the reply's JSON.

        ``json_reply=False``: the reply is text (vLLM's LoRA routes answer
        ``Success: ...``), returned as ``{"text": ...}``.

        Raises:
            EngineError: once the retries are spent, or at once for a 4xx reply or a timeout.
        """
        retries = self.retries if retries is None else retries
        attempt = 0
        while True:
            try:
                return self._once(path, body, timeout_s or self.timeout_s, json_reply)
            except EngineError as exc:
                if not exc.retry or attempt >= retries:
                    raise
                delay = BACKOFF_S * 2 ** attempt
                attempt += 1
                log.debug("%s; retry %d of %d in %.1f s", exc, attempt, retries, delay)
                time.sleep(delay)

    def _once(self, path: str, body: dict[str, Any] | None, timeout_s: float,
              json_reply: bool = True) -> dict[str, Any]:
        url = self.endpoint + path
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers,
                                         method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as reply:
                text = reply.read().decode("utf-8")
            return json.loads(text) if json_reply else {"text": text}
        except urllib.error.HTTPError as exc:
            raise EngineError(f"{url} answered {exc.code}: {_server_message(exc)}",
                              retry=exc.code >= 500, status=exc.code) from None
        except TimeoutError:
            # Not retried: the request may still be running in the engine, and a
            # second copy would only add to the load that made it slow.
            raise EngineError(f"{url} did not answer within {timeout_s:g} s "
                              "(infer.engine_timeout_s)", unavailable=True) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise EngineError(f"{url} did not answer within {timeout_s:g} s "
                                  "(infer.engine_timeout_s)", unavailable=True) from None
            raise EngineError(f"cannot reach the engine at {url}: {reason}", retry=True) from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise EngineError(f"{url} answered something that is not JSON") from None


def _server_message(exc: urllib.error.HTTPError) -> str:
    """The message of an error reply (OpenAI's ``{"error": {"message"}}`` or vLLM's own)."""
    try:
        payload = json.loads(exc.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return exc.reason or "no message"
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    message = error.get("message", error) if isinstance(error, dict) else error
    return str(message)[:MESSAGE_CHARS]


def eos_ids_of(tokenizer: Any) -> list[int]:
    """Ids that end a completion: the tokenizer's EOS, and ``<|im_end|>`` for ChatML turns."""
    ids = {tokenizer.eos_token_id}
    if END_OF_TURN in (getattr(tokenizer, "chat_template", None) or ""):
        ids.add(tokenizer.convert_tokens_to_ids(END_OF_TURN))
    return sorted(i for i in ids if i is not None)


class OpenAIBackend:
    """Generation over an OpenAI-compatible ``/v1/completions``; the :class:`Backend` interface.

    Args:
        client: The HTTP client of the server.
        model: The server's name for the model (``infer.engine_model``).
        tokenizer: The adapter's tokenizer (with its chat template set up).
        decoding: Decoding settings.
        concurrency: Requests in flight at once.
    """

    def __init__(self, client: EngineClient, model: str, tokenizer: Any, decoding: Decoding,
                 concurrency: int = 8) -> None:
        self.client = client
        self.model = model
        self.tokenizer = tokenizer
        self.decoding = decoding
        self.concurrency = concurrency
        self.context_length: int | None = None
        self.eos_ids = eos_ids_of(tokenizer)
        # Set by connect(): whether the server takes vLLM's extra sampling fields.
        self.vllm = False

    @classmethod
    def from_config(cls, infer: InferConfig, model_config: ModelConfig | None = None,
                    data: DataConfig | None = None) -> OpenAIBackend:
        """The backend for ``infer.endpoint``, connected and checked (:meth:`connect`).

        Raises:
            T2SError: if the adapter folder or its tokenizer is missing, the API key's
                variable is unset, or a start-up check fails.
        """
        path = Path(infer.adapter_path)
        if not path.is_dir():
            raise T2SError(f"model folder {path} does not exist; set infer.adapter_path "
                           "(with infer.backend=openai t2s still needs its tokenizer)")
        api_key = None
        if infer.api_key_env:
            api_key = os.environ.get(infer.api_key_env)
            if not api_key:
                raise T2SError(f"infer.api_key_env names {infer.api_key_env}, which is not set")
        data = data or DataConfig()
        model_config = model_config or ModelConfig()
        tokenizer = load_tokenizer(_tokenizer_source(path),
                                   trust_remote_code=model_config.trust_remote_code)
        setup_chat_template(tokenizer, data.prompt_format, data.prompt, str(path))
        client = EngineClient(infer.endpoint, api_key, infer.engine_timeout_s, infer.engine_retries)
        backend = cls(client, infer.engine_model, tokenizer, infer.decoding, infer.engine_concurrency)
        backend.connect(build_prompt(PROBE_QUESTION, PROBE_SCHEMA, data.prompt_format, data.prompt))
        return backend

    # --------------------------------------------------------------- start-up

    def connect(self, probe: Prompt) -> None:
        """Check that the server serves :attr:`model` and tokenizes ``probe`` as t2s does.

        Raises:
            T2SError: if the server cannot be reached, does not serve the model, or
                tokenizes the probe differently.
        """
        try:
            models = self.client.request("/v1/models", timeout_s=CHECK_TIMEOUT_S, retries=0)
        except EngineError as exc:
            raise T2SError(f"infer.backend=openai: {exc} (is the engine running at "
                           f"infer.endpoint={self.client.endpoint}?)") from None
        served = {entry.get("id"): entry for entry in models.get("data", [])
                  if isinstance(entry, dict)}
        if self.model not in served:
            raise T2SError(f"the engine at {self.client.endpoint} does not serve "
                           f"infer.engine_model={self.model!r}; it serves: "
                           f"{', '.join(sorted(map(str, served))) or 'nothing'}")
        entry = served[self.model]
        # vLLM names the context on the base's entry; a LoRA's entry may have it too.
        context = entry.get("max_model_len") or next(
            (e.get("max_model_len") for e in served.values() if e.get("max_model_len")), None)
        self.context_length = int(context) if context else None
        self._check_tokenizer(probe)

    def _check_tokenizer(self, probe: Prompt) -> None:
        ids = self.encode(probe)
        text = self.render(probe)
        try:
            reply = self.client.request("/tokenize", {
                "model": self.model, "prompt": text,
                "add_special_tokens": _adds_special_tokens(probe)},
                timeout_s=CHECK_TIMEOUT_S, retries=0)
        except EngineError as exc:
            if exc.status not in (404, 405):
                raise T2SError(f"infer.backend=openai: the tokenizer check failed: {exc}") from None
            self._check_token_count(text, len(ids))
            return
        self.vllm = True
        theirs = [int(i) for i in reply.get("tokens", [])]
        if theirs != ids:
            raise T2SError(self._mismatch(ids, theirs))

    def _check_token_count(self, text: str, expected: int) -> None:
        """Without ``/tokenize``: the prompt-token count of a one-token completion."""
        log.warning("the engine at %s has no /tokenize; checking the probe's token count only",
                    self.client.endpoint)
        try:
            reply = self.client.request("/v1/completions", {
                "model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0},
                timeout_s=CHECK_TIMEOUT_S, retries=0)
        except EngineError as exc:
            raise T2SError(f"infer.backend=openai: the tokenizer check failed: {exc}") from None
        counted = (reply.get("usage") or {}).get("prompt_tokens")
        if counted != expected:
            raise T2SError(f"the engine at {self.client.endpoint} counts {counted} tokens in the "
                           f"probe prompt, t2s's tokenizer {expected}: serve the adapter's own base "
                           "model and tokenizer")

    def _mismatch(self, ours: list[int], theirs: list[int]) -> str:
        at = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
                  min(len(ours), len(theirs)))

        def show(ids: list[int]) -> str:
            return repr(self.tokenizer.decode(ids[at:at + 3])) if at < len(ids) else "(end)"

        return (f"the engine at {self.client.endpoint} tokenizes the probe prompt differently "
                f"from t2s's tokenizer of the adapter ({len(theirs)} vs {len(ours)} tokens; "
                f"first difference at token {at}: engine {theirs[at:at + 3]} {show(theirs)}, "
                f"t2s {ours[at:at + 3]} {show(ours)}): the model would not see the prompt it was "
                "trained on. Serve the adapter's own base model and tokenizer (vLLM --model BASE "
                "--tokenizer ADAPTER_DIR)")

    # ------------------------------------------------------------- interface

    def encode(self, prompt: Prompt) -> list[int]:
        """Token ids of ``prompt``, exactly as training tokenized the prompt."""
        return encode_prompt(self.tokenizer, prompt)

    def render(self, prompt: Prompt) -> str:
        """The prompt text sent to the server (chat messages rendered by the adapter's template)."""
        return render_prompt(self.tokenizer, prompt)

    def generate(self, prompts: Sequence[Prompt], num_candidates: int = 1,
                 on_batch: Callable[[int], None] | None = None) -> list[Generation]:
        """One :class:`Generation` per prompt, in order; a failed request sets its ``error``.

        Args:
            prompts: Rendered prompts or chat messages.
            num_candidates: Completions per prompt (greedy first, then samples,
                unless ``options.do_sample``: all sampled).
            on_batch: Called with 1 as each prompt finishes.
        """
        results: list[Generation] = [Generation(error="not generated")] * len(prompts)
        with ThreadPoolExecutor(max_workers=self.concurrency,
                                thread_name_prefix="t2s-engine") as pool:
            futures = {}
            for index, prompt in enumerate(prompts):
                # Tokenized and rendered on this thread: a tokenizer is not shared
                # across threads; the workers only wait on HTTP.
                ids = self.encode(prompt)
                try:
                    check_prompt_length(len(ids), self.decoding.max_new_tokens, self.context_length)
                except PromptTooLongError as exc:
                    results[index] = Generation(prompt_tokens=len(ids), error=str(exc))
                    if on_batch is not None:
                        on_batch(1)
                    continue
                future = pool.submit(self._one, self.render(prompt), _adds_special_tokens(prompt),
                                     len(ids), num_candidates)
                futures[future] = index
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if on_batch is not None:
                    on_batch(1)
        return results

    def _one(self, text: str, add_special: bool, prompt_tokens: int,
             num_candidates: int) -> Generation:
        sample = self.decoding.do_sample
        first_n = num_candidates if sample else 1
        started = time.perf_counter()
        try:
            top = self._complete(text, add_special, first_n, sample)
            extra = None
            if not sample and num_candidates > 1:
                extra = self._complete(text, add_special, num_candidates - 1, True)
        except EngineError as exc:
            return Generation(prompt_tokens=prompt_tokens, error=f"engine: {exc}",
                              retryable=exc.unavailable)
        latency = time.perf_counter() - started
        usage = top.get("usage") or {}
        counted = usage.get("prompt_tokens")
        if counted is not None and counted != prompt_tokens:
            return Generation(prompt_tokens=prompt_tokens, error=(
                f"engine: the server counted {counted} prompt tokens, t2s {prompt_tokens} "
                "(its tokenizer differs on this prompt)"))
        texts = _choice_texts(top) + (_choice_texts(extra) if extra is not None else [])
        if not texts:
            return Generation(prompt_tokens=prompt_tokens, error="engine: the reply has no choices")
        # usage counts all n completions of a request; only one alone is the top's count.
        completion_tokens = int(usage.get("completion_tokens") or 0) if first_n == 1 else 0
        return Generation(sql=extract_sql(texts[0]), completion=texts[0],
                          candidates=tuple(extract_sql(t) for t in texts), prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, latency_s=latency, batch_size=1)

    def _complete(self, text: str, add_special: bool, n: int, sample: bool) -> dict[str, Any]:
        options = self.decoding
        body: dict[str, Any] = {
            "model": self.model, "prompt": text, "n": n, "max_tokens": options.max_new_tokens,
            # temperature 0 is greedy decoding on OpenAI-compatible servers.
            "temperature": options.temperature if sample else 0.0,
            "top_p": options.top_p if sample else 1.0,
        }
        if sample:
            body["seed"] = options.seed
        if self.vllm:
            # vLLM's own fields: tokenize as t2s does (the probe checked this setting),
            # stop where t2s's HF backend stops.
            body.update(add_special_tokens=add_special, stop_token_ids=self.eos_ids,
                        ignore_eos=not options.stop_at_eos, skip_special_tokens=True)
        return self.client.request("/v1/completions", body)


def _tokenizer_source(path: Path) -> str:
    """The folder of the adapter's tokenizer: its own, else its base model's."""
    if (path / "tokenizer_config.json").is_file() or not is_adapter_folder(path):
        return str(path)
    adapter = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
    base = adapter.get("base_model_name_or_path")
    if not base:
        raise T2SError(f"{path}/adapter_config.json names no base model and the folder has no "
                       "tokenizer")
    return str(base)


def _adds_special_tokens(prompt: Prompt) -> bool:
    """Whether t2s's tokenization of ``prompt`` adds special tokens (BOS ...) itself.

    A string goes through ``tokenizer(text)``, which adds them; a chat template
    writes its special tokens into the text, so rendering then tokenizing adds none.
    """
    return not isinstance(prompt, list)


def _choice_texts(reply: dict[str, Any]) -> list[str]:
    choices = sorted((c for c in reply.get("choices", []) if isinstance(c, dict)),
                     key=lambda c: c.get("index", 0))
    return [str(c.get("text", "")) for c in choices]
