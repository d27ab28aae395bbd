"""Monitoring of a served model: ``t2s monitor report`` over ``t2s serve``'s request log.

- :mod:`.drift` — the statistics (PSI, KS) and the thresholds that flag a shift;
- :mod:`.report` — reading the log and the training reference, the checks,
  REPORT.json / REPORT.md / PNG plots;
- :mod:`.command` — the CLI.

Imports no torch: a report runs anywhere the log file is.
"""
