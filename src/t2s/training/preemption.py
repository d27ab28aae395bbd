"""Save and stop on a signal: Slurm's time-limit/preemption warning, or a plain SIGUSR2.

Slurm sends SIGUSR2 ``slurm.signal_delay_s`` seconds before the time limit
(``--signal=USR2@N``) to every process of the job. A training process turns it
into a *stop request*; at the end of the next optimizer step the Trainer logs,
saves a checkpoint (marked complete like every other) and leaves the loop, and
:func:`raise_if_stopped` ends the run with :class:`TrainingStopped` instead of
writing ``final_model/``. The requeued job resumes from that checkpoint
(``train.resume=auto``), so no step is lost and none is done twice.

Under several processes (DDP, ZeRO-3) a signal can reach the ranks a step
apart, and the checkpoint save is a collective: every rank must stop at the
same step. Each step therefore all-reduces the flag (max over ranks; one int
per optimizer step, nothing beside a forward and backward pass).

Outside Slurm the same works by hand: ``kill -USR2 <pid of t2s train>`` (for an
``accelerate launch``, signal the worker processes) saves and stops; run the
same command again to continue.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNAL = signal.SIGUSR2
# EX_TEMPFAIL from sysexits.h: "try again later" -- the run can be resumed.
STOPPED_EXIT_CODE = 75


class TrainingStopped(Exception):  # noqa: N818 - an outcome, not an error
    """Training saved a checkpoint and stopped on a signal; resuming continues it."""

    def __init__(self, step: int, checkpoint: str) -> None:
        super().__init__(f"stopped on {STOP_SIGNAL.name} after saving {checkpoint} "
                         f"(step {step}); run again with train.resume=auto to continue")
        self.step = step
        self.checkpoint = checkpoint


class StopRequest:
    """A process-wide flag set by the stop signal's handler.

    Signal handlers are process-wide and run in the main thread only, so there
    is one request per process; :meth:`listen` installs the handler (a no-op
    when called outside the main thread, e.g. in a notebook worker thread).
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._listening = False

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True  # only set a flag: the handler may interrupt anything

    def listen(self) -> bool:
        """Install the handler (clearing any earlier request); returns whether it is installed."""
        if threading.current_thread() is not threading.main_thread():
            log.warning("not in the main thread: %s will not save and stop training",
                        STOP_SIGNAL.name)
            return False
        if not self._listening:
            self.requested = False
            self._previous = signal.signal(STOP_SIGNAL, self._handle)
            self._listening = True
        return True

    def restore(self) -> None:
        """Put the previous handler back (SIG_IGN under ``t2s submit``: see launch/job.py)."""
        if self._listening:
            signal.signal(STOP_SIGNAL, self._previous)
            self._listening = False


REQUEST = StopRequest()


def agreed_stop(requested: bool, device: Any) -> bool:
    """Whether any rank of the process group asked to stop (the local flag alone without one).

    Every rank must call this at the same point of every step: it is a collective.
    """
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return requested
    flag = torch.tensor([int(requested)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def save_and_stop_callback(request: StopRequest = REQUEST) -> Any:
    """A ``TrainerCallback`` that saves a checkpoint and stops after a stop request.

    It listens from its construction (the Trainer is built before the first
    step) to the end of training. ``stopped_at`` is the step it stopped at.
    """
    from transformers import TrainerCallback

    class SaveAndStopOnSignal(TrainerCallback):
        def __init__(self) -> None:
            self.request = request
            self.stopped_at: int | None = None
            request.listen()

        def on_train_begin(self, args, state, control, **kwargs):
            request.listen()  # a no-op unless train() runs twice with one Trainer
            return control

        def on_step_end(self, args, state, control, **kwargs):
            if agreed_stop(request.requested, args.device):
                # Runs after the default flow callback: our should_save wins.
                # Logging now keeps the loss of the steps since the last log.
                control.should_log = control.should_save = True
                control.should_training_stop = True
                self.stopped_at = state.global_step
                log.warning("%s received: saving checkpoint-%d and stopping",
                            STOP_SIGNAL.name, state.global_step)
            return control

        def on_train_end(self, args, state, control, **kwargs):
            request.restore()
            return control

    return SaveAndStopOnSignal()


def raise_if_stopped(trainer: Any) -> None:
    """End the run with :class:`TrainingStopped` if a stop request cut training short.

    Waits for every rank first: rank 0 writes the checkpoint and its completion
    marker, and a launcher that sees one rank exit kills the others.

    Raises:
        TrainingStopped: naming the checkpoint that was saved.
    """
    callback = next((c for c in trainer.callback_handler.callbacks
                     if type(c).__name__ == "SaveAndStopOnSignal"), None)
    if callback is None or callback.stopped_at is None:
        return
    trainer.accelerator.wait_for_everyone()
    callback.request.requested = False
    raise TrainingStopped(callback.stopped_at, f"checkpoint-{callback.stopped_at}")
