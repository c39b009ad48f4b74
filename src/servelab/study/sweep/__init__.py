"""Sweeps: which deployment to run. A grid of server configurations, each cell measured on a
fresh server (its capacity under an SLO, its memory per worker, optionally its critical size
under a memory budget), and a recommendation that follows from the measurements.

grid.py        the grid: brace expansion of --servers, a TOML plan file, the preload dimension
capacity.py    the highest arrival rate a server holds under an SLO (an open-loop rate search)
recommend.py   the recommendation and why every other cell loses (pure)
runner.py      a sweep run into a folder, cell by cell, resumable, within a time budget
"""
