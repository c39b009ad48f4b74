"""gunicorn's config for the benchmark's target: deliberately next to empty.

Passed with ``-c`` so that gunicorn does not pick up the repository's own
``gunicorn.conf.py`` (which wires servelab's Prometheus hooks into every worker): the
target must be a bare WSGI app behind a bare gunicorn. Everything that matters is on the
command line that ``bench/run.py`` prints.
"""

control_socket_disable = True
