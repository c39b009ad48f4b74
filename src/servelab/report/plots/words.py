"""What the figures say, in each language of the report: titles, labels, legends, units.

A figure is drawn once per language (``plots/`` for English, ``plots/<lang>/`` for the
others), so a Russian report shows Russian figures. Numbers keep the report's own format
in every language (a decimal point, as its tables print them); units and words change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..i18n import LANGUAGES, Lang

_MIB: Final = 2**20

TEXT: Final[dict[str, dict[str, str]]] = {
    "en": {
        # units
        "s": "{value} s",
        "ms": "{value} ms",
        "mib": "{value} MiB",
        "million": "{value} M",
        "thousand": "{value} k",
        # overview
        "overview_title": "All runs: how long the burst took, and each request",
        "makespan_axis": "makespan (s)\nfirst send to last reply",
        "latency_axis": "latency (s)\nbar = mean, whisker = min..max",
        "no_runs": "no finished runs",
        "not_drawn": "not drawn (run did not finish): {names}",
        "some_ok": "{ok}/{requests} ok",
        "mean": "mean {value}",
        # run titles
        "run_title": "{name}: {server}, {workload} workload",
        "memory_title": "Memory of {who}",
        "probe_title": "{search}, probe {probe}: n = {n}, {verdict}",
        "probe_passed": "passed",
        "probe_failed": "failed ({outcome})",
        "probe_peak": ", peak {peak}",
        # timeline
        "timeline_subtitle": "one bar per request, top = sent first",
        "failed": "failed",
        "timeline_x": "seconds since the first request was sent",
        "timeline_y_labelled": "request (#index), in send order",
        "timeline_y": "request, in send order",
        "waiting": "waiting for a handler",
        "worker_thread": "worker {number} (pid {pid}, thread {thread})",
        "worker": "worker {number} (pid {pid})",
        "more_workers": "... {extra} more workers (colours repeat)",
        "no_timing": "ok, no handler timing sent",
        "failed_span": "failed (send to error)",
        # memory
        "cgroup_usage_title": "memory cgroup usage",
        "rss_title": "RSS summed over the tree",
        "sampled": "{what}, sampled every ~{interval}",
        "cgroup_usage": "cgroup usage",
        "rss": "RSS (shared pages counted twice)",
        "memory_cap": "memory cap {cap}",
        "oom_kill": "OOM kill (cgroup counter stepped up)",
        "new_process": "new process in the tree (e.g. a worker rebooted)",
        "no_kill_counter": "no OOM-kill counter in these samples",
        "no_process": "no server process alive",
        "memory_axis": "memory (MiB)",
        "memory_x": "seconds since the first sample",
        # critical n
        "critical_title": "Critical n of {name}: {server}, {workload} workload{cap}",
        "critical_cap": ", cap {cap}",
        "n_axis": "n (elements per request)",
        "band": "measured band: {passing} passed,\n{failing} failed",
        "largest_passed": "largest n that passed: {n}",
        "smallest_failed": "smallest n that failed: {n}",
        "predicted": "model's predicted n: {n}",
        "all passed": "n where all passed",
        "some failed": "n where some failed",
        "all failed": "n where all failed",
        "rate_key": "label: failed/trials;\nbigger dot = more trials",
        "rate_axis": "trials that failed",
        "rate_title": "failure rate by n",
        "trial_ok": "trial passed",
        "trial_oom": "trial failed: OOM-killed",
        "trial_memory-error": "trial failed: MemoryError (rlimit)",
        "trial_failed": "trial failed: other",
        "cap": "cap {cap}",
        "model": "model: idle {idle} + {bpe} B\nx {at_once} in memory at once x n",
        "peak_axis": "peak memory (MiB)",
        "peak_title": "peak memory of each trial (cgroup max usage)",
    },
    "ru": {
        "s": "{value} с",
        "ms": "{value} мс",
        "mib": "{value} МиБ",
        "million": "{value} млн",
        "thousand": "{value} тыс.",
        "overview_title": "Все запуски: сколько заняла пачка запросов и каждый запрос",
        "makespan_axis": "общее время (с): от первой\nотправки до последнего ответа",
        "latency_axis": "задержка (с): столбец =\nсреднее, усы = мин..макс",
        "no_runs": "нет завершённых запусков",
        "not_drawn": "не показаны (запуск не завершился): {names}",
        "some_ok": "успешно {ok} из {requests}",
        "mean": "среднее {value}",
        "run_title": "{name}: {server}, нагрузка {workload}",
        "memory_title": "Память: {who}",
        "probe_title": "{search}, проба {probe}: n = {n}, {verdict}",
        "probe_passed": "прошла",
        "probe_failed": "упала ({outcome})",
        "probe_peak": ", пик {peak}",
        "timeline_subtitle": "по столбцу на запрос, сверху отправленные первыми",
        "failed": "ошибка",
        "timeline_x": "секунды от отправки первого запроса",
        "timeline_y_labelled": "запрос (#номер), в порядке отправки",
        "timeline_y": "запрос, в порядке отправки",
        "waiting": "ждёт обработчика",
        "worker_thread": "воркер {number} (pid {pid}, поток {thread})",
        "worker": "воркер {number} (pid {pid})",
        "more_workers": "... и ещё воркеров: {extra} (цвета повторяются)",
        "no_timing": "успешно, сервер не прислал время обработчика",
        "failed_span": "ошибка (от отправки до ошибки)",
        "cgroup_usage_title": "потребление cgroup памяти",
        "rss_title": "RSS, сумма по дереву процессов",
        "sampled": "{what}, замер каждые ~{interval}",
        "cgroup_usage": "потребление cgroup",
        "rss": "RSS (общие страницы посчитаны дважды)",
        "memory_cap": "лимит памяти {cap}",
        "oom_kill": "OOM kill (счётчик cgroup вырос)",
        "new_process": "новый процесс в дереве (например, перезапущенный воркер)",
        "no_kill_counter": "в замерах нет счётчика OOM kill",
        "no_process": "ни одного живого процесса сервера",
        "memory_axis": "память (МиБ)",
        "memory_x": "секунды от первого замера",
        "critical_title": "Критический n для {name}: {server}, нагрузка {workload}{cap}",
        "critical_cap": ", лимит {cap}",
        "n_axis": "n (элементов на запрос)",
        "band": "измеренная полоса: {passing} прошёл,\n{failing} упал",
        "largest_passed": "наибольший прошедший n: {n}",
        "smallest_failed": "наименьший упавший n: {n}",
        "predicted": "n по модели: {n}",
        "all passed": "n, где все пробы прошли",
        "some failed": "n, где часть проб упала",
        "all failed": "n, где все пробы упали",
        "rate_key": "подпись: упало/всего проб;\nбольше точка = больше проб",
        "rate_axis": "доля упавших проб",
        "rate_title": "доля упавших проб по n",
        "trial_ok": "проба прошла",
        "trial_oom": "проба упала: OOM kill",
        "trial_memory-error": "проба упала: MemoryError (rlimit)",
        "trial_failed": "проба упала: другое",
        "cap": "лимит {cap}",
        "model": "модель: простой {idle} + {bpe} Б\nx {at_once} в памяти одновременно x n",
        "peak_axis": "пиковая память (МиБ)",
        "peak_title": "пиковая память каждой пробы (максимум по cgroup)",
    },
}


@dataclass(frozen=True)
class Words:
    """The figures' words and units in one language (``en`` unless told)."""

    code: str = "en"

    def __post_init__(self) -> None:
        if self.code not in LANGUAGES:
            raise ValueError(f"no figure texts for language {self.code!r}")

    def t(self, key: str, **params: Any) -> str:
        return TEXT[self.code][key].format(**params)

    def seconds(self, value: float) -> str:
        if value >= 10:
            return self.t("s", value=f"{value:.1f}")
        if value >= 0.1:
            return self.t("s", value=f"{value:.2f}")
        return self.t("ms", value=f"{value * 1000:.0f}")

    def mib(self, value: float) -> str:
        return self.t("mib", value=self._grouped(f"{value / _MIB:,.0f}"))

    def _grouped(self, text: str) -> str:
        """Thousands grouped as the report's text groups them: 1,024 or 1 024."""
        return text.replace(",", "\u00a0") if self.code == "ru" else text

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

    def server(self, run: Mapping[str, Any]) -> str:
        """A run's (or a search's) server in words: its spec when study.json has it."""
        server = run.get("server")
        if isinstance(server, Mapping) and server.get("kind") and self.code != "en":
            return Lang(self.code).server(dict(server))
        if isinstance(server, Mapping):
            described = run.get("server_description") or server.get("description")
            return str(described or server.get("kind") or "?")
        return str(run.get("server_description") or "?")


ENGLISH: Final = Words()
