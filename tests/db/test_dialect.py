"""The dialect is a prompt setting saved with the model: a PostgreSQL model is
refused on SQLite files (and an SQLite one on DSNs) unless overridden."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2s.config import PROMPT_KEYS, dump_yaml, load_config
from t2s.db.dialect import check_dialect, engine_of
from t2s.errors import ConfigError
from t2s.inference.adapter_prompt import load_inference_config

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"
DSN = "postgresql://reader:s3cret@db.example/concert_singer"


def _trained(tmp_path: Path, dialect: str) -> Path:
    folder = tmp_path / f"model-{dialect}"
    folder.mkdir()
    dump_yaml(load_config(TINY, [f"data.dialect={dialect}"]), folder / "config.yaml")
    return folder


def test_the_dialect_is_a_prompt_setting_taken_from_the_model(tmp_path):
    assert "data.dialect" in PROMPT_KEYS
    model = _trained(tmp_path, "postgres")
    config = load_inference_config(TINY, [f"infer.adapter_path={model}"])
    assert config.data.dialect == "postgres"
    with pytest.raises(ConfigError, match=r"data.dialect: 'postgres' \(model\) -> 'sqlite'"):
        load_inference_config(TINY, [f"infer.adapter_path={model}", "data.dialect=sqlite"])


def test_a_postgresql_model_is_refused_on_sqlite_unless_overridden(tmp_path):
    model = _trained(tmp_path, "postgres")
    databases = {"concert_singer": tmp_path / "concert_singer.sqlite", "pets_1": DSN}
    with pytest.raises(ConfigError) as info:
        check_dialect("postgres", databases, model=model)
    message = str(info.value)
    assert f"the model in {model} writes PostgreSQL SQL (data.dialect=postgres)" in message
    assert "1 database(s) are SQLite: concert_singer" in message
    assert "infer.dialect_override=true" in message
    check_dialect("postgres", databases, override=True)
    check_dialect("postgres", {"pets_1": DSN})


def test_an_sqlite_model_is_refused_on_postgresql_and_the_password_is_not_shown():
    with pytest.raises(ConfigError) as info:
        check_dialect("sqlite", {f"db{i}": DSN for i in range(7)})
    message = str(info.value)
    assert "7 database(s) are PostgreSQL" in message and "and 2 more" in message
    assert "s3cret" not in message and "reader:***@db.example" in message
    assert engine_of(DSN) == "postgres" and engine_of("x.sqlite") == "sqlite"
