"""bench/gpu_check.py runs end to end on CPU with the shrunken shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TOKENIZERS_DIR

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_runs_small_on_cpu(tmp_path):
    gguf = TOKENIZERS_DIR / "ggml-vocab-llama-spm.gguf"
    if not gguf.is_file():
        pytest.skip(f"{gguf} not found (set T2S_TOKENIZERS_DIR)")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--small",
                           "--steps", "1", "--prompts", "2", "--new-tokens", "2", "--gguf",
                           str(gguf), "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [r["variant"] for r in report["train"]] == [
        "qv_padded", "qv_packed", "all_linear_padded", "all_linear_packed"]
    assert all(r["steps"] == 1 and r["tokens"] > 0 for r in report["train"])
    assert report["device"] == "cpu" and report["train"][0]["mfu"] is None
    assert [g["engine"] for g in report["generation"]] == ["hf batch 2", "hf batch 1"]
    assert "| qv_packed | 1 |" in done.stdout
