"""``t2s engine``: the vLLM command for a config's base and adapters (no vLLM needed)."""

from __future__ import annotations

import json
import shlex
import sys
import urllib.request
from pathlib import Path

import pytest

from t2s.cli import main
from t2s.config import load_config
from t2s.errors import ConfigError
from t2s.launch.engine import EngineProcess, EngineStartError, engine_spec, free_port, vllm_argv

# A stand-in for vLLM's interpreter: answers /v1/models on --port, and prints the
# runtime-LoRA switch it was started with (what `t2s serve --engine auto` needs).
FAKE_VLLM = """\
import http.server, os, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
print("runtime lora:", os.environ.get("VLLM_ALLOW_RUNTIME_LORA_UPDATING"), flush=True)
class Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{"data": []}')
http.server.HTTPServer(("127.0.0.1", port), Models).serve_forever()
"""


def _adapter(folder: Path, base: str, r: int = 8, **extra) -> Path:
    """An adapter folder as PEFT writes its config (the weights are not read)."""
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "base_model_name_or_path": base, "r": r, **extra}))
    return folder


def test_print_names_every_adapter_over_one_base(tmp_path, capsys):
    a = _adapter(tmp_path / "a", "bases/smollm2")
    b = _adapter(tmp_path / "b", "bases/smollm2", r=8, rank_pattern={"q_proj": 12})
    status = main(["engine", "--print", "--python", "V/bin/python", "--port", "8123",
                   "--max-model-len", "2048", f"infer.adapter_path={a}",
                   f"serve.adapters=[b={b}]", "infer.precision=fp32"])
    assert status == 0
    assert shlex.split(capsys.readouterr().out) == [
        "VLLM_HOST_IP=127.0.0.1", "VLLM_CPU_KVCACHE_SPACE=1", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True",
        "V/bin/python", "-m", "vllm.entrypoints.openai.api_server", "--model", "bases/smollm2",
        "--dtype", "float32", "--max-model-len", "2048", "--enable-lora",
        "--lora-modules", f"default={a.resolve()}", f"b={b.resolve()}",
        # rank 12 (b's q_proj) rounds up to 16, the next rank vLLM accepts
        "--max-lora-rank", "16", "--max-loras", "2", "--host", "127.0.0.1", "--port", "8123"]


def test_adapters_of_two_bases_are_refused(tmp_path):
    a = _adapter(tmp_path / "a", "bases/one")
    b = _adapter(tmp_path / "b", "bases/two")
    config = load_config(None, [f"infer.adapter_path={a}", f"serve.adapters=[b={b}]"])
    with pytest.raises(ConfigError, match="one vLLM serves adapters of one base; these name 2"):
        engine_spec(config, "python")


def test_a_full_model_is_the_base_without_loras(tmp_path):
    (tmp_path / "merged").mkdir()
    config = load_config(None, [f"infer.adapter_path={tmp_path / 'merged'}", "model.dtype=bfloat16"])
    argv = vllm_argv(engine_spec(config, "python"))
    assert argv[3:7] == ["--model", str(tmp_path / "merged"), "--dtype", "bfloat16"]
    assert "--enable-lora" not in argv
    other = _adapter(tmp_path / "b", "bases/one")
    with pytest.raises(ConfigError, match="is a full model, not a LoRA"):
        engine_spec(load_config(None, [f"infer.adapter_path={tmp_path / 'merged'}",
                                       f"serve.adapters=[b={other}]"]), "python")


def test_a_folder_without_a_lora_is_refused(tmp_path):
    a = _adapter(tmp_path / "a", "bases/one")
    (tmp_path / "empty").mkdir()
    config = load_config(None, [f"infer.adapter_path={a}", f"serve.adapters=[b={tmp_path / 'empty'}]"])
    with pytest.raises(ConfigError, match="adapter b: .* cannot be read"):
        engine_spec(config, "python")


def _fake_python(tmp_path: Path, script: str) -> Path:
    (tmp_path / "fake_vllm.py").write_text(script)
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} {tmp_path / 'fake_vllm.py'} \"$@\"\n")
    python.chmod(0o755)
    return python


def test_engine_process_waits_until_ready_and_stops(tmp_path):
    a = _adapter(tmp_path / "a", "bases/one")
    b = _adapter(tmp_path / "b", "bases/one")
    # t2s serve's resolved adapters replace infer.adapter_path and serve.adapters.
    spec = engine_spec(load_config(None, [f"infer.adapter_path={b}"]),
                       str(_fake_python(tmp_path, FAKE_VLLM)), port=free_port(),
                       adapters=[("first", str(a)), ("second", str(b))])
    assert spec.adapters == (("first", str(a)), ("second", str(b)))
    engine = EngineProcess(spec, tmp_path / "logs" / "engine.log").start()
    try:
        url = engine.wait_ready(120)
        with urllib.request.urlopen(url + "/v1/models", timeout=10) as reply:
            assert json.loads(reply.read()) == {"data": []}
    finally:
        status = engine.stop()
    assert status is not None and engine.process.poll() is not None
    assert "runtime lora: True" in (tmp_path / "logs" / "engine.log").read_text()


def test_engine_that_never_gets_ready_is_stopped_with_its_log(tmp_path):
    script = "import time\nprint('loading weights', flush=True)\ntime.sleep(600)\n"
    a = _adapter(tmp_path / "a", "bases/one")
    spec = engine_spec(load_config(None, [f"infer.adapter_path={a}"]),
                       str(_fake_python(tmp_path, script)), port=free_port())
    engine = EngineProcess(spec, tmp_path / "engine.log").start()
    with pytest.raises(EngineStartError) as info:
        engine.wait_ready(3)
    assert "was not ready within 3 s (serve.engine_ready_s)" in str(info.value)
    assert "loading weights" in str(info.value)
    assert engine.process.poll() is not None  # stopped, not left running
