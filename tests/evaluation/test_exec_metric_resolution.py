"""``eval.exec_metric: auto`` is resolved once, when the config loads (issue 18).

Training's ``eval_ex`` and ``t2s evaluate`` read the same resolved setting, so
on BIRD data both score with BIRD's set semantics; before, ``auto`` was
resolved only in the evaluate command and ``eval_ex`` used Spider's rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from t2s.config import load_config
from t2s.data.sample.bird_fixture import write_bird_fixture
from t2s.data.sources import open_dataset
from t2s.evaluation.inputs import gold_from_examples
from t2s.evaluation.runner import evaluate_predictions
from t2s.training.ex_metric import score_sql

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bird_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bird_fixture(tmp_path_factory.mktemp("bird"))


def _config(bird_dir: Path, tmp_path: Path, *overrides: str):
    return load_config(ROOT / "configs" / "tiny.yaml", [
        f"data.prepared_dir={tmp_path / 'prepared'}", "data.source=bird", f"data.root={bird_dir}",
        "data.train_file=train.json", "data.eval_file=dev.json",
        "data.tables_file=dev_tables.json", "data.database_dir=dev_databases",
        "train.metric_for_best_model=eval_ex", *overrides])


def test_eval_ex_and_evaluate_score_bird_data_with_birds_rules(bird_dir: Path,
                                                                tmp_path: Path) -> None:
    config = _config(bird_dir, tmp_path)
    assert config.eval.exec_metric == "bird"  # auto, resolved by the loader
    dataset = open_dataset(config.data)
    examples = dataset.examples("dev.json")[:12]
    # Every gold result twice: the same set (BIRD: right), another multiset
    # (Spider: wrong, unless the gold result is empty).
    doubled = [f"SELECT * FROM ({e.query}) UNION ALL SELECT * FROM ({e.query})"
               for e in examples]
    in_training = score_sql(config, examples, dataset, doubled)
    report = evaluate_predictions(
        gold_from_examples(examples), doubled, db_dir=dataset.database_dir,
        tables_path=dataset.tables_path, options=config.eval, workers=1, progress=False)
    assert in_training == 1.0
    assert report["summary"]["execution"]["accuracy"] == in_training
    spider = _config(bird_dir, tmp_path, "eval.exec_metric=spider")
    assert score_sql(spider, examples, dataset, doubled) < 0.5
