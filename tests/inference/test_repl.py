"""``t2s repl``: commands, switching databases, execution, Ctrl-C and Ctrl-D."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from conftest import inference_overrides
from t2s.config import Decoding, InferConfig, SchemaTextConfig
from t2s.inference.generate import Generation
from t2s.inference.pipeline import Predictor, SchemaResolver
from t2s.inference.repl_command import Repl, loop

ROOT = Path(__file__).resolve().parents[2]


class ScriptedBackend:
    """Returns fixed SQL; can raise KeyboardInterrupt to act like Ctrl-C mid-generation."""

    def __init__(self, sql: str = "SELECT count(*) FROM venue") -> None:
        self.decoding = Decoding()
        self.context_length = None
        self.sql = sql
        self.interrupt = False

    def encode(self, prompt):
        return prompt.split()

    def render(self, prompt):
        return prompt

    def generate(self, prompts, num_candidates=1, on_batch=None):
        if self.interrupt:
            self.interrupt = False
            raise KeyboardInterrupt
        return [Generation(sql=self.sql, completion="\n" + self.sql, candidates=(self.sql,),
                           prompt_tokens=5, completion_tokens=7, latency_s=0.1, batch_size=1)
                for _ in prompts]


@pytest.fixture
def repl(sample_dir):
    from t2s.data.spider import SpiderDataset

    output: list[str] = []
    backend = ScriptedBackend()
    predictor = Predictor(backend, SchemaResolver(SchemaTextConfig(), SpiderDataset(sample_dir)),
                          InferConfig())
    db = sample_dir / "database" / "concert_hall" / "concert_hall.sqlite"
    session = Repl(predictor, InferConfig(), db_path=str(db), write=output.append)
    session.output = output
    session.backend = backend
    return session


def _reader(lines):
    """A line reader that replays ``lines`` (str, or an exception to raise) and then hits EOF."""
    items = iter(lines)

    def read(_prompt: str) -> str:
        item = next(items, EOFError())
        if isinstance(item, BaseException):
            raise item
        return item

    return read


def test_question_prints_sql_and_execution_toggles(repl, sample_dir):
    with sqlite3.connect(sample_dir / "database" / "concert_hall" / "concert_hall.sqlite") as conn:
        venues = conn.execute("SELECT count(*) FROM venue").fetchone()[0]
    status = loop(repl, _reader(["How many venues?", ":exec", "How many venues?", ":exec off",
                                 ":pretty", "How many venues?", ":quit", "never read"]))
    assert status == 0
    text = "\n".join(repl.output)
    assert repl.output[1] == "SELECT count(*) FROM venue"
    assert "execution: on" in text and "execution: off" in text
    lines = text.splitlines()
    assert lines.count("(1 row)") == 1  # the result table printed once
    assert lines[lines.index("(1 row)") - 1].strip() == str(venues)
    assert "SELECT count(*)\nFROM venue" in text  # pretty printed
    assert "never read" not in text


def test_schema_prompt_and_switching_databases(repl, sample_dir, tmp_path):
    repl.handle(":schema")
    assert "TABLE: venue" in repl.output[-1]
    repl.handle(":prompt")
    assert repl.output[-1] == "(no prompt yet)"
    repl.handle("How many venues?")
    repl.handle(":prompt")
    assert repl.output[-1].endswith("Question: How many venues? [/INST]")
    broken = tmp_path / "broken.sqlite"
    broken.write_text("not sqlite")
    repl.handle(f":db {broken}")
    assert "not an SQLite database" in repl.output[-1] and "still on" in repl.output[-1]
    assert repl.db_path.endswith("concert_hall.sqlite")
    repl.handle(":dbid clinic")
    assert repl.output[-1] == "database: clinic" and repl.db_path is None
    repl.handle(":schema")
    assert "TABLE: patient" in repl.output[-1] and "TABLE: venue" not in repl.output[-1]
    repl.handle(":dbid no_such_db")
    assert "no_such_db" in repl.output[-1] and repl.db_id == "clinic"
    repl.handle(":frobnicate")
    assert "unknown command" in repl.output[-1]
    repl.handle(":exec maybe")
    assert repl.output[-1].startswith("usage")


def test_ctrl_c_cancels_generation_and_ctrl_d_exits(repl):
    repl.backend.interrupt = True
    status = loop(repl, _reader(["How many venues?", KeyboardInterrupt(), "How many venues?"]))
    assert status == 0
    assert "(generation cancelled)" in repl.output
    assert repl.output.count("SELECT count(*) FROM venue") == 1  # the second question ran


def test_failing_sql_is_reported_not_raised(repl):
    repl.backend.sql = "SELECT nope FROM venue"
    repl.execute = True
    repl.handle("How many?")
    assert repl.output[-1].startswith("execution failed (unknown_column)")


def test_repl_command_reads_piped_stdin(sample_dir, adapter_dir, monkeypatch, capsys):
    from t2s.cli import main

    db = sample_dir / "database" / "concert_hall" / "concert_hall.sqlite"
    monkeypatch.setattr("sys.stdin", io.StringIO("How many venues are there?\n:schema\n"))
    status = main(["repl", "--db", str(db), "--config", str(ROOT / "configs" / "tiny.yaml"),
                   *inference_overrides(sample_dir, adapter_dir)])
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith(f"t2s repl on {db}")
    assert "tokens in" in out and "TABLE: venue" in out


def test_repl_refuses_a_missing_database_before_loading_the_model(tmp_path, capsys):
    from t2s.cli import main

    assert main(["repl", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "does not exist" in capsys.readouterr().err
