"""Turning a model's raw completion into one SQL statement.

A fine-tuned model writes ``"\\nSELECT ... FROM t"`` and then EOS, but a
half-trained or untuned model may go on: a second statement, a new
``[INST]`` turn, a Markdown fence, an explanation after a blank line. The SQL
is the text up to the first of those ends; whitespace outside string literals
is collapsed exactly as the training targets were (:func:`t2s.data.prompts.normalize_sql`),
so predictions and gold SQL are spelled alike. Pretty printing is for display
only and never changes what is scored or written.
"""

from __future__ import annotations

import re

from t2s.data.prompts import normalize_sql

# Markers of a new turn the model should never emit inside its answer; with the
# ``inst`` prompt format a model that has not learnt to stop often starts one.
_TURN_MARKERS = ("[INST]", "[/INST]", "</s>", "<|im_end|>", "<|eot_id|>", "<|end|>")

# A fenced block: ```sql ... ``` (language tag optional), as chat models write.
_FENCE = re.compile(r"```[ \t]*(?:sql|sqlite)?[ \t]*\n?(.*?)(?:```|$)", re.IGNORECASE | re.DOTALL)

# Some chat models prefix their answer; only a prefix at the very start is removed.
_ANSWER_PREFIX = re.compile(r"^\s*(?:SQL(?:ite)?(?:\s+query)?|Answer|Query)\s*:\s*", re.IGNORECASE)

_QUOTE_CLOSERS = {"'": "'", '"': '"', "`": "`", "[": "]"}


def cut_at_turn_marker(text: str) -> str:
    """Text before the first stray turn marker (``[INST]``, ``</s>``, ...)."""
    cut = len(text)
    for marker in _TURN_MARKERS:
        position = text.find(marker)
        if position != -1:
            cut = min(cut, position)
    return text[:cut]


def first_statement(text: str) -> str:
    """Text up to (not including) the first ``;`` outside quotes and identifiers.

    Quotes (``'...'``, ``"..."``), backtick and bracket identifiers are skipped
    over, so ``WHERE name = 'a;b'`` is kept whole; a doubled quote inside a
    literal is its escape and does not end it. An unterminated literal runs to
    the end of the text.

    >>> first_statement("SELECT 'a;b' FROM t; DROP TABLE t")
    "SELECT 'a;b' FROM t"
    """
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == ";":
            return text[:index]
        closer = _QUOTE_CLOSERS.get(char)
        if closer is not None:
            index += 1
            while index < length:
                if text[index] == closer:
                    # '' inside '...' (and "" inside "...") is an escaped quote.
                    if closer in "'\"" and index + 1 < length and text[index + 1] == closer:
                        index += 2
                        continue
                    break
                index += 1
        index += 1
    return text


def unfence(text: str) -> str:
    """The inside of the first Markdown code fence, or ``text`` when it has none."""
    match = _FENCE.search(text)
    return match.group(1) if match else text


def extract_sql(completion: str) -> str:
    """The SQL statement in a raw model completion, normalised.

    Steps, in order: cut at a stray turn marker; take the inside of a code
    fence if there is one; drop an ``SQL:``-style prefix; cut at a blank line
    (the end of the answer: training targets are one line); cut at the end of
    the first statement; collapse whitespace outside literals.

    Returns:
        The SQL without a trailing ``;`` (empty when the model wrote nothing usable).

    >>> extract_sql("\\nSELECT  count(*) FROM singer;\\nSELECT 1 [INST] next")
    'SELECT count(*) FROM singer'
    """
    text = unfence(cut_at_turn_marker(completion))
    text = _ANSWER_PREFIX.sub("", text.lstrip(), count=1)
    text = re.split(r"\n[ \t]*\n", text.strip(), maxsplit=1)[0]
    return normalize_sql(first_statement(text))


def pretty_sql(sql: str) -> str:
    """``sql`` re-indented with upper-case keywords, for display only.

    Falls back to ``sql`` unchanged if sqlparse cannot format it.
    """
    import sqlparse

    if not sql.strip():
        return sql
    try:
        return sqlparse.format(sql, reindent=True, keyword_case="upper").strip()
    except (ValueError, sqlparse.exceptions.SQLParseError):
        return sql
