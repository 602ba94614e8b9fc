"""What zoo writes to disk and reads back, as typed objects: the model card, checkpoints, a run
directory (its configuration and per-epoch metrics) and an export's manifest.

The bottom of the package: nothing here imports torch at module level, the registry or any
stage (train, export, sweep); every stage reads these files through these types, never by hand.
"""
