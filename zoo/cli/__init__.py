"""The command line: the Typer app (:mod:`zoo.cli.app`), one module per command that only parses
and prints, the bridge from declared options to Typer (:mod:`zoo.cli.params`), and the displays
that observe training and sweeps. Importing this package imports nothing; a cached ``zoo
predict`` uses :mod:`zoo.cli.predictions` without loading Typer.
"""
