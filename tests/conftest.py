"""Shared fixtures: real Spider data (skipped when absent), the embedded sample
dataset, and a tiny pretrained base model built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPIDER_DIR = Path(os.environ.get("T2S_SPIDER_DIR", ROOT.parent / "shared" / "data" / "spider"))

# Keep test runs single-threaded per process: the machines have 2 cores and
# pytest plus tokenizers' own threads would oversubscribe them.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def spider_dir() -> Path:
    """The real Spider 1.0 copy in ../shared/data/spider (read-only)."""
    if not (SPIDER_DIR / "tables.json").is_file():
        pytest.skip(f"Spider data not found at {SPIDER_DIR} (set T2S_SPIDER_DIR)")
    return SPIDER_DIR


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """The embedded sample dataset, generated once per session."""
    from t2s.data.sample import ensure_sample_dataset

    return Path(ensure_sample_dataset(tmp_path_factory.mktemp("sample") / "sample"))


# A smaller tiny model than configs/tiny.yaml so each test trains in seconds.
TEST_TINY = [
    "model.name_or_path=tiny",
    "model.tiny.hidden_size=64",
    "model.tiny.intermediate_size=128",
    "model.tiny.num_hidden_layers=2",
    "model.tiny.num_attention_heads=4",
    "model.tiny.vocab_size=1024",
    "model.tiny.pretrain_steps=40",
    "model.tiny.pretrain_batch_size=8",
]


@pytest.fixture(scope="session")
def tiny_overrides() -> list[str]:
    """Config overrides for the test-sized tiny model."""
    return list(TEST_TINY)


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory) -> Path:
    """Folder where the session's tiny base model is built (once, then reused)."""
    return tmp_path_factory.mktemp("tiny_base") / "base"


@pytest.fixture
def make_config(sample_dir, tiny_base_dir, tmp_path):
    """Build a tiny-preset Config writing into tmp_path; extra overrides win."""
    from t2s.config import load_config

    def build(*overrides: str, output_dir: Path | None = None):
        return load_config(ROOT / "configs" / "tiny.yaml", [
            f"data.root={sample_dir}",
            f"model.tiny.base_dir={tiny_base_dir}",
            f"train.output_dir={output_dir or tmp_path / 'run'}",
            "train.report_to=[]",
            "train.max_seq_length=512",
            *TEST_TINY,
            *overrides,
        ])

    return build
