"""Tests for t2s.evaluation.sampling: pass@k, maj@k, and several candidates through the
runner, the report, ``t2s evaluate --pred`` and ``t2s compare``."""

from __future__ import annotations

import copy
import itertools
import json
import math
from fractions import Fraction
from pathlib import Path

import pytest

from conftest import ROOT, inference_overrides, make_dataset
from t2s.cli import main
from t2s.config import EvalConfig, SqlLimits, load_config
from t2s.errors import ConfigError, InputError
from t2s.evaluation.compare import compare_reports, format_comparison
from t2s.evaluation.execution import ExecutionEvaluator
from t2s.evaluation.inputs import GoldExample
from t2s.evaluation.report import render_markdown
from t2s.evaluation.runner import evaluate_predictions
from t2s.evaluation.sampling import (
    CandidateVerdicts,
    majority_choice,
    majority_value,
    pass_at_k,
    resolve_ks,
    score_candidates,
)
from t2s.inference.guided import select_for_database

GOLD = "SELECT name FROM item WHERE price < 5"       # shop: pen, ink, cup
RIGHT_1 = GOLD
RIGHT_2 = "SELECT name FROM item WHERE price <= 4"   # the same rows, other text
WRONG_1 = "SELECT name FROM item WHERE price < 2"    # pen, ink
WRONG_2 = "SELECT name FROM item WHERE price<2"      # the same wrong rows, other text
BROKEN = "SELECT nme FROM item"                      # does not run


def brute_force_pass_at_k(matches: list[bool], k: int) -> Fraction:
    """The share of the k-subsets of the candidates that hold a right one."""
    subsets = list(itertools.combinations(range(len(matches)), k))
    return Fraction(sum(any(matches[i] for i in s) for s in subsets), len(subsets))


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_enumeration_of_every_k_subset(n: int) -> None:
    for c in range(n + 1):
        matches = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(float(brute_force_pass_at_k(matches, k)),
                                                       abs=1e-15)


def test_pass_at_k_is_exact_for_large_n_and_refuses_impossible_counts() -> None:
    assert pass_at_k(200, 1, 1) == 1 / 200
    assert pass_at_k(200, 0, 50) == 0.0 and pass_at_k(200, 151, 50) == 1.0
    # Chen et al.'s product form, in exact fractions, for n = 500.
    exact = 1 - math.prod(Fraction(i - 100, i) for i in range(491, 501))
    assert pass_at_k(500, 10, 100) == pytest.approx(float(exact), rel=1e-15)
    for bad in ((3, 4, 1), (3, 1, 0), (3, 1, 4), (3, -1, 1)):
        with pytest.raises(ValueError):
            pass_at_k(*bad)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


def _scored(data: Path, candidates: list[str]) -> CandidateVerdicts:
    executor = ExecutionEvaluator(data / "database", timeout_s=2.0)
    try:
        return score_candidates(executor, "shop", GOLD, candidates)
    finally:
        executor.close()


def test_maj_at_k_votes_with_execution_results_on_a_real_database(data: Path) -> None:
    verdicts = _scored(data, [WRONG_1, RIGHT_1, RIGHT_2, BROKEN])
    assert verdicts.matches == (False, True, True, False)
    assert verdicts.votes == (0, 1, 1, None)  # equal results share a group; BROKEN does not vote
    # k=1: the first alone; k=2: a 1-1 tie goes to the group ranked first (wrong);
    # k=3: the two right candidates outvote it.
    assert [majority_value(verdicts, k) for k in (1, 2, 3, 4)] == [False, False, True, True]
    # Each draw votes, also when the model repeats a text.
    repeated = _scored(data, [RIGHT_1, WRONG_1, WRONG_1])
    assert majority_choice(repeated, 3) == 1 and not majority_value(repeated, 3)
    assert repeated.votes == (0, 1, 1)
    # Nothing ran: wrong, whatever k.
    nothing = _scored(data, [BROKEN, "", BROKEN])
    assert nothing.votes == (None, None, None)
    assert majority_choice(nothing, 3) is None and not majority_value(nothing, 3)


