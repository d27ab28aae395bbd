"""Generation: batched == one at a time, training-identical prompts, post-processing,
execution-guided selection, the removed in-process vLLM backend, and ``t2s infer`` for one question."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conftest import inference_overrides, sample_prompts
from t2s.config import Decoding, InferConfig, SchemaTextConfig, SqlLimits
from t2s.inference.generate import Generation
from t2s.inference.guided import GuidedStats, select_candidate, select_for_database
from t2s.inference.pipeline import Predictor, Question, SchemaResolver
from t2s.inference.postprocess import extract_sql, first_statement, pretty_sql
from t2s.sqlexec import ErrorKind, ExecResult

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------
# Post-processing


@pytest.mark.parametrize(("raw", "sql"), [
    ("\nSELECT count(*) FROM singer", "SELECT count(*) FROM singer"),
    ("\nSELECT  name FROM t ;  SELECT 2", "SELECT name FROM t"),
    ("\nSELECT a FROM t WHERE b = 'x;  y' ; DROP TABLE t", "SELECT a FROM t WHERE b = 'x;  y'"),
    ("\nSELECT 1 [INST] How many? [/INST] SELECT 2", "SELECT 1"),
    ("```sql\nSELECT name\nFROM t\n```\nThis query lists names.", "SELECT name FROM t"),
    ("SQL: SELECT * FROM t", "SELECT * FROM t"),
    ("\nSELECT x FROM t\n\nExplanation: the query", "SELECT x FROM t"),
    ("\nSELECT \"a;b\" FROM [x;y] WHERE c = 'it''s; ok'", "SELECT \"a;b\" FROM [x;y] WHERE c = 'it''s; ok'"),
    ("", ""),
    ("\n[INST]", ""),
])
def test_extract_sql(raw, sql):
    assert extract_sql(raw) == sql


def test_first_statement_keeps_an_unterminated_literal():
    assert first_statement("SELECT 'a; b") == "SELECT 'a; b"


def test_pretty_sql_is_display_only():
    sql = "select name from singer where age > 40 order by name"
    pretty = pretty_sql(sql)
    assert "\n" in pretty and pretty.startswith("SELECT")
    assert extract_sql(pretty) == extract_sql(sql.replace("select", "SELECT").replace(
        "from", "FROM").replace("where", "WHERE").replace("order by", "ORDER BY"))


# ---------------------------------------------------------------------------
# Execution-guided selection


def _fake_executor(outcomes: dict[str, ExecResult]):
    calls: list[str] = []

    def execute(sql: str) -> ExecResult:
        calls.append(sql)
        return outcomes[sql]

    return execute, calls


OK1 = ExecResult(rows=[(1,)])
OK2 = ExecResult(rows=[(2,)])
BAD = ExecResult(rows=[], error=ErrorKind.UNKNOWN_COLUMN, message="no such column: x")


def test_first_ok_skips_failing_candidates_and_stops_early():
    execute, calls = _fake_executor({"bad": BAD, "good": OK1, "later": OK2})
    selection = select_candidate(["bad", "bad", "good", "later"], execute)
    assert (selection.sql, selection.index, selection.changed) == ("good", 2, True)
    assert calls == ["bad", "good"]  # the duplicate ran once; 'later' never ran
    assert "no such column" in selection.errors["bad"]


def test_top_candidate_that_runs_is_kept_unchanged():
    execute, _ = _fake_executor({"a": OK1, "b": OK2})
    selection = select_candidate(["a", "b"], execute)
    assert (selection.sql, selection.changed) == ("a", False)


def test_nothing_executes_falls_back_to_the_top_candidate():
    execute, _ = _fake_executor({"x": BAD, "y": BAD})
    selection = select_candidate(["x", "y"], execute)
    assert (selection.sql, selection.index, selection.executed_ok) == ("x", 0, 0)


def test_majority_picks_the_largest_result_group():
    outcomes = {"a": OK1, "b": OK2, "c": OK2, "d": BAD, "e": ExecResult(rows=[(2,)])}
    execute, calls = _fake_executor(outcomes)
    selection = select_candidate(["a", "b", "d", "c", "e"], execute, strategy="majority")
    assert (selection.sql, selection.index) == ("b", 1)  # three candidates agree on 2
    assert set(calls) == set(outcomes)
    tie, _ = _fake_executor({"a": OK1, "b": OK2})
    assert select_candidate(["a", "b"], tie, strategy="majority").sql == "a"


def test_guided_rejects_bad_arguments():
    with pytest.raises(ValueError, match="strategy"):
        select_candidate(["a"], lambda s: OK1, strategy="vote")
    with pytest.raises(ValueError, match="at least one"):
        select_candidate([], lambda s: OK1)


def test_guided_selection_on_a_real_database_reports_changes(tmp_path):
    db = tmp_path / "t.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE singer (name TEXT, age INT)")
        conn.executemany("INSERT INTO singer VALUES (?, ?)", [("a", 30), ("b", 50)])
    stats = GuidedStats()
    first = select_for_database(["SELECT nme FROM singer", "SELECT name FROM singer WHERE age > 40"],
                                db, SqlLimits(timeout_s=5, max_rows=10))
    second = select_for_database(["SELECT count(*) FROM singer", "DROP TABLE singer"],
                                 db, SqlLimits(timeout_s=5, max_rows=10))
    for selection in (first, second):
        stats.add(selection)
    assert first.sql == "SELECT name FROM singer WHERE age > 40" and first.changed
    assert second.sql == "SELECT count(*) FROM singer" and not second.changed
    assert (stats.questions, stats.changed) == (2, 1)
    assert "changed 1/2" in stats.summary()
    with sqlite3.connect(db) as conn:  # the read-only guard held
        assert conn.execute("SELECT count(*) FROM singer").fetchone() == (2,)


class _SameCandidates:
    """A backend that answers every prompt with the same candidates, best first."""

    decoding = Decoding()
    context_length = None

    def __init__(self, candidates: tuple[str, ...]) -> None:
        self.candidates = candidates

    def encode(self, prompt):
        return prompt.split()

    def render(self, prompt):
        return prompt

    def generate(self, prompts, num_candidates=1, on_batch=None):
        return [Generation(sql=self.candidates[0], candidates=self.candidates[:num_candidates])
                for _ in prompts]


def test_the_predictor_selects_with_infer_guided_strategy(tmp_path):
    """The strategy is read from InferConfig, the one place it is set."""
    db = tmp_path / "t.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a INT)")
    backend = _SameCandidates(("SELECT 1", "SELECT 2", "SELECT 1 + 1"))
    chosen = {}
    for strategy in ("first_ok", "majority"):
        infer = InferConfig(execution_guided=True, num_candidates=3, guided_strategy=strategy)
        predictor = Predictor(backend, SchemaResolver(SchemaTextConfig()), infer)
        chosen[strategy] = predictor.predict([Question("0", "Which?", db_path=str(db))])[0].sql
    # first_ok keeps the top candidate (it runs); two of three candidates return 2.
    assert chosen == {"first_ok": "SELECT 1", "majority": "SELECT 2"}


# ---------------------------------------------------------------------------
# infer.backend=vllm is gone: the config says where to go instead


def test_in_process_vllm_backend_is_refused_with_the_engine_path(sample_dir):
    from t2s.config import load_config
    from t2s.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_config(Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml",
                    [f"data.root={sample_dir}", "infer.backend=vllm"])
    message = str(caught.value)
    assert "infer.backend" in message and "removed" in message
    assert "t2s engine" in message and "infer.backend=openai" in message


# ---------------------------------------------------------------------------
# Generation with real (tiny) models


def _random_llama(tokenizer, seed: int = 0):
    """A randomly initialised 2-layer Llama: its greedy outputs differ a lot between
    prompts, so any leak of padding into the computation would change them."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config).eval()




