"""Distributed load on Locust: servelab's loops on Locust's master and workers.

    plan.py        what every worker needs: the request, the loop, its share (one JSON text)
    client.py      one blocking HTTP/1.1 connection for a worker's greenlets (the own parser)
    work.py        a worker's closed-loop users or its part of the open loop's schedule
    locustfile.py  what Locust runs: the user class, rows shipped to and written by the master
    run.py         start the master and local workers as subprocesses, wait, stop them
    merge.py       one summary from every worker's rows: exact percentiles over the union
    engine.py      ``run_distributed``: plan -> run -> summary, what ``servelab load`` calls

Locust is an optional extra (``pip install 'servelab[distributed]'``) and is only ever
imported by the Locust processes (``locustfile``, ``work`` and ``client`` run there, under
gevent); servelab's own process runs ``python -m locust`` and reads the files it writes.
"""
