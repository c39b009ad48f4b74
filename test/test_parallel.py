"""The seed's load script: 10 parallel POST /predict requests, one ``Waited`` line each.

    python test/test_parallel.py [URL] > log/io_bounded_dev.txt

Not a pytest file (pytest collects ``tests/`` only). The work is done by ``servelab.load``;
this file keeps the seed's command working from a fresh checkout.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

if importlib.util.find_spec("servelab") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from servelab.errors import LoadError
from servelab.load import RequestRecord, format_seed_line, run_burst

DEFAULT_URL = "http://127.0.0.1:5000/predict"
URL_ENV = "SERVELAB_URL"
TOKEN_ENV = "SERVELAB_TOKEN"
REQUESTS = 10
PROG = "test_parallel.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            f'Send {REQUESTS} POST requests at once ({{"area": 10}}, 20, ... 100) and print '
            "'Waited <seconds> sec <response or error>' for each as it completes."
        ),
        epilog=(
            f"URL: the first argument, else ${URL_ENV}, else {DEFAULT_URL}. "
            f"With ${TOKEN_ENV} set, each request sends 'Authorization: Bearer ${TOKEN_ENV}'. "
            "Exit status: 0 once all requests are done, even when some failed (the lines "
            "show each failure, as the seed's log did); 2 for a bad URL or bad arguments; "
            "130 on Ctrl-C."
        ),
    )
    parser.add_argument(
        "url", nargs="?", help="full endpoint, e.g. http://127.0.0.1:5000/predict?workload=io"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds one request may take before it counts as failed (default: 600)",
    )
    args = parser.parse_args(argv)
    url: str = args.url or os.environ.get(URL_ENV) or DEFAULT_URL
    token = os.environ.get(TOKEN_ENV)

    def show(record: RequestRecord) -> None:
        print(format_seed_line(record), flush=True)

    try:
        run_burst(
            url,
            requests=REQUESTS,
            concurrency=REQUESTS,
            timeout=args.timeout,
            on_record=show,
            headers={"Authorization": f"Bearer {token}"} if token else None,
        )
    except LoadError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as a shell tool would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