@pytest.mark.parametrize("candidates", [
    [WRONG_1, RIGHT_1, WRONG_2, RIGHT_2, BROKEN],   # a 2-2 tie: the first group wins
    [BROKEN, RIGHT_1, WRONG_1, RIGHT_2],            # the larger group wins
    [BROKEN, WRONG_2, RIGHT_2],                     # a 1-1 tie behind a failure
])
def test_maj_at_k_picks_what_guided_majority_selection_picks(data: Path,
                                                             candidates: list[str]) -> None:
    """Distinct texts (guided selection runs a repeated text once): the same pick, ties included."""
    guided = select_for_database(candidates, data / "database" / "shop" / "shop.sqlite",
                                 SqlLimits(2.0, 1000, 1 << 20), strategy="majority")
    verdicts = _scored(data, candidates)
    assert majority_choice(verdicts, len(candidates)) == guided.index


def test_resolve_ks_defaults_to_one_and_n() -> None:
    assert resolve_ks([], 5) == [1, 5]
    assert resolve_ks([], 1) == [1]
    assert resolve_ks([3, 1, 3], 5) == [1, 3]
    with pytest.raises(InputError, match=r"eval.pass_k \[6\] exceed the 5 candidates"):
        resolve_ks([1, 6], 5)


def test_sampling_settings_are_checked_at_load() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["eval.samples=3"])
    assert "infer.do_sample: true" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["eval.samples=3", "infer.do_sample=true", "infer.execution_guided=true",
                           "eval.pass_k=[1,4]"])
    message = str(caught.value)
    assert "infer.execution_guided" in message and "eval.pass_k: each k must be in [1, " in message
    with pytest.raises(ConfigError, match="need eval.etype all or exec, got match"):
        load_config(None, ["eval.samples=3", "infer.do_sample=true", "eval.etype=match"])
    config = load_config(None, ["eval.samples=3", "infer.do_sample=true", "eval.pass_k=[1,2]"])
    assert (config.eval.samples, config.eval.pass_k) == (3, [1, 2])


# Three examples on shop, three candidates each; the first candidate is the prediction.
EXAMPLES = [
    (GOLD, [WRONG_1, RIGHT_1, RIGHT_2]),               # c=2: maj@3 right, EX wrong
    ("SELECT count(*) FROM item", ["SELECT count(*) FROM item", BROKEN, BROKEN]),  # c=1
    ("SELECT max(price) FROM item", [BROKEN, "SELECT min(price) FROM item", ""]),  # c=0
]


def _gold() -> list[GoldExample]:
    return [GoldExample(index=i, gold=g, db_id="shop", id=str(i), question=f"q{i}?", line=i + 1)
            for i, (g, _) in enumerate(EXAMPLES)]


def _report(data: Path, out: Path, **options: object) -> dict:
    candidates = [c for _, c in EXAMPLES]
    return evaluate_predictions(
        _gold(), [c[0] for c in candidates], db_dir=data / "database",
        tables_path=data / "tables.json", options=EvalConfig(timeout_s=2.0, **options),
        out_path=out, workers=1, progress=False, candidates=candidates)


def test_the_report_has_pass_at_k_and_maj_at_k_with_intervals_and_keeps_the_verdicts(
        data: Path, tmp_path: Path) -> None:
    report = _report(data, tmp_path / "REPORT.json")
    summary = report["summary"]
    assert summary["sampling"] == {"n": 3, "k": [1, 3]}
    # pass@1 = mean(c / n) = (2/3 + 1/3 + 0) / 3; pass@3 = share of questions with a right one.
    assert summary["pass@1"]["accuracy"] == round(1 / 3, 4)
    assert summary["pass@3"]["accuracy"] == round(2 / 3, 4)
    assert {k: summary["maj@3"][k] for k in ("correct", "accuracy")} == {
        "correct": 2, "accuracy": round(2 / 3, 4)}
    assert summary["maj@1"]["correct"] == summary["execution"]["correct"] == 1
    for key in ("pass@1", "pass@3", "maj@3", "execution"):
        low, high = summary[key]["ci95"]
        assert low <= summary[key]["accuracy"] <= high
    assert list(summary["by_hardness"]) == ["easy"]  # all three are easy by Spider's rules
    assert summary["by_hardness"]["easy"]["pass@3"] == summary["pass@3"]
    assert summary["by_database"]["shop"]["maj@3"] == {"correct": 2, "accuracy": 0.6667}
    first = report["examples"][0]["samples"]
    assert first == {"candidates": [WRONG_1, RIGHT_1, RIGHT_2], "matches": [False, True, True],
                     "votes": [0, 1, 1]}
    markdown = render_markdown(report)
    assert "| split | count | exact % | exec % | pass@1 % | pass@3 % | maj@1 % | maj@3 % |" in markdown
    assert "3 candidates per question" in markdown
    assert json.loads((tmp_path / "REPORT.json").read_text(encoding="utf-8")) == report
    only_two = _report(data, tmp_path / "k2.json", pass_k=[2])["summary"]
    assert only_two["sampling"]["k"] == [2] and "pass@3" not in only_two
    assert only_two["pass@2"]["accuracy"] == round((1 + 2 / 3 + 0) / 3, 4)
    with pytest.raises(InputError, match="exceed the 3 candidates"):
        _report(data, tmp_path / "k4.json", pass_k=[4])


