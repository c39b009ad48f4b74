"""The report's languages: one catalog of words per language (``en.py``, ``ru.py``).

``CATALOGS[code][key]`` is a sentence template, a heading or a word; both catalogs have the
same keys. Formatting numbers and choosing a word's form is ``servelab.report.i18n.Lang``'s job.
"""

from __future__ import annotations

from typing import Final

from . import en, ru

LANGUAGES: Final = ("en", "ru")
CATALOGS: Final[dict[str, dict[str, str]]] = {"en": en.WORDS, "ru": ru.WORDS}

__all__ = ["CATALOGS", "LANGUAGES"]
