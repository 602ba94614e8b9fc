"""Export models to ONNX, TorchScript and ExportedProgram, verify them, run and benchmark them
(running an exported file for a prediction, without torch, is :mod:`zoo.predict`'s)."""
