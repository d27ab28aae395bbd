"""``t2s submit`` on the real local Slurm (scripts/slurm-local/): training, cancel, dependencies, 2 nodes.

Needs ``scripts/slurm-local/install.sh && scripts/slurm-local/start.sh`` (as
root); skips otherwise. (Time limits and requeue: tests/launch/test_slurm_preemption.py.)
Every job trains the tiny preset on the embedded sample
data, shrunk so a step takes about a second on 2 CPU cores::

    PYTHONPATH=src .venv/bin/python -m pytest tests/launch/test_launch_slurm.py -q
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import pytest

from conftest import (
    only_job_dir,
    submit_cli,
    train_overrides,
    wait_state,
)

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[2]


def test_submitted_training_finishes_and_its_adapter_loads(trained):
    from t2s.models.loading import load_trained

    work, code, output, _ = trained
    assert code == 0, output
    job_dir = only_job_dir(work)
    record = json.loads((job_dir / "job.json").read_text())
    assert record["stage"] == "train" and len(record["job_ids"]) == 1
    assert record["state"] == "COMPLETED"
    # submitit returns once the result file exists; accounting records the
    # job's end a moment later, when the batch step has exited.
    assert wait_state(record["job_ids"][0], lambda s: s not in {"RUNNING", ""}) == "COMPLETED"
    model, tokenizer = load_trained(work / "run" / "final_model")
    lora = [n for n, _ in model.named_parameters() if "lora_" in n]
    assert lora, "final_model has no LoRA weights"
    ids = tokenizer("SELECT", return_tensors="pt")["input_ids"]
    logits = model(input_ids=ids).logits
    assert math.isfinite(float(logits.float().abs().sum()))
    # The job's own log shows the exact command, run from the frozen config.
    log = (job_dir / f"{record['job_ids'][0]}_0_log.out").read_text()
    assert f"--config {job_dir}/config.yaml" in log
    listing = subprocess.run([__import__("sys").executable, "-m", "t2s.cli", "jobs",
                              "--jobs-dir", str(work / "jobs")], capture_output=True, text=True,
                             check=True).stdout
    assert "COMPLETED" in listing and record["job_ids"][0] in listing


def test_cancelled_submission_is_reported_cancelled(cluster, prebuilt_base, sample_dir,  # noqa: F811
                                                    tmp_path):
    code, output = submit_cli(tmp_path, "train", *train_overrides(
        sample_dir, prebuilt_base, tmp_path, "train.max_steps=1000"))
    assert code == 0, output
    job_dir = only_job_dir(tmp_path)
    job_id = json.loads((job_dir / "job.json").read_text())["job_ids"][0]
    wait_state(job_id, lambda s: s == "RUNNING")
    subprocess.run(["scancel", job_id], check=True)
    wait_state(job_id, lambda s: s not in {"RUNNING", "PENDING", ""})
    listing = subprocess.run([__import__("sys").executable, "-m", "t2s.cli", "jobs",
                              "--jobs-dir", str(tmp_path / "jobs")], capture_output=True,
                             text=True, check=True, timeout=60).stdout
    assert "CANCELLED" in listing, listing


def test_then_evaluate_waits_for_training_with_afterok(cluster, prebuilt_base, sample_dir,  # noqa: F811
                                                       tmp_path):
    code, output = submit_cli(tmp_path, "train", "--then-evaluate", *train_overrides(
        sample_dir, prebuilt_base, tmp_path, "train.max_steps=1000"))
    assert code == 0, output
    records = {r["stage"]: r for r in (json.loads((d / "job.json").read_text())
                                       for d in sorted((tmp_path / "jobs").iterdir()))}
    train_id, eval_id = records["train"]["job_ids"][0], records["evaluate"]["job_ids"][0]
    try:
        assert records["evaluate"]["dependency"] == f"afterok:{train_id}"
        shown = subprocess.run(["scontrol", "show", "job", eval_id], capture_output=True,
                               text=True, check=True).stdout
        assert re.search(rf"Dependency=afterok:{train_id}\b", shown), shown
        assert "JobState=PENDING" in shown and "Reason=Dependency" in shown
    finally:
        subprocess.run(["scancel", train_id, eval_id], check=False)
    # Training cancelled: afterok can never be met, so evaluation never runs.
    assert wait_state(train_id, lambda s: s not in {"RUNNING", "PENDING", ""}) == "CANCELLED"
    assert wait_state(eval_id, lambda s: s not in {"RUNNING", "PENDING", ""}) == "CANCELLED"


def test_two_node_ddp_training_on_emulated_nodes(cluster, prebuilt_base, sample_dir,  # noqa: F811
                                                 tmp_path):
    if len(cluster) < 2:
        pytest.skip("needs 2 nodes: scripts/slurm-local/start.sh with T2S_SLURM_NODES=2")
    # cpu_ddp.yaml: DDP over gloo with use_cpu; one process on each node.
    code, output = submit_cli(tmp_path, "train", "--wait", *train_overrides(
        sample_dir, prebuilt_base, tmp_path, "train.max_steps=2", "train.save_steps=2",
        "train.eval_steps=2", "slurm.nodes=2", "slurm.accelerate_config=accelerate_configs/cpu_ddp.yaml"))
    assert code == 0, output
    job_dir = only_job_dir(tmp_path)
    job_id = json.loads((job_dir / "job.json").read_text())["job_ids"][0]
    logs = {rank: (job_dir / f"{job_id}_{rank}_log.out").read_text() for rank in (0, 1)}
    for rank, text in logs.items():
        assert f"--machine_rank {rank}" in text, text[-2000:]
        assert "--num_machines 2" in text and "--num_processes 2" in text
    nodes = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "NNodes", "-j", job_id],
                           capture_output=True, text=True, check=True).stdout.split()
    assert nodes == ["2"]
    assert (tmp_path / "run" / "final_model" / "adapter_model.safetensors").is_file()


def test_inference_array_writes_one_file_per_shard(trained, sample_dir, tmp_path):
    work, code, output, _ = trained
    assert code == 0, output
    questions = json.loads((sample_dir / "dev.json").read_text())[:4]
    (tmp_path / "q.json").write_text(json.dumps(questions))
    answers = tmp_path / "answers.jsonl"
    code, output = submit_cli(
        tmp_path, "infer", "--shards", "2", "--wait",
        "--args", f"--input {tmp_path / 'q.json'} --output {answers} --no-progress",
        f"data.root={sample_dir}", f"infer.adapter_path={work / 'run' / 'final_model'}",
        "infer.max_new_tokens=16", "infer.batch_size=2", f"slurm.jobs_dir={tmp_path / 'jobs'}",
        "slurm.cpus_per_task=1", "slurm.mem_gb=2", "slurm.time_min=10")
    assert code == 0, output
    record = json.loads((only_job_dir(tmp_path) / "job.json").read_text())
    ids = record["job_ids"]
    assert len(ids) == 2 and ids[0].endswith("_0") and ids[1].endswith("_1"), ids
    assert ids[0].split("_")[0] == ids[1].split("_")[0]  # one array, two tasks
    shards = [tmp_path / f"answers.shard-{i:05d}-of-00002.jsonl" for i in range(2)]
    rows = [[json.loads(line) for line in p.read_text().splitlines()] for p in shards]
    assert [len(r) for r in rows] == [2, 2]
    written = sorted(str(row["id"]) for shard in rows for row in shard)
    assert len(set(written)) == 4, written  # disjoint shards covering every question
