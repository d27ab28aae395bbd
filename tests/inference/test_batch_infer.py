"""Batch jobs: input formats and bad rows, sharding, and resuming after a kill
without losing or duplicating a row."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import inference_overrides
from t2s.config import Decoding, InferConfig, SchemaTextConfig
from t2s.errors import InputError
from t2s.inference.batch import remaining_questions, repair_output, run_batch, written_ids
from t2s.inference.generate import Generation
from t2s.inference.pipeline import Predictor, Question, SchemaResolver
from t2s.inference.questions import (
    InputDefaults,
    read_questions,
    resolve_shard,
    select_shard,
    shard_output_path,
)

ROOT = Path(__file__).resolve().parents[2]


def _db(sample_dir: Path, db_id: str = "concert_hall") -> Path:
    return sample_dir / "database" / db_id / f"{db_id}.sqlite"


class FakeBackend:
    """Answers each prompt with SQL derived from its text, in batches, like SQLGenerator."""

    def __init__(self, batch_size: int = 3) -> None:
        self.decoding = Decoding(batch_size=batch_size, max_new_tokens=8)
        self.context_length = None
        self.calls = 0

    def encode(self, prompt):
        return prompt.split()

    def render(self, prompt):
        return prompt

    def generate(self, prompts, num_candidates=1, on_batch=None):
        self.calls += 1
        out = []
        for prompt in prompts:
            question = prompt.split("Question: ")[1].removesuffix(" [/INST]")
            sql = f"SELECT {len(question)}"
            out.append(Generation(sql=sql, completion="\n" + sql, candidates=(sql,),
                                  prompt_tokens=len(prompt.split()), completion_tokens=3,
                                  latency_s=0.01, batch_size=len(prompts)))
        if on_batch is not None:
            on_batch(len(prompts))
        return out


def _fake_predictor(sample_dir: Path, batch_size: int = 3) -> Predictor:
    from t2s.data.spider import SpiderDataset

    return Predictor(FakeBackend(batch_size), SchemaResolver(SchemaTextConfig(), SpiderDataset(sample_dir)),
                     InferConfig(batch_size=batch_size))


def _write_jsonl(path: Path, records: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------------------
# Reading inputs


def test_jsonl_bad_rows_carry_errors_and_the_rest_is_read(tmp_path, sample_dir):
    db = _db(sample_dir)
    path = _write_jsonl(tmp_path / "q.jsonl", [
        {"id": "a", "question": "How many venues?", "db": str(db)},
        '{"id": "broken", "question": ',
        {"id": "noq", "db": str(db)},
        "",
        {"question": "Default db?"},
        ["not", "an", "object"],
        {"id": "rel", "question": "Relative?", "db": "db.sqlite"},
    ])
    (tmp_path / "db.sqlite").write_bytes(db.read_bytes())
    questions = read_questions(path, defaults=InputDefaults(db_path=str(db)))
    assert [q.id for q in questions] == ["a", "1", "noq", "3", "4", "rel"]
    by_id = {q.id: q for q in questions}
    assert by_id["a"].error is None and by_id["a"].db_path == str(db)
    assert "line 2: not valid JSON" in by_id["1"].error
    assert "line 3: missing or empty 'question'" in by_id["noq"].error
    assert by_id["3"].db_path == str(db) and by_id["3"].error is None  # the --db default
    assert "expected an object" in by_id["4"].error
    assert by_id["rel"].db_path == str(tmp_path / "db.sqlite")  # next to the input file


def test_csv_and_spider_json_inputs(tmp_path, sample_dir):
    csv_path = tmp_path / "q.csv"
    csv_path.write_text('id,question,db_id\nx1,"How many venues, in total?",concert_hall\n'
                        "x2,,concert_hall\nx3,Too,many,fields\n", encoding="utf-8")
    rows = read_questions(csv_path)
    assert rows[0] == Question("x1", "How many venues, in total?", db_id="concert_hall")
    assert "missing or empty 'question'" in rows[1].error
    assert "more fields than the header" in rows[2].error
    spider = tmp_path / "dev.json"
    spider.write_text(json.dumps([{"question": "Q?", "query": "SELECT 1", "db_id": "clinic"},
                                  {"question": "R?", "db_id": "clinic", "id": "r"}]))
    assert [(q.id, q.db_id) for q in read_questions(spider)] == [("0", "clinic"), ("r", "clinic")]
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(InputError, match="not valid JSON"):
        read_questions(broken, "json")
    with pytest.raises(InputError, match="does not exist"):
        read_questions(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match="cannot tell the format"):
        read_questions(_write_jsonl(tmp_path / "q.txt", [{"question": "x"}]))


def test_bad_databases_become_error_rows_and_the_job_continues(tmp_path, sample_dir):
    not_sqlite = tmp_path / "notes.sqlite"
    not_sqlite.write_text("not a database")
    path = _write_jsonl(tmp_path / "q.jsonl", [
        {"id": "ok", "question": "How many venues?", "db": str(_db(sample_dir))},
        {"id": "missing", "question": "How many?", "db": str(tmp_path / "nope.sqlite")},
        {"id": "text", "question": "How many?", "db": str(not_sqlite)},
        {"id": "unknown", "question": "How many?", "db_id": "no_such_db"},
        {"id": "ok2", "question": "How many patients?", "db_id": "clinic"},
    ])
    out = tmp_path / "a.jsonl"
    summary = run_batch(_fake_predictor(sample_dir), read_questions(path), out, progress=False)
    rows = {r["id"]: r for r in _rows(out)}
    assert set(rows) == {"ok", "missing", "text", "unknown", "ok2"}
    assert rows["ok"]["error"] is None and rows["ok"]["sql"] == "SELECT 16"
    assert rows["ok2"]["error"] is None and rows["ok2"]["db"] == "clinic"
    assert "does not exist" in rows["missing"]["error"] and rows["missing"]["sql"] == ""
    assert "not an SQLite database" in rows["text"]["error"]
    assert "no_such_db" in rows["unknown"]["error"]
    assert (summary.written, summary.errors) == (5, 3)


# ---------------------------------------------------------------------------
# Sharding


def test_shards_partition_the_input():
    questions = [Question(str(i), f"q{i}", db_id="d") for i in range(10)]
    shards = [select_shard(questions, i, 3) for i in range(3)]
    assert sorted(q.id for s in shards for q in s) == sorted(q.id for q in questions)
    assert [len(s) for s in shards] == [4, 3, 3]
    assert shard_output_path("out/a.jsonl", 2, 8).name == "a.shard-00002-of-00008.jsonl"
    assert shard_output_path("out/a.jsonl", 0, 1) == Path("out/a.jsonl")


def test_shard_comes_from_the_slurm_array_when_not_given():
    array = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "8"}
    assert resolve_shard(None, None, array) == (4, 8)
    assert resolve_shard(2, 4, array) == (2, 4)  # explicit arguments win
    assert resolve_shard(None, None, {}) == (0, 1)
    with pytest.raises(InputError, match="needs --shard"):
        resolve_shard(None, 4, {})
    with pytest.raises(InputError, match="0 <= shard"):
        resolve_shard(4, 4, {})


# ---------------------------------------------------------------------------
# Resuming


def test_torn_last_line_is_cut_and_ids_are_counted(tmp_path):
    out = tmp_path / "a.jsonl"
    out.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "sq', encoding="utf-8")
    assert repair_output(out) == len('{"id": "c", "sq')
    assert out.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    assert repair_output(out) == 0
    assert written_ids(out) == Counter({"a": 1, "b": 1})
    out.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(InputError, match="line 2 is not an output record"):
        written_ids(out)
    torn_only = tmp_path / "b.jsonl"
    torn_only.write_text('{"id": "a", "s')
    repair_output(torn_only)
    assert torn_only.read_text() == ""


def test_repeated_ids_are_neither_lost_nor_duplicated():
    questions = [Question(i, "q", db_id="d") for i in ["a", "b", "a", "c"]]
    left = remaining_questions(questions, Counter({"a": 1, "b": 1}))
    assert [q.id for q in left] == ["a", "c"]


def test_resume_after_a_crash_gives_the_same_rows_as_one_run(tmp_path, sample_dir):
    records = [{"id": f"q{i}", "question": f"How many venues {'x' * i}?", "db_id": "concert_hall"}
               for i in range(11)]
    path = _write_jsonl(tmp_path / "q.jsonl", records)
    questions = read_questions(path)
    straight = tmp_path / "straight.jsonl"
    run_batch(_fake_predictor(sample_dir), questions, straight, progress=False)
    resumed = tmp_path / "resumed.jsonl"
    lines = straight.read_text().splitlines(keepends=True)
    # A crash after 4 whole rows and half of the 5th.
    resumed.write_text("".join(lines[:4]) + lines[4][:25])
    predictor = _fake_predictor(sample_dir)
    summary = run_batch(predictor, questions, resumed, progress=False)
    assert (summary.skipped, summary.written, summary.repaired_bytes) == (4, 7, 25)

    def without_timing(rows):  # latency and batch size depend on how the run was cut
        return sorted(json.dumps({k: v for k, v in r.items() if k not in ("latency_s", "batch_size")})
                      for r in rows)

    assert without_timing(_rows(resumed)) == without_timing(_rows(straight))
    again = run_batch(_fake_predictor(sample_dir), questions, resumed, progress=False)
    assert (again.skipped, again.written) == (11, 0)
    assert len(_rows(resumed)) == 11


def test_refuses_to_append_to_a_foreign_file(tmp_path, sample_dir):
    out = tmp_path / "notes.jsonl"
    out.write_text("my notes\n")
    with pytest.raises(InputError, match="refusing to append"):
        run_batch(_fake_predictor(sample_dir), [Question("a", "q", db_id="clinic")], out,
                  progress=False)


# ---------------------------------------------------------------------------
# With the real tiny model


def test_cli_batch_job_writes_one_row_per_input_and_a_manifest(tmp_path, sample_dir, adapter_dir,
                                                              capsys):
    from t2s.cli import main

    path = _write_jsonl(tmp_path / "q.jsonl", [
        {"id": "a", "question": "How many venues are there?", "db": str(_db(sample_dir))},
        '{"broken',
        {"id": "b", "question": "How many patients are there?", "db_id": "clinic"},
        {"id": "long", "question": "How many " + "very " * 600 + "old venues?",
         "db": str(_db(sample_dir))},
    ])
    out = tmp_path / "out" / "answers.jsonl"
    status = main(["infer", "--input", str(path), "--output", str(out), "--no-progress",
                   "--config", str(ROOT / "configs" / "tiny.yaml"),
                   *inference_overrides(sample_dir, adapter_dir)])
    assert status == 0
    rows = {r["id"]: r for r in _rows(out)}
    assert set(rows) == {"a", "1", "b", "long"}
    for good in ("a", "b"):
        assert rows[good]["error"] is None and rows[good]["prompt_tokens"] > 0
        assert 0 < rows[good]["completion_tokens"] <= 12 and rows[good]["latency_s"] > 0
    assert "not valid JSON" in rows["1"]["error"]
    assert "context of" in rows["long"]["error"]
    manifest = json.loads((out.parent / "answers.manifest.json").read_text())
    assert manifest["last_run"]["written"] == 4 and manifest["last_run"]["errors"] == 2
    assert manifest["model"]["adapter_sha256"] and manifest["input"]["sha256"]
    assert "wrote 4 rows (2 with errors)" in capsys.readouterr().out


def test_killed_job_resumes_without_losing_or_duplicating_rows(tmp_path, sample_dir, adapter_dir):
    questions = [{"id": f"q{i}", "question": f"How many venues have capacity above {i * 100}?",
                  "db": str(_db(sample_dir))} for i in range(24)]
    path = _write_jsonl(tmp_path / "q.jsonl", questions)
    out = tmp_path / "answers.jsonl"
    command = [sys.executable, "-m", "t2s.cli", "infer", "--input", str(path), "--output", str(out),
               "--no-progress", "--config", str(ROOT / "configs" / "tiny.yaml"),
               *inference_overrides(sample_dir, adapter_dir, "infer.batch_size=1",
                                                   "infer.max_new_tokens=4")]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    # batch_size 1 -> windows of 4 questions: the job kills itself right after
    # committing its second window (t2s.faults), wherever the machine's load.
    killed = subprocess.run(command, env={**env, "T2S_CRASH_AT": "batch-window:8"},
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    written_before = len(_rows(out))
    assert written_before == 8
    with out.open("a") as handle:  # as if the kill had landed mid-line
        handle.write('{"id": "q99", "question": "half a li')
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    ids = [r["id"] for r in _rows(out)]
    assert sorted(ids) == sorted(q["id"] for q in questions)  # each exactly once
    assert f"skipped {written_before} already written" in finished.stdout
    assert "cut a torn last line" in finished.stdout


def test_a_second_writer_of_the_same_output_is_refused_at_once(tmp_path, sample_dir, adapter_dir):
    from t2s.outputs import WriterLock

    path = _write_jsonl(tmp_path / "q.jsonl", [{"id": "a", "question": "How many venues?",
                                                 "db": str(_db(sample_dir))}])
    out = tmp_path / "answers.jsonl"
    command = [sys.executable, "-m", "t2s.cli", "infer", "--input", str(path), "--output", str(out),
               "--no-progress", "--config", str(ROOT / "configs" / "tiny.yaml"),
               *inference_overrides(sample_dir, adapter_dir)]
    with WriterLock(out, "batch output"):  # a first job holds the output
        second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 2
    assert f"batch output {out} is being written by another job (pid {os.getpid()}" \
        in second.stderr
    assert not out.exists() and "Traceback" not in second.stderr
    # Once the first job is gone, the lock is free again.
    third = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stderr[-2000:]
    assert [r["id"] for r in _rows(out)] == ["a"]


# ---------------------------------------------------------------------------
# Bad bytes and headers


def test_a_non_utf8_line_is_an_error_row_and_the_job_continues(tmp_path, sample_dir):
    path = tmp_path / "q.jsonl"
    path.write_bytes(b'{"id": "a", "question": "How many venues?", "db_id": "concert_hall"}\n'
                     b'{"id": "b", "question": "How many caf\xe9s?", "db_id": "concert_hall"}\n'
                     b'{"id": "c", "question": "How many patients?", "db_id": "clinic"}\n')
    questions = read_questions(path)
    assert [q.id for q in questions] == ["a", "1", "c"]  # the bad line's id is its position
    assert questions[0].error is None and questions[2].error is None
    assert questions[1].error == "line 2: not valid UTF-8 (byte 0xe9 at column 38)"  # t2s.jsonio
    assert "\ufffd" not in questions[1].question
    out = tmp_path / "a.jsonl"
    summary = run_batch(_fake_predictor(sample_dir), questions, out, progress=False)
    rows = _rows(out)
    assert [r["error"] is None for r in rows] == [True, False, True]
    assert rows[1]["sql"] == "" and "not valid UTF-8" in rows[1]["error"]
    assert (summary.written, summary.errors) == (3, 1)
    csv_path = tmp_path / "q.csv"
    csv_path.write_bytes(b"id,question,db_id\nx,How many caf\xe9s?,clinic\ny,Fine?,clinic\n")
    rows = read_questions(csv_path)
    assert rows[0].error == "line 2: not valid UTF-8" and rows[1].error is None


def test_hostile_lines_are_error_rows_and_the_job_continues(tmp_path, sample_dir):
    """Nesting past Python's recursion limit, a line past the cap and a question past
    its limit each become one error row (t2s.jsonio, MAX_QUESTION_CHARS); no traceback."""
    from t2s.data.spider import MAX_QUESTION_CHARS
    from t2s.jsonio import MAX_LINE_BYTES

    good = {"question": "How many venues?", "db_id": "concert_hall"}
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "a", **good}),
        "[" * 100_000,
        json.dumps({"id": "huge", "question": "x" * MAX_LINE_BYTES, "db_id": "clinic"}),
        json.dumps({"id": "long", "question": "x" * (MAX_QUESTION_CHARS + 1), "db_id": "clinic"}),
        json.dumps({"id": "at", "question": "x" * MAX_QUESTION_CHARS, "db_id": "clinic"}),
        json.dumps({"id": "z", **good})]) + "\n", encoding="utf-8")
    questions = read_questions(path)
    assert [q.id for q in questions] == ["a", "1", "2", "long", "at", "z"]
    assert "line 2: nested too deeply" in questions[1].error
    assert "line 3: longer than the limit of 1,048,576 bytes" in questions[2].error
    assert questions[3].error == (f"line 4: question is {MAX_QUESTION_CHARS + 1:,} characters, "
                                  f"over the limit of {MAX_QUESTION_CHARS:,} "
                                  "(t2s.data.spider.MAX_QUESTION_CHARS)")
    assert [q.error is None for q in questions] == [True, False, False, False, True, True]
    out = tmp_path / "a.jsonl"
    summary = run_batch(_fake_predictor(sample_dir), [q for q in questions if q.id != "at"], out,
                        progress=False)
    assert (summary.written, summary.errors) == (5, 3)
    assert [r["id"] for r in _rows(out)] == ["a", "1", "2", "long", "z"]


def test_a_csv_field_past_the_csv_limit_is_an_error_row(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("id,question,db_id\na,Fine?,clinic\nb," + "x" * 200_000 + ",clinic\n"
                    "c,Also fine?,clinic\n", encoding="utf-8")
    rows = read_questions(path)
    assert [(r.id, r.error) for r in rows] == [
        ("a", None), ("1", "line 3: field larger than field limit (131072)"), ("c", None)]


def test_csv_without_a_question_column_fails_once_before_the_model_loads(tmp_path, capsys):
    from t2s.cli import main

    path = tmp_path / "q.csv"
    path.write_text("id,text,db\n1,How many venues?,x.sqlite\n2,How many?,x.sqlite\n")
    with pytest.raises(InputError, match="header row has no 'question' column.*'text'"):
        read_questions(path)
    # No model exists at the adapter path: the header error must come first.
    status = main(["infer", "--input", str(path), "--output", str(tmp_path / "a.jsonl"),
                   "--config", str(ROOT / "configs" / "tiny.yaml"),
                   f"infer.adapter_path={tmp_path / 'no_model'}"])
    err = capsys.readouterr().err
    assert status == 2 and "has no 'question' column" in err and "no_model" not in err
    assert not (tmp_path / "a.jsonl").exists()
    (tmp_path / "empty.csv").write_text("")
    assert read_questions(tmp_path / "empty.csv") == []


# ---------------------------------------------------------------------------
# Resuming only the same job


def test_resume_is_refused_for_another_job_or_an_output_without_manifest(tmp_path):
    from t2s.inference.batch import check_resumable, manifest_path

    out = tmp_path / "a.jsonl"
    job = {"input": {"sha256": "1" * 64}, "model": {"decoding": {"num_candidates": 3}}}
    check_resumable(out, job)  # no output yet: a new job
    out.write_text("")
    check_resumable(out, job)  # empty: nothing to mix with
    out.write_text('{"id": "a"}\n')
    with pytest.raises(InputError, match="no readable manifest.*--overwrite"):
        check_resumable(out, job)
    manifest_path(out).write_text(json.dumps({"input": {}}))
    with pytest.raises(InputError, match="without a 'job' entry"):
        check_resumable(out, job)
    manifest_path(out).write_text(json.dumps({"job": job}))
    check_resumable(out, json.loads(json.dumps(job)))  # the same job resumes
    other = {"input": {"sha256": "2" * 64}, "model": {"decoding": {"num_candidates": 1}}}
    with pytest.raises(InputError) as refused:
        check_resumable(out, other)
    message = str(refused.value)
    assert f'input.sha256: "{"1" * 64}" -> "{"2" * 64}"' in message
    assert "model.decoding.num_candidates: 3 -> 1" in message
    assert "new --output" in message and "--overwrite" in message


class FailingBackend(FakeBackend):
    def generate(self, prompts, num_candidates=1, on_batch=None):
        raise RuntimeError("out of memory")


def test_overwrite_keeps_the_old_output_until_new_rows_are_on_disk(tmp_path, sample_dir):
    out = tmp_path / "a.jsonl"
    old = '{"id": "old", "sql": "SELECT 1"}\n'
    out.write_text(old)
    questions = [Question(f"q{i}", f"How many venues {i}?", db_id="concert_hall") for i in range(5)]
    failing = _fake_predictor(sample_dir)
    failing.backend = FailingBackend()
    with pytest.raises(RuntimeError, match="out of memory"):
        run_batch(failing, questions, out, progress=False, overwrite=True)
    assert out.read_text() == old  # the failed restart lost nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]  # no temp file left
    seen_at_start = []
    summary = run_batch(_fake_predictor(sample_dir, batch_size=1), questions, out,
                        progress=False, overwrite=True,
                        on_start=lambda: seen_at_start.append(out.read_text()))
    # on_start ran once, when the new file (one window of 4 rows) had replaced the old one.
    assert len(seen_at_start) == 1 and len(seen_at_start[0].splitlines()) == 4
    assert "old" not in seen_at_start[0]
    assert [r["id"] for r in _rows(out)] == [f"q{i}" for i in range(5)]
    assert (summary.skipped, summary.written) == (0, 5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]


def test_cli_refuses_to_mix_jobs_in_one_output_and_overwrite_starts_over(tmp_path, sample_dir,
                                                                       adapter_dir, capsys):
    import shutil

    from t2s.cli import main

    db = _db(sample_dir)
    first = tmp_path / "q.csv"
    first.write_text(f"id,question,db\n1,How many venues?,{db}\n2,List venue names,{db}\n")
    second = _write_jsonl(tmp_path / "other.jsonl",
                          [{"id": "x", "question": "How many patients?", "db_id": "clinic"}])
    out = tmp_path / "g.jsonl"
    tiny = ["--no-progress", "--config", str(ROOT / "configs" / "tiny.yaml")]

    def infer(source, *extra, adapter=adapter_dir):
        return main(["infer", "--input", str(source), "--output", str(out), *tiny,
                     *inference_overrides(sample_dir, adapter), *extra])

    guided = ("infer.execution_guided=true", "infer.num_candidates=3")
    assert infer(first, *guided) == 0
    capsys.readouterr()
    before = out.read_bytes()
    manifest_before = (tmp_path / "g.manifest.json").read_bytes()
    # Another input and other decoding settings: refused, nothing touched.
    assert infer(second) == 2
    err = capsys.readouterr().err
    assert "holds rows of a different job" in err and "input.sha256" in err
    assert "model.decoding.num_candidates: 3 -> 1" in err and "--overwrite" in err
    assert out.read_bytes() == before
    assert (tmp_path / "g.manifest.json").read_bytes() == manifest_before
    # A retrained adapter (other weights) is another job too.
    retrained = tmp_path / "retrained"
    shutil.copytree(adapter_dir, retrained)
    weights = retrained / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    assert infer(first, *guided, adapter=retrained) == 2
    assert "model.adapter_sha256" in capsys.readouterr().err
    # The same job resumes as before.
    assert infer(first, *guided) == 0
    assert "skipped 2 already written" in capsys.readouterr().out
    # --overwrite starts over: only the new job's rows, and a manifest describing it.
    assert infer(second, "--overwrite") == 0
    assert [r["id"] for r in _rows(out)] == ["x"]
    manifest = json.loads((tmp_path / "g.manifest.json").read_text())
    assert manifest["job"]["input"]["format"] == "jsonl"
    assert manifest["job"]["model"]["decoding"]["num_candidates"] == 1
    assert manifest["last_run"]["written"] == 1
    # No temporary file is left behind; the lock file stays (removing a flock'ed
    # file while another job may be opening it would let two writers in).
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".g.jsonl.lock"]
    capsys.readouterr()
    assert infer(second) == 0
    assert "skipped 1 already written" in capsys.readouterr().out


def test_a_full_disk_is_one_message_and_the_rows_before_stay_valid(tmp_path, sample_dir,
                                                                   adapter_dir):
    """Output writes fail past a file-size limit (EFBIG, as a full disk's ENOSPC)."""
    import resource

    questions = [{"id": f"q{i}", "question": f"How many venues have capacity above {i}?",
                  "db": str(_db(sample_dir))} for i in range(120)]
    path = _write_jsonl(tmp_path / "q.jsonl", questions)
    out = tmp_path / "answers.jsonl"
    command = [sys.executable, "-m", "t2s.cli", "infer", "--input", str(path), "--output", str(out),
               "--no-progress", "--config", str(ROOT / "configs" / "tiny.yaml"),
               *inference_overrides(sample_dir, adapter_dir, "infer.max_new_tokens=4")]

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, do not kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_000, 16_000))

    full = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          preexec_fn=limit_file_size)
    assert full.returncode == 2, full.stderr[-2000:]
    assert "no space left while writing" in full.stderr and "Traceback" not in full.stderr
    whole = out.read_text(encoding="utf-8").split("\n")[:-1]  # a torn last line is dropped
    assert 0 < len([json.loads(line) for line in whole]) < len(questions)
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert sorted(r["id"] for r in _rows(out)) == sorted(q["id"] for q in questions)
