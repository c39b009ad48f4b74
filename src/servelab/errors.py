"""Every error servelab raises on purpose, in one tree.

    ServelabError                 base: a user-facing failure with a one-line message
    ├── ConfigError               bad settings: an unknown workload, a negative n, a bad size
    │   └── AppError              the user's app cannot be served (carries its traceback's end)
    ├── ServerError               a server under test misbehaved
    │   ├── ServerStartError      it did not become ready (carries the tail of its log)
    │   └── ServerCrashedError    it ended while it was still needed
    ├── SandboxError              no memory cap can be made here, or one could not be removed
    ├── LoadError                 the load engine could not run (e.g. a malformed URL)
    └── ResultsError              a results folder is missing or unreadable

The CLI prints ``str(error)`` and exits non-zero; a traceback means a bug in servelab.
"""

from __future__ import annotations


class ServelabError(Exception):
    """Base of every error servelab raises on purpose."""


class ConfigError(ServelabError):
    """A setting is invalid; the message names it."""


class AppError(ConfigError):
    """The user's app cannot be imported or served; ``detail`` holds the last lines of the
    app's traceback (the first line of the message says what failed)."""

    def __init__(self, message: str, detail: str = "") -> None:
        self.detail = detail
        where = "--- last lines of its traceback ---"
        super().__init__(message if not detail else f"{message}\n{where}\n{detail}")


class ServerError(ServelabError):
    """A server under test misbehaved."""


class ServerStartError(ServerError):
    """A server did not become ready; ``log_tail`` holds the last lines it printed."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        full = message if not log_tail else f"{message}\n--- last lines of its log ---\n{log_tail}"
        super().__init__(full)


class ServerCrashedError(ServerError):
    """A server ended while the lab still needed it."""


class SandboxError(ServelabError):
    """A memory cap could not be created or removed; the message says what to do."""


class LoadError(ServelabError):
    """The load engine could not run."""


class ResultsError(ServelabError):
    """A results folder is missing, incomplete or unreadable."""
