"""The user's own app, to be served in its own environment: ``AppTarget``.

    app = AppTarget.load("src.predict_app:app", app_dir=Path("~/course"),
                         python=Path("~/course/.venv/bin/python"), env_file=Path(".env"))
    app.check_server(ServerSpec.parse("uvicorn"))  # a ConfigError: a WSGI app
    with launch(ServerSpec.parse("gunicorn:w2"), run_dir=run_dir, app=app) as server: ...

``load`` checks what it is given and imports the app once, in its own interpreter, to learn
whether it is WSGI or ASGI (the shim's ``detect``). A reference is ``pkg.module:attr``
(imported with ``app_dir`` first on the path, as ``gunicorn --chdir app_dir``) or
``path/to/file.py:attr`` (relative to ``app_dir``): then the file's directory goes first on
the path and its stem is the module name, as when ``python path/to/file.py`` runs it; the
working directory stays ``app_dir`` either way, so relative paths in the app (a model file)
mean what they mean when it is started from there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, cast

from servelab import results
from servelab.envfile import read_env_file
from servelab.errors import AppError, ConfigError
from servelab.servers.spec import (
    KIND_TABLE,
    SHIM_APP,
    SHIM_MODULE,
    Interface,
    ServerSpec,
)

SHIM_DIR: Final = Path(__file__).resolve().parent / "shim"
# Read by the shim (servelab_served_by.APP_ENV): the app it wraps, as module:attr.
APP_ENV: Final = "SERVELAB_APP"
_DETECT_MARK = "servelab-served-by-interface:"
_ERROR_MARK = "servelab-served-by-error:"
# Importing an app can load a model (scikit-learn alone takes seconds on a busy machine).
DETECT_TIMEOUT: Final = 120.0
_CHECK_TIMEOUT: Final = 60.0
_TRACEBACK_LINES = 8
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

__all__ = ["APP_ENV", "SHIM_APP", "SHIM_DIR", "AppTarget", "Interface"]


@dataclass(frozen=True)
class AppTarget:
    """A WSGI or ASGI app in its own environment, checked and with its interface detected.

    ``ref`` is as given; ``app_dir`` the server's working directory and first import path;
    ``python`` the interpreter of the app's environment; ``ready`` the readiness path (None:
    ``/health`` if it answers 2xx, else any HTTP answer to ``/``); ``env`` settings the
    server gets in its environment (from an env file). Make one with ``load``.
    """

    ref: str
    app_dir: Path
    python: Path
    interface: Interface
    ready: str | None = None
    env: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def load(
        cls,
        ref: str,
        *,
        app_dir: Path | None = None,
        python: Path | None = None,
        ready: str | None = None,
        env_file: Path | None = None,
    ) -> AppTarget:
        """Check ``ref`` and the rest, import the app in ``python`` and detect its interface.

        Defaults: ``app_dir`` the working directory, ``python`` this interpreter. A
        ConfigError (an ``AppError`` with the traceback's last lines when the app's import
        fails) of one line for anything wrong.
        """
        directory = _app_dir(app_dir)
        interpreter = _python(python)
        if ready is not None and (not ready.startswith("/") or any(c.isspace() for c in ready)):
            raise ConfigError(f"ready path must start with / and hold no spaces, not {ready!r}")
        env = read_env_file(env_file) if env_file is not None else {}
        draft = cls(ref, directory, interpreter, "wsgi", ready, env)
        draft.module_ref  # noqa: B018  # checks the reference's shape before anything runs
        return cls(ref, directory, interpreter, draft._detect(), ready, env)

    @property
    def module_ref(self) -> str:
        """``module:attr`` as the shim imports it (a file's stem for ``file.py:attr``)."""
        path, sep, attr = self.ref.strip().rpartition(":")
        if not sep or not path or not attr or not all(_MODULE.match(a) for a in attr.split(".")):
            raise ConfigError(
                f"app {self.ref!r} must be MODULE:ATTR or path/to/file.py:ATTR"
                " (e.g. src.predict_app:app)"
            )
        if path.endswith(".py"):
            file = self._file(path)
            return f"{file.stem}:{attr}"
        if not _MODULE.match(path):
            raise ConfigError(f"app {self.ref!r}: {path!r} is not a module name (pkg.module)")
        return f"{path}:{attr}"

    @property
    def import_dirs(self) -> tuple[Path, ...]:
        """The directories put first on the server's import path, in order."""
        path = self.ref.strip().rpartition(":")[0]
        if path.endswith(".py"):
            parent = self._file(path).parent
            return (parent,) if parent == self.app_dir else (parent, self.app_dir)
        return (self.app_dir,)

    def server_env(self, inherited: Mapping[str, str]) -> dict[str, str]:
        """The environment a server of this app runs with: ``inherited`` over the app's
        settings (the real environment wins, as with python-dotenv and the servers'
        ``--env-file``), the shim and the app's directories first on ``PYTHONPATH`` (then the
        user's), and the app the shim wraps."""
        paths = [str(SHIM_DIR), *map(str, self.import_dirs)]
        if inherited.get("PYTHONPATH"):
            paths.append(inherited["PYTHONPATH"])
        return {
            **self.env,
            **inherited,
            "PYTHONPATH": os.pathsep.join(paths),
            APP_ENV: self.module_ref,
        }

    def check_server(self, spec: ServerSpec) -> None:
        """A one-line ConfigError if ``spec`` cannot serve this app: the wrong interface
        (saying which servers would), or its package missing in the app's environment
        (saying how to install it there)."""
        if not spec.serves(self.interface):
            raise ConfigError(
                f"{spec.describe()} cannot serve {self.ref!r},"
                f" {'an' if self.interface == 'asgi' else 'a'} {self.interface.upper()} app:"
                f" use {_servers_for(self.interface)}"
            )
        if spec.kind == "granian" and self.interface == "asgi" and spec.threads > 1:
            raise ConfigError(
                f"granian runs an ASGI app on one event loop per worker: :t{spec.threads} is"
                f" for WSGI apps only (drop it, or add workers with :w<N>)"
            )
        modules = [m for package in spec.packages for m in package.modules]
        found = self._installed(modules)
        for package in spec.packages:
            if not found & set(package.modules):
                raise ConfigError(
                    f"{spec.kind} needs {package.pip_name}, which is not installed in the app's"
                    f" environment ({self.python}): {self.python} -m pip install"
                    f" {package.pip_name}"
                )

    def to_app(self) -> results.App:
        """As the results contract stores it."""
        return results.App(
            ref=self.ref,
            app_dir=str(self.app_dir),
            python=str(self.python),
            interface=self.interface,
            ready=self.ready,
        )

    def _file(self, path: str) -> Path:
        file = (self.app_dir / path).resolve()
        if not file.is_file():
            raise ConfigError(f"app {self.ref!r}: no file {file}")
        if not _MODULE.match(file.stem) or "." in file.stem:
            raise ConfigError(f"app {self.ref!r}: {file.name} is not importable as a module")
        return file

    def _run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        env = self.server_env(os.environ)
        try:
            return subprocess.run(
                argv,
                cwd=self.app_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise ConfigError(
                f"importing app {self.ref!r} with {self.python} took over {timeout:g} s"
            ) from None
        except OSError as error:
            raise ConfigError(f"cannot run {self.python}: {error.strerror}") from None

    def _detect(self) -> Interface:
        done = self._run([str(self.python), "-m", SHIM_MODULE, "detect"], DETECT_TIMEOUT)
        for line in reversed(done.stdout.splitlines()):
            if done.returncode == 0 and line.startswith(_DETECT_MARK):
                interface = line.removeprefix(_DETECT_MARK).strip()
                if interface in ("wsgi", "asgi"):
                    return cast(Interface, interface)
        lines = done.stderr.splitlines()
        why = next(
            (ln.removeprefix(_ERROR_MARK).strip() for ln in reversed(lines) if _ERROR_MARK in ln),
            None,
        )
        kept = [ln for ln in lines if _ERROR_MARK not in ln and ln.strip(" ^~")]
        tail = "\n".join(kept[-_TRACEBACK_LINES:])
        if why is None:  # not even the shim ran: a Python without it, or one older than 3.9
            why = lines[-1].strip() if lines else f"exit code {done.returncode}"
        raise AppError(f"cannot import app {self.ref!r} with {self.python}: {why}", tail)

    def _installed(self, modules: list[str]) -> set[str]:
        code = (
            "import importlib.util, sys\n"
            "for name in sys.argv[1:]:\n"
            "    try:\n"
            "        found = importlib.util.find_spec(name) is not None\n"
            "    except Exception:\n"
            "        found = False\n"
            "    if found:\n"
            "        print(name)\n"
        )
        # -I: the server's packages must be in the environment, not in the app's directory.
        done = self._run([str(self.python), "-I", "-c", code, *modules], _CHECK_TIMEOUT)
        if done.returncode != 0:
            raise ConfigError(f"cannot ask {self.python} what it has installed: {done.stderr!r}")
        return set(done.stdout.split())


def _app_dir(app_dir: Path | None) -> Path:
    directory = Path.cwd() if app_dir is None else app_dir.expanduser()
    if not directory.is_dir():
        raise ConfigError(f"app directory {directory} does not exist or is not a directory")
    return directory.resolve()


def _python(python: Path | None) -> Path:
    if python is None:
        return Path(sys.executable)
    # Absolute, not resolved: a venv's python is a symlink, and resolving it would leave
    # the venv (and its packages) behind.
    interpreter = Path(os.path.abspath(python.expanduser()))
    if not interpreter.is_file() or not os.access(interpreter, os.X_OK):
        raise ConfigError(f"python {interpreter} is not an executable file")
    try:
        done = subprocess.run(
            [str(interpreter), "-I", "-c", "import sys; print(sys.version_info >= (3, 9))"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_CHECK_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigError(f"python {interpreter} does not run: {error}") from None
    if done.stdout.strip() != "True":
        raise ConfigError(f"python {interpreter} is not a Python interpreter of version 3.9+")
    return interpreter


def _servers_for(interface: Interface) -> str:
    """The spec forms that serve ``interface``, from the kind table."""
    usable = []
    for name in KIND_TABLE:
        if ServerSpec.parse(name).serves(interface):
            usable.append(name)
        elif name == "gunicorn" and ServerSpec.parse("gunicorn:uvicorn").serves(interface):
            usable.append("gunicorn:w<N>:uvicorn")
    return ", ".join(usable)
