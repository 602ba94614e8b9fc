"""Checks for a plugin's own pytest suite: ``zoo check``'s conformance checks
(:mod:`zoo.conformance`), under the name plugins import them by::

    from zoo.testing import check_dataset, check_model, check_optimizer
"""

from zoo.conformance import Report, check_dataset, check_model, check_optimizer

__all__ = ["Report", "check_dataset", "check_model", "check_optimizer"]
