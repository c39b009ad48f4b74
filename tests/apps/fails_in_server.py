"""An app that imports when servelab detects its interface, and fails when a server imports
it: as an app whose model file or setting exists only where it was tried by hand."""

from __future__ import annotations

import sys
from collections.abc import Iterable

if sys.argv[-1:] != ["detect"]:
    raise RuntimeError("model file models/model.joblib is missing")


def app(environ: object, start_response: object) -> Iterable[bytes]:
    return [b"never served"]
