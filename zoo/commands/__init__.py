"""Bodies of the ``zoo`` sub-commands, one module per concern; heavy imports stay inside functions."""
