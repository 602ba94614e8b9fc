"""On PYTHONPATH, this interpreter lacks what the GPU machine lacks (docs/gpu.md): openvino,
optuna, tensorboard, huggingface_hub and mlxtend cannot be found, imported or named as installed
distributions, however they are looked for (import, importlib.util.find_spec,
importlib.metadata). tests/test_gpu_check.py runs the GPU check's dry run this way."""

import sys
from importlib.machinery import PathFinder

ABSENT = {"openvino", "optuna", "tensorboard", "huggingface_hub", "mlxtend"}


def absent(name: str) -> bool:
    return name.partition(".")[0].lower().replace("-", "_") in ABSENT


class WithoutAbsent:
    """sys.path's finder, blind to the absent packages."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None if absent(name) else PathFinder.find_spec(name, path, target)

    @classmethod
    def invalidate_caches(cls):
        PathFinder.invalidate_caches()

    @classmethod
    def find_distributions(cls, *args, **kwargs):
        for found in PathFinder.find_distributions(*args, **kwargs):
            if not absent(found.metadata["Name"] or ""):
                yield found


sys.meta_path[:] = [WithoutAbsent if f is PathFinder else f for f in sys.meta_path]
