"""Tests of t2s.db. A package, so that its conftest is ``db.conftest`` and does not
shadow ``tests/conftest.py``, whose helpers other folders import as ``conftest``."""
