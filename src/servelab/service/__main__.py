"""``python -m servelab.service``: the Flask development server, as the seed's ``app.run``.

Threaded (one thread per request), no debugger and no reloader. Not for production.
"""

from __future__ import annotations

import argparse
import os
import sys

from flask import Flask

from .config import ServiceConfigError
from .factory import create_app


def main(argv: list[str] | None = None, app: Flask | None = None) -> int:
    """Run ``app`` (default: ``create_app()``) on the dev server; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m servelab.service", description="Serve the house-price app (dev server)."
    )
    parser.add_argument("--host", default=os.environ.get("SERVELAB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SERVELAB_PORT", "5000")))
    args = parser.parse_args(argv)
    if app is None:
        try:
            app = create_app()
        except ServiceConfigError as error:
            print(f"servelab service: {error}", file=sys.stderr)
            return 2
    app.run(host=args.host, port=args.port, threaded=True, debug=False, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
