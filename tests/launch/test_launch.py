"""t2s.launch without a cluster: launch lines, submit parameters, job folders, sbatch golden.

The same code on the real local Slurm is in tests/launch/test_launch_slurm.py.
Regenerate the golden sbatch script after an intended change with
``T2S_UPDATE_GOLDEN=1 pytest tests/launch/test_launch.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from t2s.config import load_config
from t2s.errors import ConfigError, T2SError
from t2s.launch.job import CommandFailed, CommandJob
from t2s.launch.registry import format_table, list_submissions, summarize_states
from t2s.launch.spec import (
    BASE_PORT,
    DEFAULT_PORT,
    LaunchSpec,
    check_spec,
    entry_point,
    node_argv,
    rendezvous_port,
)
from t2s.launch.submit import (
    executor_parameters,
    new_job_dir,
    parse_additional_sbatch,
    repository_jobs_dir,
    submit,
    wait,
)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
SLURM_ENV = {"SLURM_JOB_ID": "4242", "SLURM_NODEID": "1", "SLURM_JOB_NODELIST": "gpu-[07-08]"}


def spec(**changes) -> LaunchSpec:
    base = {"stage": "train", "entry": ("/repo/jobs/train.py",), "config_path": "/jobs/j1/config.yaml",
            "workdir": "/work", "python": "/venv/bin/python"}
    return LaunchSpec(**{**base, **changes})


def no_lookup(nodelist: str) -> str:
    raise AssertionError(f"single-node launch must not resolve {nodelist}")


# --- launch lines ----------------------------------------------------------------


def test_single_process_train_is_plain_python():
    assert node_argv(spec(), {}, no_lookup) == [
        "/venv/bin/python", "/repo/jobs/train.py", "--config", "/jobs/j1/config.yaml"]


def test_single_node_accelerate_counts_gpus():
    argv = node_argv(spec(accelerate_config="accelerate_configs/ddp.yaml", processes_per_node=8),
                     {}, no_lookup)
    assert argv[:7] == ["/venv/bin/python", "-m", "accelerate.commands.launch", "--config_file",
                        "accelerate_configs/ddp.yaml", "--num_processes", "8"]
    assert "--machine_rank" not in argv
    assert argv[7:] == ["/repo/jobs/train.py", "--config", "/jobs/j1/config.yaml"]


def test_multi_node_line_comes_from_slurm_environment():
    seen = []

    def lookup(nodelist: str) -> str:
        seen.append(nodelist)
        return "10.0.0.7"

    argv = node_argv(spec(accelerate_config="accelerate_configs/multi_node.yaml", nodes=2,
                          processes_per_node=8), SLURM_ENV, lookup)
    assert seen == ["gpu-[07-08]"]
    flags = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert flags["--num_processes"] == "16"  # 2 nodes x 8 GPUs
    assert flags["--num_machines"] == "2"
    assert flags["--machine_rank"] == "1"
    assert flags["--main_process_ip"] == "10.0.0.7"
    assert flags["--main_process_port"] == str(BASE_PORT + 4242)


def test_rendezvous_port_depends_on_job_and_stays_below_ephemeral_range():
    ports = {rendezvous_port({"SLURM_JOB_ID": str(i)}) for i in (1, 2, 9999, 123456)}
    assert len(ports) == 4 and all(BASE_PORT <= p < 32768 for p in ports)
    assert rendezvous_port({}) == DEFAULT_PORT


def test_multi_node_outside_slurm_is_refused():
    with pytest.raises(RuntimeError, match="SLURM_NODEID"):
        node_argv(spec(accelerate_config="a.yaml", nodes=2), {}, no_lookup)


def test_container_wraps_the_command_and_uses_the_image_python():
    argv = node_argv(spec(container_image="/images/t2s.sif", entry=("-m", "t2s.cli", "train")),
                     {}, no_lookup)
    assert argv[:8] == ["apptainer", "exec", "--nv", "--bind", "/work", "--pwd", "/work",
                        "/images/t2s.sif"]
    assert argv[8:11] == ["python", "-m", "t2s.cli"]


def test_overrides_extra_args_and_shard_follow_the_config():
    argv = node_argv(spec(stage="infer", entry=("-m", "t2s.cli", "infer"),
                          overrides=("infer.batch_size=4",), extra_args=("--input", "q.jsonl"),
                          shard=(2, 8)), {}, no_lookup)
    assert argv[-9:] == ["--config", "/jobs/j1/config.yaml", "infer.batch_size=4", "--input",
                         "q.jsonl", "--shard", "2", "--num-shards", "8"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"stage": "export"}, "stage must be one of"),
    ({"nodes": 2}, "needs slurm.accelerate_config"),
    ({"stage": "evaluate", "nodes": 2, "accelerate_config": "a.yaml"}, "only training"),
    ({"shard": (8, 8)}, "out of range"),
])
def test_check_spec_rejects(changes, message):
    with pytest.raises(ConfigError, match=message):
        check_spec(spec(**changes))


def test_entry_point_prefers_the_checkout_jobs_script(tmp_path):
    (tmp_path / "train.py").write_text("")
    assert entry_point("train", tmp_path, in_container=False) == (str(tmp_path / "train.py"),)
    assert entry_point("train", tmp_path, in_container=True) == ("-m", "t2s.cli", "train")
    assert entry_point("train", None, in_container=False) == ("-m", "t2s.cli", "train")
    assert entry_point("infer", tmp_path, in_container=False) == ("-m", "t2s.cli", "infer")
    assert repository_jobs_dir() == ROOT / "jobs"


# --- the callable -------------------------------------------------------------------


def python_spec(tmp_path: Path, code: str, stage: str = "evaluate") -> LaunchSpec:
    """A spec whose 'stage script' is ``python -c code`` (the --config args are ignored)."""
    return spec(stage=stage, entry=("-c", code), workdir=str(tmp_path), python=sys.executable)


def test_command_job_runs_in_workdir_and_reports(tmp_path):
    job = CommandJob(python_spec(tmp_path, "open('ran.txt', 'w').write('yes')"))
    assert job()["returncode"] == 0
    assert (tmp_path / "ran.txt").read_text() == "yes"


def test_command_job_failure_raises(tmp_path):
    with pytest.raises(CommandFailed, match="status 3"):
        CommandJob(python_spec(tmp_path, "raise SystemExit(3)"))()


def test_command_survives_the_checkpoint_warning_signal(tmp_path):
    # Slurm's USR2 warning reaches every process of the step; the command must
    # keep running while submitit requeues (default action would kill it).
    code = ("import os, signal; os.kill(os.getpid(), signal.SIGUSR2); "
            "open('alive.txt', 'w').write('alive')")
    CommandJob(python_spec(tmp_path, code))()
    assert (tmp_path / "alive.txt").read_text() == "alive"


def test_checkpoint_requeues_training_with_resume(tmp_path):
    pytest.importorskip("submitit")
    delayed = CommandJob(spec(overrides=("train.resume=never",))).checkpoint()
    requeued = delayed.function.spec
    assert requeued.overrides == ("train.resume=never", "train.resume=auto")
    assert node_argv(requeued, {}, no_lookup)[-1] == "train.resume=auto"  # last one wins
    # A second requeue does not pile up another copy.
    assert CommandJob(requeued).checkpoint().function.spec.overrides == requeued.overrides
    evaluation = CommandJob(spec(stage="evaluate")).checkpoint().function.spec
    assert evaluation.overrides == ()


# --- submission parameters -------------------------------------------------------------


def slurm_config(*overrides: str):
    return load_config(None, list(overrides))


def test_additional_sbatch_lines_are_parsed_and_checked():
    assert parse_additional_sbatch(["--exclusive", "--mail-type=END"]) == {
        "exclusive": True, "mail_type": "END"}
    with pytest.raises(ConfigError) as info:
        parse_additional_sbatch(["exclusive", "--time=10", "--gres=gpu:2"])
    message = str(info.value)
    assert "'exclusive' is not of the form" in message and "--time" in message
    assert "gres" not in message


def test_executor_parameters_follow_the_slurm_section():
    config = slurm_config("slurm.partition=gpu", "slurm.nodes=2", "slurm.gpus_per_node=8",
                          "slurm.time_min=240", "slurm.account=proj", "slurm.signal_delay_s=120",
                          "slurm.additional_sbatch=[--exclusive]")
    params = executor_parameters(config.slurm, "train", dependency="afterok:7", begin="02:00")
    assert params["nodes"] == 2 and params["tasks_per_node"] == 1
    assert params["gpus_per_node"] == 8 and params["timeout_min"] == 240
    assert params["slurm_partition"] == "gpu" and params["slurm_account"] == "proj"
    assert params["slurm_signal_delay_s"] == 120
    assert params["slurm_dependency"] == "afterok:7"
    assert params["slurm_additional_parameters"] == {"exclusive": True, "begin": "02:00",
                                                     "kill_on_invalid_dep": "yes"}
    assert "slurm_qos" not in params
    # Only training spans nodes.
    assert executor_parameters(config.slurm, "evaluate")["nodes"] == 1


@pytest.mark.parametrize(("overrides", "message"), [
    (["slurm.nodes=2", "slurm.accelerate_config=accelerate_configs/multi_node.yaml"],
     "needs cluster slurm"),
    (["slurm.time_min=1", "slurm.signal_delay_s=60"], "signalled at start"),
    (["slurm.accelerate_config=accelerate_configs/nope.yaml"], "not found"),
])
def test_impossible_submissions_fail_before_a_folder_exists(tmp_path, monkeypatch, overrides,
                                                            message):
    monkeypatch.chdir(ROOT)
    config = slurm_config(f"slurm.jobs_dir={tmp_path / 'jobs'}", *overrides)
    with pytest.raises(ConfigError, match=message):
        submit(config, "train", cluster="local")
    assert not (tmp_path / "jobs").exists()


def test_job_folders_are_never_reused(tmp_path):
    folders = {new_job_dir(tmp_path, "train") for _ in range(20)}
    assert len(folders) == 20
    assert all(f.name.split("-")[2] == "train" and f.is_dir() for f in folders)


def test_unknown_submitit_parameter_is_a_config_error(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    import t2s.launch.submit as submit_module

    real = submit_module.executor_parameters
    monkeypatch.setattr(submit_module, "executor_parameters",
                        lambda *a, **k: {**real(*a, **k), "slurm_partitoin": "x"})
    config = slurm_config(f"slurm.jobs_dir={tmp_path}")
    # submitit < 1.5.4 says "Valid arguments", 1.5.4 "Valid parameters are".
    with pytest.raises(ConfigError, match="Valid (arguments|parameters)"):
        submit(config, "train", cluster="slurm", dry_run=True)
    assert list(tmp_path.iterdir()) == []


# --- golden sbatch script -----------------------------------------------------------------


def normalise(text: str, job_dir: Path) -> str:
    return text.replace(str(job_dir), "<JOB_DIR>").replace(sys.executable, "<PYTHON>")


@pytest.mark.parametrize("slurm_on_path", [True, False])
def test_sbatch_script_matches_golden(tmp_path, monkeypatch, slurm_on_path):
    """The same script whether Slurm is installed here or not: a dry run needs no Slurm."""
    pytest.importorskip("submitit")
    monkeypatch.chdir(ROOT)
    if not slurm_on_path:
        monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))
    elif shutil.which("srun") is None:
        pytest.skip("no srun on PATH: the other case covers this machine")
    config = slurm_config(
        f"slurm.jobs_dir={tmp_path}", "slurm.partition=gpu", "slurm.nodes=2",
        "slurm.gpus_per_node=8", "slurm.cpus_per_task=32", "slurm.mem_gb=400",
        "slurm.time_min=1440", "slurm.account=nlp", "slurm.qos=high",
        "slurm.constraint=h100", "slurm.additional_sbatch=[--exclusive]",
        "slurm.accelerate_config=accelerate_configs/multi_node.yaml")
    submission = submit(config, "train", cluster="slurm", dry_run=True)
    text = normalise((submission.job_dir / "sbatch.sh").read_text(), submission.job_dir)
    golden = GOLDEN / "sbatch_train_2x8.sh"
    if os.environ.get("T2S_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), f"sbatch script changed; see {golden}"


def test_dry_run_writes_config_and_record_but_submits_nothing(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.chdir(ROOT)
    config = slurm_config(f"slurm.jobs_dir={tmp_path}", "train.max_steps=7")
    submission = submit(config, "train", cluster="slurm", dry_run=True,
                        source="configs/x.yaml", overrides=["train.max_steps=7"])
    record = json.loads((submission.job_dir / "job.json").read_text())
    assert record["state"] == "DRY-RUN" and record["job_ids"] == []
    assert record["overrides"] == ["train.max_steps=7"]
    # The job reads the frozen, resolved config: later edits of the YAML do not leak in.
    assert load_config(submission.job_dir / "config.yaml").train.max_steps == 7
    assert f"--config {submission.job_dir}/config.yaml" in record["command"]


# --- failed submissions: a clear error, no folder left ------------------------------------------


def _fake_slurm(folder: Path, sbatch: str) -> Path:
    """A PATH folder with an ``srun`` and an ``sbatch`` running the shell code ``sbatch``."""
    folder.mkdir()
    for name, body in (("srun", "exit 0"), ("sbatch", sbatch)):
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return folder


def test_no_slurm_on_path_is_refused_before_a_folder_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    config = slurm_config(f"slurm.jobs_dir={tmp_path / 'jobs'}")
    with pytest.raises(ConfigError, match=r"cluster slurm needs Slurm's sbatch and srun on PATH"
                                          r".*--dry-run writes the sbatch script without Slurm"):
        submit(config, "train", cluster="slurm")
    assert not (tmp_path / "jobs").exists()


def test_a_controller_that_refuses_leaves_no_job_folder(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.chdir(ROOT)
    bin_dir = _fake_slurm(tmp_path / "bin", "echo 'sbatch: error: Invalid account or "
                                            "account/partition combination specified' >&2; exit 1")
    monkeypatch.setenv("PATH", str(bin_dir))
    jobs = tmp_path / "jobs"
    config = slurm_config(f"slurm.jobs_dir={jobs}")
    with pytest.raises(T2SError, match=r"sbatch refused the train job \(nothing submitted\):.*"
                                       r"Invalid account"):
        submit(config, "train", cluster="slurm")
    assert list(jobs.iterdir()) == []  # the folder made for it is gone


@pytest.mark.parametrize("after", ["notajob", "12;rm", "afterok:12", ""])
def test_after_must_be_a_job_id(tmp_path, monkeypatch, capsys, after):
    from t2s.cli import main

    monkeypatch.chdir(ROOT)
    assert main(["submit", "train", "--config", "configs/tiny.yaml", "--dry-run", "--after",
                 after, f"slurm.jobs_dir={tmp_path / 'jobs'}"]) == 2
    err = capsys.readouterr().err
    assert f"--after {after!r} is not a Slurm job id" in err and "Traceback" not in err
    assert not (tmp_path / "jobs").exists()
    with pytest.raises(ConfigError, match="is not a Slurm job id"):
        submit(slurm_config(f"slurm.jobs_dir={tmp_path / 'jobs'}"), "train", cluster="slurm",
               dependency=f"afterok:{after}", dry_run=True)
    assert not (tmp_path / "jobs").exists()


def test_cli_dry_run_without_slurm_prints_the_script(tmp_path, monkeypatch, capsys):
    pytest.importorskip("submitit")
    from t2s.cli import main

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["submit", "train", "--config", "configs/tiny.yaml", "--dry-run", "--after",
                 "1234_5", f"slurm.jobs_dir={tmp_path / 'jobs'}"]) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --dependency=afterok:1234_5" in out and "srun --unbuffered" in out


# --- running through submitit without Slurm ----------------------------------------------------


@pytest.mark.parametrize("cluster", ["debug", "local"])
def test_submit_runs_the_command_and_records_the_state(tmp_path, monkeypatch, cluster):
    pytest.importorskip("submitit")
    import t2s.launch.submit as submit_module

    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "done.txt"
    # Stand-in stage script: writes which config it was given.
    monkeypatch.setattr(submit_module, "entry_point", lambda *a: (
        "-c", f"import sys; open({str(marker)!r}, 'w').write(sys.argv[2])"))
    config = slurm_config(f"slurm.jobs_dir={tmp_path / 'jobs'}")
    submission = submit(config, "evaluate", cluster=cluster)
    assert wait(submission) == "COMPLETED"
    assert marker.read_text() == str(submission.job_dir / "config.yaml")
    rows = list_submissions(tmp_path / "jobs")
    assert [(r.stage, r.cluster, r.state) for r in rows] == [("evaluate", cluster, "COMPLETED")]


def test_failed_local_job_is_recorded_as_failed(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    import t2s.launch.submit as submit_module

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(submit_module, "entry_point", lambda *a: ("-c", "raise SystemExit(5)"))
    # local, not debug: a failing debug job opens pdb.
    submission = submit(slurm_config(f"slurm.jobs_dir={tmp_path}"), "infer", cluster="local")
    assert wait(submission) == "FAILED"
    assert json.loads((submission.job_dir / "job.json").read_text())["state"] == "FAILED"


# --- t2s jobs ---------------------------------------------------------------------------


def write_record(folder: Path, **record) -> None:
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps(record))


def test_jobs_lists_newest_first_with_sacct_states(tmp_path, monkeypatch):
    import t2s.launch.registry as registry

    base = {"stage": "train", "submitted_at": "2026-01-01T00:00:00+00:00", "state": None}
    write_record(tmp_path / "20260101-000000-train-aaaaaa", cluster="slurm", job_ids=["11"], **base)
    write_record(tmp_path / "20260102-000000-infer-bbbbbb", cluster="slurm",
                 job_ids=["12_0", "12_1", "12_2"], **{**base, "stage": "infer"})
    write_record(tmp_path / "20260103-000000-train-cccccc", cluster="local", job_ids=["99"],
                 **{**base, "state": "FAILED"})
    (tmp_path / "20260104-000000-train-dddddd").mkdir()  # no job.json: not listed
    asked = []

    def fake_states(ids):
        asked.append(sorted(ids))
        return {"11": "COMPLETED", "12_0": "COMPLETED", "12_1": "COMPLETED", "12_2": "RUNNING"}

    monkeypatch.setattr(registry, "job_states", fake_states)
    rows = list_submissions(tmp_path)
    assert asked == [["11", "12_0", "12_1", "12_2"]]  # one sacct call for all
    assert [r.folder.name[:8] for r in rows] == ["20260103", "20260102", "20260101"]
    assert [r.state for r in rows] == ["FAILED", "COMPLETED x2, RUNNING", "COMPLETED"]
    table = format_table(rows)
    assert "12_[0-2]" in table and table.splitlines()[0].startswith("SUBMITTED")
    assert len(list_submissions(tmp_path, limit=1)) == 1


def test_jobs_without_sacct_say_why(tmp_path, monkeypatch):
    import t2s.launch.registry as registry
    from t2s.launch.slurm import SlurmUnavailable

    write_record(tmp_path / "20260101-000000-train-aaaaaa", cluster="slurm", job_ids=["11"],
                 stage="train", submitted_at="2026-01-01T00:00:00", state=None)

    def unavailable(ids):
        raise SlurmUnavailable("sacct not found")

    monkeypatch.setattr(registry, "job_states", unavailable)
    assert list_submissions(tmp_path)[0].state == "UNKNOWN (sacct: sacct not found)"


def test_summarize_states():
    assert summarize_states(["RUNNING"]) == "RUNNING"
    assert summarize_states(["COMPLETED"] * 3) == "COMPLETED x3"


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_submit_dry_run_then_jobs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("submitit")
    from t2s.cli import main

    monkeypatch.chdir(ROOT)
    jobs_dir = tmp_path / "jobs"
    assert main(["submit", "train", "--config", "configs/tiny.yaml", "--dry-run",
                 f"slurm.jobs_dir={jobs_dir}", "slurm.partition=debug"]) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --partition=debug" in out and "dry run" in out
    assert main(["jobs", "--jobs-dir", str(jobs_dir)]) == 0
    assert "DRY-RUN" in capsys.readouterr().out


def test_cli_reports_config_errors_without_traceback(tmp_path, monkeypatch, capsys):
    from t2s.cli import main

    monkeypatch.chdir(ROOT)
    code = main(["submit", "infer", "--config", "configs/tiny.yaml", "--shards", "0",
                 f"slurm.jobs_dir={tmp_path}"])
    assert code == 2
    assert "--shards is for infer jobs and must be >= 1" in capsys.readouterr().err


def test_submit_module_is_light_to_import():
    import subprocess

    code = ("import sys, t2s.launch.command, t2s.launch.jobs_command; "
            "print(any(m in sys.modules for m in ('torch', 'transformers', 'submitit')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert out.stdout.strip() == "False"


def test_config_that_does_not_load_back_is_refused_at_submission(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    import t2s.launch.submit as submit_module

    def broken_dump(config, path):
        Path(path).write_text("train:\n  max_stepz: 3\n")

    monkeypatch.setattr(submit_module, "dump_yaml", broken_dump)
    with pytest.raises(ConfigError, match="(?s)does not load back.*max_stepz"):
        submit(slurm_config(f"slurm.jobs_dir={tmp_path}"), "train", cluster="slurm", dry_run=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("stage", "extra", "message"), [
    ("infer", ["--shards", "2", "--args", '--input "q.jsonl'],
     "cannot be split into arguments: No closing quotation"),
    ("infer", ["--args", "--inptu q.jsonl --output a.jsonl"], "unrecognized arguments: --inptu"),
    ("infer", ["--args=--input"], "argument --input: expected one argument"),
    ("infer", ["--args", "--input missing.jsonl --output a.jsonl"],
     "--input missing.jsonl is not a file"),
    ("infer", ["--shards", "2", "--args", "--output a.jsonl"],
     "--shards 2 splits a batch job: give --input FILE"),
    ("infer", ["--shards", "2", "--args", "--input q.jsonl --output a.jsonl --num-shards 4"],
     "--shard/--num-shards are set per task by --shards"),
    ("infer", ["--args", "--input q.jsonl"], "--input needs --output"),
    ("evaluate", ["--args", "--config other.yaml"], "--config belongs on the t2s submit line"),
    ("evaluate", ["--args", "--gold g.sql --timeout 3"], "--gold name prediction files"),
    ("train", ["--args", "train.max_steps=3"], "config overrides (train.max_steps=3) belong"),
])
def test_stage_arguments_are_checked_before_anything_is_submitted(stage, extra, message, tmp_path,
                                                                  monkeypatch, capsys):
    from t2s.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.jsonl").write_text('{"question": "How many?", "db_id": "clinic"}\n')
    jobs_dir = tmp_path / "jobs"
    code = main(["submit", stage, "--config", str(ROOT / "configs" / "tiny.yaml"), "--dry-run",
                 *extra, f"slurm.jobs_dir={jobs_dir}"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not jobs_dir.exists()  # nothing was written, let alone submitted


def test_valid_stage_arguments_pass_the_submit_time_check(tmp_path, monkeypatch, capsys):
    pytest.importorskip("submitit")
    from t2s.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my q.jsonl").write_text('{"question": "How many?", "db_id": "clinic"}\n')
    code = main(["submit", "infer", "--config", str(ROOT / "configs" / "tiny.yaml"), "--dry-run",
                 "--shards", "2", "--args", "--input 'my q.jsonl' --output a.jsonl --overwrite",
                 f"slurm.jobs_dir={tmp_path / 'jobs'}"])
    out = capsys.readouterr().out
    assert code == 0
    assert "--input 'my q.jsonl' --output a.jsonl --overwrite --shard 0 --num-shards 2" in out


def test_submit_serve_dry_run_runs_t2s_serve_with_the_frozen_config(tmp_path, monkeypatch, capsys):
    pytest.importorskip("submitit")
    from t2s.cli import main

    monkeypatch.chdir(ROOT)
    jobs_dir = tmp_path / "jobs"
    assert main(["submit", "serve", "--config", "configs/tiny.yaml", "--dry-run",
                 f"slurm.jobs_dir={jobs_dir}", "--args", "--host 0.0.0.0 --port 8000"]) == 0
    capsys.readouterr()
    (job_dir,) = jobs_dir.iterdir()
    record = json.loads((job_dir / "job.json").read_text())
    assert record["stage"] == "serve"
    assert f"-m t2s.cli serve --config {job_dir}/config.yaml --host 0.0.0.0 --port 8000" \
        in record["command"]
    # The serve command's own parser checks --args before anything is submitted.
    assert main(["submit", "serve", "--config", "configs/tiny.yaml", "--dry-run",
                 f"slurm.jobs_dir={jobs_dir}", "--args", "--prot 8000"]) == 2
    assert "--prot" in capsys.readouterr().err


def test_submit_serve_engine_vllm_starts_vllm_inside_the_serve_job(tmp_path, monkeypatch, capsys):
    pytest.importorskip("submitit")
    from t2s.cli import main

    monkeypatch.chdir(ROOT)
    jobs_dir = tmp_path / "jobs"
    assert main(["submit", "serve", "--engine", "vllm", "--config", "configs/tiny.yaml",
                 "--dry-run", "--cluster", "slurm", f"slurm.jobs_dir={jobs_dir}",
                 "slurm.gpus_per_node=1", "--args", "--host 0.0.0.0 --port 8000"]) == 0
    out = capsys.readouterr().out
    (job_dir,) = jobs_dir.iterdir()
    record = json.loads((job_dir / "job.json").read_text())
    # One job on one node: t2s serve starts vLLM as its child (--engine auto).
    assert (f"-m t2s.cli serve --config {job_dir}/config.yaml --host 0.0.0.0 --port 8000 "
            "--engine auto") in record["command"]
    script = (job_dir / "sbatch.sh").read_text()
    assert "#SBATCH --gpus-per-node=1" in script and "#SBATCH --nodes=1" in script
    assert "--engine auto" in out  # the printed script
    with pytest.raises(SystemExit):  # argparse: vllm is the one engine
        main(["submit", "serve", "--engine", "sglang", "--config", "configs/tiny.yaml"])
