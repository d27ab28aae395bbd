"""Multi-process training on CPU through accelerate: DDP over gloo and ZeRO-3.

ZeRO-3 does not run on CPU with this stack (see ``t2s.train._check_launch_topology``):
its run is a GPU test, and on CPU the job must refuse it clearly. Each run must produce a loadable, non-empty adapter and take the same number of
optimizer steps as a single process with the same global batch:
48 examples / (2 processes x 4 per device x 1 accumulation) = 6 steps, and
48 / (1 process x 8 per device) = 6 steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = Path(sys.executable).with_name("accelerate")


def _overrides(sample_dir, tiny_base_dir, tiny_overrides, out, per_device):
    return [f"data.root={sample_dir}", f"model.tiny.base_dir={tiny_base_dir}",
            f"train.output_dir={out}", "train.report_to=[]", "train.max_seq_length=512",
            "data.max_train_examples=48", "data.max_eval_examples=16", "train.num_train_epochs=1",
            f"train.per_device_train_batch_size={per_device}", "train.gradient_accumulation_steps=1",
            "train.eval_steps=3", "train.save_steps=3", "train.logging_steps=1",
            "train.learning_rate=0.01", *tiny_overrides]


def _launch(args, extra_env=None, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           **(extra_env or {})}
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def _final_step(out: Path) -> int:
    info = json.loads((out / "run_info.json").read_text())
    return info["result"]["global_step"]


def _assert_adapter_loads_and_is_trained(final: Path):
    from t2s.model import load_trained

    model, tokenizer = load_trained(final)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.numel() > 0 for p in lora_b)
    assert any(p.abs().sum() > 0 for p in lora_b), "adapter weights are all zero (empty save?)"
    with torch.no_grad():
        logits = model(**tokenizer(["[INST] q [/INST]"], return_tensors="pt")).logits
    assert torch.isfinite(logits).all()


@pytest.fixture(scope="module")
def single_process_steps(sample_dir, tiny_base_dir, tiny_overrides, tmp_path_factory):
    from t2s.config import load_config
    from t2s.train import train

    out = tmp_path_factory.mktemp("single")
    config = load_config(ROOT / "configs" / "tiny.yaml",
                         _overrides(sample_dir, tiny_base_dir, tiny_overrides, out, per_device=8))
    return train(config).global_step


@pytest.mark.slow
def test_ddp_two_cpu_processes(single_process_steps, sample_dir, tiny_base_dir, tiny_overrides, tmp_path):
    out = tmp_path / "ddp"
    # Plain --multi_gpu, no ACCELERATE_USE_CPU: t2s's use_cpu still makes it one world.
    _launch([str(ACCELERATE), "launch", "--multi_gpu",
             "--num_processes", "2", "jobs/train.py", "--config", "configs/tiny.yaml",
             *_overrides(sample_dir, tiny_base_dir, tiny_overrides, out, per_device=4)])
    assert single_process_steps == 6
    assert _final_step(out) == single_process_steps
    _assert_adapter_loads_and_is_trained(out / "final_model")


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="ZeRO-3 runs need 2 CUDA GPUs")
def test_zero3_two_processes(single_process_steps, sample_dir, tiny_base_dir, tiny_overrides, tmp_path):
    pytest.importorskip("deepspeed")
    out = tmp_path / "zero3"
    # The first ZeRO-3 run compiles a DeepSpeed CPU op (~40 s); cache it across runs.
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "t2s" / "torch_extensions"
    _launch([str(ACCELERATE), "launch", "--config_file", "accelerate_configs/zero3.yaml",
             "--num_processes", "2", "jobs/train.py", "--config", "configs/tiny.yaml",
             *_overrides(sample_dir, tiny_base_dir, tiny_overrides, out, per_device=4)],
            extra_env={"TORCH_EXTENSIONS_DIR": str(cache)})
    assert _final_step(out) == single_process_steps
    _assert_adapter_loads_and_is_trained(out / "final_model")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_zero3_on_cpu_is_refused_clearly(sample_dir, tiny_base_dir, tiny_overrides, tmp_path):
    pytest.importorskip("deepspeed")
    proc = subprocess.run(
        [str(ACCELERATE), "launch", "--config_file", "accelerate_configs/zero3.yaml",
         "--num_processes", "2", "jobs/train.py", "--config", "configs/tiny.yaml",
         *_overrides(sample_dir, tiny_base_dir, tiny_overrides, tmp_path / "z3", per_device=4)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"})
    assert proc.returncode != 0
    assert "ZeRO-3 needs CUDA GPUs with this stack" in proc.stderr
