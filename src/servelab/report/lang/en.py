"""Every word of the English report in one place: headings, sentences, figure texts, page
labels, and the words for the codes a study stores (outcomes, stop reasons, failures).

The keys are those of ``ru.py`` (a test checks the two have the same keys and that every key
the report uses exists). ``{placeholders}`` are filled with numbers already formatted by
``servelab.report.i18n.Lang``; ``n.*`` entries hold a word's forms for counts, ``one|many``.
"""

from __future__ import annotations

from typing import Final

WORDS: Final[dict[str, str]] = {
    # --- the report's headings and fixed prose ---
    "title": "Seminar 3 report: the Flask dev server and gunicorn under load",
    "lead": (
        "A servelab study: {runs} and {searches} planned, {done} "
        "finished{wall}. Every number below comes from the files in this folder; `servelab "
        "report` rebuilds this page from them."
    ),
    "lead_app": (
        "A servelab study: {runs} and {searches} planned, {done} "
        "finished{wall}. Every number below comes from the files in this folder; `servelab "
        "report` rebuilds this page from them."
    ),
    "wall": " in {seconds} s",
    "introduction": "Introduction",
    "introduction_text": (
        "A heavy predictive model can be served from your own server, where users wait for "
        "the computation and several users at once need your own cluster, or from an external "
        "prediction service (TensorFlow Serving, AWS SageMaker, Yandex DataSphere, Google "
        "Vertex AI), where your server only waits for the answer, and each call costs money "
        "and time. This study measures how two Python web servers cope with both when "
        "{concurrency} ask at once: the Flask development server (`python "
        "src/predict_app.py`) and gunicorn (`gunicorn src.predict_app:app`)."
    ),
    "method": "Method",
    "method_functions": "Three `predict` functions emulate the two ways to deploy a model:",
    "f_io": (
        "`predict_io_bounded`: an external service, emulated by `time.sleep({io_delay})`; "
        "price = area x 200 000."
    ),
    "f_cpu": (
        "`predict_cpu_bounded`: computing on our own server in pure Python, `sum([x for x in "
        "range(n)]) / n` with n = {n}."
    ),
    "f_numpy": (
        "`predict_cpu_multithread`: the same mean with numpy, `np.mean(np.arange(n))`, n = {n}."
    ),
    "method_load": (
        "Each run starts a fresh server, sends {requests} POST `/predict` {request_word} (areas "
        "10, 20, ... m²) from {concurrency} released at the same instant, and "
        "stops the server. Each response carries the pid and thread that ran its handler and "
        "the handler's own start and duration, so the tables say how many requests the server "
        "really ran at once and how long each one queued. The server's processes are sampled "
        "20 times a second for memory and CPU."
    ),
    "method_critical": (
        "The critical n is searched with the same load inside a memory cap of {cap} "
        "({cap_description}), a fresh server per probe. A model predicts it first: idle "
        "memory and bytes per element are measured at a small n, and a sync worker holds one "
        "request in memory at a time, a threaded server up to all of them. Probes then bisect "
        "around the prediction; near the boundary each n is tried {repeats}, because "
        "for a threaded server the breaking point is a band, not a point. Only the cap's "
        'OOM-kill counter says "out of memory".'
    ),
    "method_overlap": (
        "A threaded server does not hold every request's array at once, and the share it "
        "holds grows with n, so its search first runs {bursts} of the same load at the worst "
        "case, the largest n at which every request's array at once still fits. The requests "
        "start staggered (the accept loop waits for the GIL), so the late ones lack a fixed "
        "number of elements when the memory peaks, whatever n is: the bursts measure that "
        "deficit and its spread, and the model predicts the n at which 5%, 50% and 95% of "
        "runs fail; the search starts from its 50% point."
    ),
    "machine": "Machine: {cpu}, {cores} cores, {memory} memory, Python {python}{packages}.",
    "results": "Results and discussion",
    "table_runs": (
        "| run | server | function | ok | makespan, s | latency min / mean / max, s | max at "
        "once | processes | log |"
    ),
    "table_runs_app": (
        "| run | server | function | ok | makespan, s | latency min / mean / max, s | max at "
        "once | processes | log |"
    ),
    "missing_search": "critical n of {name}",
    "log_file": "the log",
    "log_link": "log",
    "failed": "failed",
    "missing": "**Missing** (planned, but the study stopped before them): {names}.",
    "missing_file": "*Missing from this folder: {what}.*",
    "damaged_heading": "Damaged lines",
    "damaged_intro": "These files had lines that could not be read (not UTF-8, not JSON, or "
    "a column missing or of the wrong type); the figures were drawn from the other lines.",
    "damaged_file": "`{file}`: {lines} skipped (line numbers {numbers})",
    "logs_at_failure": "Logs at failure",
    "n_name_app": "size",  # what an app study calls its n
    "client_saw": "As the client saw it ({n_name} = {n}, {reason}):",
    "server_logged": "As the server logged it:",
    "server_silent": (
        "The server logged nothing about it (the Flask dev server prints nothing when the "
        "kernel kills it)."
    ),
    "makespan_line": (
        "Makespan {makespan} s; latency {lmin} to {lmax} s (mean {lmean} s); server log: "
        "[{server_log}]({server_log})."
    ),
    "cpu_split": (
        "CPU over the burst: the server {server_share} of the machine, {server_ms} ms per "
        "request; the load client (the lab's process, its monitor included) {client_share}, "
        "{client_ms} ms per request."
    ),
    "cpu_split_short": (
        "CPU over the burst: the server {server_ms} ms per request; the load client (the "
        "lab's process, its monitor included) {client_ms} ms per request."
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
        "| server | function | predicted n | never failed | always failed | bytes / element | "
        "idle | peak at last pass | OOM kills | probes |"
    ),
    "memory_pass_alt": "Memory of {name} at n = {n} (passed)",
    "memory_pass_alt_app": "Memory of {name} at size {n} (passed)",
    "memory_fail_alt": "Memory of {name} at n = {n} (failed)",
    "memory_fail_alt_app": "Memory of {name} at size {n} (failed)",
    "critical_alt": "Critical-n search of {name}",
    "critical_alt_app": "Critical-n search of {name}",
    "overview_alt": "Makespan and latency of every run",
    "memory_alt": "Server memory during {name}",
    "method_guard": (
        "The service's memory guard was on in every run's server: {budget} per server process "
        "(admission control by each request's estimated memory; 413 for a request too big for "
        "the budget alone, 503 with Retry-After when the requests in flight would exceed it)."
    ),
    "guard_heading": "With and without the memory guard",
    "guard_intro": (
        "After each search, one more probe at its smallest failing n: the same load, a fresh "
        "server in the same cap, with the service's memory guard on. The guard estimates each "
        "request's memory from its workload and n and refuses a request that alone exceeds "
        "the budget (413) or that would push the requests in flight over it (503 with "
        "Retry-After). The row without the guard is the search's first failing probe at that "
        "n; the lab stops a probe soon after its first OOM kill, so its other requests end as "
        "disconnects. A price is correct when it equals int(area x (n - 1) / 2)."
    ),
    "table_guard": (
        "| server | function | n | memory guard | served | refused 413 / 503 | other failures "
        "| OOM kills | correct prices | outcome |"
    ),
    "guard_off": "off",
    "guard_on": "{budget} per process",
    # --- sentences about runs and searches ---
    "na": "n/a",
    "all_ok": "All {requests} succeeded.",
    "some_failed": "{ok} of {requests} succeeded; the others failed ({classes}).",
    "serial": (
        "The server never ran two handlers at once: it served the requests one after another, "
        "the fastest response after {fastest} s and the slowest after {slowest} s."
    ),
    "serial_sum": (
        " The makespan ({makespan} s) is about the sum of the handler times ({handler_sum} s)."
    ),
    "overlap": "Up to {at_once} ran at the same time ({threads} in {processes}).",
    "unknown": "unknown",
    "who_unknown": (
        "The server does not send servelab's served-by headers: which process served each "
        "request, and how many ran at once, are unknown."
    ),
    "overlap_one": (
        " The makespan ({makespan} s) is about one handler's time ({handler_mean} s on "
        "average): the requests overlapped."
    ),
    "cpu_idle": (
        "The server used {cpu} CPU-seconds in {makespan} s: its handlers were waiting, not "
        "computing."
    ),
    "cpu_busy": (
        "The server's processes used {cpu} CPU-seconds in {makespan} s, {cores} on average "
        "of the machine's {machine_cores}."
    ),
    "cpu_turns": (
        " Although {at_once} ran at once, together they used about one core: the threads "
        "took turns rather than running in parallel."
    ),
    "cpu_turns_gil": (
        " Although {at_once} ran at once, together they used about one core: the threads "
        "took turns rather than running in parallel, as pure-Python code does under the "
        "GIL (one thread runs Python at a time)."
    ),
    "versus": "On {other} the same {workload} burst took {their} s against {mine} s here ({how}).",
    "longer": "{ratio}x longer",
    "shorter": "{ratio}x shorter",
    "slower_each": (
        "Each handler here took {mine} s on average against {theirs} s when they ran one at a "
        "time there: running them together made each {ratio}x slower."
    ),
    "cpu_cost": ("The same {requests} cost the server {mine} CPU-seconds here and {theirs} there."),
    "died": "The server did not survive the burst: {fate}.",
    "unfinished": "This run did not finish: {error}.",
    "model": (
        "The model: ({cap} cap - {idle} idle) / ({bpe} per element x {at_once} in memory "
        "at once) = {predicted}."
    ),
    "model_app": (
        "The model, from {points}: each request holds {fixed} + {bpe} per unit of size; "
        "({cap} cap - {idle} idle) / {at_once} in memory at once gives a size of {predicted}."
    ),
    "app_guard": (
        "The app has no memory guard (servelab's guard is its own service's). To answer 413 "
        "instead of dying, a guard in front of it would have had to refuse every request "
        "above size {size} here: {fixed} + {bpe} per unit each, {at_once} at once, "
        "beside {idle} idle."
    ),
    "unconfirmed": "The search did not confirm both ends: {reason}.",
    "model_worst": (
        "The worst case, every request at once: ({cap} cap - {idle} idle) / ({bpe} per "
        "element x {at_once} in memory at once) = {predicted}."
    ),
    "overlap_fit": (
        "{bursts} of this load at {n}, where even that fits, held {held} at their peak (the "
        "median; {spread} spread from burst to burst): {arrays} arrays at once, not all of "
        "them. The late requests start while the first ones build their arrays, so a "
        "deficit of {deficit} stays out of memory whatever n is, and every further element "
        "is held by all {concurrency}. So the model predicts failure in 5% of runs from "
        "{n5}, in half at {n50}, in 95% at {n95}."
    ),
    "overlap_none": (
        "The {bursts} that calibrate how many arrays are held at once gave no fit (one "
        "failed, or held nothing measurable): the search started from the worst case."
    ),
    "overlap_error": (
        "The measured 50% point, {n50}, against the predicted {predicted}: the prediction is "
        "{error} off."
    ),
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
        "{at_once}. The parallel requests did not all hold their full arrays at the same "
        "moment."
    ),
    "seen_at_once": (
        "The served-by headers of the passing probes show at most {seen} running at once "
        " (the model assumed {at_once})."
    ),
    "band": "Between them the outcome varied from run to run ({rates}).",
    "band_rate": "{n}: {failures}/{trials} failed",
    "numpy_vs_cpu": (
        "On {server} numpy's critical n is {ratio}x the pure-Python one: numpy keeps {numpy} "
        "per element, the Python list {cpu} ({bpe_ratio}x more)."
    ),
    "server_vs_server": (
        "For {workload}, {high} survives {ratio}x the n of {low}. By the model it holds "
        "{high_at_once} in memory at once, the other {low_at_once}{held}."
    ),
    "held_note": " ({held} measured at its peak)",
    "search_failed": "The search failed: {error}.",
    "cap_cgroup_v1": "cgroup v1 memory.limit_in_bytes",
    "cap_cgroup_v2": "cgroup v2 memory.max",
    "cap_rlimit_as": (
        "RLIMIT_AS per process, a fallback: MemoryError instead of OOM kills, and n counted in"
        " address space, so its critical n is not comparable with a cgroup's"
    ),
    "run_guard": (
        "The memory guard ({budget} per server process) refused {too_big} as too big (413) "
        "and {busy} as busy (503)."
    ),
    "guard_budget_derived": (
        "The guard's budget at n = {n}: ({cap} cap - {idle} idle - 10% of the cap) / "
        "{processes} = {budget} per process, derived from this search."
    ),
    "guard_budget_option": "The guard's budget at n = {n}: {budget} per process (--memory-budget).",
    "guard_estimate": (
        "The guard estimates {bpe} per element for `{workload}`, {need} per request at this "
        "n: {fits} fit the budget at once."
    ),
    "guard_estimate_too_big": (
        "The guard estimates {bpe} per element for `{workload}`, {need} per request at this "
        "n: more than the whole budget, so every request is refused with 413."
    ),
    "guard_survived": (
        "With the guard the server survived: it served {served} of {requests}, "
        "{correct} with the correct price, refused {refused}, and no process was OOM-killed."
    ),
    "guard_killed": (
        "Even with the guard the kernel OOM-killed {kills} in the cap: the estimate counts "
        "the arrays, not the interpreter, so this budget left too little margin."
    ),
    "guard_other_failures": "{failed} failed otherwise ({reason}).",
    "guard_without": "Without the guard the same load at the same n: {reason}; it served {served}.",
    "guard_failed": "The probe with the guard did not run: {error}.",
    # --- the figures (plots/) ---
    "fig.s": "{value} s",
    "fig.ms": "{value} ms",
    "fig.mib": "{value} MiB",
    "fig.million": "{value} M",
    "fig.thousand": "{value} k",
    "fig.overview_title": "All runs: how long the burst took, and each request",
    "fig.makespan_axis": "makespan (s)\nfirst send to last reply",
    "fig.latency_axis": "latency (s)\nbar = mean, whisker = min..max",
    "fig.no_runs": "no finished runs",
    "fig.not_drawn": "not drawn (run did not finish): {names}",
    "fig.some_ok": "{ok}/{requests} ok",
    "fig.mean": "mean {value}",
    "fig.run_title": "{name}: {server}, {workload} workload",
    "fig.memory_title": "Memory of {who}",
    "fig.probe_title": "{search}, probe {probe}: n = {n}, {verdict}",
    "fig.probe_title_app": "{search}, probe {probe}: n = {n}, {verdict}",
    "fig.probe_passed": "passed",
    "fig.probe_failed": "failed ({outcome})",
    "fig.probe_peak": ", peak {peak}",
    "fig.timeline_subtitle": "one bar per request, top = sent first",
    "fig.failed": "failed",
    "fig.timeline_x": "seconds since the first request was sent",
    "fig.timeline_y_labelled": "request (#index), in send order",
    "fig.timeline_y": "request, in send order",
    "fig.waiting": "waiting for a handler",
    "fig.worker_thread": "worker {number} (pid {pid}, thread {thread})",
    "fig.worker": "worker {number} (pid {pid})",
    "fig.more_workers": "... {extra} more workers (colours repeat)",
    "fig.no_timing": "ok, no handler timing sent",
    "fig.failed_span": "failed (send to error)",
    "fig.cgroup_usage_title": "memory cgroup usage",
    "fig.rss_title": "RSS summed over the tree",
    "fig.sampled": "{what}, sampled every ~{interval}",
    "fig.cgroup_usage": "cgroup usage",
    "fig.rss": "RSS (shared pages counted twice)",
    "fig.memory_cap": "memory cap {cap}",
    "fig.oom_kill": "OOM kill (cgroup counter stepped up)",
    "fig.new_process": "new process in the tree (e.g. a worker rebooted)",
    "fig.no_kill_counter": "no OOM-kill counter in these samples",
    "fig.no_process": "no server process alive",
    "fig.memory_axis": "memory (MiB)",
    "fig.memory_x": "seconds since the first sample",
    "fig.critical_title": "Critical n of {name}: {server}, {workload} workload{cap}",
    "fig.critical_title_app": "Critical n of {name}: {server}, app workload{cap}",
    "fig.critical_cap": ", cap {cap}",
    "fig.n_axis": "n (elements per request)",
    "fig.n_axis_app": "n (elements per request)",
    "fig.band": "measured band: {passing} passed,\n{failing} failed",
    "fig.largest_passed": "largest n that passed: {n}",
    "fig.smallest_failed": "smallest n that failed: {n}",
    "fig.predicted": "model's predicted n: {n}",
    "fig.all passed": "n where all passed",
    "fig.some failed": "n where some failed",
    "fig.all failed": "n where all failed",
    "fig.rate_key": "label: failed/trials;\nbigger dot = more trials",
    "fig.rate_axis": "trials that failed",
    "fig.rate_title": "failure rate by n",
    "fig.trial_ok": "trial passed",
    "fig.trial_oom": "trial failed: OOM-killed",
    "fig.trial_memory-error": "trial failed: MemoryError (rlimit)",
    "fig.trial_failed": "trial failed: other",
    "fig.cap": "cap {cap}",
    "fig.model": ("model: idle {idle} + {bpe} B\nx {at_once} in memory at once x n"),
    "fig.model_app": ("model: idle {idle} + {bpe} B\nx {at_once} in memory at once x n"),
    "fig.peak_axis": "peak memory (MiB)",
    "fig.peak_title": "peak memory of each trial (cgroup max usage)",
    # why a figure was not drawn (the report says so where the figure would be)
    "fig.skip_no_runs": "no run finished",
    "fig.skip_not_in_study": "the run is not in study.json",
    "fig.skip_search_failed": "the search failed: {code}",
    "fig.skip_no_pass_probe": "no passing probe in the search",
    "fig.skip_no_fail_probe": "no failing probe in the search",
    "fig.skip_no_file": "study.json names no {what} file",
    "fig.skip_file_missing": "the {what} file {file} is missing",
    "fig.skip_cannot_read": "cannot read {file}: {error}",
    "fig.skip_no_readable_line": "the {what} file {file} has no readable line",
    "fig.skip_empty": "the {what} file {file} is empty",
    "fig.skip_cannot_draw": "cannot draw it: {error}",
    "fig.records": "records",
    "fig.samples": "samples",
    # --- a sweep's figures (report/plots/sweep.py) ---
    "fig.sw_app": "your app",
    "fig.sw_panel": "{workload} workload",
    "fig.sw_not_drawn": "not drawn: {names}",
    "fig.sw_why_failed": "did not run",
    "fig.sw_why_left_out": "not measured",
    "fig.sw_why_no_steps": "no rate step",
    "fig.sw_why_no_rate": "the SLOs held at no rate",
    "fig.sw_why_no_p99": "no p99 at its capacity",
    "fig.sw_why_no_memory": "no memory at load",
    "fig.sw_skip_no_capacity": "no cell has a capacity",
    "fig.sw_skip_no_memory": "no cell has its memory measured at load",
    "fig.sw_skip_no_steps": "no cell has a rate step",
    "fig.sw_pareto_title": "Capacity against p99 at that rate: up and to the left is better",
    "fig.sw_pareto_x": "p99 at capacity (ms)",
    "fig.sw_pareto_y": "capacity (requests/s)",
    "fig.sw_memory_colour": "memory at load, total PSS (MiB)",
    "fig.sw_budget": "memory budget {budget}",
    "fig.sw_front": "Pareto front (capacity, p99, memory)",
    "fig.sw_recommended": "recommended",
    "fig.sw_over_budget": "over the memory budget",
    "fig.sw_oom": "OOM-killed",
    "fig.sw_lower_bound": "the load client bounded it: at least this",
    "fig.sw_no_memory": "memory not measured",
    "fig.sw_slo": "SLO {slo}",
    "fig.sw_memory_title": "Memory at load against the number of workers",
    "fig.sw_total_axis": "total PSS at load (MiB)",
    "fig.sw_uss_axis": "USS per worker (MiB)",
    "fig.sw_workers_axis": "workers",
    "fig.sw_latency_title": "Latency at each rate the search tried, one panel per cell",
    "fig.sw_latency_axis": "latency (ms)",
    "fig.sw_rate_axis": "rate asked (requests/s)",
    "fig.sw_step_held": "step held the SLOs",
    "fig.sw_step_failed": "step failed",
    "fig.sw_step_client": "the load client could not deliver the rate",
    "fig.sw_capacity": "capacity found",
    "fig.sw_cell_capacity": "{name}\nholds up to {rate} requests/s",
    "fig.sw_cell_lower_bound": "{name}\nholds at least {rate} requests/s",
    "fig.sw_cell_no_capacity": "{name}\nheld at no rate",
    # --- the HTML page ---
    "page.machine": "Machine",
    "page.machine_intro": "What the study ran on, and when.",
    "page.cpu": "CPU",
    "page.cores": "Cores",
    "page.memory": "Memory",
    "page.os": "OS",
    "page.python": "Python",
    "page.packages": "Packages",
    "page.created": "Started",
    "page.wall": "Duration",
    "page.seconds": "s",
    "page.unknown": "unknown",
    "page.not_installed": "not installed",
    "page.missing": "missing",
    "page.not_embedded": "not embedded",
    "page.untitled": "servelab report",
    # --- words for counts: one|many in English, one|few|many in Russian ---
    "n.process": "process|processes",
    "n.thread": "thread|threads",
    "n.worker": "worker|workers",
    "n.request": "request|requests",
    "n.run": "run|runs",
    "n.line": "line|lines",
    "n.search": "critical-n search|critical-n searches",
    "n.search_app": "critical-size search|critical-size searches",
    "n.request_of": "request|requests",
    "n.client": "client|clients",
    "n.parallel_client_of": "parallel client|parallel clients",
    "n.calibration_request": "calibration request|calibration requests",
    "n.handler": "handler|handlers",
    "n.handler_up_to": "handler|handlers",
    "n.prediction": "prediction|predictions",
    "n.core": "core|cores",
    "n.byte": "byte|bytes",
    "n.time": "time|times",
    "n.n_value": "n|n",
    # --- servers (results.Server) ---
    "server_dev": "Flask dev server (threaded)",
    "server_dev_single": "Flask dev server (one request at a time)",
    "server_dev_debug": "Flask dev server (debug, with the reloader)",
    "server_uvicorn": "uvicorn, {workers}",
    "server_waitress": "waitress, {threads}",
    "server_granian": "granian, {workers} x {threads}",
    "server_max_rss": ", a worker restarted above {mib} MiB",
    "server_gunicorn": "gunicorn, {workers} {worker_class} {worker_word}{threads}",
    "server_threads": " x {threads}",
    "server_timeout": ", worker timeout {timeout} s",
    "server_no_timeout": ", no timeout",
    "server_preload": ", preloaded app",
    # --- outcome codes (results.Outcome), as the tables show them ---
    "outcome.ok": "ok",
    "outcome.oom": "oom",
    "outcome.memory-error": "memory-error",
    "outcome.rejected": "rejected",
    "outcome.failed": "failed",
    # --- why a probe ended as it did (results.Verdict) ---
    "reason_oom": "the kernel OOM-killed {kills} in the memory cap",
    "reason_memory_error": (
        "{requests} failed with MemoryError (HTTP 500) under the address-space limit; no "
        "process was killed"
    ),
    "reason_rejected": (
        "the server refused {requests} on purpose ({by_status}); {rest}; no OOM kill"
    ),
    "reason_by_status": "{count} with {status}",
    "reason_rest_served": "the other {served} succeeded",
    "reason_rest_none": "it served none",
    "reason_refused": "{requests} refused (413/503)",
    "reason_failed_requests": "{requests} failed ({classes})",
    "reason_worker_timeouts": "gunicorn killed {workers} for WORKER TIMEOUT",
    "reason_sigkills": "{workers} got SIGKILL",
    "reason_server_ended": "the server ended ({end})",
    "reason_failed": "{parts}; no OOM kill",
    "reason_ok": "all {requests} succeeded",
    "list_sep": "; ",
    # --- how a server ended (results.ServerEnd) ---
    "end_signal": "killed by {signal}",
    "end_unknown": "ended with an unknown status",
    "end_code": "exited with code {code}",
    "end_by_lab": "stopped by the lab ({how})",
    "end_not_by_lab": "{how} (not by the lab)",
    "end_forced": "; the group needed SIGKILL after the grace period",
    # --- why a search stopped (results.StopReason) ---
    "stop.within-tolerance": "bracket within {tolerance}",
    "stop.whole-numbers": "bracket as narrow as whole numbers allow ({low}, {high})",
    "stop.band-resolved": (
        "band resolved: {low} passed all its trials, {high} failed all, and the {band} n "
        "between them had mixed results"
    ),
    "stop.fails-at-min": "fails even at min_n={low}",
    "stop.passes-at-max": "passes at max_n={high}",
    "stop.budget-spent": "probe budget ({budget}) spent",
    "stop.not-finished": "search not finished",
    "stop.unknown": "a reason this servelab cannot read",
    # --- a study of the user's own app (servelab study --app) ---
    "title_app": "servelab report: {app} under load",
    # --- a repeated study (servelab study --repeat K): report/repeated.py ---
    "rep_title": "servelab report: {count} repeats of one study",
    "rep_title_app": "servelab report: {app}, {count} repeats of one study",
    "rep_lead": (
        "The same plan ran {times}, each time with fresh servers ({folders}), in "
        "{seconds} s{unfinished}. Every figure below is the median over the repeats, with its "
        "range and its spread, (max - min) / median; a figure whose spread is under {stable} "
        "is marked stable, one above it is one draw of something that moves."
    ),
    "rep_unfinished": "; {finished} of {count} repeats finished",
    "rep_figures": "Every figure, over the repeats",
    "rep_table": "| run or search | figure | median | range | spread | stable | each repeat |",
    "rep_fig.makespan": "makespan, s",
    "rep_fig.latency_mean": "mean latency, s",
    "rep_fig.never_failed": "never failed",
    "rep_fig.always_failed": "always failed",
    "rep_fig.middle": "50% failure point",
    "rep_fig.predicted": "predicted",
    "rep_stable": "yes",
    "rep_unstable": "no",
    "rep_middles": "The 50% failure points",
    "rep_middle_line": (
        "{subject}: the 95% interval of each repeat's 50% point holds the other repeats' "
        "points: {covered}."
    ),
    "rep_middle_drift": (
        "Between runs the point moved by {drift} (a standard deviation) beyond what each run's "
        "trials explain; each interval widened by that holds the others: {widened}."
    ),
    "rep_middle_no_drift": "Between runs the point moved no more than each run's trials explain.",
    "rep_middle_next": (
        "A next run's 50% point is expected between {low} and {high} (95%, from these "
        "{repeats} repeats)."
    ),
    "rep_middle_same": "Every repeat found it at {point}: a next run is expected there again.",
    "rep_middle_all": "all of them",
    "rep_middle_some": "{counts} of {others} (repeat by repeat)",
    "rep_summary": (
        "Stable figures: {stable} of {total} (spread under {threshold}); the others moved "
        "between repeats: {unstable}."
    ),
    "rep_all_stable": "Every figure is stable ({total}, spread under {threshold}).",
    "rep_reports": "The repeats",
    "rep_report_line": (
        "Repeat {index}: [report]({folder}/report.md), [study.json]({folder}/study.json)."
    ),
    "n.point": "point|points",
    # --- the breaking point as a probability (issue 14): study/breaking.py ---
    "method_curve": (
        "Where the ends leave a band of mixed results, {trials} more trials go where they "
        "narrow the fitted failure curve (its 50%, 18% and 82% points, in turn): the breaking "
        "point is then given as a probability, below."
    ),
    "curve_heading": "The breaking point as a probability",
    "curve_intro": (
        "Each n tried is a count of failed trials; a logistic curve in log n fitted to every "
        "trial of a search (with Firth's penalty, so a sharp boundary stays finite) gives the "
        'n at which 5%, 50% and 95% of runs fail, each with a 95% interval. "Never failed" '
        'and "always failed" are the search\'s confirmed ends, with the trials behind them.'
    ),
    "overlap_intro": (
        "Each threaded server's predicted band, from its overlap bursts (see the method), "
        "beside the fitted 50% point and the prediction's error."
    ),
    "table_overlap": (
        "| server | function | worst case | predicted 5% | predicted 50% | predicted 95% | "
        "measured 50% | error |"
    ),
    "table_overlap_app": (
        "| server | app | worst case | predicted 5% | predicted 50% | predicted 95% | "
        "measured 50% | error |"
    ),
    "table_curve": (
        "| server | function | never failed | 5% fail | 50% fail | 95% fail | always failed "
        "| trials |"
    ),
    "table_curve_app": (
        "| server | app | never failed | 5% fail | 50% fail | 95% fail | always failed | trials |"
    ),
    "curve_point": "{n} ({low} .. {high})",
    "curve_end": "{n} ({trials})",
    "curve_line": (
        "As a probability ({count} trials): half of the runs fail at {n50} ({low50} .. "
        "{high50}), 5% at {n5}, 95% at {n95} (95% intervals in the table above)."
    ),
    "curve_sharp": (
        "No n both passed and failed: the boundary is sharp to within the probes, and the "
        "curve's width is an upper estimate, not a measurement."
    ),
    "ends_trials": "{passing} passed all {pass_trials}; {failing} failed all {fail_trials}.",
    "n.trial": "trial|trials",
    "n.burst": "burst|bursts",
    "app_intro": (
        "This study served your app `{ref}` ({interface}, from `{app_dir}`, with "
        "`{python}`) on {servers}: a fresh server per run, the app wrapped in servelab's "
        "served-by middleware, which adds to each response the pid and thread that ran its "
        "handler and the handler's own start and duration."
    ),
    "app_request": (
        "Every run sends {requests} `{method} {path}` {request_word} from {concurrency} "
        "released at the same instant; the body: {body}{size}. Extra headers: "
        "{headers}. The server's processes are sampled 20 times a second for memory and CPU."
    ),
    "app_body_template": "the template `{body}`",
    "app_body_file": "the bodies of `{file}`, in turn",
    "app_body_hook": "made by `{hook}` from the input size",
    "app_body_none": "none",
    "app_size": ", at input size {size}",
    "app_no_headers": "none",
    "app_critical": (
        "The critical input size is searched with the same load inside a memory cap of {cap} "
        "({cap_description}), a fresh server per probe. A model predicts it first: single "
        "requests at growing sizes measure the idle memory, the bytes per unit of size and a "
        "fixed cost per request; a sync worker holds one request in memory at a time, a "
        "threaded or asynchronous server up to all of them. Probes then bisect around the "
        "prediction; near the boundary each size is tried {repeats}. Only the cap's "
        'OOM-kill counter says "out of memory".'
    ),
    "critical_app": "Critical input size: where the server dies for lack of memory",
    "critical_line_app": (
        "Critical size (cap {cap}) = between {passing} (never failed) and {failing} (always "
        "failed); predicted {predicted}; [search]({folder}/search.json)."
    ),
    "table_critical_app": (
        "| server | app | predicted size | never failed | always failed | bytes / unit | "
        "idle | peak at last pass | OOM kills | probes |"
    ),
    # --- machine noise (issue 14): what else the machine did while it measured ---
    "method_noise": (
        "While each run and probe ran, the lab read /proc: the CPU used by every process "
        "other than the server's and the lab's own (which holds the load client), the time "
        "the hypervisor gave to other guests (steal), and the least memory available. A run "
        "or probe was taken on a busy machine when other processes used more than {cores} "
        "cores on average, steal exceeded {steal}, or the memory available fell below {memory} "
        "of the machine's; {mark} marks such a run."
    ),
    "noise_parts": (
        "{other} cores used by other processes, steal {steal}, {available} memory available"
    ),
    "noise_start_idle": "Before the first run the machine was idle ({parts}).",
    "noise_start_busy": (
        "Before the first run the machine was **busy** ({parts}): expect more spread than on "
        "an idle machine."
    ),
    "noise_mark_note": "{mark}: taken on a busy machine (its section says how busy).",
    "noise_busy_run": (
        "Taken on a busy machine ({parts}): its times and its memory may differ from an idle "
        "machine's."
    ),
    "noise_probes_busy": (
        "{busy} of {probes} probes ran on a busy machine (the busiest: {parts}): the band may "
        "be wider than on an idle machine."
    ),
    "noise_probes_quiet": (
        "None of the {probes} probes ran on a busy machine (other processes used at most {max} "
        "cores during one)."
    ),
    "noise_warning": "warning: the machine is busy: {parts}; numbers will be noisier",
    # --- why something could not be measured (results.Failure) ---
    "error.calibration-failed": "the calibration probe at n = {n} did not pass",
    "error.no-memory-measure": (
        "this cap cannot measure memory (no cgroup): the model needs idle and peak bytes"
    ),
    "error.does-not-fit-idle": "the server does not even fit idle in the cap: it was OOM-killed",
    "error.nothing-to-compare": "no n failed without the guard: nothing to compare",
    "error.no-budget-room": "the cap leaves no room for a budget after idle memory and the margin",
    "error.no-size-growth": (
        "the app's memory did not grow with its input size (up to {n}): no critical size to find"
    ),
    "error.server-failed": "{detail}",
    "error.error": "{detail}",
    # --- a sweep (report/sweep.py) ---
    "sw_title": "servelab report: which deployment to run",
    "sw_unfinished": (
        "**This sweep is unfinished**: some cells were left out or not measured yet; run the "
        "same command into the same folder to measure them."
    ),
    "sw_recommendation": "The recommendation",
    "sw_cells": "Every configuration, measured",
    "sw_no_budget": "no memory budget",
    "sw_setup": (
        "{cells} cells, each on a fresh server: the highest arrival rate (open loop) at which "
        "{slos} held over a {window} s window after a {warmup} s warm-up, found by bisection "
        "from a closed-loop estimate; memory budget: {budget}. The sweep took {seconds} s. The "
        "table is ranked: workload by workload, the recommended cell first, then the others "
        "in the order of the recommendation's reasons."
    ),
    "sw_busy": (
        "Measured while the machine was busy: {cells} (the busiest: {parts}). A busy machine "
        "lowers a capacity by about its share of stolen or used CPU: run the sweep again on "
        "a quiet machine before ranking on them."
    ),
    "sw_busy_mark": "{mark}: measured while the machine was busy (other processes, steal).",
    "sw_speed_steady": (
        "The machine ran at one speed for every CPU-bound cell: a fixed task (100,000 "
        "multiply-adds in pure Python, timed before every step of every search) took {ms} ms "
        "of CPU in the fastest one (the median of its steps) and at most {spread} longer in "
        "the others."
    ),
    "sw_speed_drift": (
        "The machine was slower for some CPU-bound cells than for others: a fixed task "
        "(100,000 multiply-adds in pure Python, timed before every step of every search) took "
        "{ms} ms of CPU in the fastest one (the median of its steps), and longer in {cells}. A "
        "virtual machine's host slows its guest this way with no steal or other process to "
        "show for it, and a CPU-bound capacity can fall with it (the server's CPU per request "
        "in the table says whether it did): a difference between these cells smaller than "
        "that may not be the servers'."
    ),
    "sw_speed_rival": (
        "`{rival}` was measured on a machine {drift} {way} than `{best}`, more than their "
        "capacities differ ({gap}): the machine may have ordered these two, not the servers; "
        "run the sweep again before choosing between them."
    ),
    "sw_speed_slower": "slower",
    "sw_speed_faster": "faster",
    "sw_engine_locust": (
        "The load came from servelab's loops on Locust: a master and {workers} worker "
        "processes on this machine, started afresh for each load phase, every request's record "
        "merged (exact percentiles). The client's cores in the table are its busiest worker's "
        "(the one that would limit the rate); its CPU per request and its share of the machine "
        "count every worker."
    ),
    "sw_primed": (
        "Before its estimate, each server ran {prime} s of the same full load, not measured: a "
        "server's cost per request settles as it serves (CPython's allocator keeps the memory "
        "that concurrent requests fragmented), and a production server runs settled."
    ),
    "sw_table": (
        "| cell | server | capacity, req/s | p50, ms | p99, ms | errors | server CPU, cores "
        "| server CPU per request, ms | client CPU, cores | client CPU per request, ms "
        "| memory idle (PSS) | memory at load (PSS) | USS per worker "
        "| workers that fit | OOM kills |"
    ),
    "sw_figures": "Figures",
    "sw_pareto_alt": "Capacity against p99, memory as colour",
    "sw_pareto_caption": (
        "Each point is a configuration at its capacity, coloured by its memory at load: higher "
        "serves more requests per second, further left answers faster; the star is the "
        "recommendation, a black edge and a bold name mark the Pareto front (no other "
        "configuration is as good on capacity, p99 and memory and better on one), hollow points"
        " are over the memory budget, crossed ones were OOM-killed, and an arrow up marks a "
        "capacity the load client limited (a lower bound)."
    ),
    "sw_memory_alt": "Memory at load against the number of workers",
    "sw_memory_caption": (
        "Memory at load against the number of workers, one line per configuration that "
        "differs in its workers alone (dashed: with `--preload`): the top row is the whole "
        "process tree's PSS against the budget, the bottom row what one worker holds alone "
        "(USS), which is what one more worker costs."
    ),
    "sw_latency_alt": "Latency against the rate asked, per configuration",
    "sw_latency_caption": (
        "Each configuration's p50 and p99 at every rate its search tried (the steady window "
        "of each step): filled points held the SLOs, hollow ones did not, triangles are rates "
        "the load client could not deliver; the dashed line is the SLO's threshold and the "
        "dotted one the capacity found."
    ),
    "sw_method_title": "How it was measured",
    "sw_method": (
        "Each rate is a step: requests sent on schedule (an open loop, so a slow server cannot "
        "slow the sending down), a warm-up that is not judged, then a window judged against "
        "every SLO. A step the load client could not deliver (its own CPU above 0.9 cores, "
        "sends late or short of the rate) says nothing about the server: it bounds the search "
        "without failing the server, and a capacity bounded by it is marked ≥ (a lower bound). "
        "The client's CPU is read over the same window as the server's, for the lab's whole "
        "process (the load loop and the monitors that sample the server beside it), and per "
        "request over the window's requests: what it used, a server on the same machine did "
        "not get. "
        "Memory is read from /proc/<pid>/smaps_rollup for every process of the server: PSS "
        "counts a page shared by k processes as 1/k in each, so the total PSS is what the tree "
        "really holds; USS is what a worker holds alone. Memory at load is the reading with the "
        "largest total PSS during the search (every 0.5 s); workers that fit: the master's and "
        "shared memory once plus a worker's USS per worker, within the budget. Capacities "
        "within 10% of each other are treated as equal (a re-measured capacity moves by about "
        "that much) and the one with less memory is preferred."
    ),
    "sw_machine": "Machine: {cpu}, {cores} cores, {memory} memory, Python {python}.",
    "sw_workload": "the {workload} workload",
    "sw_workload_app": "your app",
    "sw_none": (
        "For {workload}, no configuration qualifies: each one lost by a rule below, so none "
        "is recommended."
    ),
    "sw_best": "For {workload}, run **{server}**: it holds {slos} up to {rate} requests/s.",
    "sw_tied": "{cells} held as much within 10%, with more memory.",
    "sw_lead": "That is {lead}x the best configuration with a lower capacity.",
    "sw_headroom": "It used {memory} of the {budget} budget ({left} left).",
    "sw_memory": "It used {memory} at that load.",
    "sw_shares": (
        "At that rate the server used {server_share} of the machine's CPU ({server_cores} of "
        "{cores}) and the load client {client_share} ({client_cores})."
    ),
    "sw_uncertain": (
        "But the load client limited {cells} at or above that rate: measure those with a "
        "client on another machine before ruling them out."
    ),
    "sw_loss.failed": "{cell} did not run: {detail}",
    "sw_loss.not-measured": "{cell} was not measured (the time budget ran out).",
    "sw_loss.over-budget": "{cell} needs {memory} under load, over the {budget} budget.",
    "sw_loss.oom-killed": "{cell} was OOM-killed inside the {budget} budget.",
    "sw_loss.dev-server": (
        "{cell} is Flask's development server, which Flask itself says not to deploy: its "
        "{rate} requests/s are the baseline, not a candidate."
    ),
    "sw_loss.died": "{cell}'s server ended on its own during the search: {detail}",
    "sw_loss.dies-below-size": (
        "{cell} dies of memory below the size asked for: it survives {critical} under the "
        "budget, {size} were asked for."
    ),
    "sw_loss.slo-never-held": "{cell} held {slos} at no rate tried.",
    "sw_loss.client-bound": (
        "{cell} held at least {rate} requests/s, but the load client, not the server, set that "
        "limit: not a measurement to recommend on."
    ),
    "sw_loss.same-capacity-more-memory": (
        "{cell} holds {rate} requests/s, the same within 10%, with more memory ({memory})."
    ),
    "sw_loss.lower-capacity": "{cell} holds {slos} only to {rate} requests/s (against {best}).",
    "sw_status.done": "done",
    "sw_status.failed": "did not run",
    "sw_status.left-out": "left out",
}
