"""``zoo publish``: a trained run as a release anyone can install, verify and use, and the
cache of published and declared weights (``zoo weights``).

A stage above training and export: it re-measures the weights with :mod:`zoo.train.evaluation`,
exports and verifies them with :mod:`zoo.export.pipeline`, and writes the model card
(:mod:`~zoo.publish.modelcard`), the declaration and the release folder
(:mod:`~zoo.publish.release`), then hands the folder on: into a plugin package
(:mod:`~zoo.publish.plugin`), to the Hugging Face Hub or a folder a web server serves
(:mod:`~zoo.publish.targets`, :mod:`~zoo.publish.hub`). Nothing here prints.
"""
