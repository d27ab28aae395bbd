"""Named subsets of an evaluation split (``data.eval_select``), so runs compare.

``every:N`` keeps the examples whose index in the question file is a multiple of
N and whose SQLite database is present. On Spider dev (1,034 questions) with the
copy in ``../shared/data/spider`` (no ``wta_1`` database) ``every:5`` is
spider-dev-194: 194 questions over 19 databases, about a fifth of the 972
executable ones, chosen by position rather than at random so that anyone with
the same file gets the same questions.
"""

from __future__ import annotations

import re

from t2s.config import EVAL_SELECT_PATTERN, DataConfig
from t2s.data.spider import Example, SpiderDataset


def select(examples: list[Example], spec: str | None, dataset: SpiderDataset) -> list[Example]:
    """The examples named by ``spec`` (a validated ``data.eval_select``; None: all)."""
    if spec is None:
        return examples
    step = int(re.fullmatch(EVAL_SELECT_PATTERN, spec).group(1))
    present = {db_id: dataset.has_database(db_id) for db_id in {e.db_id for e in examples}}
    return [e for e in examples if e.index % step == 0 and present[e.db_id]]


def eval_examples(dataset: SpiderDataset, data: DataConfig) -> list[Example]:
    """The evaluation examples of ``data``: ``eval_select``, then the first ``max_eval_examples``.

    Raises:
        DataError: if the split file is missing or malformed.
    """
    if data.eval_file is None:
        return []
    chosen = select(dataset.examples(data.eval_file), data.eval_select, dataset)
    return chosen[: data.max_eval_examples]
