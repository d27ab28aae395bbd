"""Every accelerate config parses with accelerate's own loader and says how to launch it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "accelerate_configs").glob("*.yaml"))


def test_one_file_per_topology():
    names = {p.stem for p in CONFIGS}
    assert {"single_gpu", "ddp", "cpu_ddp", "zero3", "fsdp", "multi_node"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_parses_with_accelerate_and_documents_launch_line(path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))
    assert config.distributed_type is not None
    header = path.read_text().split("\ncompute_environment")[0]
    assert "accelerate launch" in header and "jobs/train.py" in header


def test_zero3_gathers_16bit_weights_on_save():
    """Without this a LoRA adapter saved under ZeRO-3 is empty (trl #4416, peft #2892)."""
    config = yaml.safe_load((ROOT / "accelerate_configs" / "zero3.yaml").read_text())
    ds_file = ROOT / config["deepspeed_config"]["deepspeed_config_file"]
    ds = json.loads(ds_file.read_text())
    assert ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_cpu_ddp_uses_cpu_mode():
    config = yaml.safe_load((ROOT / "accelerate_configs" / "cpu_ddp.yaml").read_text())
    assert config["use_cpu"] is True and config["distributed_type"] == "MULTI_GPU"


def test_job_refuses_fsdp_on_cpu_zero3_with_use_cpu_and_single_process_zero3(monkeypatch):
    from t2s.errors import T2SError
    from t2s.training.train import _check_launch_topology

    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(T2SError, match="FSDP needs CUDA GPUs"):
        _check_launch_topology(cuda=False)
    monkeypatch.delenv("ACCELERATE_USE_FSDP")
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("WORLD_SIZE", "2")
    _check_launch_topology(cuda=False)  # ZeRO-3 over gloo on CPU
    _check_launch_topology(cuda=True)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "true")
    with pytest.raises(T2SError, match="cannot run with ACCELERATE_USE_CPU=true"):
        _check_launch_topology(cuda=False)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "False")  # what accelerate launch sets
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(T2SError, match="ZeRO-3 was launched with one process"):
        _check_launch_topology(cuda=True)


def test_job_refuses_processes_that_would_train_alone(monkeypatch):
    """Measured: without use_cpu, 2 launched CPU processes each see a world of 1."""
    from t2s.errors import T2SError
    from t2s.training.train import _check_world_size

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(T2SError, match="each would train alone"):
        _check_world_size(1)
    _check_world_size(2)
    monkeypatch.setenv("WORLD_SIZE", "1")
    _check_world_size(1)
