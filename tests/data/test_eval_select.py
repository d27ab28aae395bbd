"""``data.eval_select``: named evaluation subsets, validated at load and pinned on real data."""

from __future__ import annotations

import pytest

from conftest import ROOT
from t2s.config import DataConfig, load_config
from t2s.data.selection import eval_examples
from t2s.data.spider import SpiderDataset
from t2s.errors import ConfigError


def test_every_5_of_spider_dev_is_spider_dev_194(spider_dir):
    dataset = SpiderDataset(spider_dir)
    data = DataConfig(source="spider", root=str(spider_dir), eval_select="every:5")
    chosen = eval_examples(dataset, data)
    # 1,034 dev questions: 207 have index % 5 == 0, 13 of them on wta_1 (no database here).
    assert len(chosen) == 194
    assert len({e.db_id for e in chosen}) == 19
    assert all(e.index % 5 == 0 and e.db_id != "wta_1" for e in chosen)
    assert [e.index for e in chosen[:3]] == [0, 5, 10]
    # max_eval_examples applies after the selection.
    capped = eval_examples(dataset, DataConfig(source="spider", root=str(spider_dir),
                                               eval_select="every:5", max_eval_examples=8))
    assert capped == chosen[:8]


def test_without_a_selection_the_whole_split_is_kept(sample_dir):
    dataset = SpiderDataset(sample_dir)
    everything = dataset.examples("dev.json")
    assert eval_examples(dataset, DataConfig(root=str(sample_dir))) == everything
    every_2 = eval_examples(dataset, DataConfig(root=str(sample_dir), eval_select="every:2"))
    assert [e.index for e in every_2] == [e.index for e in everything if e.index % 2 == 0]


@pytest.mark.parametrize("value", ["every:0", "every5", "first:10", "every:-1"])
def test_a_bad_selection_is_refused_at_load(value):
    with pytest.raises(ConfigError, match="data.eval_select"):
        load_config(ROOT / "configs" / "tiny.yaml", [f"data.eval_select={value}"])
