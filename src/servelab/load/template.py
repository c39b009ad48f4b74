"""What to send to any app: method, path, headers, and a body that can grow with a size.

A ``RequestTemplate`` is checked whole when it is built (``RequestTemplate.build``): a bad
method, path, header, body file or hook reference is one ``LoadError`` line before anything
starts. Its ``bodies(size)`` are what a run sends in turn:

- ``body``: one text; every literal ``{size}`` in it becomes the size. A plain replacement,
  not ``str.format``: a JSON body is full of braces.
- ``body_file``: JSONL, one JSON value a line, each sent as its line's JSON text, in turn.
- ``payload``: a ``module:function`` hook called as ``function(size)``; it returns bytes (a
  str is sent UTF-8 encoded, a dict or list JSON-encoded). It runs in the APP's interpreter,
  in a subprocess with the app's directory first on ``sys.path``: the app's dependencies
  (numpy, PIL...) live there, not in servelab's venv.

Secrets: a ``token`` (``Authorization: Bearer``) and every header value stay out of
``describe()``, errors and records; ``describe()`` names headers, never their values.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from servelab.errors import LoadError
from servelab.load.request import check_headers, check_method, check_path, parse_header

SIZE_FIELD: Final = "{size}"
# The largest body a run may send: each body is built once and kept for the whole run.
MAX_BODY_BYTES: Final = 256 * 2**20
_HOOK_REF: Final = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_ENV_REF: Final = "env:"
_SHOWN_BODY: Final = 60  # characters of a body describe() shows

# Run by the app's interpreter (any Python 3.6+, no servelab installed): import the hook,
# call it, write its bytes to the saved stdout. Anything the hook prints goes to stderr, so
# a debugging print cannot end up inside the body.
_HOOK_RUNNER: Final = r"""
import json, os, sys, traceback
app_dir, ref, size, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
sys.path.insert(0, app_dir)
try:
    import importlib
    module_name, _, function_name = ref.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    body = function(size)
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif isinstance(body, (dict, list)):
        body = json.dumps(body).encode("utf-8")
    elif isinstance(body, (bytes, bytearray, memoryview)):
        body = bytes(body)
    else:
        raise TypeError("returned %s, not bytes, str, dict or list" % type(body).__name__)
    if len(body) > limit:
        raise ValueError("returned %d bytes, more than the %d a body may have" % (len(body), limit))
except BaseException:
    traceback.print_exc()
    sys.exit(1)