def test_batched_greedy_equals_one_at_a_time_on_a_random_model(sample_dir, adapter_dir):
    from t2s.inference.generate import SQLGenerator
    from t2s.models.loading import load_tokenizer

    tokenizer = load_tokenizer(str(adapter_dir))
    model = _random_llama(tokenizer)
    prompts = sample_prompts(sample_dir, 6)
    options = dict(max_new_tokens=10, stop_at_eos=False)
    batched = SQLGenerator(model, tokenizer, Decoding(batch_size=6, **options)).generate(prompts)
    single = SQLGenerator(model, tokenizer, Decoding(batch_size=1, **options)).generate(prompts)
    lengths = {g.prompt_tokens for g in batched}
    assert len(lengths) > 1, "prompts of equal length would not test padding"
    assert [g.completion for g in batched] == [g.completion for g in single]
    assert len({g.completion for g in batched}) > 1, "outputs too uniform to be a test"
    assert all(g.batch_size == 6 for g in batched) and all(g.batch_size == 1 for g in single)
    assert all(g.completion_tokens == 10 for g in batched)


def test_without_eos_stopping_every_row_runs_to_max_new_tokens(sample_dir, adapter_dir):
    """Benchmarks time a fixed token count: a model that always says EOS must not stop.

    (generate() used to fall back to the model's eos_token_id, so with a model that
    learned to end its SQL the one-at-a-time benchmark timed far fewer tokens.)
    """
    import torch

    from t2s.inference.generate import SQLGenerator
    from t2s.models.loading import load_tokenizer

    tokenizer = load_tokenizer(str(adapter_dir))
    model = _random_llama(tokenizer)
    head = torch.nn.Linear(model.config.hidden_size, len(tokenizer), bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[tokenizer.eos_token_id] = 10.0  # EOS is every step's greedy choice
    model.lm_head = head
    prompts = sample_prompts(sample_dir, 3)
    for batch_size in (1, 3):
        stopping = SQLGenerator(model, tokenizer, Decoding(
            batch_size=batch_size, max_new_tokens=12)).generate(prompts)
        assert [g.completion_tokens for g in stopping] == [1, 1, 1]
        running = SQLGenerator(model, tokenizer, Decoding(
            batch_size=batch_size, max_new_tokens=12, stop_at_eos=False)).generate(prompts)
        assert [g.completion_tokens for g in running] == [12, 12, 12]


def test_batched_greedy_equals_one_at_a_time_with_the_adapter(sample_dir, infer_config):
    import dataclasses

    from t2s.inference.generate import SQLGenerator

    prompts = sample_prompts(sample_dir, 4)
    generator = SQLGenerator.from_config(infer_config.infer, infer_config.model)
    batched = generator.generate(prompts)
    generator.decoding = dataclasses.replace(generator.decoding, batch_size=1)
    single = generator.generate(prompts)
    assert [g.completion for g in batched] == [g.completion for g in single]
    assert [g.sql for g in batched] == [extract_sql(g.completion) for g in batched]


def test_beam_candidates_and_too_longsample_prompts(sample_dir, adapter_dir):
    from t2s.inference.generate import SQLGenerator
    from t2s.models.loading import load_tokenizer

    tokenizer = load_tokenizer(str(adapter_dir))
    prompts = sample_prompts(sample_dir, 3)
    lengths = sorted(len(tokenizer(text=p)["input_ids"]) for p in prompts)
    assert lengths[1] < lengths[2]
    limit = lengths[1] + 8  # the longest prompt + 8 new tokens does not fit
    generator = SQLGenerator(_random_llama(tokenizer), tokenizer,
                             Decoding(max_new_tokens=8, batch_size=4, stop_at_eos=False),
                             context_length=limit)
    results = generator.generate(prompts, num_candidates=3)
    too_long = [r for r in results if r.error]
    assert len(too_long) == 1 and "context of" in too_long[0].error
    assert too_long[0].prompt_tokens == lengths[2]
    for result in results:
        if not result.error:
            assert len(result.candidates) == 3 and result.candidates[0] == result.sql


def test_prompt_matches_training_exactly(sample_dir, infer_config, adapter_dir):
    from t2s.data.prompts import SchemaTextCache, build_prompt
    from t2s.data.sft import build_records
    from t2s.data.sources import open_dataset
    from t2s.inference.generate import encode_prompt
    from t2s.inference.pipeline import Question, SchemaResolver
    from t2s.models.loading import load_tokenizer

    dataset = open_dataset(infer_config.data)
    example = dataset.examples("dev.json")[3]
    schema = infer_config.data.schema
    record = build_records([example], SchemaTextCache(dataset.schemas, dataset.database_dir,
                                                      schema.include_keys, schema.sample_values))[0]
    resolver = SchemaResolver(schema, dataset)
    text, path = resolver.resolve(Question("3", example.question, db_id=example.db_id))
    assert build_prompt(example.question, text) == record["prompt"]
    assert path == dataset.database_path(example.db_id)
    tokenizer = load_tokenizer(str(adapter_dir))
    ids = encode_prompt(tokenizer, record["prompt"])
    assert tokenizer(text=record["prompt"] + record["completion"])["input_ids"][:len(ids)] == ids


def test_generate_predictions_for_evaluation(sample_dir, infer_config):
    from t2s.data.sources import open_dataset
    from t2s.inference import generate_predictions

    dataset = open_dataset(infer_config.data)
    examples = dataset.examples("dev.json")[:3]
    predictions = generate_predictions(infer_config, examples, dataset, progress=False)
    assert [p.id for p in predictions] == [str(e.index) for e in examples]
    assert all(p.error is None and p.prompt_tokens > 0 for p in predictions)
    assert all(0 < p.completion_tokens <= infer_config.infer.max_new_tokens for p in predictions)


def test_execution_guided_predictions_report_their_candidates(infer_config):
    import dataclasses

    from t2s.data.sources import open_dataset
    from t2s.inference.pipeline import Question, build_predictor

    config = dataclasses.replace(infer_config, infer=dataclasses.replace(
        infer_config.infer, execution_guided=True, num_candidates=3))
    dataset = open_dataset(config.data)
    predictor = build_predictor(config, dataset)
    examples = dataset.examples("dev.json")[:2]
    predictions = predictor.predict([Question(str(e.index), e.question, db_id=e.db_id)
                                     for e in examples])
    assert predictor.stats.questions == 2
    for prediction in predictions:
        assert len(prediction.candidates) == 3 and prediction.sql in prediction.candidates
        assert prediction.guided_changed == (prediction.sql != prediction.candidates[0])
        assert {"candidates", "guided_changed"} <= set(prediction.to_record())


# ---------------------------------------------------------------------------
# t2s infer, one question


def test_infer_one_question_on_a_live_sqlite_file(sample_dir, adapter_dir, capsys):
    from t2s.cli import main

    db = sample_dir / "database" / "concert_hall" / "concert_hall.sqlite"
    status = main(["infer", "How many venues are there?", "--db", str(db), "--execute",
                   "--show-prompt", "--config", str(ROOT / "configs" / "tiny.yaml"),
                   *inference_overrides(sample_dir, adapter_dir)])
    captured = capsys.readouterr()
    assert status == 0
    assert "TABLE: venue" in captured.err and "How many venues are there? [/INST]" in captured.err
    lines = captured.out.splitlines()
    assert lines, "no SQL printed"
    # The 4-step model writes nonsense; execution must report it, not crash.
    assert "execution failed" in captured.out or "row" in captured.out


@pytest.mark.parametrize(("argv", "message"), [
    (["How many?", "--db", "/no/such.sqlite"], "does not exist"),
    (["How many?"], "needs --db"),
    (["How many?", "--input", "x.jsonl", "--output", "y.jsonl"], "not both"),
    (["--input", "x.jsonl"], "needs --output"),
    (["How many?", "--db", str(ROOT / "src")], f"database {ROOT / 'src'} is a directory, not a "
                                                 "SQLite file"),
    (["", "--db", "/no/such.sqlite"], "the question is empty"),
    (["  ", "--db-id", "clinic"], "the question is empty"),
    (["How many?", "--db", "x.sqlite", "--overwrite"], "--overwrite is only for batch jobs"),
])
def test_infer_argument_errors_are_one_line(argv, message, capsys, tmp_path):
    from t2s.cli import main

    # No model at the adapter path: each error must come before the model loads.
    assert main(["infer", *argv, f"infer.adapter_path={tmp_path / 'no_model'}"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_overrides_may_follow_options_and_are_not_taken_for_the_question():
    from t2s.cli import build_parser
    from t2s.inference.command import split_question

    parser = build_parser("infer")
    args = parser.parse_args(["infer", "How many singers?", "--db", "x", "infer.batch_size=2"])
    split_question(args)
    assert (args.question, args.db, args.overrides) == ("How many singers?", "x",
                                                        ["infer.batch_size=2"])
    args = parser.parse_args(["infer", "infer.max_new_tokens=5", "--input", "q.jsonl"])
    split_question(args)
    assert args.question is None and args.overrides == ["infer.max_new_tokens=5"]


def test_execute_and_format_prints_a_table(sample_dir):
    from t2s.inference.display import execute_and_format, format_table

    db = sample_dir / "database" / "concert_hall" / "concert_hall.sqlite"
    with sqlite3.connect(db) as conn:
        expected = conn.execute("SELECT count(*) FROM venue").fetchone()[0]
    shown = execute_and_format(db, "SELECT count(*) FROM venue", InferConfig())
    assert shown.splitlines()[2].strip() == str(expected) and "(1 row)" in shown
    failed = execute_and_format(db, "DELETE FROM venue", InferConfig())
    assert failed.startswith("execution failed")
    assert "(3 rows, 1 not shown)" in format_table([(1,), (2,), (3,)], max_rows=2)
