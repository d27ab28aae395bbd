"""The embedded sample dataset: five small SQLite databases and ~500 questions.

Everything is generated from code (:mod:`.databases` builds the rows,
:mod:`.templates` and :mod:`.domain_templates` write the questions,
:mod:`.questions` validates and balances them, :mod:`.writer` lays out the
Spider-format directory), so the project trains and evaluates offline::

    from t2s.data.sample import ensure_sample_dataset
    root = ensure_sample_dataset("outputs/data/sample")   # writes only if missing/stale

or ``t2s sample-data --out outputs/data/sample``. Only the standard library is
imported here.
"""

from t2s.data.sample.writer import (
    GENERATOR_VERSION,
    ensure_sample_dataset,
    is_current,
    is_generated,
    read_manifest,
    write_sample_dataset,
)

__all__ = [
    "GENERATOR_VERSION",
    "ensure_sample_dataset",
    "is_current",
    "is_generated",
    "read_manifest",
    "write_sample_dataset",
]
