"""Training: ``zoo train``, ``zoo eval`` and ``zoo runs``.

One module per concern: :mod:`~zoo.train.config` (resolving a configuration),
:mod:`~zoo.train.data` (batches), :mod:`~zoo.train.objective` (loss, metrics, evaluation pass),
:mod:`~zoo.train.loop` (the loop), :mod:`~zoo.train.distributed` (DDP under torchrun),
:mod:`~zoo.train.events` (what a run reports to its observers), :mod:`~zoo.train.report` (plots,
tables, text), :mod:`~zoo.train.tensorboard` (an observer), :mod:`~zoo.train.evaluation`
(``zoo eval``) and :mod:`~zoo.train.runs` (run directories). Importing this package imports
nothing heavy.
"""
