"""Every word of the Russian report in one place, under the keys of ``en.py``.

The headings follow the seminar's own report. ``n.*`` entries hold a word's forms for counts,
``one|few|many`` (1 процесс, 2 процесса, 5 процессов).
"""

from __future__ import annotations

from typing import Final

WORDS: Final[dict[str, str]] = {
    # --- the report's headings and fixed prose ---
    "title": "Отчет по семинару № 3",
    "lead": (
        "Исследование поведения серверов flask и gunicorn под разными видами нагрузки. "
        "Запланировано: {runs} и {searches}, выполнено "
        "{done}{wall}. Все числа ниже взяты из файлов этой папки; `servelab report` строит "
        "эту страницу заново из них."
    ),
    "lead_app": (
        "Исследование servelab. Запланировано: {runs} и {searches}, выполнено "
        "{done}{wall}. Все числа ниже взяты из файлов этой папки; `servelab report` строит "
        "эту страницу заново из них."
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
        "`predict_cpu_bounded`: вычисление на своем сервере на чистом Python, `sum([x for x "
        "in range(n)]) / n`, n = {n}."
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
        "держит в памяти один запрос, многопоточный сервер до всех сразу. Затем пробы сужают "
        "интервал вокруг предсказания; у границы каждое n повторяется {repeats} раза, потому "
        "что для многопоточного сервера граница падения это полоса, а не точка. «Нехватку "
        "памяти» определяет только счетчик OOM-kill ограничения."
    ),
    "machine": "Машина: {cpu}, ядер: {cores}, память {memory}, Python {python}{packages}.",
    "results": "Результат и обсуждение",
    "table_runs": (
        "| запуск | сервер | функция | успешно | общее время, с | задержка мин / сред / макс, "
        "с | одновременно макс | процессов | лог |"
    ),
    "missing_search": "критическое n для {name}",
    "log_file": "лог",
    "failed": "ошибка",
    "missing": "**Нет данных** (запланировано, но исследование остановилось раньше): {names}.",
    "missing_file": "*Нет в этой папке: {what}.*",
    "damaged_heading": "Повреждённые строки",
    "damaged_intro": "В этих файлах есть строки, которые не удалось прочитать (не UTF-8, не "
    "JSON, нет столбца или не тот тип); графики построены по остальным строкам.",
    "damaged_file": "`{file}`: пропущено {lines} (номера строк {numbers})",
    "logs_at_failure": "Логи при падении",
    "n_name_app": "размер",  # what an app study calls its n
    "client_saw": "Со стороны клиента ({n_name} = {n}, {reason}):",
    "server_logged": "В логе сервера:",
    "server_silent": (
        "Сервер ничего об этом не записал (flask ничего не возвращает, когда ядро его "
        "убивает, просто отключается)."
    ),
    "makespan_line": (
        "Общее время {makespan} с; задержка от {lmin} до {lmax} с (в среднем {lmean} с); лог "
        "сервера: [{server_log}]({server_log})."
    ),
    "timeline_alt": "Временная диаграмма запросов {name}",
    "critical_line": (
        "Критический n (лимит {cap}) = между {passing} (ни разу не упал) и {failing} (падал "
        "всегда); предсказано {predicted}; [поиск]({folder}/search.json)."
    ),
    "comment": "Комментарий:",
    "errors_seen": "Ошибки со стороны клиента:",
    "critical": "Критический n: когда серверу не хватает памяти",
    "table_critical": (
        "| сервер | функция | предсказанный n | ни разу не упал | падал всегда | байт на "
        "элемент | в простое | пик при последнем успехе | OOM-kill | проб |"
    ),
    "memory_pass_alt": "Память {name} при n = {n} (успех)",
    "memory_pass_alt_app": "Память {name} при размере {n} (успех)",
    "memory_fail_alt": "Память {name} при n = {n} (падение)",
    "memory_fail_alt_app": "Память {name} при размере {n} (падение)",
    "critical_alt": "Поиск критического n для {name}",
    "overview_alt": "Общее время и задержки всех запусков",
    "memory_alt": "Память сервера во время {name}",
    "method_guard": (
        "Во всех запусках у сервиса была включена защита памяти: {budget} на процесс сервера "
        "(допуск запросов по оценке их памяти; 413 для запроса, которому не хватит всего "
        "бюджета, 503 с Retry-After, когда выполняющиеся запросы превысили бы его)."
    ),
    "guard_heading": "С защитой памяти и без неё",
    "guard_intro": (
        "После каждого поиска еще одна проба при его наименьшем n с падением: та же нагрузка, "
        "новый сервер в том же ограничении, с включенной защитой памяти сервиса. Защита "
        "оценивает память каждого запроса по его функции и n и отклоняет запрос, которому не "
        "хватит всего бюджета (413) или который вывел бы выполняющиеся запросы за бюджет (503 "
        "с Retry-After). Строка без защиты это первая упавшая проба поиска при этом n; после "
        "первого OOM-kill лаборатория вскоре останавливает пробу, поэтому остальные ее "
        "запросы заканчиваются разрывом соединения. Цена верна, если равна int(площадь x (n - "
        "1) / 2)."
    ),
    "table_guard": (
        "| сервер | функция | n | защита памяти | обслужено | отказ 413 / 503 | другие ошибки "
        "| OOM-kill | верных цен | исход |"
    ),
    "guard_off": "выкл.",
    "guard_on": "{budget} на процесс",
    # --- sentences about runs and searches ---
    "na": "н/д",
    "all_ok": "Все {requests} запросов выполнены успешно.",
    "some_failed": (
        "Успешно {ok} из {requests} запросов; остальные завершились ошибкой ({classes})."
    ),
    "serial": (
        "Сервер ни разу не выполнял два обработчика одновременно: он обслуживал запросы по "
        "очереди, самый быстрый ответ пришёл через {fastest} с, самый медленный через "
        "{slowest} с."
    ),
    "serial_sum": (
        " Общее время ({makespan} с) примерно равно сумме времён обработчиков ({handler_sum} с)."
    ),
    "overlap": "Одновременно выполнялось до {at_once} обработчиков ({threads}, {processes}).",
    "unknown": "неизвестно",
    "who_unknown": (
        "Сервер не присылает заголовки servelab о том, кто обслужил запрос: какой процесс "
        "обслужил каждый запрос и сколько запросов выполнялось одновременно, неизвестно."
    ),
    "overlap_one": (
        " Общее время ({makespan} с) примерно равно времени одного обработчика (в среднем "
        "{handler_mean} с): запросы выполнялись параллельно."
    ),
    "cpu_idle": (
        "Сервер потратил {cpu} с процессорного времени за {makespan} с: обработчики ждали, а "
        "не считали."
    ),
    "cpu_busy": (
        "Процессы сервера потратили {cpu} с процессорного времени за {makespan} с, в среднем "
        "{cores} ядра из {machine_cores}."
    ),
    "cpu_turns": (
        " Хотя одновременно выполнялось {at_once} обработчиков, вместе они занимали около "
        "одного ядра: потоки работали по очереди, а не параллельно."
    ),
    "cpu_turns_gil": (
        " Хотя одновременно выполнялось {at_once} обработчиков, вместе они занимали около "
        "одного ядра: потоки работали по очереди, а не параллельно, как и положено коду на "
        "чистом Python под GIL (Python-код в каждый момент выполняет только один поток)."
    ),
    "versus": (
        "На сервере «{other}» та же нагрузка {workload} заняла {their} с против {mine} с "
        "здесь ({how})."
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
    "model_app": (
        "Модель по {points} калибровочным запросам: каждый запрос держит {fixed} + {bpe} "
        "байт на единицу размера; (лимит {cap} - {idle} в простое) / {at_once} запрос(ов) в "
        "памяти одновременно дает размер {predicted}."
    ),
    "app_guard": (
        "У приложения нет защиты памяти (защита servelab есть только у его собственного "
        "сервиса). Чтобы отвечать 413, а не падать, защита перед ним должна была бы "
        "отклонять здесь каждый запрос больше размера {size}: по {fixed} + {bpe} байт на "
        "единицу, {at_once} одновременно, рядом с {idle} в простое."
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
        "запроса, а не на {at_once}. Параллельные запросы не держали полные массивы в один и "
        "тот же момент."
    ),
    "seen_at_once": (
        "По заголовкам served-by в успешных пробах сервер выполнял не больше {seen} "
        "обработчиков одновременно (модель считала {at_once})."
    ),
    "band": "Между ними исход менялся от запуска к запуску ({rates}).",
    "band_rate": "{n}: упал {failures} из {trials}",
    "numpy_vs_cpu": (
        "На сервере «{server}» критическое n для numpy в {ratio} раза больше, чем для чистого "
        "Python: numpy хранит {numpy} байт на элемент, список Python {cpu} (в {bpe_ratio} "
        "раза больше)."
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
    "cap_rlimit_as": (
        "RLIMIT_AS на процесс, запасной вариант: MemoryError вместо OOM-kill, а память считается"
        " как адресное пространство, поэтому его критическое n нельзя сравнивать с cgroup"
    ),
    "run_guard": (
        "Защита памяти ({budget} на процесс сервера) отклонила {too_big} как слишком большие "
        "(413) и {busy} как пришедшие не вовремя (503)."
    ),
    "guard_budget_derived": (
        "Бюджет защиты при n = {n}: (лимит {cap} - {idle} в простое - 10% лимита) / "
        "{processes} = {budget} на процесс, выведен из этого поиска."
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
    # --- the figures (plots/) ---
    "fig.s": "{value} с",
    "fig.ms": "{value} мс",
    "fig.mib": "{value} МиБ",
    "fig.million": "{value} млн",
    "fig.thousand": "{value} тыс.",
    "fig.overview_title": "Все запуски: сколько заняла пачка запросов и каждый запрос",
    "fig.makespan_axis": "общее время (с): от первой\nотправки до последнего ответа",
    "fig.latency_axis": "задержка (с): столбец =\nсреднее, усы = мин..макс",
    "fig.no_runs": "нет завершённых запусков",
    "fig.not_drawn": "не показаны (запуск не завершился): {names}",
    "fig.some_ok": "успешно {ok} из {requests}",
    "fig.mean": "среднее {value}",
    "fig.run_title": "{name}: {server}, нагрузка {workload}",
    "fig.memory_title": "Память: {who}",
    "fig.probe_title": "{search}, проба {probe}: n = {n}, {verdict}",
    "fig.probe_passed": "прошла",
    "fig.probe_failed": "упала ({outcome})",
    "fig.probe_peak": ", пик {peak}",
    "fig.timeline_subtitle": "по столбцу на запрос, сверху отправленные первыми",
    "fig.failed": "ошибка",
    "fig.timeline_x": "секунды от отправки первого запроса",
    "fig.timeline_y_labelled": "запрос (#номер), в порядке отправки",
    "fig.timeline_y": "запрос, в порядке отправки",
    "fig.waiting": "ждёт обработчика",
    "fig.worker_thread": "воркер {number} (pid {pid}, поток {thread})",
    "fig.worker": "воркер {number} (pid {pid})",
    "fig.more_workers": "... и ещё воркеров: {extra} (цвета повторяются)",
    "fig.no_timing": "успешно, сервер не прислал время обработчика",
    "fig.failed_span": "ошибка (от отправки до ошибки)",
    "fig.cgroup_usage_title": "потребление cgroup памяти",
    "fig.rss_title": "RSS, сумма по дереву процессов",
    "fig.sampled": "{what}, замер каждые ~{interval}",
    "fig.cgroup_usage": "потребление cgroup",
    "fig.rss": "RSS (общие страницы посчитаны дважды)",
    "fig.memory_cap": "лимит памяти {cap}",
    "fig.oom_kill": "OOM kill (счётчик cgroup вырос)",
    "fig.new_process": "новый процесс в дереве (например, перезапущенный воркер)",
    "fig.no_kill_counter": "в замерах нет счётчика OOM kill",
    "fig.no_process": "ни одного живого процесса сервера",
    "fig.memory_axis": "память (МиБ)",
    "fig.memory_x": "секунды от первого замера",
    "fig.critical_title": "Критический n для {name}: {server}, нагрузка {workload}{cap}",
    "fig.critical_cap": ", лимит {cap}",
    "fig.n_axis": "n (элементов на запрос)",
    "fig.band": "измеренная полоса: {passing} прошёл,\n{failing} упал",
    "fig.largest_passed": "наибольший прошедший n: {n}",
    "fig.smallest_failed": "наименьший упавший n: {n}",
    "fig.predicted": "n по модели: {n}",
    "fig.all passed": "n, где все пробы прошли",
    "fig.some failed": "n, где часть проб упала",
    "fig.all failed": "n, где все пробы упали",
    "fig.rate_key": "подпись: упало/всего проб;\nбольше точка = больше проб",
    "fig.rate_axis": "доля упавших проб",
    "fig.rate_title": "доля упавших проб по n",
    "fig.trial_ok": "проба прошла",
    "fig.trial_oom": "проба упала: OOM kill",
    "fig.trial_memory-error": "проба упала: MemoryError (rlimit)",
    "fig.trial_failed": "проба упала: другое",
    "fig.cap": "лимит {cap}",
    "fig.model": ("модель: простой {idle} + {bpe} Б\nx {at_once} в памяти одновременно x n"),
    "fig.peak_axis": "пиковая память (МиБ)",
    "fig.peak_title": "пиковая память каждой пробы (максимум по cgroup)",
    # --- the HTML page ---
    "page.machine": "Машина",
    "page.machine_intro": "На чём и когда шло исследование.",
    "page.cpu": "Процессор",
    "page.cores": "Ядра",
    "page.memory": "Память",
    "page.os": "ОС",
    "page.python": "Python",
    "page.packages": "Пакеты",
    "page.created": "Начало",
    "page.wall": "Длительность",
    "page.seconds": "с",
    "page.unknown": "неизвестно",
    "page.not_installed": "не установлен",
    "page.missing": "нет файла",
    "page.not_embedded": "не встроено",
    "page.untitled": "Отчёт servelab",
    # --- words for counts: one|many in English, one|few|many in Russian ---
    "n.process": "процесс|процесса|процессов",
    "n.thread": "поток|потока|потоков",
    "n.worker": "воркер|воркера|воркеров",
    "n.request": "запрос|запроса|запросов",
    "n.run": "запуск|запуска|запусков",
    "n.line": "строка|строки|строк",
    "n.search": "поиск критического n|поиска критического n|поисков критического n",
    "n.search_app": (
        "поиск критического размера|поиска критического размера|поисков критического размера"
    ),
    # --- servers (results.Server) ---
    "server_dev": "Flask dev server (многопоточный)",
    "server_dev_single": "Flask dev server (по одному запросу)",
    "server_dev_debug": "Flask dev server (debug, с перезагрузчиком)",
    "server_uvicorn": "uvicorn, {workers}",
    "server_waitress": "waitress, {threads}",
    "server_granian": "granian, {workers} x {threads}",
    "server_max_rss": ", воркер перезапускается выше {mib} МиБ",
    "server_gunicorn": "gunicorn, {workers} {worker_class} {worker_word}{threads}",
    "server_threads": " x {threads}",
    "server_timeout": ", таймаут воркера {timeout} с",
    "server_no_timeout": ", без таймаута",
    # --- outcome codes (results.Outcome), as the tables show them ---
    "outcome.ok": "успех",
    "outcome.oom": "OOM-kill",
    "outcome.memory-error": "MemoryError",
    "outcome.rejected": "отказ",
    "outcome.failed": "ошибка",
    # --- why a probe ended as it did (results.Verdict) ---
    "reason_oom": "ядро убило по OOM {kills} в ограничении памяти",
    "reason_memory_error": (
        "{requests} завершились MemoryError (HTTP 500) под ограничением адресного "
        "пространства; ни один процесс не убит"
    ),
    "reason_rejected": (
        "сервер намеренно отклонил {requests} ({by_status}); {rest}; OOM-kill не было"
    ),
    "reason_by_status": "{count} с кодом {status}",
    "reason_rest_served": "остальные {served} выполнены успешно",
    "reason_rest_none": "ни один не обслужен",
    "reason_refused": "{requests} отклонено (413/503)",
    "reason_failed_requests": "{requests} с ошибкой ({classes})",
    "reason_worker_timeouts": "gunicorn убил {workers} по WORKER TIMEOUT",
    "reason_sigkills": "{workers} получили SIGKILL",
    "reason_server_ended": "сервер завершился ({end})",
    "reason_failed": "{parts}; OOM-kill не было",
    "reason_ok": "все {requests} выполнены успешно",
    "list_sep": "; ",
    # --- how a server ended (results.ServerEnd) ---
    "end_signal": "убит сигналом {signal}",
    "end_unknown": "завершился с неизвестным статусом",
    "end_code": "вышел с кодом {code}",
    "end_by_lab": "остановлен лабораторией ({how})",
    "end_not_by_lab": "{how} (не лабораторией)",
    "end_forced": "; группе понадобился SIGKILL после периода ожидания",
    # --- why a search stopped (results.StopReason) ---
    "stop.within-tolerance": "интервал уже {tolerance}",
    "stop.whole-numbers": (
        "интервал настолько узок, насколько позволяют целые числа ({low}, {high})"
    ),
    "stop.band-resolved": (
        "полоса определена: {low} прошёл все пробы, {high} упал во всех, а у {band} n "
        "между ними исход менялся"
    ),
    "stop.fails-at-min": "падает даже при min_n={low}",
    "stop.passes-at-max": "проходит даже при max_n={high}",
    "stop.budget-spent": "бюджет проб ({budget}) исчерпан",
    "stop.not-finished": "поиск не завершён",
    "stop.unknown": "причина, которую эта версия servelab не может прочитать",
    # --- a study of the user's own app (servelab study --app) ---
    "title_app": "Отчет servelab: {app} под нагрузкой",
    # --- повторённое исследование (servelab study --repeat K): report/repeated.py ---
    "rep_title": "Отчет servelab: одно исследование, повторов: {count}",
    "rep_title_app": "Отчет servelab: {app}, одно исследование, повторов: {count}",
    "rep_lead": (
        "Один и тот же план выполнен {times}, каждый раз с новыми серверами "
        "({folders}), за {seconds} с{unfinished}. Каждая величина ниже - медиана по повторам, "
        "с диапазоном и разбросом (макс - мин) / медиана; величина с разбросом меньше "
        "{stable} отмечена как устойчивая, величина с большим разбросом - одна реализация "
        "того, что меняется."
    ),
    "rep_unfinished": "; завершено повторов: {finished} из {count}",
    "rep_figures": "Все величины по повторам",
    "rep_table": (
        "| запуск или поиск | величина | медиана | диапазон | разброс | устойчива | по повторам |"
    ),
    "rep_fig.makespan": "время выполнения, с",
    "rep_fig.latency_mean": "средняя задержка, с",
    "rep_fig.never_failed": "ни разу не упал",
    "rep_fig.always_failed": "падал всегда",
    "rep_fig.middle": "точка 50% отказов",
    "rep_fig.predicted": "предсказание",
    "rep_stable": "да",
    "rep_unstable": "нет",
    "rep_middles": "Точки 50% отказов",
    "rep_middle_line": (
        "{subject}: 95%-интервал точки 50% каждого повтора содержит точки других повторов: "
        "{covered}."
    ),
    "rep_middle_all": "все",
    "rep_middle_some": "{counts} из {others} (по повторам)",
    "rep_summary": (
        "Устойчивых величин: {stable} из {total} (разброс меньше {threshold}); остальные "
        "менялись от повтора к повтору: {unstable}."
    ),
    "rep_all_stable": "Все величины устойчивы ({total}, разброс меньше {threshold}).",
    "rep_reports": "Повторы",
    "rep_report_line": (
        "Повтор {index}: [отчет]({folder}/report.ru.md), [study.json]({folder}/study.json)."
    ),
    "n.time": "раз|раза|раз",
    "n.point": "точку|точки|точек",
    "app_intro": (
        "Здесь исследовано ваше приложение `{ref}` ({interface}, из `{app_dir}`, "
        "интерпретатор `{python}`) на серверах: {servers}. Для каждого запуска новый сервер; "
        "приложение обернуто в промежуточный слой servelab, который добавляет к каждому "
        "ответу pid и поток, выполнившие обработчик, и собственные время начала и "
        "длительность обработчика."
    ),
    "app_request": (
        "Каждый запуск отправляет {requests} запросов `{method} {path}` из {concurrency} "
        "параллельных клиентов, отпущенных в один момент; тело: {body}{size}. Дополнительные "
        "заголовки: {headers}. Память и процессор процессов сервера измеряются 20 раз в "
        "секунду."
    ),
    "app_body_template": "шаблон `{body}`",
    "app_body_file": "тела из `{file}` по очереди",
    "app_body_hook": "строит `{hook}` по размеру входа",
    "app_body_none": "нет",
    "app_size": ", размер входа {size}",
    "app_no_headers": "нет",
    "app_critical": (
        "Критический размер входа ищется под той же нагрузкой внутри ограничения памяти {cap} "
        "({cap_description}), для каждой пробы новый сервер. Сначала его предсказывает "
        "модель: одиночные запросы с растущим размером измеряют память в простое, байты на "
        "единицу размера и постоянную часть запроса; синхронный воркер держит в памяти один "
        "запрос, многопоточный или асинхронный сервер до всех сразу. Затем пробы делят "
        "интервал вокруг предсказания; у границы каждый размер пробуется {repeats} раза. "
        "Нехватку памяти определяет только счетчик OOM-kill ограничения."
    ),
    "critical_app": "Критический размер входа: когда серверу не хватает памяти",
    "critical_line_app": (
        "Критический размер (лимит {cap}) = между {passing} (ни разу не упал) и {failing} "
        "(падал всегда); предсказано {predicted}; [поиск]({folder}/search.json)."
    ),
    "table_critical_app": (
        "| сервер | приложение | предсказанный размер | ни разу не упал | падал всегда | байт "
        "на единицу | в простое | пик при последнем успехе | OOM-kill | проб |"
    ),
    # --- why something could not be measured (results.Failure) ---
    "error.calibration-failed": "калибровочная проба при n = {n} не прошла",
    "error.no-memory-measure": (
        "это ограничение не измеряет память (нет cgroup): модели нужны байты в простое и пик"
    ),
    "error.does-not-fit-idle": "сервер не помещается в ограничение даже в простое: его убил OOM",
    "error.nothing-to-compare": "без защиты ни одно n не упало: сравнивать не с чем",
    "error.no-budget-room": "после памяти в простое и запаса в ограничении не остаётся бюджета",
    "error.no-size-growth": (
        "память приложения не росла с размером входа (до {n}): критического размера нет"
    ),
    "error.server-failed": "{detail}",
    "error.error": "{detail}",
}
