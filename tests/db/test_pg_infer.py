"""``t2s infer`` and ``t2s repl`` on a live PostgreSQL database (issue 19).

The question's database is a DSN: the prompt's schema text is introspected from
the server, ``--execute`` runs the SQL there through sqlexec's read-only guard,
and no output (stdout, stderr, answer rows, manifest) ever holds the password.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from conftest import inference_overrides
from t2s.config import Decoding, InferConfig, SchemaTextConfig
from t2s.inference.display import execute_and_format
from t2s.inference.generate import Generation
from t2s.inference.pipeline import Predictor, Question, SchemaResolver
from t2s.inference.questions import InputDefaults, read_questions, split_database
from t2s.inference.repl_command import Repl, loop

from .conftest import ROOT, STAGES_SECRET


class FixedBackend:
    """Answers every prompt with one SQL text (the tiny test model writes nonsense)."""

    def __init__(self, sql: str) -> None:
        self.decoding, self.context_length, self.sql = Decoding(), None, sql

    def encode(self, prompt):
        return prompt.split()

    def render(self, prompt):
        return str(prompt)

    def generate(self, prompts, num_candidates=1, on_batch=None):
        return [Generation(sql=self.sql, completion=self.sql, candidates=(self.sql,),
                           prompt_tokens=5, completion_tokens=7, latency_s=0.1, batch_size=1)
                for _ in prompts]


def test_split_database_names_only_dsns():
    assert split_database("shop=postgresql://r@h/shop") == ("shop", "postgresql://r@h/shop")
    assert split_database("postgresql://r@/shop?host=/tmp&port=5") == (
        None, "postgresql://r@/shop?host=/tmp&port=5")
    assert split_database("a=b.sqlite") == (None, "a=b.sqlite")
    assert split_database(None) == (None, None)


def test_schema_text_comes_from_the_live_database(stages_db):
    resolver = SchemaResolver(SchemaTextConfig(include_keys=True, sample_values=2))
    text, target = resolver.resolve(Question("1", "How many singers?", db_path=stages_db["reader"]))
    assert target == stages_db["reader"]
    lines = text.splitlines()
    singer = next(line for line in lines if line.startswith("TABLE: singer"))
    assert "singer_id (number)" in singer and "name (text, e.g. 'Joe Sharp', 'Justin Brown')" in singer
    assert "PRIMARY KEY: singer (singer_id)" in lines
    assert any(line.startswith("TABLE: concert ") for line in lines)


def test_a_named_dsn_is_shown_by_its_name_and_executes(stages_db):
    sql = "SELECT name FROM singer WHERE age > 40 ORDER BY name"
    predictor = Predictor(FixedBackend(sql), SchemaResolver(SchemaTextConfig()), InferConfig())
    question = Question("1", "Who is over 40?", db_path=stages_db["secret_reader"], db_id="shop")
    prediction = predictor.predict([question])[0]
    assert prediction.error is None and prediction.db == "shop"
    assert STAGES_SECRET not in json.dumps(prediction.to_record())
    table = execute_and_format(stages_db["secret_reader"], prediction.sql, InferConfig())
    assert "Joe Sharp" in table and "Rose White" in table and "(2 rows)" in table
    # Unnamed, the DSN is shown redacted.
    unnamed = Question("2", "q", db_path=stages_db["secret_reader"])
    assert unnamed.db.startswith("postgresql://") and STAGES_SECRET not in unnamed.db


def test_question_files_may_name_a_dsn(tmp_path, stages_db):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"question": "a", "db": stages_db["reader"]}) + "\n"
                    + json.dumps({"question": "b"}) + "\n")
    first, second = read_questions(path, defaults=InputDefaults(stages_db["reader"], "shop"))
    assert first.db_path == stages_db["reader"] and first.db_id is None
    assert (second.db_path, second.db_id) == (stages_db["reader"], "shop")


def test_an_unreachable_server_is_an_error_row_not_a_crash(tmp_path):
    dsn = f"postgresql://nobody:{STAGES_SECRET}@/db?host={tmp_path}&port=1"
    predictor = Predictor(FixedBackend("SELECT 1"), SchemaResolver(SchemaTextConfig()), InferConfig())
    prediction = predictor.predict([Question("1", "q", db_path=dsn)])[0]
    assert prediction.error and "cannot connect" in prediction.error
    assert STAGES_SECRET not in prediction.error and STAGES_SECRET not in str(prediction.db)


def test_repl_switches_to_a_dsn_and_executes(stages_db):
    output: list[str] = []
    predictor = Predictor(FixedBackend("SELECT count(*) FROM singer"),
                          SchemaResolver(SchemaTextConfig()), InferConfig())
    repl = Repl(predictor, InferConfig(), write=output.append)
    lines = iter([f":db kennels={stages_db['secret_reader']}", ":schema", ":exec on",
                  "How many singers?"])

    def read(_prompt: str) -> str:
        line = next(lines, None)
        if line is None:
            raise EOFError
        return line

    assert loop(repl, read) == 0
    text = "\n".join(output)
    assert "database: kennels" in text and "TABLE: singer" in text
    assert "count" in text and " 4\n(1 row)" in text
    assert STAGES_SECRET not in text


# ---------------------------------------------------------------------------
# The CLI with the tiny trained adapter: prompts from the server, no password anywhere.


def _no_secret_anywhere(texts: list[str], folder: Path) -> None:
    for text in texts:
        assert STAGES_SECRET not in text
    for path in folder.rglob("*"):
        if path.is_file():
            assert STAGES_SECRET.encode() not in path.read_bytes(), path


def test_cli_infer_execute_and_batch_on_a_dsn(stages_db, sample_dir, adapter_dir, tmp_path,
                                              capsys, monkeypatch):
    from t2s.cli import main

    monkeypatch.setenv("PGPASSWORD", STAGES_SECRET)
    # The tiny adapter was trained for SQLite: told to run on PostgreSQL anyway.
    overrides = [*inference_overrides(sample_dir, adapter_dir, "infer.dialect_override=true"),
                 "--config", str(ROOT / "configs" / "tiny.yaml")]
    db = f"kennels={stages_db['secret_reader']}"
    status = main(["infer", "How many singers are there?", "--db", db, "--execute",
                   "--show-prompt", *overrides])
    single = capsys.readouterr()
    assert status == 0, single.err
    assert "TABLE: singer" in single.err and "TABLE: concert" in single.err
    # The 4-step model writes nonsense; the server's verdict is printed, never a crash.
    assert "execution failed" in single.out or "row" in single.out

    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps({"id": i, "question": q}) + "\n"
                                 for i, q in enumerate(["How many singers?", "Name concerts."])))
    answers = tmp_path / "answers.jsonl"
    status = main(["infer", "--input", str(questions), "--output", str(answers), "--db", db,
                   "--no-progress", *overrides])
    batch = capsys.readouterr()
    assert status == 0, batch.err
    rows = [json.loads(line) for line in answers.read_text().splitlines()]
    assert [r["db"] for r in rows] == ["kennels", "kennels"]
    assert all(r["error"] is None for r in rows), rows
    manifest = json.loads((tmp_path / "answers.manifest.json").read_text())
    assert manifest["job"]["defaults"]["db"].startswith("postgresql://")
    _no_secret_anywhere([single.out, single.err, batch.out, batch.err], tmp_path)


def test_cli_refuses_a_sqlite_model_on_a_dsn_before_loading_it(stages_db, tmp_path, capsys):
    from t2s.cli import main

    status = main(["infer", "How many singers?", "--db", f"shop={stages_db['secret_reader']}",
                   "--config", str(ROOT / "configs" / "tiny.yaml"),
                   f"infer.adapter_path={tmp_path / 'no_model'}"])
    err = capsys.readouterr().err
    assert status == 2 and "data.dialect=sqlite" in err and "shop" in err
    assert STAGES_SECRET not in err and "Traceback" not in err


def test_cli_repl_on_a_dsn(stages_db, sample_dir, adapter_dir, capsys, monkeypatch):
    from t2s.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO(":schema\nHow many singers?\n"))
    status = main(["repl", "--db", stages_db["secret_reader"], "--execute",
                   "--config", str(ROOT / "configs" / "tiny.yaml"),
                   *inference_overrides(sample_dir, adapter_dir, "infer.dialect_override=true")])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "TABLE: singer" in captured.out and "t2s repl on postgresql://" in captured.out
    assert STAGES_SECRET not in captured.out + captured.err


def test_a_postgres_model_gets_postgresql_ddl_of_the_live_database(stages_db):
    resolver = SchemaResolver(SchemaTextConfig(style="ddl"), dialect="postgres")
    text, _ = resolver.resolve(Question("1", "q", db_path=stages_db["reader"]))
    assert "CREATE TABLE singer" in text and "bigint" in text
    sqlite_style, _ = SchemaResolver(SchemaTextConfig(style="ddl")).resolve(
        Question("1", "q", db_path=stages_db["reader"]))
    assert "bigint" not in sqlite_style  # Spider's type words, as a SQLite-trained model saw
