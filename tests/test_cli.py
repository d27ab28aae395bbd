"""The ``t2s`` command: fast help without heavy imports, clean errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from t2s.cli_args import COMMANDS

HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "submitit")


@pytest.mark.parametrize("argv", [["--help"], *[[name, "--help"] for name in COMMANDS]],
                         ids=lambda a: " ".join(a))
def test_help_imports_nothing_heavy(argv):
    code = (
        "import sys\nfrom t2s.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_config_errors_are_messages_not_tracebacks(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lerning_rate: 1\n")
    proc = subprocess.run([sys.executable, "-m", "t2s.cli", "train", "--config", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "did you mean 'train.learning_rate'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_every_command_module_has_the_dispatch_interface():
    import importlib

    for module_name, _help in COMMANDS.values():
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments) and callable(module.run), module_name


def _run_into_closed_pipe(argv: list[str]) -> subprocess.CompletedProcess:
    """Run ``t2s ARGV`` with stdout a pipe whose reader is gone, as after ``| head -1``."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to write_end now fails with EPIPE
    try:
        return subprocess.run([sys.executable, "-m", "t2s.cli", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)


def test_a_closed_stdout_ends_quietly_with_status_141(tmp_path):
    import json

    from conftest import make_report

    reports = []
    for name, verdicts in (("a", [True, False] * 50), ("b", [False, True] * 50)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(make_report(verdicts)))
        reports.append(str(path))
    for argv in (["compare", *reports, "--show", "40"], ["jobs", "--jobs-dir", str(tmp_path)]):
        proc = _run_into_closed_pipe(argv)
        assert (proc.returncode, proc.stderr) == (141, ""), (argv, proc.stderr)


@pytest.mark.parametrize(("value", "message"), [("0", "must be at least 1, got 0"),
                                                ("-3", "must be at least 1, got -3"),
                                                ("x", "expected an integer >= 1")])
def test_jobs_limit_must_be_positive(value, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "t2s.cli", "jobs", "--jobs-dir", str(tmp_path),
                           "-n", value], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"argument -n/--limit: {message}" in proc.stderr and proc.stdout == ""
