"""What the figures say, in each language of the report: titles, labels, legends, units.

The words are the ``fig.*`` entries of the report's catalogs (``report/lang/``).

A figure is drawn once per language (``plots/`` for English, ``plots/<lang>/`` for the
others), so a Russian report shows Russian figures. Numbers are printed as the report's
text prints them in that language (``Lang.digits``: 1,234.5 or 1 234,5), tick labels too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ...results import Server
from ..i18n import Lang, Scalar
from ..lang import CATALOGS, LANGUAGES

_MIB: Final = 2**20


@dataclass(frozen=True)
class Words:
    """The figures' words and units in one language (``en`` unless told)."""

    code: str = "en"

    def __post_init__(self) -> None:
        if self.code not in LANGUAGES:
            raise ValueError(f"no figure texts for language {self.code!r}")

    def t(self, key: str, **params: Scalar) -> str:
        """A figure text: ``fig.<key>`` of the language's catalog."""
        return CATALOGS[self.code][f"fig.{key}"].format(**params)

    def seconds(self, value: float) -> str:
        if value >= 10:
            return self.t("s", value=self.lang.decimal(value, 1))
        if value >= 0.1:
            return self.t("s", value=self.lang.decimal(value, 2))
        return self.t("ms", value=f"{value * 1000:.0f}")

    def mib(self, value: float) -> str:
        return self.t("mib", value=self._grouped(f"{value / _MIB:,.0f}"))

    def _grouped(self, text: str) -> str:
        """Thousands and decimals as the report's text prints them: 1,024.5 or 1 024,5."""
        return self.lang.digits(text)

    @property
    def lang(self) -> Lang:
        """The report's numbers and words in this language (``Lang``)."""
        return Lang(self.code)

    def count(self, value: float) -> str:
        """An element count for an axis or a label: 2.35 M, 132.5 M, 950 k, 120.

        Up to two decimals of the unit and never fewer than needed for that: ticks 2.5 M
        apart must not both round to the same label.
        """
        for unit, key in ((1e6, "million"), (1e3, "thousand")):
            if abs(value) >= unit:
                short = f"{value / unit:,.2f}".rstrip("0").rstrip(".")
                return self.t(key, value=self._grouped(short))
        return f"{value:.0f}"

    def integer(self, value: int) -> str:
        """A whole number as the report's text prints it (25,700,000 or 25 700 000)."""
        return Lang(self.code).count(value)

    def server(self, server: Server) -> str:
        """A server in words, as the report's text says it."""
        return Lang(self.code).server(server)

    def outcome(self, code: str) -> str:
        """An outcome code (oom, rejected...) in the figure's language."""
        return Lang(self.code).outcome(code)


ENGLISH: Final = Words()
