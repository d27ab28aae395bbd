"""Micro-batching: concurrent requests gathered into one batched ``generate`` call.

Requests wait in an asyncio queue. The batching loop takes the first one, then
keeps taking more until it holds ``max_batch_size`` or ``max_wait_s`` has
passed since the first, and hands the batch to one worker thread (the event
loop keeps accepting requests meanwhile). While a batch generates, new requests
queue up, so under load the next batch fills without waiting at all.

One worker thread runs every generation, one batch at a time: the model is not
shared between threads, and setting a backend's decoding options for a batch
cannot race another batch. A batch holds jobs of one ``max_new_tokens`` and one
:attr:`~t2s.serve.adapters.Adapter.mix_key`: adapters on one shared base
(:mod:`t2s.inference.shared_base`) mix in one ``generate`` call, each row naming
its own LoRA through peft's ``adapter_names``, because peft supports that for
``generate`` (0.21: the base layers run once for the batch, each adapter's
delta only on its rows), so four adapters at one request each cost one batch of
four, not four batches of one. Other backends (an own model per adapter, an
engine) get one adapter per batch; mixed arrivals are split into such groups.

Batched greedy decoding gives the same SQL as one request at a time:
:class:`~t2s.inference.generate.SQLGenerator` left-pads and masks, so a padded
prompt sees the positions it would see alone (``tests/serve/test_serve.py`` checks it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from t2s.inference.generate import Generation, Prompt

log = logging.getLogger(__name__)


class QueueFullError(Exception):
    """More requests are waiting than ``max_queue``."""


@dataclass
class Job:
    """One prompt waiting for generation.

    Attributes:
        adapter: The :class:`~t2s.serve.adapters.Adapter` to generate with (held
            by reference, so unloading it does not strand this job).
        prompt: The training-format prompt.
        question: The question text (its token count goes to the request log).
        max_new_tokens: Decoding limit of this request.
        future: Set with ``(Generation, question_tokens)`` or an exception.
    """

    adapter: Any
    prompt: Prompt
    question: str
    max_new_tokens: int
    future: asyncio.Future = field(repr=False)
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class BatchReport:
    """What one batch did, for metrics."""

    size: int
    seconds: float
    queue_wait_s: float
    # Generated tokens and rows per adapter name (a mixed batch has several).
    tokens_by_adapter: dict[str, int]
    rows_by_adapter: dict[str, int]


class MicroBatcher:
    """Gathers jobs into batches and runs them on one worker thread.

    Args:
        max_batch_size: Jobs per ``generate`` call at most (1: one at a time).
        max_wait_s: How long the first job of a batch waits for more.
        max_queue: Jobs waiting at most; :meth:`submit` refuses beyond.
        on_batch: Called (on the event loop) after each batch, for metrics.
        before_generate: Called on the worker thread before each ``generate``
            with the batch's jobs; tests use it to hold a batch "in flight".
    """

    def __init__(self, max_batch_size: int, max_wait_s: float, max_queue: int,
                 on_batch: Callable[[BatchReport], None] | None = None,
                 before_generate: Callable[[Sequence[Job]], None] | None = None) -> None:
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.before_generate = before_generate
        self._queue: asyncio.Queue[Job | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="t2s-generate")
        self._task: asyncio.Task | None = None

    @property
    def depth(self) -> int:
        """Jobs waiting (not yet in a batch)."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="t2s-batcher")

    async def stop(self) -> None:
        """Finish every queued job, then stop the loop and the worker thread."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        self._executor.shutdown(wait=True)

    async def submit(self, adapter: Any, prompt: Prompt, question: str,
                     max_new_tokens: int) -> tuple[Generation, int]:
        """Queue one prompt and wait for its generation and question token count.

        Raises:
            QueueFullError: if ``max_queue`` jobs are already waiting.
            Exception: whatever the backend raised for this batch.
        """
        if self._queue.qsize() >= self.max_queue:
            raise QueueFullError(f"{self._queue.qsize()} requests are waiting (serve.max_queue)")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(Job(adapter, prompt, question, max_new_tokens, future))
        return await future

    async def run_on_worker(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` on the generation thread, between batches (warm-up)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            deadline = loop.time() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                remaining = deadline - loop.time()
                try:
                    job = (self._queue.get_nowait() if remaining <= 0
                           else await asyncio.wait_for(self._queue.get(), remaining))
                except (asyncio.QueueEmpty, TimeoutError):
                    break
                if job is None:
                    stopping = True  # finish this batch first, then stop
                    break
                batch.append(job)
            for group in _groups(batch):
                await self._run(group)
        # Whatever arrived after the stop marker still gets its answer.
        leftovers = []
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None:
                leftovers.append(job)
        for group in _groups(leftovers):
            await self._run(group)

    async def _run(self, jobs: list[Job]) -> None:
        started = time.perf_counter()
        wait = max(started - j.enqueued for j in jobs)
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._generate, jobs)
        except Exception as exc:  # one failing batch fails its own requests only
            log.exception("generation failed for a batch of %d", len(jobs))
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        for job, result in zip(jobs, results, strict=True):
            if not job.future.done():  # the client may have gone away
                job.future.set_result(result)
        if self.on_batch is not None:
            tokens: dict[str, int] = {}
            rows: dict[str, int] = {}
            for job, (generation, _) in zip(jobs, results, strict=True):
                name = job.adapter.name
                tokens[name] = tokens.get(name, 0) + generation.completion_tokens
                rows[name] = rows.get(name, 0) + 1
            self.on_batch(BatchReport(size=len(jobs), seconds=time.perf_counter() - started,
                                      queue_wait_s=wait, tokens_by_adapter=tokens,
                                      rows_by_adapter=rows))

    def _generate(self, jobs: list[Job]) -> list[tuple[Generation, int]]:
        """On the worker thread: one ``generate`` call for the whole group."""
        if self.before_generate is not None:
            self.before_generate(jobs)
        backends = [job.adapter.predictor.backend for job in jobs]
        backend = backends[0]
        backend.decoding = dataclasses.replace(
            jobs[0].adapter.options, max_new_tokens=jobs[0].max_new_tokens,
            batch_size=len(jobs))
        if getattr(backend, "adapter_name", None):
            # A shared base: each prompt tokenized by its own adapter's tokenizer
            # (its chat template), all generated in one call, each row on its LoRA.
            generations = backend.generate_ids(
                [b.encode(job.prompt) for b, job in zip(backends, jobs, strict=True)],
                adapter_names=[b.adapter_name for b in backends])
        else:
            generations = backend.generate([job.prompt for job in jobs])
        # Tokenizers are not shared across threads, so the log's question
        # length is counted here, on the thread that owns the tokenizer.
        return [(generation, len(b.encode(job.question)))
                for b, job, generation in zip(backends, jobs, generations, strict=True)]


def _groups(jobs: list[Job]) -> list[list[Job]]:
    """Split jobs into runs of one mix key and one ``max_new_tokens``, in arrival order."""
    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.adapter.mix_key, job.max_new_tokens), []).append(job)
    return list(groups.values())
