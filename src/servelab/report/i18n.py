"""The report's two languages: number formats, server names, and every sentence template.

English is the default; Russian follows the seminar's own report (``--lang ru``). Each
sentence template is filled with numbers already formatted by the same ``Lang`` that the
tables use, so a number in the text always reads exactly as it does in a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LANGUAGES = ("en", "ru")

EN: dict[str, str] = {
    "na": "n/a",
    "all_ok": "All {requests} requests succeeded.",
    "some_failed": "{ok} of {requests} requests succeeded; the others failed ({classes}).",
    "serial": (
        "The server never ran two handlers at once: it served the requests one after another, "
        "the fastest response after {fastest} s and the slowest after {slowest} s."
    ),
    "serial_sum": (
        " The makespan ({makespan} s) is about the sum of the handler times ({handler_sum} s)."
    ),
    "overlap": "Up to {at_once} handlers ran at the same time ({threads} in {processes}).",
    "overlap_one": (
        " The makespan ({makespan} s) is about one handler's time ({handler_mean} s on "
        "average): the requests overlapped."
    ),
    "cpu_idle": (
        "The server used {cpu} CPU-seconds in {makespan} s: its handlers were waiting, "
        "not computing."
    ),
    "cpu_busy": (
        "The server's processes used {cpu} CPU-seconds in {makespan} s, {cores} cores on "
        "average of the machine's {machine_cores}."
    ),
    "cpu_turns": (
        " Although {at_once} handlers ran at once, together they used about one core: the "
        "threads took turns rather than running in parallel."
    ),
    "cpu_turns_gil": (
        " Although {at_once} handlers ran at once, together they used about one core: the "
        "threads took turns rather than running in parallel, as pure-Python code does under "
        "the GIL (one thread runs Python at a time)."
    ),
    "versus": (
        "On {other} the same {workload} burst took {their} s against {mine} s here ({how})."
    ),
    "longer": "{ratio}x longer",
    "shorter": "{ratio}x shorter",
    "slower_each": (
        "Each handler here took {mine} s on average against {theirs} s when they ran one at a "
        "time there: running them together made each {ratio}x slower."
    ),
    "cpu_cost": (
        "The same {requests} predictions cost the server {mine} CPU-seconds here and "
        "{theirs} there."
    ),
    "died": "The server did not survive the burst: {fate}.",
    "unfinished": "This run did not finish: {error}.",
    "model": (
        "The model: ({cap} cap - {idle} idle) / ({bpe} bytes per element x {at_once} "
        "request(s) in memory at once) = {predicted}."
    ),
    "unconfirmed": "The search did not confirm both ends: {reason}.",
    "agrees": (
        "The measured boundary ({passing} never failed, {failing} always failed) agrees with "
        "the prediction within {error}."
    ),
    "off": (
        "The measured boundary ({passing} never failed, {failing} always failed) is {ratio}x "
        "the prediction."
    ),
    "held": (
        "At {passing} the peak was {peak}: {held} requests' worth of elements at once, not "
        "{at_once}. The parallel requests did not all hold their full arrays at the same moment."
    ),
    "band": "Between them the outcome varied from run to run ({rates}).",
    "band_rate": "{n}: {failures}/{trials} failed",
    "numpy_vs_cpu": (
        "On {server} numpy's critical n is {ratio}x the pure-Python one: numpy keeps {numpy} "
        "bytes per element, the Python list {cpu} ({bpe_ratio}x more)."
    ),
    "server_vs_server": (
        "For {workload}, {high} survives {ratio}x the n of {low}. By the model it holds "
        "{high_at_once} request(s) in memory at once, the other {low_at_once}{held}."
    ),
    "held_note": " ({held} measured at its peak)",
    "search_failed": "The search failed: {error}.",
    "cap_cgroup_v1": "cgroup v1 memory.limit_in_bytes",
    "cap_cgroup_v2": "cgroup v2 memory.max",
    "cap_rlimit_as": "RLIMIT_AS per process, a fallback: MemoryError instead of OOM kills",
    "reason_oom": "the kernel OOM-killed {kills} in the memory cap",
    "dev": "Flask dev server (threaded)",
    "gunicorn": "gunicorn, {workers} {worker_class} {worker_word}{threads}",
    "threads_suffix": " x {threads} threads",
    "timeout_suffix": ", worker timeout {timeout} s",
    "run_guard": (
        "The memory guard ({budget} per server process) refused {too_big} as too big (413) "
        "and {busy} as busy (503)."
    ),
    "guard_budget_derived": (
        "The guard's budget at n = {n}: ({cap} cap - {idle} idle - 10% of the cap) / {processes} "
        "= {budget} per process, derived from this search."
    ),
    "guard_budget_option": "The guard's budget at n = {n}: {budget} per process (--memory-budget).",
    "guard_estimate": (
        "The guard estimates {bpe} bytes per element for `{workload}`, {need} per request at "
        "this n: {fits} request(s) fit the budget at once."
    ),
    "guard_estimate_too_big": (
        "The guard estimates {bpe} bytes per element for `{workload}`, {need} per request at "
        "this n: more than the whole budget, so every request is refused with 413."
    ),
    "guard_survived": (
        "With the guard the server survived: it served {served} of {requests} requests, "
        "{correct} with the correct price, refused {refused}, and no process was OOM-killed."
    ),
    "guard_killed": (
        "Even with the guard the kernel OOM-killed {kills} in the cap: the estimate counts "
        "the arrays, not the interpreter, so this budget left too little margin."
    ),
    "guard_other_failures": "{failed} request(s) failed otherwise ({reason}).",
    "guard_without": "Without the guard the same load at the same n: {reason}; it served {served}.",
    "guard_failed": "The probe with the guard did not run: {error}.",
}

RU: dict[str, str] = {
    "na": "н/д",
    "all_ok": "Все {requests} запросов выполнены успешно.",
    "some_failed": (
        "Успешно {ok} из {requests} запросов; остальные завершились ошибкой ({classes})."
    ),
    "serial": (
        "Сервер ни разу не выполнял два обработчика одновременно: он обслуживал запросы по "
        "очереди, самый быстрый ответ пришёл через {fastest} с, самый медленный через {slowest} с."
    ),
    "serial_sum": (
        " Общее время ({makespan} с) примерно равно сумме времён обработчиков ({handler_sum} с)."
    ),
    "overlap": "Одновременно выполнялось до {at_once} обработчиков ({threads}, {processes}).",
    "overlap_one": (
        " Общее время ({makespan} с) примерно равно времени одного обработчика (в среднем "
        "{handler_mean} с): запросы выполнялись параллельно."
    ),
    "cpu_idle": (
        "Сервер потратил {cpu} с процессорного времени за {makespan} с: обработчики ждали, "
        "а не считали."
    ),
    "cpu_busy": (
        "Процессы сервера потратили {cpu} с процессорного времени за {makespan} с, в среднем "
        "{cores} ядра из {machine_cores}."
    ),
    "cpu_turns": (
        " Хотя одновременно выполнялось {at_once} обработчиков, вместе они занимали около одного "
        "ядра: потоки работали по очереди, а не параллельно."
    ),
    "cpu_turns_gil": (
        " Хотя одновременно выполнялось {at_once} обработчиков, вместе они занимали около одного "
        "ядра: потоки работали по очереди, а не параллельно, как и положено коду на чистом "
        "Python под GIL (Python-код в каждый момент выполняет только один поток)."
    ),
    "versus": (
        "На сервере «{other}» та же нагрузка {workload} заняла {their} с против {mine} с здесь "
        "({how})."
    ),
    "longer": "в {ratio} раза дольше",
    "shorter": "в {ratio} раза быстрее",
    "slower_each": (
        "Каждый обработчик здесь работал в среднем {mine} с против {theirs} с, когда они "
        "выполнялись по одному: совместная работа замедлила каждый в {ratio} раза."
    ),
    "cpu_cost": (
        "Те же {requests} предсказаний стоили серверу {mine} с процессорного времени здесь и "
        "{theirs} с там."
    ),
    "died": "Сервер не пережил нагрузку: {fate}.",
    "unfinished": "Этот запуск не завершился: {error}.",
    "model": (
        "Модель: (лимит {cap} - {idle} в простое) / ({bpe} байт на элемент x {at_once} "
        "запрос(ов) в памяти одновременно) = {predicted}."
    ),
    "unconfirmed": "Поиск не подтвердил обе границы: {reason}.",
    "agrees": (
        "Измеренная граница ({passing} ни разу не упал, {failing} падал всегда) совпадает с "
        "предсказанием с точностью {error}."
    ),
    "off": (
        "Измеренная граница ({passing} ни разу не упал, {failing} падал всегда) составляет "
        "{ratio} от предсказания."
    ),
    "held": (
        "При n = {passing} пик памяти был {peak}: элементов одновременно в памяти на {held} "
        "запроса, а не на {at_once}. Параллельные запросы не держали полные массивы в один и тот "
        "же момент."
    ),
    "band": "Между ними исход менялся от запуска к запуску ({rates}).",
    "band_rate": "{n}: упал {failures} из {trials}",
    "numpy_vs_cpu": (
        "На сервере «{server}» критическое n для numpy в {ratio} раза больше, чем для чистого "
        "Python: numpy хранит {numpy} байт на элемент, список Python {cpu} (в {bpe_ratio} раза "
        "больше)."
    ),
    "server_vs_server": (
        "Для {workload} сервер «{high}» выдерживает n в {ratio} раза больше, чем «{low}». По "
        "модели он держит в памяти {high_at_once} запрос(ов) одновременно, другой "
        "{low_at_once}{held}."
    ),
    "held_note": " (измерено на пике: {held})",
    "search_failed": "Поиск не удался: {error}.",
    "cap_cgroup_v1": "cgroup v1 memory.limit_in_bytes",
    "cap_cgroup_v2": "cgroup v2 memory.max",
    "cap_rlimit_as": "RLIMIT_AS на процесс, запасной вариант: MemoryError вместо OOM-kill",
    "reason_oom": "ядро убило по OOM {kills} в ограничении памяти",
    "dev": "Flask dev server (многопоточный)",
    "gunicorn": "gunicorn, {workers} {worker_class} {worker_word}{threads}",
    "threads_suffix": " x {threads} потоков",
    "timeout_suffix": ", таймаут воркера {timeout} с",
    "run_guard": (
        "Защита памяти ({budget} на процесс сервера) отклонила {too_big} как слишком большие "
        "(413) и {busy} как пришедшие не вовремя (503)."
    ),
    "guard_budget_derived": (
        "Бюджет защиты при n = {n}: (лимит {cap} - {idle} в простое - 10% лимита) / {processes} "
        "= {budget} на процесс, выведен из этого поиска."
    ),
    "guard_budget_option": "Бюджет защиты при n = {n}: {budget} на процесс (--memory-budget).",
    "guard_estimate": (
        "Защита оценивает `{workload}` в {bpe} байт на элемент, {need} на запрос при этом n: "
        "одновременно в бюджет помещается запросов: {fits}."
    ),
    "guard_estimate_too_big": (
        "Защита оценивает `{workload}` в {bpe} байт на элемент, {need} на запрос при этом n: "
        "больше всего бюджета, поэтому каждый запрос получает 413."
    ),
    "guard_survived": (
        "С защитой сервер выжил: обслужено {served} из {requests} запросов, с верной ценой "
        "{correct}, отклонено {refused}, ни один процесс не убит по OOM."
    ),
    "guard_killed": (
        "Даже с защитой ядро убило по OOM {kills} в ограничении: оценка учитывает массивы, а "
        "не интерпретатор, и этот бюджет оставил слишком малый запас."
    ),
    "guard_other_failures": "Других ошибок: {failed} ({reason}).",
    "guard_without": "Без защиты та же нагрузка при том же n: {reason}; обслужено {served}.",
    "guard_failed": "Проба с защитой не запустилась: {error}.",
}

CATALOGS = {"en": EN, "ru": RU}


@dataclass(frozen=True)
class Lang:
    """Formats numbers and fills sentence templates in one language."""

    code: str = "en"

    def t(self, key: str, **params: Any) -> str:
        return CATALOGS[self.code][key].format(**params)

    @property
    def na(self) -> str:
        return self.t("na")

    def seconds(self, value: float | None) -> str:
        """Seconds as the report prints them everywhere (tables and text agree)."""
        return self.na if value is None else f"{value:.2f}"

    def count(self, value: int | None) -> str:
        """Whole numbers: 25,700,000 in English, 25 700 000 in Russian (as the seminar wrote)."""
        if value is None:
            return self.na
        text = f"{value:,}"
        return text.replace(",", "\u00a0") if self.code == "ru" else text

    def ratio(self, value: float) -> str:
        return f"{value:.1f}"

    def mib(self, value: float | None) -> str:
        unit = "МиБ" if self.code == "ru" else "MiB"
        return self.na if value is None else f"{value / 2**20:.1f} {unit}"

    def size(self, value: float | None) -> str:
        """A memory size in the unit that reads best: MiB below 1 GiB, GiB from there."""
        if value is None or value < 2**30:
            return self.mib(value)
        return self.gib(value)

    def cap(self, cap: dict[str, Any] | None) -> str:
        """How memory was capped, e.g. "cgroup v1" or "RLIMIT_AS (fallback)"."""
        if not cap:
            return self.na
        return self.t("cap_" + str(cap.get("mechanism", "")).replace("-", "_"))

    def reason(self, evidence: dict[str, Any]) -> str:
        """Why a run failed; OOM kills in this language, other reasons as recorded."""
        kills = evidence.get("oom_kills")
        if evidence.get("outcome") == "oom" and kills:
            return self.t(
                "reason_oom",
                kills=self.plural(
                    kills, ("process", "processes"), ("процесс", "процесса", "процессов")
                ),
            )
        return str(evidence.get("reason", self.na))

    def gib(self, value: float | None) -> str:
        unit = "ГиБ" if self.code == "ru" else "GiB"
        return self.na if value is None else f"{value / 2**30:.1f} {unit}"

    def percent(self, value: float) -> str:
        return f"{value:.0%}"

    def plural(self, count: int, en: tuple[str, str], ru: tuple[str, str, str]) -> str:
        """``count`` with the word in the right form: en (one, many), ru (one, few, many)."""
        if self.code != "ru":
            return f"{count} {en[0] if count == 1 else en[1]}"
        tail, tens = count % 10, count % 100
        if tail == 1 and tens != 11:
            word = ru[0]
        elif 2 <= tail <= 4 and not 12 <= tens <= 14:
            word = ru[1]
        else:
            word = ru[2]
        return f"{count} {word}"

    def server(self, server: dict[str, Any]) -> str:
        """A server spec (as study.json stores it) in words."""
        if server.get("kind") == "flask-dev":
            return self.t("dev")
        workers = int(server.get("workers", 1))
        threads = int(server.get("threads", 1))
        text = self.t(
            "gunicorn",
            workers=workers,
            worker_class=server.get("worker_class", "sync"),
            worker_word=self.plural(
                workers, ("worker", "workers"), ("воркер", "воркера", "воркеров")
            ).split(" ", 1)[1],
            threads=self.t("threads_suffix", threads=threads) if threads > 1 else "",
        )
        timeout = server.get("timeout", 30)
        if timeout != 30:
            text += self.t("timeout_suffix", timeout=f"{timeout:g}")
        return text


# Headings and fixed prose of report.md; {placeholders} are filled from the study's plan.
PROSE: dict[str, dict[str, str]] = {
    "en": {
        "title": "Seminar 3 report: the Flask dev server and gunicorn under load",
        "lead": (
            "A servelab study: {runs} runs and {searches} critical-n searches planned, "
            "{done} finished{wall}. Every number below comes from the files in this folder; "
            "`servelab report` rebuilds this page from them."
        ),
        "wall": " in {seconds} s",
        "introduction": "Introduction",
        "introduction_text": (
            "A heavy predictive model can be served from your own server, where users wait for "
            "the computation and several users at once need your own cluster, or from an "
            "external prediction service (TensorFlow Serving, AWS SageMaker, Yandex DataSphere, "
            "Google Vertex AI), where your server only waits for the answer, and each call costs "
            "money and time. This study measures how two Python web servers cope with both when "
            "{concurrency} clients ask at once: the Flask development server "
            "(`python src/predict_app.py`) and gunicorn (`gunicorn src.predict_app:app`)."
        ),
        "method": "Method",
        "method_functions": "Three `predict` functions emulate the two ways to deploy a model:",
        "f_io": (
            "`predict_io_bounded`: an external service, emulated by `time.sleep({io_delay})`; "
            "price = area x 200 000."
        ),
        "f_cpu": (
            "`predict_cpu_bounded`: computing on our own server in pure Python, "
            "`sum([x for x in range(n)]) / n` with n = {n}."
        ),
        "f_numpy": (
            "`predict_cpu_multithread`: the same mean with numpy, `np.mean(np.arange(n))`, n = {n}."
        ),
        "method_load": (
            "Each run starts a fresh server, sends {requests} POST `/predict` requests "
            "(areas 10, 20, ... m²) from {concurrency} parallel clients released at the same "
            "instant, and stops the server. Each response carries the pid and thread that ran "
            "its handler and the handler's own start and duration, so the tables say how many "
            "requests the server really ran at once and how long each one queued. The server's "
            "processes are sampled 20 times a second for memory and CPU."
        ),
        "method_critical": (
            "The critical n is searched with the same load inside a memory cap of {cap} "
            "({cap_description}), a fresh server per probe. A model predicts it first: idle "
            "memory and bytes per element are measured at a small n, and a sync worker holds "
            "one request in memory at a time, a threaded server up to all of them. Probes then "
            "bisect around the prediction; near the boundary each n is tried {repeats} times, "
            "because for a threaded server the breaking point is a band, not a point. Only the "
            'cap\'s OOM-kill counter says "out of memory".'
        ),
        "machine": "Machine: {cpu}, {cores} cores, {memory} memory, Python {python}{packages}.",
        "results": "Results and discussion",
        "table_runs": (
            "| run | server | function | ok | makespan, s | latency min / mean / max, s "
            "| max at once | processes | log |"
        ),
        "failed": "failed",
        "missing": "**Missing** (planned, but the study stopped before them): {names}.",
        "missing_file": "*Missing from this folder: {what}.*",
        "logs_at_failure": "Logs at failure",
        "client_saw": "As the client saw it (n = {n}, {reason}):",
        "server_logged": "As the server logged it:",
        "server_silent": (
            "The server logged nothing about it (the Flask dev server prints nothing when the "
            "kernel kills it)."
        ),
        "makespan_line": (
            "Makespan {makespan} s; latency {lmin} to {lmax} s (mean {lmean} s); server log: "
            "[{server_log}]({server_log})."
        ),
        "timeline_alt": "Request timeline of {name}",
        "critical_line": (
            "Critical n (cap {cap}) = between {passing} (never failed) and {failing} (always "
            "failed); predicted {predicted}; [search]({folder}/search.json)."
        ),
        "comment": "Comment:",
        "errors_seen": "Errors as the client saw them:",
        "critical": "Critical n: where the server dies for lack of memory",
        "table_critical": (
            "| server | function | predicted n | never failed | always failed | bytes / element "
            "| idle | peak at last pass | OOM kills | probes |"
        ),
        "memory_pass_alt": "Memory of {name} at n = {n} (passed)",
        "memory_fail_alt": "Memory of {name} at n = {n} (failed)",
        "critical_alt": "Critical-n search of {name}",
        "overview_alt": "Makespan and latency of every run",
        "memory_alt": "Server memory during {name}",
        "method_guard": (
            "The service's memory guard was on in every run's server: {budget} per server "
            "process (admission control by each request's estimated memory; 413 for a request "
            "too big for the budget alone, 503 with Retry-After when the requests in flight "
            "would exceed it)."
        ),
        "guard_heading": "With and without the memory guard",
        "guard_intro": (
            "After each search, one more probe at its smallest failing n: the same load, a "
            "fresh server in the same cap, with the service's memory guard on. The guard "
            "estimates each request's memory from its workload and n and refuses a request "
            "that alone exceeds the budget (413) or that would push the requests in flight "
            "over it (503 with Retry-After). The row without the guard is the search's first "
            "failing probe at that n; the lab stops a probe soon after its first OOM kill, so "
            "its other requests end as disconnects. A price is correct when it equals "
            "int(area x (n - 1) / 2)."
        ),
        "table_guard": (
            "| server | function | n | memory guard | served | refused 413 / 503 "
            "| other failures | OOM kills | correct prices | outcome |"
        ),
        "guard_off": "off",
        "guard_on": "{budget} per process",
    },
    "ru": {
        "title": "Отчет по семинару № 3",
        "lead": (
            "Исследование поведения серверов flask и gunicorn под разными видами нагрузки. "
            "Запланировано {runs} запусков и {searches} поисков критического n, выполнено "
            "{done}{wall}. Все числа ниже взяты из файлов этой папки; `servelab report` "
            "строит эту страницу заново из них."
        ),
        "wall": " за {seconds} с",
        "introduction": "Введение",
        "introduction_text": (
            "Для тяжелых моделей предиктивной аналитики возможно два варианта деплоя. Первый: "
            "запускать модели на своем сервере; пользователи ждут вычислений, а для нескольких "
            "пользователей одновременно нужен собственный вычислительный кластер. Второй: "
            "использовать специальные сервисы (TensorFlow Serving, AWS SageMaker, Yandex "
            "DataSphere, Google Vertex AI); нагрузка снимается с вашего сервера, но за каждый "
            "запрос приходится платить деньгами и временем. Здесь измерено, как два веб-сервера "
            "на Python справляются с обоими вариантами, когда одновременно приходят {concurrency} "
            "клиентов: сервер для разработки Flask (`python src/predict_app.py`) и gunicorn "
            "(`gunicorn src.predict_app:app`)."
        ),
        "method": "Метод исследования",
        "method_functions": (
            "В файле `src/utils.py` определены три функции, которые эмулируют три варианта "
            "решения задачи `predict`:"
        ),
        "f_io": (
            "`predict_io_bounded`: запрос к стороннему сервису, его заменяет "
            "`time.sleep({io_delay})`; цена = площадь x 200 000."
        ),
        "f_cpu": (
            "`predict_cpu_bounded`: вычисление на своем сервере на чистом Python, "
            "`sum([x for x in range(n)]) / n`, n = {n}."
        ),
        "f_numpy": (
            "`predict_cpu_multithread`: то же среднее на numpy, `np.mean(np.arange(n))`, n = {n}."
        ),
        "method_load": (
            "Каждый запуск стартует новый сервер, отправляет {requests} POST-запросов на "
            "`/predict` (площади 10, 20, ... м²) из {concurrency} параллельных клиентов, "
            "отпущенных в один момент, и останавливает сервер. Каждый ответ сообщает pid и поток, "
            "выполнившие обработчик, и собственные время начала и длительность обработчика, "
            "поэтому таблицы показывают, сколько запросов сервер действительно выполнял "
            "одновременно и сколько каждый ждал в очереди. Память и процессор процессов сервера "
            "измеряются 20 раз в секунду."
        ),
        "method_critical": (
            "Критическое n ищется под той же нагрузкой внутри ограничения памяти {cap} "
            "({cap_description}), для каждой пробы новый сервер. Сначала его предсказывает "
            "модель: память в простое и байты на элемент измеряются при малом n; sync-воркер "
            "держит в памяти один запрос, многопоточный сервер до всех сразу. Затем пробы "
            "сужают интервал вокруг предсказания; у границы каждое n повторяется {repeats} раза, "
            "потому что для многопоточного сервера граница падения это полоса, а не точка. "
            "«Нехватку памяти» определяет только счетчик OOM-kill ограничения."
        ),
        "machine": "Машина: {cpu}, ядер: {cores}, память {memory}, Python {python}{packages}.",
        "results": "Результат и обсуждение",
        "table_runs": (
            "| запуск | сервер | функция | успешно | общее время, с | задержка мин / сред / "
            "макс, с | одновременно макс | процессов | лог |"
        ),
        "failed": "ошибка",
        "missing": "**Нет данных** (запланировано, но исследование остановилось раньше): {names}.",
        "missing_file": "*Нет в этой папке: {what}.*",
        "logs_at_failure": "Логи при падении",
        "client_saw": "Со стороны клиента (n = {n}, {reason}):",
        "server_logged": "В логе сервера:",
        "server_silent": (
            "Сервер ничего об этом не записал (flask ничего не возвращает, когда ядро его "
            "убивает, просто отключается)."
        ),
        "makespan_line": (
            "Общее время {makespan} с; задержка от {lmin} до {lmax} с (в среднем {lmean} с); "
            "лог сервера: [{server_log}]({server_log})."
        ),
        "timeline_alt": "Временная диаграмма запросов {name}",
        "critical_line": (
            "Критический n (лимит {cap}) = между {passing} (ни разу не упал) и {failing} "
            "(падал всегда); предсказано {predicted}; [поиск]({folder}/search.json)."
        ),
        "comment": "Комментарий:",
        "errors_seen": "Ошибки со стороны клиента:",
        "critical": "Критический n: когда серверу не хватает памяти",
        "table_critical": (
            "| сервер | функция | предсказанный n | ни разу не упал | падал всегда | байт на "
            "элемент | в простое | пик при последнем успехе | OOM-kill | проб |"
        ),
        "memory_pass_alt": "Память {name} при n = {n} (успех)",
        "memory_fail_alt": "Память {name} при n = {n} (падение)",
        "critical_alt": "Поиск критического n для {name}",
        "overview_alt": "Общее время и задержки всех запусков",
        "memory_alt": "Память сервера во время {name}",
        "method_guard": (
            "Во всех запусках у сервиса была включена защита памяти: {budget} на процесс "
            "сервера (допуск запросов по оценке их памяти; 413 для запроса, которому не хватит "
            "всего бюджета, 503 с Retry-After, когда выполняющиеся запросы превысили бы его)."
        ),
        "guard_heading": "С защитой памяти и без неё",
        "guard_intro": (
            "После каждого поиска еще одна проба при его наименьшем n с падением: та же "
            "нагрузка, новый сервер в том же ограничении, с включенной защитой памяти сервиса. "
            "Защита оценивает память каждого запроса по его функции и n и отклоняет запрос, "
            "которому не хватит всего бюджета (413) или который вывел бы выполняющиеся запросы "
            "за бюджет (503 с Retry-After). Строка без защиты это первая упавшая проба поиска "
            "при этом n; после первого OOM-kill лаборатория вскоре останавливает пробу, поэтому "
            "остальные ее запросы заканчиваются разрывом соединения. Цена верна, если равна "
            "int(площадь x (n - 1) / 2)."
        ),
        "table_guard": (
            "| сервер | функция | n | защита памяти | обслужено | отказ 413 / 503 "
            "| другие ошибки | OOM-kill | верных цен | исход |"
        ),
        "guard_off": "выкл.",
        "guard_on": "{budget} на процесс",
    },
}
