"""The ``t2s`` command: fast help without heavy imports, clean errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from t2s.cli import COMMANDS

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
