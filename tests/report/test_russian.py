"""The Russian report reads as Russian: decimal commas, word forms that follow their count,
one term for the critical n, and no English words in its prose.

The prose is the report less what it quotes: code spans and blocks, link targets, file and
run names (``io_bounded_dev``, ``memory.limit_in_bytes``) and the machine's own data (its CPU
name, package names and versions). What is left may hold Latin letters only in the names of
products and kernel or protocol terms listed in ``ALLOWED``, and the variable ``n``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from servelab.report.build import build_report
from servelab.report.i18n import Lang
from servelab.report.lang import CATALOGS
from servelab.results import Study, read_study

from . import folders
from .folders import DEV, PROD

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMITTED = [DOCS / "reference-study", DOCS / "example-study"]

# Products, and kernel, protocol and gunicorn terms, as a Russian text writes them.
ALLOWED = frozenset(
    {
        *("Flask", "gunicorn", "numpy", "Python", "servelab", "GIL", "WSGI", "ASGI"),
        *("TensorFlow", "Serving", "AWS", "SageMaker", "Yandex", "DataSphere", "Google"),
        *("Vertex", "AI"),
        *("cgroup", "v1", "v2", "OOM", "OOM-kill", "RSS", "SIGKILL", "MemoryError", "pid"),
        *("uvicorn", "waitress", "granian"),
        *("HTTP", "POST", "Retry-After", "WORKER", "TIMEOUT", "UTF-8", "JSON"),
        "sync",  # gunicorn's worker class, as `--worker-class sync` names it
        *("dev", "prod"),  # the seminar's names of its two servers, also in its file names
        # A sweep's measures, as the Linux and SRE texts in Russian write them too.
        *("PSS", "USS", "SLO", "p50", "p90", "p99"),
    }
)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`]*`")
_TARGET = re.compile(r"\]\([^)]*\)")
# A run, file or setting name: io_bounded_dev, flask_app:app, memory.limit_in_bytes (not 1.5).
_IDENTIFIER = re.compile(r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*(?:[_:./][A-Za-z0-9]+)+|\w+_\w*")
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")
_POINT = re.compile(r"\d\.\d")
# The masculine critical n (Критический n) or n's adjectives in the masculine.
_MASCULINE_N = re.compile(r"(ий|ый|ой|ший) n\b")


def prose(report: str, study: Study) -> str:
    """What the report says in its own words (see the module's docstring)."""
    machine = study.machine
    text = _FENCE.sub(" ", report)
    text = _CODE.sub(" ", text)
    text = _TARGET.sub("]", text)
    quoted = [machine.cpu or "", *(f"{name} {v}" for name, v in machine.packages.items() if v)]
    quoted.append(f"Python {machine.python}")
    for data in sorted(quoted, key=len, reverse=True):
        text = text.replace(data, " ") if data else text
    return _IDENTIFIER.sub(" ", text)


def english_words(text: str) -> list[str]:
    return sorted({w for w in _LATIN.findall(text) if w not in ALLOWED and w != "n"})


def _study() -> Study:
    """Two servers on two workloads, two searches (one with the memory guard)."""
    runs = [
        folders.with_cpu(folders.run("cpu_bounded_dev", DEV, "cpu", 1.52), server=1.4, client=0.03),
        folders.run("cpu_bounded_prod_w1", PROD, "cpu", 2.37),
        folders.run("cpu_multithread_dev", DEV, "numpy", 0.26),
    ]
    searches = [
        folders.guarded(folders.search()),
        folders.search("cpu_bounded_prod_w1", PROD),
    ]
    return folders.study(runs, searches)


def _russian(tmp_path: Path) -> tuple[str, Study]:
    study = _study()
    folder = folders.write_folder(tmp_path / "results", study)
    build_report(folder, ("ru",))
    return (folder / "report.ru.md").read_text(encoding="utf-8"), study


def _reports(tmp_path: Path) -> list[tuple[str, str, Study]]:
    built, study = _russian(tmp_path)
    reports = [("a study built here", built, study)]
    for folder in COMMITTED:
        text = (folder / "report.ru.md").read_text(encoding="utf-8")
        reports.append((folder.name, text, read_study(folder)))
    return reports


def test_the_russian_reports_write_decimal_commas(tmp_path: Path) -> None:
    for name, report, study in _reports(tmp_path):
        said = prose(report, study)
        points = [line for line in said.splitlines() if _POINT.search(line)]
        assert points == [], name
        assert re.search(r"\d,\d", said), name  # the reports do have fractions


def test_the_russian_reports_have_no_english_words_in_their_prose(tmp_path: Path) -> None:
    for name, report, study in _reports(tmp_path):
        assert english_words(prose(report, study)) == [], name


def test_the_russian_reports_say_the_critical_n_one_way(tmp_path: Path) -> None:
    for name, report, _study in _reports(tmp_path):
        assert _MASCULINE_N.findall(report) == [], name
        assert "запрос(ов)" not in report and "(s)" not in report, name
    reference = (COMMITTED[0] / "report.ru.md").read_text(encoding="utf-8")
    assert reference.count("Критическое n — наибольшее n") == 1  # defined once, in the method
    never = read_study(COMMITTED[0]).critical[0].max_passing_n
    never_ru = f"{never:,}".replace(",", "\u00a0")
    assert f"Критическое n (лимит 1,0 ГиБ): между {never_ru}" in reference
    example = (COMMITTED[1] / "report.ru.md").read_text(encoding="utf-8")
    assert example.count("Критический размер входа — наибольший размер входа") == 1
    assert "критического n" not in example  # an app's report speaks of its input size


def test_every_russian_sentence_is_russian_before_it_is_filled() -> None:
    """Every entry of ru.py, with its {placeholders} and code spans out: also the sentences
    that no committed report happens to say (an unfinished search, a server that died)."""
    english = {}
    for key, template in CATALOGS["ru"].items():
        text = _CODE.sub(" ", re.sub(r"\{[^}]*\}", " ", template))
        words = english_words(_IDENTIFIER.sub(" ", text))
        if words:
            english[key] = words
    assert english == {}
    points = [key for key, template in CATALOGS["ru"].items() if _POINT.search(template)]
    assert points == []


def test_the_prose_filter_finds_what_it_looks_for() -> None:
    study = _study()
    said = prose("Сервер упал (rejected), 1.5 раза; `a.b 1.2`, io_bounded_dev, 2 x 3.", study)
    assert english_words(said) == ["rejected", "x"]
    assert _POINT.findall(said) == ["1.5"]


def test_the_russian_report_words_its_counts(tmp_path: Path) -> None:
    report, _study = _russian(tmp_path)
    assert "Все 5 запросов выполнены успешно." in report
    assert "(40,0 байта на элемент × 10 запросов в памяти одновременно)" in report
    assert "в бюджет одновременно помещается 5 запросов." in report
    assert "обслужено 5 из 10 запросов" in report
    assert "(нет файла замеров `critical/cpu_bounded_dev/p05_n1500000.samples.jsonl`)" in report
    reference = (COMMITTED[0] / "report.ru.md").read_text(encoding="utf-8")
    assert "(40,4 байта на элемент × 1 запрос в памяти одновременно)" in reference
    assert "в среднем 1,01 ядра из 2" in reference
    assert "4 поиска критического n" in reference


# Forms for 1, 2, 5, 11, 21, 22: one, few, many, many, one, few.
COUNTS = (1, 2, 5, 11, 21, 22)
FORM_OF = (0, 1, 2, 2, 0, 1)


@pytest.mark.parametrize("key", sorted(k for k in CATALOGS["ru"] if k.startswith("n.")))
def test_every_russian_word_for_a_count_has_three_forms_that_follow_it(key: str) -> None:
    word = key.removeprefix("n.")
    forms = CATALOGS["ru"][key].split("|")
    assert len(forms) == 3 and all(forms), key
    russian = Lang("ru")
    said = [russian.plural(count, word) for count in COUNTS]
    assert said == [f"{count} {forms[form]}" for count, form in zip(COUNTS, FORM_OF, strict=True)]
    english = CATALOGS["en"][key].split("|")
    assert len(english) == 2
    assert [Lang("en").plural(count, word) for count in (1, 2)] == [
        f"1 {english[0]}",
        f"2 {english[1]}",
    ]


def test_some_russian_counts_read_as_russian() -> None:
    russian = Lang("ru")
    assert [russian.plural(n, "search") for n in (1, 2, 5)] == [
        "1 поиск критического n",
        "2 поиска критического n",
        "5 поисков критического n",
    ]
    assert [russian.plural(n, "request") for n in (21, 12, 1_000)] == [
        "21 запрос",
        "12 запросов",
        "1\u00a0000 запросов",
    ]
    assert [russian.plural(n, "request_of") for n in (1, 2, 21)] == [
        "1 запроса",
        "2 запросов",
        "21 запроса",
    ]
    # A fraction takes the form of 2; a whole amount, the form of its count.
    assert russian.quantity(44.4, 1, "byte") == "44,4 байта"
    assert [russian.quantity(v, 0, "byte") for v in (8, 44, 21)] == [
        "8 байт",
        "44 байта",
        "21 байт",
    ]
    assert Lang("en").quantity(44.4, 1, "byte") == "44.4 bytes"


def test_numbers_differ_between_the_languages_in_lang_alone() -> None:
    russian, english = Lang("ru"), Lang("en")
    assert russian.mib(0.6 * 2**20) == "0,6 МиБ" and english.mib(0.6 * 2**20) == "0.6 MiB"
    assert russian.seconds(95.51) == "95,51" and english.seconds(95.51) == "95.51"
    assert russian.ratio(9.8) == "9,8" and russian.decimal(1.35, 2) == "1,35"
    assert russian.count(25_700_000) == "25\u00a0700\u00a0000"
    assert russian.digits("1,234.5") == "1\u00a0234,5" and english.digits("1,234.5") == "1,234.5"
