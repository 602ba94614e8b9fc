"""Trained weights zoo uses: declared by models (:mod:`~zoo.weights.declared`), published on the
Hub as releases (:mod:`~zoo.weights.releases`), and zoo's cache of what it downloads or derives
(:mod:`~zoo.weights.home` names its folders, :mod:`~zoo.weights.cache` lists, fetches and prunes
them: ``zoo weights``). No torch here: ``zoo predict`` reads these on machines without it.
"""
