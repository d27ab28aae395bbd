"""``t2s export --merge``: the merged model generates what adapter + base generated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import inference_overrides, sample_prompts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def merged_dir(tmp_path_factory, sample_dir, adapter_dir) -> Path:
    from t2s.cli import main

    out = tmp_path_factory.mktemp("export") / "merged"
    status = main(["export", "--merge", "--out", str(out), "--config",
                   str(ROOT / "configs" / "tiny.yaml"),
                   *inference_overrides(sample_dir, adapter_dir)])
    assert status == 0
    return out


def test_merged_folder_is_a_plain_model_with_provenance(merged_dir, adapter_dir):
    from t2s.provenance import folder_sha256

    assert (merged_dir / "model.safetensors").is_file()
    assert (merged_dir / "tokenizer.json").is_file()
    assert not (merged_dir / "adapter_config.json").exists()
    assert not merged_dir.with_name("merged.partial").exists()
    info = json.loads((merged_dir / "export_info.json").read_text())
    assert info["adapter_sha256"] == folder_sha256(adapter_dir)
    assert info["merged_from"] == str(adapter_dir.resolve())
    assert (merged_dir / "config.yaml").read_text() == (adapter_dir / "config.yaml").read_text()


def test_merged_model_matches_the_adapter(merged_dir, adapter_dir, sample_dir):
    import torch

    from t2s.config import Decoding
    from t2s.inference.generate import SQLGenerator
    from t2s.models.loading import load_trained

    with_adapter, tokenizer = load_trained(adapter_dir)
    merged, merged_tokenizer = load_trained(merged_dir)
    prompts = sample_prompts(sample_dir, 3)
    ids = tokenizer(text=prompts[0], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        expected = with_adapter(input_ids=ids).logits
        actual = merged(input_ids=ids).logits
        with with_adapter.disable_adapter():
            base = with_adapter(input_ids=ids).logits
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)
    # Otherwise the comparison above would hold for an untrained (zero) adapter too.
    assert (expected - base).abs().max() > 1e-3
    decoding = Decoding(max_new_tokens=8, batch_size=3)
    from_adapter = SQLGenerator(with_adapter, tokenizer, decoding).generate(prompts)
    from_merged = SQLGenerator(merged, merged_tokenizer, decoding).generate(prompts)
    assert [g.completion for g in from_merged] == [g.completion for g in from_adapter]


def test_export_refuses_unsafe_requests(merged_dir, adapter_dir, tmp_path, capsys):
    from t2s.cli import main
    from t2s.errors import T2SError
    from t2s.inference.export_command import export_merged

    with pytest.raises(T2SError, match="not empty"):
        export_merged(adapter_dir, merged_dir)
    with pytest.raises(T2SError, match="holds a full model"):
        export_merged(merged_dir, tmp_path / "again")
    with pytest.raises(T2SError, match="does not exist"):
        export_merged(tmp_path / "none", tmp_path / "out")
    assert main(["export", "--out", str(tmp_path / "x")]) == 2
    assert "pass --merge" in capsys.readouterr().err


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_out_under_a_regular_file_is_refused_before_the_model_loads(tmp_path, capsys, force):
    from t2s.cli import main

    (tmp_path / "file").write_text("mine")
    assert main(["export", "--merge", "--out", str(tmp_path / "file" / "merged"), *force,
                 "--config", str(ROOT / "configs" / "tiny.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"--out {tmp_path / 'file' / 'merged'}: {tmp_path / 'file'} is a file, so nothing " \
           "can be created under it" in err
    assert "Traceback" not in err and (tmp_path / "file").read_text() == "mine"
