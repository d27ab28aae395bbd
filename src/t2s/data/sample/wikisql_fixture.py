"""A WikiSQL-format fixture, shaped like the real files, for offline tests and demos.

``t2s sample-data --format wikisql --out DIR`` writes, per split (train, dev, test)::

    S.jsonl            {"phase": 1, "table_id": "1-1000181-1", "question": ..., "sql": {"sel", "conds", "agg"}}
    S.tables.jsonl     {"header", "page_title", "types", "id", "section_title", "caption", "rows", "name", "page_id"}
    S.answers.jsonl    t2s only: {"line", "answer"}, the answer of each question line, computed
                       here in Python from the rows (not by SQL), so tests can check built SQL
    test.db            like the real .db: table "table_<id>", columns col0..colN (test split only,
                       so both the .db path and the tables.jsonl path are exercised)

Generated tables are seeded; a hand-written table carries the tricky cases real
WikiSQL has: quotes in values, numeric strings in text columns, headers with
spaces, punctuation or an SQL keyword, empty conds, an upper-cased condition
value, and a number written with a thousands separator.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

from t2s.data.wikisql import AGG_OPS, number_value

_FIRST = ("Anna", "Ben", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
          "Kemal", "Lena", "Marco", "Nadia", "Oscar", "Priya")
_LAST = ("Smith", "Okafor", "Novak", "Silva", "Tanaka", "Berg", "Moreau", "Kowalski", "Haddad")
_PLACES = ("Toronto", "Lyon", "Osaka", "Lagos", "Quito", "Perth", "Bergen", "Porto", "Austin")
_CLUBS = ("Rovers", "United", "Athletic", "City", "Wanderers", "Rangers")
_PARTIES = ("Democratic", "Republican", "Green", "Independent")

# (header, type, value maker) per generated table family.
_FAMILIES: list[tuple[str, list[tuple[str, str]]]] = [
    ("Players", [("Player", "text"), ("No.", "real"), ("Nationality", "text"),
                 ("Position", "text"), ("Years in Toronto", "text"), ("School/Club Team", "text")]),
    ("Elections", [("District", "text"), ("Incumbent", "text"), ("Party", "text"),
                   ("First elected", "real"), ("Result", "text")]),
    ("Seasons", [("Season", "text"), ("Games", "real"), ("Wins", "real"), ("Losses", "real"),
                 ("Coach", "text")]),
]

# Hand-written, real-style rows (from WikiSQL's kinds of tables, values changed).
TRICKY_TABLE = {
    "id": "1-1000181-1",
    "header": ["Name", "Order", "Home town", "Jersey", "Rank (2010)", "Attendance", "Notes"],
    "types": ["text", "text", "text", "text", "real", "real", "text"],
    "rows": [
        ["Shaquille O'Neal", "1st", "Newark", "32", 1, 19800, "Traded in '96"],
        ['Dwayne "The Rock" Johnson', "2nd", "Hayward", "007", 2, 12500, ""],
        ["Ana Lopez", "3rd", "South Australia", "1990", 3, 8000, "Rookie"],
        ["Li Wei", "4th", "Osaka", "07", 4, 8000, "Captain"],
    ],
    "page_title": "Tricky values", "section_title": "Roster", "caption": "Roster",
    "page_id": 1000181, "name": "table_1000181_1",
}
TRICKY_QUESTIONS = [
    ("What is the home town of Shaquille O'Neal?", {"sel": 2, "agg": 0, "conds": [[0, 0, "Shaquille O'Neal"]]}),
    ('Who wears jersey 007?', {"sel": 0, "agg": 0, "conds": [[3, 0, "007"]]}),
    ("Who wears jersey 1990?", {"sel": 0, "agg": 0, "conds": [[3, 0, 1990]]}),
    ("List every name.", {"sel": 0, "agg": 0, "conds": []}),
    ("What is the rank of the player from SOUTH AUSTRALIA?", {"sel": 4, "agg": 0, "conds": [[2, 0, "SOUTH AUSTRALIA"]]}),
    ("How many players had an attendance of more than 10,000?", {"sel": 0, "agg": 3, "conds": [[5, 1, "10,000"]]}),
    ('What is the order of Dwayne "The Rock" Johnson?', {"sel": 1, "agg": 0, "conds": [[0, 0, 'Dwayne "The Rock" Johnson']]}),
    ("What is the total attendance for rank below 3?", {"sel": 5, "agg": 4, "conds": [[4, 2, 3]]}),
    ("What are the notes for the home town Newark?", {"sel": 6, "agg": 0, "conds": [[2, 0, "newark"]]}),
]


def _value(rng: random.Random, header: str, kind: str) -> Any:
    if kind == "real":
        return {"No.": rng.randint(1, 99), "First elected": rng.randint(1960, 2010),
                "Games": rng.randint(20, 82)}.get(header, rng.randint(0, 60))
    if header in ("Player", "Incumbent", "Coach"):
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    if header in ("Nationality", "District", "Home town"):
        return rng.choice(_PLACES) + ("" if header != "District" else f" {rng.randint(1, 9)}")
    if header == "Position":
        return rng.choice(("Guard", "Forward", "Center"))
    if header == "Years in Toronto":
        start = rng.randint(1990, 2010)
        return f"{start}-{str(start + rng.randint(1, 5))[2:]}"
    if header == "School/Club Team":
        return f"{rng.choice(_PLACES)} {rng.choice(_CLUBS)}"
    if header == "Party":
        return rng.choice(_PARTIES)
    if header == "Result":
        return rng.choice(("Re-elected", "Retired", "Lost re-election"))
    if header == "Season":
        start = rng.randint(1995, 2020)
        return f"{start}-{str(start + 1)[2:]}"
    return rng.choice(_PLACES)


def _table(rng: random.Random, number: int, family: int) -> dict[str, Any]:
    title, columns = _FAMILIES[family]
    page = 10_000_000 + number * 7919
    table_id = f"{1 + number % 2}-{page}-{1 + number % 3}"
    rows = [[_value(rng, h, t) for h, t in columns] for _ in range(rng.randint(4, 8))]
    return {"header": [h for h, _ in columns], "page_title": f"{title} {number}",
            "types": [t for _, t in columns], "id": table_id, "section_title": title,
            "caption": title, "rows": rows, "name": "table_" + table_id.split("-", 1)[1].replace("-", "_"),
            "page_id": page}


def _question(rng: random.Random, table: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    header, types, rows = table["header"], table["types"], table["rows"]
    row = rng.choice(rows)
    sel = rng.randrange(len(header))
    cond_col = rng.choice([i for i in range(len(header)) if i != sel])
    numeric = [i for i, t in enumerate(types) if t == "real" and i != sel]
    kind = rng.choice(("eq", "eq", "count", "cmp", "agg"))
    if kind == "cmp" and numeric:
        col = rng.choice(numeric)
        op = rng.choice((1, 2))
        value = row[col]
        word = "more than" if op == 1 else "less than"
        return (f"What is the {header[sel]} when the {header[col]} is {word} {value}?",
                {"sel": sel, "agg": 0, "conds": [[col, op, value]]})
    if kind == "agg" and types[sel] == "real":
        agg = rng.choice((1, 2, 4, 5))
        word = {1: "highest", 2: "lowest", 4: "total", 5: "average"}[agg]
        return (f"What is the {word} {header[sel]} when the {header[cond_col]} is "
                f"{row[cond_col]}?", {"sel": sel, "agg": agg, "conds": [[cond_col, 0, row[cond_col]]]})
    if kind == "count":
        return (f"How many {header[sel]} are there with {header[cond_col]} {row[cond_col]}?",
                {"sel": sel, "agg": 3, "conds": [[cond_col, 0, row[cond_col]]]})
    return (f"What is the {header[sel]} for {header[cond_col]} {row[cond_col]}?",
            {"sel": sel, "agg": 0, "conds": [[cond_col, 0, row[cond_col]]]})


def answer(table: dict[str, Any], sql: dict[str, Any]) -> list[Any]:
    """The answer of ``sql`` over ``table``'s rows, computed in Python with WikiSQL's semantics.

    Text conditions compare case-insensitively, ``real`` ones as numbers; the
    aggregates follow SQLite's (COUNT counts non-null values, AVG is a float).
    Returns the sorted list of selected values (one value for an aggregate).
    """
    def holds(row: list[Any], cond: list[Any]) -> bool:
        col, op, value = cond
        cell = row[col]
        if table["types"][col] == "real":
            left, right = number_value(cell), number_value(value)
            return {0: left == right, 1: left > right, 2: left < right}[op]
        left, right = str(cell).strip().lower(), str(value).strip().lower()
        return {0: left == right, 1: left > right, 2: left < right}[op]

    picked = [row[sql["sel"]] for row in table["rows"] if all(holds(row, c) for c in sql["conds"])]
    agg = AGG_OPS[sql["agg"]]
    if not agg:
        return sorted(picked, key=str)
    if agg == "COUNT":
        return [sum(1 for v in picked if v is not None)]
    numbers = [number_value(v) for v in picked if v is not None]
    if not numbers:
        return [None]
    return [{"MAX": max, "MIN": min, "SUM": sum}[agg](numbers) if agg != "AVG"
            else sum(numbers) / len(numbers)]


def write_wikisql_fixture(out_dir: str | Path, seed: int = 0, tables_per_split: int = 6,
                          questions_per_table: int = 5) -> Path:
    """Write the fixture (see the module docstring) into ``out_dir``; returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    number = 0
    for split in ("train", "dev", "test"):
        tables = []
        for _ in range(tables_per_split):
            tables.append(_table(rng, number, number % len(_FAMILIES)))
            number += 1
        questions = [(t, *_question(rng, t)) for t in tables for _ in range(questions_per_table)]
        if split == "dev":
            tables.append(TRICKY_TABLE)
            questions += [(TRICKY_TABLE, q, s) for q, s in TRICKY_QUESTIONS]
        _write_jsonl(out / f"{split}.tables.jsonl", tables)
        _write_jsonl(out / f"{split}.jsonl", [
            {"phase": 1, "table_id": t["id"], "question": q, "sql": s} for t, q, s in questions])
        _write_jsonl(out / f"{split}.answers.jsonl", [
            {"line": line, "answer": answer(t, s)} for line, (t, _, s) in enumerate(questions, 1)])
        if split == "test":
            _write_real_db(out / "test.db", tables)
    return out


def _write_real_db(path: Path, tables: list[dict[str, Any]]) -> None:
    """A ``.db`` laid out as WikiSQL's: ``table_<id>`` with columns ``col0``.. and their types."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)  # a new file this writer creates
    try:
        for table in tables:
            name = "table_" + table["id"].replace("-", "_")
            columns = ", ".join(f"col{i} {t.upper()}" for i, t in enumerate(table["types"]))
            conn.execute(f"CREATE TABLE {name} ({columns})")
            marks = ", ".join("?" for _ in table["types"])
            conn.executemany(f"INSERT INTO {name} VALUES ({marks})", table["rows"])
        conn.commit()
    finally:
        conn.close()


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
