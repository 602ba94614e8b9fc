"""Export models to ONNX, TorchScript and ExportedProgram, verify them, run and benchmark them.

``zoo.export.predict`` and ``zoo.export.metadata`` never import torch: they are what a deployment
machine runs.
"""
