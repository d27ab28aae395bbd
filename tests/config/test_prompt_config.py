"""Prompt templates as config (``data.prompt``, ``data.schema.style``)."""

from __future__ import annotations

import pytest

from t2s.config import PromptConfig, load_config
from t2s.data.prompts import build_completion, build_prompt
from t2s.data.schema_text import serialize_schema
from t2s.data.spider import Column, DatabaseSchema, ForeignKey, Table
from t2s.models.tiny import _split_example

SCHEMA = DatabaseSchema("d", (
    Table("singer", (Column("id", "number"), Column("name", "text")), ("id",)),
    Table("song", (Column("id", "number"), Column("singer_id", "number")), ("id",))),
    (ForeignKey("song", "singer_id", "singer", "id"),))


def test_system_instruction_and_evidence_shape_the_prompt():
    prompt = PromptConfig(system="You write SQLite.", instruction="Answer in SQL.")
    inst = build_prompt("How many?", "TABLE: t (a (text))", "inst", prompt, evidence="a = x")
    assert inst == ("[INST] You write SQLite.\nAnswer in SQL.\nSchema:\nTABLE: t (a (text))\n"
                    "Evidence: a = x\nQuestion: How many? [/INST]")
    chat = build_prompt("How many?", "S", "chat_template", prompt)
    assert chat[0] == {"role": "system", "content": "You write SQLite."}
    assert chat[1]["content"].startswith("Answer in SQL.\nSchema:\nS\nQuestion:")
    # data.evidence is the one switch: off, the example's evidence never reaches the prompt.
    from t2s.data.prompts import prompt_evidence

    no_evidence = build_prompt("q", "S", "inst", prompt, prompt_evidence("a = x", False))
    assert "Evidence" not in no_evidence


def test_ddl_schema_style_with_keys_and_samples():
    text = serialize_schema(SCHEMA, include_keys=True, samples={("singer", "name"): ["Ann"]},
                            style="ddl")
    assert text == ("CREATE TABLE singer (\n  id number,\n  name text,  -- e.g. 'Ann'\n"
                    "  PRIMARY KEY (id)\n);\nCREATE TABLE song (\n  id number,\n"
                    "  singer_id number,\n  PRIMARY KEY (id),\n"
                    "  FOREIGN KEY (singer_id) REFERENCES singer(id)\n);")
    assert serialize_schema(SCHEMA).startswith("TABLE: singer (id (number), name (text))")


def test_prompt_settings_are_config_under_data(tmp_path):
    config = load_config(None, ["data.prompt.system=Be brief.", "data.schema.style=ddl",
                                "data.prompt.chat_template=llama2"])
    assert config.data.prompt.system == "Be brief." and config.data.schema.style == "ddl"
    from t2s.errors import ConfigError

    with pytest.raises(ConfigError, match="data.prompt.chat_template"):
        load_config(None, ["data.prompt.chat_template=zephyr"])


@pytest.mark.parametrize("separator", ["\n", " "])
def test_tiny_pretraining_splits_either_separator(separator):
    prompt = PromptConfig(completion_separator=separator)
    text = build_prompt("How many?", "TABLE: t (a (text))", "inst", prompt) + build_completion(
        "SELECT count(*) FROM t", "inst", prompt)
    head, question, sep, sql = _split_example(text)
    assert question == "How many?" and sql == "SELECT count(*) FROM t"
    assert sep == " [/INST]" + separator


def test_inference_builds_the_configured_prompt(make_config):
    """Inference builds the configured prompt (``--show-prompt`` prints it: test_real_tokenizers)."""
    from t2s.inference.pipeline import Predictor, SchemaResolver

    config = make_config("data.prompt.instruction=Write one SQLite query.",
                         "data.schema.style=ddl")
    from t2s.data.sources import open_dataset
    from t2s.inference.pipeline import Question

    dataset = open_dataset(config.data)
    predictor = Predictor(None, SchemaResolver(config.data.schema, dataset), config.infer,
                          config.data.prompt_format, prompt=config.data.prompt)
    prompt, _ = predictor.prompt_for(Question(id="0", question="How many?", db_id="university"))
    assert prompt.startswith("[INST] Write one SQLite query.\nSchema:\nCREATE TABLE ")
