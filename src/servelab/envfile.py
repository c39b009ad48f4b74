"""Read a ``.env`` file: the settings an app reads from its environment (a token, a model path).

    KEY=value
    export KEY=value          # ``export`` is allowed, as in a shell
    KEY="a value # not a comment"   KEY='single $quotes'
    # a comment, and blank lines

Double-quoted values understand ``\\n``, ``\\t``, ``\\"`` and ``\\\\``; single-quoted and
bare values are taken as they are (a bare value ends at `` #``). No ``${VAR}`` expansion: the
file says what the app gets. A bad line is a ConfigError naming the file and the line number,
never the line itself: its value may be a secret.
"""

from __future__ import annotations

import re
from pathlib import Path

from servelab.errors import ConfigError

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def read_env_file(path: Path) -> dict[str, str]:
    """The settings in ``path``, in order; a ConfigError if it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read env file {path}: {why}") from None
    settings: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        value = _value(match.group(2)) if match else None
        if match is None or value is None:
            raise ConfigError(
                f"env file {path}, line {number}: not KEY=VALUE (or a quote is not closed)"
            )
        settings[match.group(1)] = value
    return settings


def _value(text: str) -> str | None:
    """The value after ``=``; None when it is malformed (an unclosed quote, text after one)."""
    if not text:
        return ""
    quote = text[0]
    if quote == "'":
        end = text.find("'", 1)
        if end < 0 or not _only_comment(text[end + 1 :]):
            return None
        return text[1:end]
    if quote == '"':
        out: list[str] = []
        index = 1
        while index < len(text):
            char = text[index]
            if char == "\\" and index + 1 < len(text):
                nxt = text[index + 1]
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                index += 2
                continue
            if char == '"':
                return "".join(out) if _only_comment(text[index + 1 :]) else None
            out.append(char)
            index += 1
        return None
    comment = re.search(r"\s#", text)
    return (text[: comment.start()] if comment else text).strip()


def _only_comment(rest: str) -> bool:
    rest = rest.strip()
    return not rest or rest.startswith("#")
