"""``zoo serve``: verified exports behind the Open Inference Protocol (KServe's v2 REST protocol,
as Triton, KServe, MLServer and OpenVINO Model Server speak it), and the Triton/OVMS model
repository that hands the same files to those servers.

- :mod:`zoo.serve.options`: the options of ``zoo serve`` and ``zoo model-repo``, declared once.
- :mod:`zoo.serve.sources`: what a user names (an export directory or one of its files, an
  ``hf://`` release, a model's weights) as a served file, checked against its manifest (sha256).
- :mod:`zoo.deployed` (beside, shared with ``zoo predict``): the file opened with ONNX Runtime
  (or OpenVINO), its tensors.
- :mod:`zoo.serve.protocol`: the protocol's JSON and Triton's binary tensor data, both ways.
- :mod:`zoo.serve.batching`: dynamic batching, with a bounded queue.
- :mod:`zoo.serve.app`: the ASGI application (Starlette); :mod:`zoo.serve.guard` wraps it with
  the bearer token, metrics, the access log and the one answer to a bug.
- :mod:`zoo.serve.server`: uvicorn on a socket bound here, warm-up, graceful SIGTERM.
- :mod:`zoo.serve.repository`: ``config.pbtxt`` and the repository layout.

No torch anywhere here (a model named by its weights is exported, once, in a child process) and
nothing printed: the server reports through logging and a ``say`` callback the CLI draws.
"""
