"""``zoo optimize``: the fastest file this machine can run within an accuracy budget, chosen on one
sample of the test split and confirmed on another, disjoint one.

:mod:`.metric` scores outputs (top-1, MAE, or agreement with float32 where there are no labels)
with 95 % intervals; :mod:`.rule` is the decision on typed records alone (which candidates may be
chosen, in what order they are confirmed, why each lost); :mod:`.candidates` makes the files and
opens each file × runtime × precision × threads; :mod:`.engine` measures them side by side and
writes the chosen file as a certified export with the decision in its manifest.
"""
