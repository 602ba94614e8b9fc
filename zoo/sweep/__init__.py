"""``zoo sweep``: train a model over a grid of hyper-parameters, or search them with Optuna.

- :mod:`zoo.sweep.plan` turns ``--grid KEY=VALUES``, a config file's ``[sweep]`` table and every
  ``zoo train`` option into a checked :class:`~zoo.sweep.plan.SweepPlan` (no torch, nothing runs).
- :mod:`zoo.sweep.state` is the sweep directory: ``sweep.json``, a lock, each run's outcome.
- :mod:`zoo.sweep.execute` trains the runs, one process or ``--jobs N``, with progress.
- :mod:`zoo.sweep.search` is the Optuna side: storage, study, samplers, median pruner.
- :mod:`zoo.sweep.results` ranks the runs and writes the table (CSV, JSON) and plot.

Each run is an ordinary zoo run directory inside the sweep directory.
"""
