"""The options that point a command at the user's own app, and the request it gets.

``study``, ``critical-n`` and ``serve`` take the same ones (``app_options``):

    --app MODULE:ATTR | path/to/file.py:ATTR   the WSGI or ASGI app (detected)
    --app-dir DIR      its working directory and import path (like gunicorn's --chdir)
    --python PATH      the interpreter of the app's own environment (the server runs there)
    --ready PATH       readiness path (default: /health if it answers 2xx, else any answer to /)
    --env-file FILE    the app's settings (KEY=VALUE lines), given to the server
    --method, --path, --header (repeatable), --token (or env:NAME)
    --body TEXT ({size} is the input size) | --body-file FILE.jsonl | --payload MOD:FUNC
    --size N           the input size of the runs; the critical search grows it

Everything is checked before anything starts: the app is imported once in its own
interpreter to tell WSGI from ASGI, and the request is built and checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import ConfigError
from ..load.template import RequestTemplate
from ..servers.app import AppTarget
from ..study.trial import AppRun

_F = TypeVar("_F", bound=Callable[..., Any])
# The servers a study of an app runs on when --servers is not given: the development server
# and one sync gunicorn worker for WSGI, as the seminar compared them; uvicorn and gunicorn
# with one uvicorn worker for ASGI.
DEFAULT_SERVERS = {"wsgi": "flask-dev,gunicorn:w1", "asgi": "uvicorn,gunicorn:w1:uvicorn"}
DEFAULT_SIZE = 1
# The options of this module, by their parameter names: a command refuses the ones that
# only mean something with --app when --app is not given.
_REQUEST_PARAMS = ("method", "path", "headers", "token", "body", "body_file", "payload", "size")
_APP_PARAMS = ("app_dir", "python", "ready", "env_file", *_REQUEST_PARAMS)


def app_options(command: _F) -> _F:
    """Add the app and request options to ``command`` (as keyword parameters)."""
    options = [
        click.option(
            "--app",
            "app_ref",
            default=None,
            metavar="MODULE:ATTR",
            help="Your own WSGI or ASGI app instead of servelab's service: module:attr or "
            "path/to/file.py:attr (WSGI or ASGI is detected).",
        ),
        click.option(
            "--app-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="The app's working directory and import path (like gunicorn's --chdir) "
            "[the current directory].",
        ),
        click.option(
            "--python",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="The interpreter of the app's own environment: the server runs there, with "
            "the app's dependencies [servelab's own].",
        ),
        click.option(
            "--ready",
            default=None,
            metavar="PATH",
            help="Path that answers 2xx once the app is up [/health if it answers 2xx, "
            "else any answer to GET /].",
        ),
        click.option(
            "--env-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="The app's settings (KEY=VALUE lines, as in .env), given to its server.",
        ),
        click.option("--method", default=None, help="The request's method [POST]."),
        click.option("--path", default=None, help="The request's path [/predict]."),
        click.option(
            "--header",
            "headers",
            multiple=True,
            metavar="'NAME: VALUE'",
            help="An extra request header, repeatable.",
        ),
        click.option(
            "--token",
            default=None,
            help="Send 'Authorization: Bearer TOKEN'; env:NAME takes it from --env-file "
            "(or the environment). Never printed or stored.",
        ),
        click.option(
            "--body",
            default=None,
            help="The request body; {size} in it is replaced by the input size, e.g. "
            "'{\"rows\": {size}}'.",
        ),
        click.option(
            "--body-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Real payloads: a JSONL file, one body per line, sent in turn.",
        ),
        click.option(
            "--payload",
            default=None,
            metavar="MODULE:FUNCTION",
            help="A hook that takes the input size and returns the body (bytes, text or "
            "JSON-able), run in the app's interpreter.",
        ),
        click.option(
            "--size",
            type=int,
            default=None,
            help=f"The input size of the runs (fills {{size}}, passed to --payload) "
            f"[{DEFAULT_SIZE}]; the critical search grows it.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@dataclass(frozen=True)
class AppChoice:
    """What the app options said: the app run (None: servelab's own service) and its size."""

    run: AppRun | None
    size: int

    @property
    def interface(self) -> str | None:
        return None if self.run is None else self.run.target.interface

    def default_servers(self) -> str | None:
        """The servers to use when --servers is not given (None: the command's own)."""
        return None if self.run is None else DEFAULT_SERVERS[self.run.target.interface]


def app_choice(params: dict[str, Any]) -> AppChoice:
    """Build and check the app and its request from a command's parameters; a ConfigError
    for an app option given without --app (one line, before anything starts)."""
    ref = params.get("app_ref")
    if ref is None:
        given = [name for name in _APP_PARAMS if params.get(name) not in (None, ())]
        if given:
            flags = ", ".join("--" + name.replace("_", "-").removesuffix("s") for name in given)
            raise ConfigError(f"{flags} only apply to an app of your own: add --app MODULE:ATTR")
        return AppChoice(None, DEFAULT_SIZE)
    target = AppTarget.load(
        ref,
        app_dir=params.get("app_dir"),
        python=params.get("python"),
        ready=params.get("ready"),
        env_file=params.get("env_file"),
    )
    request = RequestTemplate.build(
        method=params.get("method") or "POST",
        path=params.get("path") or "/predict",
        headers=params.get("headers") or (),
        token=params.get("token"),
        body=params.get("body"),
        body_file=params.get("body_file"),
        payload=params.get("payload"),
        env=target.env,
    )
    size = params.get("size")
    size = DEFAULT_SIZE if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"--size must be a whole number >= 1, not {size!r}")
    return AppChoice(AppRun(target, request), size)


__all__ = [
    "DEFAULT_SERVERS",
    "AppChoice",
    "app_choice",
    "app_options",
]
