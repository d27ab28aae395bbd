"""Launching jobs on Slurm (or locally) through submitit.

Imports only :mod:`t2s.config`: jobs are launched *as commands*
(``python jobs/train.py --config ...``, ``accelerate launch ...``), never by
importing the training code. Modules:

- :mod:`t2s.launch.spec` — each node's command line (pure functions).
- :mod:`t2s.launch.job` — the checkpointable callable submitit runs.
- :mod:`t2s.launch.submit` — job folders, executor parameters, submission.
- :mod:`t2s.launch.slurm` — the few scontrol/sacct calls.
- :mod:`t2s.launch.command`, :mod:`t2s.launch.jobs_command` — ``t2s submit``, ``t2s jobs``.
"""
