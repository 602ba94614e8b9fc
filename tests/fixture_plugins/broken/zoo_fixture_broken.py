"""A plugin that raises when imported."""

raise RuntimeError("this plugin is broken on purpose\nsecond line that must not be shown")
