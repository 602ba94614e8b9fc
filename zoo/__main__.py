"""``python -m zoo`` (and ``torchrun -m zoo``) runs the ``zoo`` command."""

from zoo.launch import main

main()
