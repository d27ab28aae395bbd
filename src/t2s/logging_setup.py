"""Logging for jobs: one format, t2s at INFO, noisy libraries at WARNING."""

from __future__ import annotations

import logging
import os


def setup_logging(level: str | None = None) -> None:
    """Configure root logging once; ``T2S_LOG_LEVEL`` overrides the level."""
    level = level or os.environ.get("T2S_LOG_LEVEL", "INFO")
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=False)
    logging.getLogger("t2s").setLevel(level.upper())
