"""Apps that servelab studies in its tests and README: your own model, as you would deploy it.

Each folder is a self-contained app with its own requirements.txt; none imports servelab.
"""
