"""servelab's load-engine benchmark: servelab vs wrk vs Locust on one gunicorn target.

Not part of the package nor of ``make test``: ``make bench`` runs ``python -m bench.run``.
See ``bench/README.md``.
"""