def test_one_candidate_reports_keep_their_shape(data: Path, tmp_path: Path) -> None:
    report = evaluate_predictions(
        _gold(), [c[0] for _, c in EXAMPLES], db_dir=data / "database",
        tables_path=data / "tables.json", options=EvalConfig(timeout_s=2.0), workers=1,
        progress=False)
    assert "sampling" not in report["summary"] and "pass@1" not in report["summary"]
    assert "samples" not in report["examples"][0]


def _write_gold_and_candidates(data: Path) -> tuple[Path, Path]:
    gold = data / "gold.sql"
    gold.write_text("".join(f"{g}\tshop\n" for g, _ in EXAMPLES), encoding="utf-8")
    pred = data / "predictions.jsonl"
    records = [{"index": i, "sql": c[0], "candidates": c} for i, (_, c) in enumerate(EXAMPLES)]
    # Last example first: records are aligned by their index, not their line.
    pred.write_text("".join(json.dumps(r) + "\n" for r in records[::-1]), encoding="utf-8")
    return gold, pred


def _evaluate_files(data: Path, gold: Path, pred: Path, *extra: str) -> list[str]:
    flags = [e for e in extra if "=" not in e]
    overrides = [e for e in extra if "=" in e]
    return ["evaluate", "--gold", str(gold), "--pred", str(pred), "--db", str(data / "database"),
            "--table", str(data / "tables.json"), "--no-progress", *flags,
            "eval.workers=1", "eval.timeout_s=2", *overrides]


