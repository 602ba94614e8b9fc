"""zoo's built-in models, registered as ``zoo.models`` entry points in pyproject.toml."""
