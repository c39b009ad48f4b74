"""A sweep's plan as a TOML file: the command line's options, written down once.

    # examples/sweep.toml
    servers = "gunicorn:w{1,2,4}, gunicorn:w2:gthread:t{4,8}, uvicorn:w{1,2}"
    workloads = ["io", "cpu"]
    slo = ["p99<500ms", "errors<1%"]
    memory = "2GiB"
    budget = "10m"

A key is an option's long name without the dashes (``io-delay`` or ``io_delay``); a list
stands for a comma-separated option (``servers``, ``workloads``), or for a repeatable one
(``slo``, ``header``). An option given on the command line wins over the file. A key the
command does not have, or a value of the wrong kind, is a ``ConfigError`` naming the file and
the key: a misspelt key never leaves the sweep quietly on its default.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from servelab.errors import ConfigError

# Options whose value is a comma-separated list on the command line.
COMMA_LISTS = frozenset({"servers", "workloads"})


def read_plan_file(path: Path, options: Mapping[str, tuple[type, bool]]) -> dict[str, object]:
    """The file's values by parameter name. ``options`` maps each parameter the command
    takes to (the type of one value, whether it is repeatable)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read the plan file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not a TOML file: {error}") from None
    values: dict[str, object] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in options:
            known = ", ".join(sorted(n.replace("_", "-") for n in options))
            raise ConfigError(f"{path}: unknown key {key!r}; the keys are: {known}")
        kind, repeatable = options[name]
        values[name] = _value(path, key, value, kind, repeatable, name in COMMA_LISTS)
    return values


def _value(
    path: Path, key: str, value: Any, kind: type, repeatable: bool, comma_list: bool
) -> object:
    if comma_list and isinstance(value, list):
        return ", ".join(_one(path, key, item, str) for item in value)
    if repeatable:
        items = value if isinstance(value, list) else [value]
        return tuple(_one(path, key, item, kind) for item in items)
    return _one(path, key, value, kind)


def _one(path: Path, key: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind is Path:
        if isinstance(value, str):
            # A path in a plan file is relative to the file, as a reader of the file expects.
            return path.parent / value
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"{path}: {key} must be {_KIND_WORDS.get(kind, 'text')}, not {value!r}")


_KIND_WORDS = {bool: "true or false", int: "a whole number", float: "a number", Path: "a path"}
