"""The grid a sweep runs: server specs written with shell-like braces.

    expand("gunicorn:w{1,2,4}, uvicorn:w{1..2}")
    # ['gunicorn:w1', 'gunicorn:w2', 'gunicorn:w4', 'uvicorn:w1', 'uvicorn:w2']

Commas at the top level separate specs; inside braces they separate alternatives. A brace
holds a list (``{1,2,4}``, ``{,:preload}``, an empty alternative included) or a range of
whole numbers (``{1..4}``, ``{8..2}`` counts down, ``{1..16..x2}`` doubles). Several braces
in one spec give their product, left to right; braces nest. Anything else (an unclosed
brace, an empty range, a grid larger than ``MAX_CELLS``) is a ``ConfigError`` naming the text,
so a typo never becomes a silently smaller sweep.

``server_grid`` parses the expanded specs and adds gunicorn's ``--preload`` as a dimension:
``off`` (as written), ``on`` (every gunicorn spec preloaded) or ``both`` (each gunicorn spec
with and without it, side by side); a server that has no preload is left as it is.

Pure: nothing here starts anything.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final, Literal, get_args

from servelab.errors import ConfigError
from servelab.servers.spec import ServerSpec

PreloadMode = Literal["off", "on", "both"]
PRELOAD_MODES: Final[tuple[str, ...]] = get_args(PreloadMode)

# A sweep cell costs tens of seconds: a grid this large is a typo, not a plan.
MAX_CELLS: Final = 200
_RANGE = re.compile(r"(-?\d+)\.\.(-?\d+)(?:\.\.(x?)(\d+))?")


def expand(text: str) -> list[str]:
    """Every spec ``text`` names, in order, each once (a repeat keeps its first place)."""
    specs: list[str] = []
    for item in _split(text, text):
        item = item.strip()
        if not item:
            continue
        for spec in _expand_one(item, text):
            spec = spec.strip()
            if not spec:
                raise ConfigError(f"{text!r}: an alternative expands to an empty server spec")
            if spec not in specs:
                specs.append(spec)
            if len(specs) > MAX_CELLS:
                raise ConfigError(f"{text!r} names more than {MAX_CELLS} server specs")
    if not specs:
        raise ConfigError(f"{text!r} names no server spec")
    return specs


def server_grid(text: str, preload: str = "off") -> list[ServerSpec]:
    """The server specs of ``text`` (braces expanded), with the preload dimension; each
    configuration once, in order."""
    if preload not in PRELOAD_MODES:
        raise ConfigError(f"--preload must be one of {', '.join(PRELOAD_MODES)}, not {preload!r}")
    specs: list[ServerSpec] = []
    for spec in (ServerSpec.parse(item) for item in expand(text)):
        takes = "preload" in spec.kind_info.settings
        if not takes or preload == "off":
            variants = [spec]
        elif preload == "on":
            variants = [replace(spec, preload=True)]
        else:
            variants = [replace(spec, preload=False), replace(spec, preload=True)]
        for variant in variants:
            if variant not in specs:
                specs.append(variant)
    if len(specs) > MAX_CELLS:
        raise ConfigError(f"{text!r} with --preload {preload} names more than {MAX_CELLS} servers")
    return specs


def _split(text: str, whole: str) -> list[str]:
    """``text`` cut at the commas outside braces."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"{whole!r}: a '}}' closes no '{{'")
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise ConfigError(f"{whole!r}: a '{{' is not closed")
    parts.append(text[start:])
    return parts


def _expand_one(item: str, whole: str) -> list[str]:
    """The strings one comma-free ``item`` stands for (its first brace, then the rest)."""
    opening = item.find("{")
    if opening < 0:
        return [item]
    closing = _matching(item, opening)
    head, body, tail = item[:opening], item[opening + 1 : closing], item[closing + 1 :]
    alternatives = _alternatives(body, whole)
    tails = _expand_one(tail, whole)
    out: list[str] = []
    for alternative in alternatives:
        for middle in _expand_one(alternative, whole):
            out.extend(head + middle + rest for rest in tails)
            if len(out) > MAX_CELLS:
                raise ConfigError(f"{whole!r} names more than {MAX_CELLS} server specs")
    return out


def _matching(item: str, opening: int) -> int:
    depth = 0
    for i in range(opening, len(item)):
        depth += {"{": 1, "}": -1}.get(item[i], 0)
        if depth == 0:
            return i
    raise ConfigError(f"{item!r}: a '{{' is not closed")  # _split has caught it already


def _alternatives(body: str, whole: str) -> list[str]:
    match = _RANGE.fullmatch(body.strip())
    if match is not None:
        return [str(v) for v in _range(match, whole)]
    parts = _split(body, whole)
    if len(parts) == 1:
        raise ConfigError(
            f"{whole!r}: {{{body}}} is one alternative; write a list ({{1,2}}) or a range"
            " ({1..4})"
        )
    return parts


def _range(match: re.Match[str], whole: str) -> list[int]:
    first, last = int(match[1]), int(match[2])
    doubling = match[3] == "x"
    step = int(match[4]) if match[4] is not None else (2 if doubling else 1)
    if doubling:
        if step < 2 or first < 1 or last < first:
            raise ConfigError(
                f"{whole!r}: a doubling range {{a..b..xK}} needs 1 <= a <= b and K >= 2"
            )
        values = [first]
        while values[-1] * step <= last:
            values.append(values[-1] * step)
        return values
    if step < 1:
        raise ConfigError(f"{whole!r}: a range's step must be >= 1")
    direction = 1 if last >= first else -1
    values = list(range(first, last + direction, step * direction))
    if len(values) > MAX_CELLS:
        raise ConfigError(f"{whole!r} names more than {MAX_CELLS} server specs")
    return values
