"""An app that cannot start: it loads a model file that is not there, as a course app does
when it is started from the wrong directory."""

from __future__ import annotations

from pathlib import Path

MODEL = Path("models/no-such-model.joblib").read_bytes()


def app(environ: object, start_response: object) -> list[bytes]:
    return [MODEL]
