"""zoo's built-in datasets, registered through the ``zoo.datasets`` entry points like any plugin's.

Each builder follows torchvision's ``(root, train=True, transform=None, download=False)``. The
in-memory ones also have ``as_tensors()``: every item at once, without the transform.
"""
