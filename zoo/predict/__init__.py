"""``zoo predict``: an exported file run with ONNX Runtime alone (:mod:`~zoo.predict.onnx`), the
one export per model's weights made on first use and cached (:mod:`~zoo.predict.cache`), and the
command's options (:mod:`~zoo.predict.options`). Only the cache's first use imports torch.
"""
