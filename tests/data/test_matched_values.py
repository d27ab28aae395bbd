"""Values matched to the question's words in the schema text (``data.schema.matched_values``)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from t2s.config import load_config
from t2s.data.prompts import SchemaTextCache, build_completion, build_prompt
from t2s.data.schema_text import ValueIndex, serialize_schema
from t2s.data.spider import Column, DatabaseSchema, SpiderDataset, Table
from t2s.errors import ConfigError
from t2s.inference.adapter_prompt import load_inference_config
from t2s.models.tiny import swap_values

ROOT = Path(__file__).resolve().parents[2]
ARTISTS = ("concert_hall", "artist")


def _index(sample_dir: Path, db_id: str = "concert_hall") -> ValueIndex:
    dataset = SpiderDataset(sample_dir)
    return ValueIndex.read(dataset.database_path(db_id), dataset.schema(db_id))


def test_a_question_naming_a_value_finds_it_in_its_column(sample_dir):
    index = _index(sample_dir)
    assert index.match("Show the names of the artists from Norway.", 3) == {
        ("artist", "country"): ["Norway"]}
    # A multi-word value matches as a run of the question's words, case-insensitively.
    assert index.match("list every album by THE PAPER forests", 3) == {
        ("artist", "name"): ["The Paper Forests"]}


def test_an_unrelated_question_matches_nothing(sample_dir):
    index = _index(sample_dir)
    assert index.match("What is the total number of venues?", 3) == {}
    assert index.match("Show the names of the artists from Norway.", 0) == {}


def test_ranking_runs_then_length_and_the_per_column_cap():
    index = ValueIndex({("t", "name"): ["Hall, Rusty", "Rusty", "Rusty Hall", "The", "Hall"],
                        ("t", "city"): ["Oslo", "Bergen"]})
    matched = index.match("Concerts at Rusty Hall in oslo?", 3)
    # Runs of the question's words before words found apart; longer runs first;
    # a stopword-only value ("The") never matches.
    assert matched == {("t", "name"): ["Rusty Hall", "Rusty", "Hall"], ("t", "city"): ["Oslo"]}
    assert index.match("Concerts at Rusty Hall in oslo?", 1)[("t", "name")] == ["Rusty Hall"]
    assert index.match("Where is Hall Rusty?", 4)[("t", "name")] == [
        "Hall, Rusty", "Rusty", "Hall", "Rusty Hall"]


def test_matched_values_render_like_sample_values_in_both_styles():
    schema = DatabaseSchema("d", (Table("artist", (Column("id", "number"),
                                                   Column("country", "text"))),), ())
    values = ValueIndex({("artist", "country"): ["Norway", "Peru"]}).match("From norway?", 3)
    assert serialize_schema(schema, samples=values) == (
        "TABLE: artist (id (number), country (text, e.g. 'Norway'))")
    assert "  country text  -- e.g. 'Norway'" in serialize_schema(schema, samples=values,
                                                                   style="ddl")


def test_cache_shows_matched_values_before_samples_and_per_question(sample_dir):
    dataset = SpiderDataset(sample_dir)
    cache = SchemaTextCache(dataset.schemas, dataset.database_dir, sample_values=1,
                            matched_values=2)
    norway = cache.text(*ARTISTS[:1], "Which artists are from Norway?")
    plain = cache.text(*ARTISTS[:1], "How many artists are there?")
    assert "country (text, e.g. 'Norway', " in norway
    assert "'Norway'" not in plain and "country (text, e.g. '" in plain


def test_training_and_inference_prompts_are_identical_with_matched_values(make_config, tmp_path):
    from t2s.data.sft import build_records
    from t2s.data.sources import open_dataset
    from t2s.inference.pipeline import Predictor, Question, SchemaResolver

    config = make_config("data.schema.matched_values=3", "data.schema.style=ddl")
    dataset = open_dataset(config.data)
    examples = [e for e in dataset.examples("dev.json") if '"' in e.query][:5]
    records = build_records(examples, SchemaTextCache.from_config(
        dataset.schemas, dataset.database_dir, config.data.schema), config.data.prompt_format,
        prompt=config.data.prompt)
    predictor = Predictor(None, SchemaResolver(config.data.schema, dataset), config.infer,
                          config.data.prompt_format, prompt=config.data.prompt)
    shown = 0
    for example, record in zip(examples, records, strict=True):
        prompt, _ = predictor.prompt_for(Question(str(example.index), example.question,
                                                  db_id=example.db_id))
        assert prompt == record["prompt"]
        shown += "-- e.g. '" in prompt
    assert shown >= 3  # the matched values really are in these prompts
    # A live SQLite file (--db) is matched the same way as a dataset's database.
    live = tmp_path / "live.sqlite"
    shutil.copy(dataset.database_path("concert_hall"), live)
    text = SchemaResolver(config.data.schema).live_schema_text(live, "Artists from Norway?")
    assert "country text,  -- e.g. 'Norway'" in text


def test_matched_values_is_validated_and_saved_with_the_model(tmp_path):
    with pytest.raises(ConfigError, match="data.schema.matched_values: must be >= 0"):
        load_config(None, ["data.schema.matched_values=-1"])
    folder = tmp_path / "final_model"
    folder.mkdir()
    from t2s.config import dump_yaml

    dump_yaml(load_config(ROOT / "configs" / "tiny.yaml", ["data.schema.matched_values=3"]),
              folder / "config.yaml")
    config = load_inference_config(ROOT / "configs" / "tiny.yaml",
                                   [f"infer.adapter_path={folder}"])
    assert config.data.schema.matched_values == 3
    with pytest.raises(ConfigError, match="data.schema.matched_values: 3 \\(model\\) -> 0"):
        load_inference_config(ROOT / "configs" / "tiny.yaml",
                              [f"infer.adapter_path={folder}", "data.schema.matched_values=0"])


def test_tiny_pretraining_swaps_a_matched_value_in_the_schema_too():
    text = build_prompt("Artists from Norway?", "TABLE: artist (country (text, e.g. 'Norway'))") \
        + build_completion('SELECT name FROM artist WHERE country = "Norway"')
    swapped = swap_values(text, random.Random(0), ["Peru"])
    new = swapped.rsplit('"', 2)[1]
    assert new != "Norway" and "Norway" not in swapped
    assert f"e.g. '{new}'" in swapped and f"from {new}?" in swapped
