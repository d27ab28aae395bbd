"""A BIRD-shaped fixture built from the sample dataset, for offline tests of the ``bird`` source.

``t2s sample-data --format bird --out DIR`` writes BIRD's layout::

    train.json, dev.json   [{"question_id", "db_id", "question", "evidence", "SQL", "difficulty"}]
    dev_tables.json        Spider-style schemas (BIRD ships this layout)
    dev_databases/<db_id>/<db_id>.sqlite

Questions and databases are the sample dataset's. Evidence names where each
quoted value of the gold SQL lives (``'Jazz' refers to genre``), as BIRD's
evidence spells out value mappings; difficulty is ``challenging`` for nested or
set-operation SQL, ``moderate`` for joins and grouping, else ``simple``.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from t2s.data.sample.writer import ensure_sample_dataset

_EQ_LITERAL = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*(?:=|LIKE)\s*'((?:[^']|'')*)'", re.IGNORECASE)


def difficulty(sql: str) -> str:
    """BIRD-style difficulty of ``sql`` from its shape."""
    upper = sql.upper()
    if upper.count("SELECT") > 1 or re.search(r"\b(UNION|INTERSECT|EXCEPT)\b", upper):
        return "challenging"
    if re.search(r"\b(JOIN|GROUP BY|HAVING)\b", upper):
        return "moderate"
    return "simple"


def evidence(sql: str) -> str:
    """``'v' refers to col`` for each ``col = 'v'`` of ``sql``, joined by ``; `` (may be empty)."""
    parts = [f"'{value}' refers to {column.split('.')[-1]}"
             for column, value in _EQ_LITERAL.findall(sql)]
    return "; ".join(dict.fromkeys(parts))


def write_bird_fixture(out_dir: str | Path, seed: int = 0) -> Path:
    """Write the fixture into ``out_dir`` (replacing the files it writes); returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sample = ensure_sample_dataset(Path(tmp) / "sample", seed=seed)
        shutil.copyfile(sample / "tables.json", out / "dev_tables.json")
        databases = out / "dev_databases"
        shutil.rmtree(databases, ignore_errors=True)
        shutil.copytree(sample / "database", databases)
        question_id = 0
        for split in ("train", "dev"):
            records: list[dict[str, Any]] = []
            for record in json.loads((sample / f"{split}.json").read_text(encoding="utf-8")):
                records.append({"question_id": question_id, "db_id": record["db_id"],
                                "question": record["question"],
                                "evidence": evidence(record["query"]), "SQL": record["query"],
                                "difficulty": difficulty(record["query"])})
                question_id += 1
            (out / f"{split}.json").write_text(json.dumps(records, indent=1) + "\n",
                                               encoding="utf-8")
    return out
