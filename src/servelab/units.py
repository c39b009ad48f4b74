"""Sizes and durations as people write them: one parser for the command line and the service.

``parse_size("384MiB")`` and ``parse_duration("300ms")`` are strict: anything they do not
read exactly is a ``ConfigError`` naming the text, so a
typo never passes as some other number. Standard library only: the service under test
imports this module, and must not import the lab.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Final

from servelab.errors import ConfigError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "ki": 2**10,
    "kib": 2**10,
    "mi": 2**20,
    "mib": 2**20,
    "gi": 2**30,
    "gib": 2**30,
    "ti": 2**40,
    "tib": 2**40,
}
_SIZE: Final = re.compile(r"(\d[\d_]*(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)")


def parse_size(text: str | int) -> int:
    """Bytes from ``"384MiB"``, ``"1.5GiB"``, ``"300M"``, ``"1073741824"`` or an int.

    Units are case-insensitive. ``K``/``M``/``G``/``T`` (and ``KB``...) are powers of 1000;
    ``KiB``/``MiB``/``GiB``/``TiB`` (and ``Ki``...) are powers of 1024. Unlike docker's
    ``--memory 300m``, ``300M`` here is 300,000,000 bytes. Fractions round to whole bytes.
    """
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise ConfigError(f"bad size {text!r}: expected text like 384MiB or a number of bytes")
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(f"bad size {text!r}: must not be negative")
        return text
    match = _SIZE.fullmatch(text.strip())
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS or "__" in match.group(1):
        raise ConfigError(
            f"bad size {text!r}: expected a number and a unit, e.g. 384MiB, 1.5GiB,"
            " 300M (M = 10^6 bytes, MiB = 2^20) or 1073741824"
        )
    return round(Fraction(match.group(1).replace("_", "")) * _UNITS[unit])


def format_size(n: int) -> str:
    """For people: ``512 B``, ``384 MiB``, ``300.5 MiB``, ``1.0 GiB``."""
    sign, n = ("-", -n) if n < 0 else ("", n)
    if n >= 2**30:
        return f"{sign}{n / 2**30:.1f} GiB"
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            text = f"{n // size}" if n % size == 0 else f"{n / size:.1f}"
            return f"{sign}{text} {unit}"
    return f"{sign}{n} B"


_DURATION_UNITS: Final[dict[str, Fraction]] = {
    "us": Fraction(1, 10**6),
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
}
_DURATION: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|m|h)?")


def parse_duration(text: str | float) -> float:
    """Seconds from ``"300ms"``, ``"1.5s"``, ``"2m"``, ``"250us"``, ``"0.5"`` or a number.

    A bare number is seconds. Negative, infinite and NaN durations are refused.
    """
    if isinstance(text, bool) or not isinstance(text, int | float | str):
        raise ConfigError(f"bad duration {text!r}: expected text like 300ms or 1.5s")
    if not isinstance(text, str):
        seconds = float(text)
        if not (seconds >= 0 and seconds != float("inf")):
            raise ConfigError(f"bad duration {text!r}: must be finite and >= 0")
        return seconds
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"bad duration {text!r}: expected a number and a unit, e.g. 300ms, 1.5s, 2m"
            " (us, ms, s, m, h; a bare number is seconds)"
        )
    return float(Fraction(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"])
