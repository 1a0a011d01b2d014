"""Searches: one trial and where it runs (``trials``), and a search written down (``files``).

``scratchnn.hyperparameter_tuning.grid_search`` is the public door.
"""