out.write(body)
out.close()
"""


@dataclass(frozen=True)
class RequestTemplate:
    """What every request of a run sends to an app; build it with ``build``."""

    method: str = "POST"
    path: str = "/predict"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    body_file: Path | None = None
    payload: str | None = None

    @classmethod
    def build(
        cls,
        *,
        method: str = "POST",
        path: str = "/predict",
        headers: Sequence[str] = (),
        token: str | None = None,
        body: str | None = None,
        body_file: Path | None = None,
        payload: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RequestTemplate:
        """A template checked whole; the first problem found is a one-line ``LoadError``.

        ``headers``: ``"Name: value"`` texts. ``token``: sent as ``Authorization: Bearer
        <token>``; ``env:NAME`` reads it from ``env`` (the app's env file), then from
        ``os.environ``. ``body``, ``body_file`` and ``payload`` exclude each other.
        """
        check_method(method)
        check_path(path)
        parsed = dict(parse_header(text) for text in headers)
        if token is not None:
            if any(name.lower() == "authorization" for name in parsed):
                raise LoadError("give either a token or an Authorization header, not both")
            parsed["Authorization"] = f"Bearer {_token(token, env)}"
        checked = check_headers(parsed)
        sources = (("a body", body), ("a body file", body_file), ("a payload hook", payload))
        given = [name for name, value in sources if value is not None]
        if len(given) > 1:
            raise LoadError(f"give at most one of {', '.join(given)}: each is a whole body")
        if body is not None:
            _check_text(body)
        if body_file is not None:
            body_file = Path(body_file)
            _read_body_file(body_file)
        if payload is not None and not _HOOK_REF.fullmatch(payload):
            raise LoadError(
                f"a payload hook is 'module:function' (e.g. mymod:make_body), not {payload!r}"
            )
        return cls(method, path, checked, body, body_file, payload)

    def uses_size(self) -> bool:
        """Whether the body depends on the size: a ``{size}`` in it, or a payload hook."""
        return self.payload is not None or (self.body is not None and SIZE_FIELD in self.body)

    def has_body(self) -> bool:
        """Whether a body was given (a body, a body file or a hook); else none is sent."""
        return self.body is not None or self.body_file is not None or self.payload is not None

    def bodies(
        self,
        size: int | None,
        *,
        python: Path | None = None,
        app_dir: Path | None = None,
        timeout: float = 60.0,
    ) -> list[bytes | None]:
        """The bodies to send in turn at ``size``: ``[None]`` when no body was given.

        ``python`` and ``app_dir``: the interpreter and directory a payload hook runs with
        (default: this interpreter, the current directory); ``timeout`` bounds the hook.
        """
        if self.uses_size() and size is None:
            raise LoadError("the request's body depends on the size ({size}, a hook): give --size")
        if size is not None and size < 0:
            raise LoadError(f"the size must be >= 0, not {size}")
        if self.body is not None:
            text = self.body.replace(SIZE_FIELD, str(size)) if size is not None else self.body
            data = text.encode("utf-8")
            _check_length(len(data), "the body")
            return [data]
        if self.body_file is not None:
            return list(_read_body_file(self.body_file))
        if self.payload is not None:
            assert size is not None  # uses_size() above
            return [
                run_hook(
                    self.payload,
                    size,
                    python=Path(sys.executable) if python is None else python,
                    app_dir=Path.cwd() if app_dir is None else app_dir,
                    timeout=timeout,
                )
            ]
        return [None]

    def describe(self) -> str:
        """One line for people: ``POST /predict, body {"rows": {size}}``; never a secret."""
        parts = [f"{self.method} {self.path}"]
        if self.headers:
            # Names only: a value may be a token or an API key.
            parts.append("headers " + ", ".join(self.headers))
        if self.body is not None:
            shown = self.body if len(self.body) <= _SHOWN_BODY else self.body[:_SHOWN_BODY] + "..."
            parts.append(f"body {shown}")
        elif self.body_file is not None:
            parts.append(f"bodies from {self.body_file}")
        elif self.payload is not None:
            parts.append(f"body from {self.payload}(size)")
        return ", ".join(parts)


def run_hook(ref: str, size: int, *, python: Path, app_dir: Path, timeout: float = 60.0) -> bytes:
    """``function(size)`` of the ``module:function`` hook ``ref``, run by ``python``.

    A subprocess in its own session, with ``app_dir`` as its working directory and first on
    ``sys.path``, killed (its whole group) after ``timeout`` seconds. Its failure is a one-line
    ``LoadError`` ending with the hook's exception line.
    """
    # Absolute, but symlinks kept: a venv's python is a symlink, and resolving it would run
    # the base interpreter without the venv's packages. Relative paths would be taken from
    # app_dir once the subprocess changed into it.
    python, app_dir = Path(os.path.abspath(python)), Path(os.path.abspath(app_dir))
    if not os.access(python, os.X_OK) or python.is_dir():
        raise LoadError(f"the payload hook's interpreter {python} is not an executable file")
    if not app_dir.is_dir():
        raise LoadError(f"the payload hook's directory {app_dir} is not a directory")
    command = [str(python), "-c", _HOOK_RUNNER, str(app_dir), ref, str(size), str(MAX_BODY_BYTES)]
    try:
        process = subprocess.Popen(
            command,
            cwd=app_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a hook's own children die with it on a timeout
        )
    except OSError as error:
        raise LoadError(f"cannot run the payload hook with {python}: {error.strerror}") from None
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LoadError(f"payload hook {ref}({size}) did not return within {timeout:g} s") from None
    finally:
        if process.returncode is None:
            _kill_group(process)
    if process.returncode != 0:
        lines = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit status {process.returncode}"
        raise LoadError(f"payload hook {ref}({size}) failed: {last}")
    _check_length(len(out), f"payload hook {ref}({size})'s body")
    return out


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _token(token: str, env: Mapping[str, str] | None) -> str:
    """The token's value; ``env:NAME`` is looked up in ``env``, then ``os.environ``."""
    if not token.startswith(_ENV_REF):
        value = token
    else:
        name = token[len(_ENV_REF) :]
        if not name:
            raise LoadError("a token written env:NAME needs a NAME, e.g. env:API_TOKEN")
        found = (env or {}).get(name)
        if found is None:
            found = os.environ.get(name)
        if found is None:
            raise LoadError(
                f"the token's variable {name} is set neither in the env file nor in the environment"
            )
        value = found
    if not value.strip():
        raise LoadError("the token is empty")
    if any(c in value for c in "\r\n\0"):
        raise LoadError("the token is not one line of text")
    return value.strip()


def _check_text(body: str) -> None:
    try:
        body.encode("utf-8")
    except UnicodeEncodeError as error:
        raise LoadError(
            f"the body is not valid UTF-8 at character {error.start + 1}: give it as UTF-8 text"
        ) from None


def _check_length(length: int, what: str) -> None:
    if length > MAX_BODY_BYTES:
        raise LoadError(
            f"{what} is {length:,} bytes, more than the {MAX_BODY_BYTES // 2**20} MiB a body may be"
        )


def _read_body_file(path: Path) -> list[bytes]:
    """Each non-blank line of a JSONL file, checked to be JSON, as bytes."""
    try:
        size = path.stat().st_size
        if size > MAX_BODY_BYTES:
            _check_length(size, f"the body file {path}")
        raw = path.read_bytes()
    except IsADirectoryError:
        raise LoadError(f"the body file {path} is a directory") from None
    except OSError as error:
        raise LoadError(f"cannot read the body file {path}: {error.strerror}") from None
    bodies: list[bytes] = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError:
            # json's message quotes no content; the line itself may hold private data.
            raise LoadError(
                f"the body file {path} has a line that is not JSON: line {number}"
            ) from None
        bodies.append(line.strip())
    if not bodies:
        raise LoadError(f"the body file {path} is empty: give one JSON body a line")
    return bodies