def test_a_prediction_file_with_candidates_is_rescored_without_generating(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold, pred = _write_gold_and_candidates(data)
    out = tmp_path / "REPORT.json"
    assert main(_evaluate_files(data, gold, pred, "--out", str(out))) == 0
    printed = capsys.readouterr().out
    assert any(line.startswith("pass@3") for line in printed.splitlines())
    assert "95% CI (all):" in printed
    summary = json.loads(out.read_text(encoding="utf-8"))["summary"]
    assert summary["pass@3"]["accuracy"] == round(2 / 3, 4)
    assert summary["maj@3"]["correct"] == 2
    # Candidates on some records only: refused, naming the file.
    lines = pred.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    del record["candidates"]
    pred.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n", encoding="utf-8")
    assert main(_evaluate_files(data, gold, pred, "--out", str(tmp_path / "x.json"))) == 2
    assert "2 records have 'candidates' and 1 do not" in capsys.readouterr().err


def test_compare_and_the_nightly_comparison_show_the_sampling_metrics(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _report(data, tmp_path / "a.json")
    b = copy.deepcopy(a)
    b["examples"][2]["samples"]["matches"] = [False, True, False]  # a right second candidate
    comparison = compare_reports(a, b)
    by_key = {s.key: s for s in comparison.sampled}
    assert set(by_key) == {"pass@1", "pass@3", "maj@1", "maj@3"}
    assert by_key["pass@3"].value_b - by_key["pass@3"].value_a == pytest.approx(1 / 3)
    assert by_key["maj@3"].test is not None and by_key["pass@3"].test is None
    low, high = by_key["pass@3"].interval
    assert low <= 1 / 3 <= high
    text = format_comparison(comparison)
    assert "sampling metrics, 3 examples with candidates" in text
    assert "pass@3  A 66.7%  B 100.0%  delta +33.3" in text
    assert comparison.to_dict()["sampled"][0]["metric"] == "pass@1"

    # The nightly job: yesterday's dated report, then today's run compared with it.
    gold, pred = _write_gold_and_candidates(data)
    out_dir = tmp_path / "reports"
    assert main(_evaluate_files(data, gold, pred, "--out-dir", str(out_dir))) == 0
    (today,) = list(out_dir.glob("*/REPORT.json"))
    (out_dir / "2000-01-01").mkdir()
    (out_dir / "2000-01-01" / "REPORT.json").write_bytes(today.read_bytes())
    capsys.readouterr()
    assert main(_evaluate_files(data, gold, pred, "--out-dir", str(out_dir))) == 0
    printed = capsys.readouterr().out
    assert "sampling metrics, 3 examples with candidates" in printed
    assert "maj@3   A 66.7%  B 66.7%  delta +0.0 [+0.0, +0.0]" in printed


@pytest.mark.slow  # the session's tiny adapter: ~40 s to build on 2 cores, the test ~10 s after
def test_evaluate_a_tiny_model_with_three_samples_per_question(
        sample_dir: Path, adapter_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from t2s.inference.generate import SQLGenerator

    # Observe (not replace) the model's generate calls: n candidates come from one
    # call per batch of questions (num_return_sequences), not from n calls.
    calls: list[tuple[int, int]] = []
    real_batch = SQLGenerator._generate_batch

    def counted(self: SQLGenerator, batch_ids: list[list[int]], num_candidates: int,
                *rest: object) -> list:
        calls.append((len(batch_ids), num_candidates))
        return real_batch(self, batch_ids, num_candidates, *rest)

    monkeypatch.setattr(SQLGenerator, "_generate_batch", counted)
    report_dir = tmp_path / "eval"
    overrides = inference_overrides(
        sample_dir, adapter_dir, f"eval.report_dir={report_dir}", "eval.samples=3",
        "infer.do_sample=true", "infer.temperature=1.5", "data.max_eval_examples=6",
        "eval.workers=1", "eval.timeout_s=2")
    config = ["evaluate", "--config", str(ROOT / "configs" / "tiny.yaml"), "--no-progress"]
    assert main([*config, *overrides]) == 0
    assert calls == [(4, 3), (2, 3)]  # 6 questions in batches of infer.batch_size=4
    printed = capsys.readouterr().out
    assert [line.split()[0] for line in printed.splitlines()[2:]][:6] == [
        "exact", "exec", "pass@1", "pass@3", "maj@1", "maj@3"]
    report = json.loads((report_dir / "REPORT.json").read_text(encoding="utf-8"))
    summary = report["summary"]
    assert summary["sampling"] == {"n": 3, "k": [1, 3]}
    for key in ("pass@1", "pass@3", "maj@3"):
        assert 0 <= summary[key]["accuracy"] <= 1 and len(summary[key]["ci95"]) == 2
    assert summary["pass@1"]["accuracy"] <= summary["pass@3"]["accuracy"]
    assert report["manifest"]["model"]["decoding"]["samples"] == 3
    assert "| pass@1 % | pass@3 % | maj@1 % | maj@3 % |" in (
        report_dir / "REPORT.md").read_text(encoding="utf-8")
    records = [json.loads(line) for line in
               (report_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(len(r["candidates"]) == 3 and r["sql"] == r["candidates"][0] for r in records)
    for record, example in zip(records, report["examples"], strict=True):
        assert example["samples"]["candidates"] == record["candidates"]
        assert example["pred"] == record["sql"]

    # Rescored from predictions.jsonl, without the model: the same sampling metrics.
    gold = tmp_path / "gold.sql"
    gold.write_text("".join(f"{e['gold']}\t{e['db_id']}\n" for e in report["examples"]),
                    encoding="utf-8")
    rescored = tmp_path / "rescored.json"
    assert main(_evaluate_files(sample_dir, gold, report_dir / "predictions.jsonl",
                                "--out", str(rescored))) == 0
    again = json.loads(rescored.read_text(encoding="utf-8"))["summary"]
    assert {k: again[k] for k in ("pass@1", "pass@3", "maj@3")} == {
        k: summary[k] for k in ("pass@1", "pass@3", "maj@3")}

    # The nightly job twice: the second night compares its sampling metrics with the first.
    nightly = tmp_path / "nightly"
    assert main([*config, "--out-dir", str(nightly), *overrides]) == 0
    (first,) = list(nightly.glob("*/REPORT.json"))
    (nightly / "2000-01-01").mkdir()
    first.rename(nightly / "2000-01-01" / "REPORT.json")
    capsys.readouterr()
    assert main([*config, "--out-dir", str(nightly), *overrides]) == 0
    printed = capsys.readouterr().out
    assert f"vs {nightly / '2000-01-01' / 'REPORT.json'}" in printed
    # infer.seed fixes the draws: the same samples both nights.
    assert "maj@3   A" in printed and "pass@3  A" in printed and "delta +0.0 [+0.0, +0.0]" in printed
