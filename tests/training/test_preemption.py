"""Save and stop on SIGUSR2 (Slurm's time-limit warning), without Slurm.

The signal is sent by a callback at a chosen step, not by a timer: the run
must save at the *next* optimizer step, mark that checkpoint complete, stop
without a final model, and resume from it with no step done twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from t2s.training.preemption import STOP_SIGNAL, STOPPED_EXIT_CODE, TrainingStopped
from t2s.training.runs import COMPLETE_MARKER, verify_checkpoint
from t2s.training.train import finalize, fit, setup

ROOT = Path(__file__).resolve().parents[2]


def signal_at(step: int):
    """A callback that sends the stop signal to this process at the end of ``step``."""
    from transformers import TrainerCallback

    class SignalAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                os.kill(os.getpid(), STOP_SIGNAL)
            return control

    return SignalAt()


def loss_steps(history: list[dict]) -> list[int]:
    return [h["step"] for h in history if "loss" in h]


def test_signal_saves_at_the_next_step_then_resume_continues(make_config, tmp_path):
    out = tmp_path / "run"
    # save_steps=100: the only checkpoint before the end is the signal's.
    overrides = ("train.max_steps=6", "train.save_steps=100", "train.logging_steps=1",
                 "data.eval_file=null", "train.load_best_model_at_end=false")
    run = setup(make_config(*overrides, output_dir=out))
    run.trainer.add_callback(signal_at(2))  # after ours: ours sees the flag one step later
    with pytest.raises(TrainingStopped, match="checkpoint-3") as stopped:
        try:
            fit(run)
        finally:
            run.release()
    assert stopped.value.step == 3
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-3"]
    assert json.loads((out / "checkpoint-3" / COMPLETE_MARKER).read_text())["step"] == 3
    assert verify_checkpoint(out / "checkpoint-3") is None
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and loss_steps(state["log_history"]) == [1, 2, 3]
    assert not (out / "final_model").exists()
    assert signal.getsignal(STOP_SIGNAL) is not None  # handler put back

    run = setup(make_config(*overrides, output_dir=out))
    assert run.resume_from == str(out / "checkpoint-3")
    try:
        result = finalize(run, fit(run))
    finally:
        run.release()
    assert result.global_step == 6
    history = json.loads((out / "run_info.json").read_text())["log_history"]
    assert loss_steps(history) == [1, 2, 3, 4, 5, 6]  # continuous, no step twice
    assert (out / "final_model" / "adapter_model.safetensors").is_file()


def test_signal_before_the_first_step_saves_step_one(make_config, tmp_path):
    # A warning that arrives while the model loads is kept, not lost.
    out = tmp_path / "run"
    run = setup(make_config("train.max_steps=4", "train.save_steps=100", "data.eval_file=null",
                            "train.load_best_model_at_end=false", output_dir=out))
    os.kill(os.getpid(), STOP_SIGNAL)
    with pytest.raises(TrainingStopped, match="checkpoint-1"):
        try:
            fit(run)
        finally:
            run.release()
    assert (out / "checkpoint-1" / COMPLETE_MARKER).is_file()


@pytest.mark.slow
def test_t2s_train_exits_75_on_sigusr2(make_config, tmp_path, sample_dir, tiny_base_dir,
                                       tiny_overrides):
    """The command line: SIGUSR2 to ``t2s train`` saves, prints how to go on, exits 75.

    The signal is sent once the child has printed its first step's log line;
    whichever step it lands in, the saved checkpoint is the last step trained.
    """
    make_config()  # builds the shared tiny base once, so the child reuses it
    out = tmp_path / "run"
    command = [sys.executable, "-m", "t2s.cli", "train", "--config",
               str(ROOT / "configs" / "tiny.yaml"), f"data.root={sample_dir}",
               f"model.tiny.base_dir={tiny_base_dir}", f"train.output_dir={out}",
               "train.report_to=[]", "train.max_seq_length=512", "train.max_steps=500",
               "train.save_steps=1000", "train.logging_steps=1", "data.eval_file=null",
               "train.load_best_model_at_end=false", *tiny_overrides]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    for line in child.stdout:  # blocks on the child's output: no clock involved
        lines.append(line)
        if "'loss'" in line:
            child.send_signal(STOP_SIGNAL)
            break
    lines.extend(child.stdout)
    assert child.wait(timeout=300) == STOPPED_EXIT_CODE, "".join(lines[-30:])
    saved = [p for p in out.glob("checkpoint-*") if (p / COMPLETE_MARKER).is_file()]
    assert len(saved) == 1, "".join(lines[-30:])
    step = int(saved[0].name.split("-")[1])
    assert 1 <= step < 500
    assert f"stopped on SIGUSR2 after saving checkpoint-{step}" in "".join(lines)
    assert not (out / "final_model").exists()


def _agree_in_group(rank: int, init_file: str, out_dir: str) -> None:
    """Rank ``rank`` of a 2-process gloo group: only rank 1 was signalled."""
    import torch.distributed as dist

    from t2s.training.preemption import agreed_stop

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        answers = [agreed_stop(rank == 1, "cpu"), agreed_stop(False, "cpu")]
    finally:
        dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(answers))


def test_ranks_agree_to_stop_when_one_was_signalled(tmp_path):
    # The save is a collective: a rank that stopped alone would hang the others.
    import torch.multiprocessing as mp

    mp.spawn(_agree_in_group, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2)
    answers = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert answers == [[True, False], [True, False]]
