"""The seed's service entry point, kept so the seminar's commands work as written.

    python src/predict_app.py          # Flask development server on 127.0.0.1:5000
    gunicorn src.predict_app:app       # the production server

Settings come from ``SERVELAB_*`` variables (``SERVELAB_WORKLOAD=io|cpu|numpy|model``,
``SERVELAB_N``, ``SERVELAB_IO_DELAY``, ``SERVELAB_HOST``, ``SERVELAB_PORT``).
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import servelab  # noqa: F401 - installed in the venv
except ImportError:  # a bare checkout: use the package beside this file
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from servelab.service import ServiceConfigError, create_app
from servelab.service.__main__ import main

if __name__ == "__main__":
    try:
        app = create_app()
    except ServiceConfigError as error:
        print(f"predict_app: {error}", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:], app))

app = create_app()
