"""The catalogs of words (report/lang/en.py, ru.py): the same keys, and every key used exists."""

from __future__ import annotations

import re
import string
from pathlib import Path

import servelab.report as servelab_report
from servelab.report.i18n import Lang
from servelab.report.lang import CATALOGS, LANGUAGES
from servelab.report.plots.critical import _OUTCOME_LABELS
from servelab.results import ERROR_CODES, OUTCOMES, STOP_CODES

REPORT = Path(servelab_report.__file__).parent
# A literal key handed to a catalog lookup: t("key", self.t("key", words.t("key", ...
_LOOKUP = re.compile(r"\bt\(\s*\"([^\"]+)\"")
_PLURAL = re.compile(r"\bplural\([^()]*?,\s*\"([a-z]+)\"\)")
# Keys the figures look up through a table rather than a literal.
_FIGURE_TABLES = ("all passed", "some failed", "all failed", "largest_passed", "smallest_failed")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_the_same_keys_and_placeholders() -> None:
    assert set(CATALOGS) == set(LANGUAGES) == {"en", "ru"}
    english, russian = CATALOGS["en"], CATALOGS["ru"]
    assert sorted(set(english) ^ set(russian)) == []
    differ = [key for key in english if _placeholders(english[key]) != _placeholders(russian[key])]
    assert differ == []


def test_every_key_the_report_uses_exists() -> None:
    used: set[str] = set()
    for path in REPORT.rglob("*.py"):
        if "lang" in path.relative_to(REPORT).parts:
            continue
        text = path.read_text(encoding="utf-8")
        prefix = "fig." if "plots" in path.relative_to(REPORT).parts else ""
        used |= {prefix + key for key in _LOOKUP.findall(text)}
        used |= {f"n.{word}" for word in _PLURAL.findall(text)}
    used |= {f"fig.{key}" for key in (*_FIGURE_TABLES, *_OUTCOME_LABELS.values())}
    assert len(used) > 100  # the scan found the lookups
    assert sorted(used - set(CATALOGS["en"])) == []


def test_every_code_a_study_stores_has_words_in_every_language() -> None:
    families = {"outcome": OUTCOMES, "stop": STOP_CODES, "error": ERROR_CODES}
    for code in LANGUAGES:
        for family, codes in families.items():
            missing = [c for c in codes if f"{family}.{c}" not in CATALOGS[code]]
            assert missing == [], (code, family)
        for mechanism in ("cgroup_v1", "cgroup_v2", "rlimit_as"):
            assert f"cap_{mechanism}" in CATALOGS[code]


def test_russian_outcomes_are_russian_words() -> None:
    russian = Lang("ru")
    said = {code: russian.outcome(code) for code in OUTCOMES}
    assert said["rejected"] == "отказ" and said["failed"] == "ошибка"
    assert [code for code, word in said.items() if word == code] == []


def test_word_forms_follow_the_count() -> None:
    russian, english = Lang("ru"), Lang("en")
    assert [russian.plural(n, "process") for n in (1, 2, 5, 11, 21, 22)] == [
        "1 процесс",
        "2 процесса",
        "5 процессов",
        "11 процессов",
        "21 процесс",
        "22 процесса",
    ]
    assert [english.plural(n, "worker") for n in (1, 2)] == ["1 worker", "2 workers"]
