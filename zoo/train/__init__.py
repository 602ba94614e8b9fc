"""Training: ``zoo train``, ``zoo eval`` and ``zoo runs``.

Modules, one per concern: :mod:`~zoo.train.config` (resolved configuration), :mod:`~zoo.train.data`
(batches), :mod:`~zoo.train.objective` (loss, metrics, evaluation pass), :mod:`~zoo.train.loop`
(the loop, progress, DDP), :mod:`~zoo.train.checkpoint` (atomic save/load, ``load_checkpoint``),
:mod:`~zoo.train.report` (plots and tables), :mod:`~zoo.train.evaluation` (``zoo eval``) and
:mod:`~zoo.train.runs` (``zoo runs``). Importing this package imports nothing heavy.
"""
