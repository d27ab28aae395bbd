"""bench/gpu_spider.py --small: the GPU run's code path, on CPU, with the real SmolLM2 base."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_spider_small_trains_and_scores_on_cpu(smollm2_base, spider_dir, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_spider.py"), "--small",
                           "--base", str(smollm2_base), "--spider", str(spider_dir),
                           "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_spider.json").read_text())
    assert result["device"] == "cpu (fp32)" and result["small"] is True
    train = result["train"]
    # 8 train questions, 2 per step, 2 optimizer steps; TRL's fit time is inside the run's.
    assert (train["questions"], train["dropped"], train["steps"]) == (8, 0, 2)
    assert train["tokens"] > 0 and 0 < train["fit_seconds"] < train["seconds"]
    assert (tmp_path / "run" / "final_model" / "adapter_config.json").is_file()
    # The first 6 dev.json questions (concert_singer): 2 easy, 4 medium, all executable.
    assert (result["eval"]["questions"], result["eval"]["executable"]) == (6, 6)
    predictions = (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in predictions] == list(range(6))
    report = json.loads((tmp_path / "eval" / "REPORT.json").read_text())
    ex = report["summary"]["execution"]["accuracy"]
    lines = done.stdout.splitlines()
    assert any(line.startswith("| train | 8 | 2 | ") for line in lines), done.stdout
    assert any(line.startswith("| eval | 6 (6 executable) | - | ") for line in lines)
    assert "| | easy | medium | all |" in lines and "| count | 2 | 4 | 6 |" in lines
    assert any(line.startswith("| EX % | ") and line.endswith(f" | {100 * ex:.1f} |")
               for line in lines), done.stdout
    assert any(line.startswith("| EM % | ") for line in lines)
