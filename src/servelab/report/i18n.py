"""How the report says things in one language: numbers, sizes, servers and the study's codes.

The words themselves are in ``lang/en.py`` and ``lang/ru.py``; ``Lang`` picks them and fills
them with numbers it formats itself, so a number in a sentence reads exactly as it does in a
table. Every code ``study.json`` stores (an outcome, a stop reason, a failure, how a server
ended) is turned into words here, in the report's language: measurement stores no prose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from ..results import Cap, Failure, Noise, Server, ServerEnd, StopReason, Trial, Verdict
from .lang import CATALOGS, LANGUAGES

__all__ = ["LANGUAGES", "Lang"]

# gunicorn's own default worker timeout: a server with it says nothing about timeouts.
_DEFAULT_TIMEOUT: Final = 30.0
Scalar = str | int | float | None


@dataclass(frozen=True)
class Lang:
    """Formats numbers and fills sentence templates in one language."""

    code: str = "en"

    def t(self, key: str, **params: Scalar) -> str:
        return CATALOGS[self.code][key].format(**params)

    @property
    def na(self) -> str:
        return self.t("na")

    # --- numbers ---

    def digits(self, text: str) -> str:
        """A number printed the English way (``1,234.5``) as this language prints it.

        Russian groups thousands with a no-break space and writes a decimal comma
        (``1 234,5``). Every number the report prints, in its text, tables and figures,
        goes through here, so the two languages differ in this one place.
        """
        if self.code != "ru":
            return text
        return text.replace(",", "\u00a0").replace(".", ",")

    def decimal(self, value: float, places: int) -> str:
        """A fractional number with ``places`` decimals: 1.35 in English, 1,35 in Russian."""
        return self.digits(f"{value:.{places}f}")

    def seconds(self, value: float | None) -> str:
        """Seconds as the report prints them everywhere (tables and text agree)."""
        return self.na if value is None else self.decimal(value, 2)

    def count(self, value: int | None) -> str:
        """Whole numbers: 25,700,000 in English, 25 700 000 in Russian (as the seminar wrote)."""
        return self.na if value is None else self.digits(f"{value:,}")

    def ratio(self, value: float) -> str:
        return self.decimal(value, 1)

    def mib(self, value: float | None) -> str:
        unit = "МиБ" if self.code == "ru" else "MiB"
        return self.na if value is None else f"{self.decimal(value / 2**20, 1)} {unit}"

    def gib(self, value: float | None) -> str:
        unit = "ГиБ" if self.code == "ru" else "GiB"
        return self.na if value is None else f"{self.decimal(value / 2**30, 1)} {unit}"

    def size(self, value: float | None) -> str:
        """A memory size in the unit that reads best: MiB below 1 GiB, GiB from there."""
        if value is None or value < 2**30:
            return self.mib(value)
        return self.gib(value)

    def percent(self, value: float) -> str:
        return f"{value:.0%}"

    def share(self, value: float) -> str:
        """A share of the machine: 46%, and below 10% with a decimal (0.4%, Russian 0,4%):
        a load client's share is often below 1%, which a whole percent would call 0%."""
        if value * 100 >= 9.95:
            return self.percent(value)
        return self.digits(f"{value:.1%}")

    def milliseconds(self, seconds: float | None) -> str:
        """A CPU time per request in ms to two significant digits (0.087, 0.85, 8.5, 37): a
        load client spends tenths of a millisecond on a request where a server spends tens."""
        if seconds is None:
            return self.na
        ms = seconds * 1000
        places = max(0, 1 - math.floor(math.log10(ms))) if ms > 0 else 0
        return self.decimal(ms, places)

    def signed_percent(self, value: float) -> str:
        """A relative error with its sign and one decimal: +3.2% (Russian: +3,2%)."""
        return self.digits(f"{value:+.1%}")

    def plural(self, count: int | None, word: str) -> str:
        """``count`` with the word ``n.<word>`` in the right form: en one|many, ru one|few|many."""
        if count is None:
            return self.na
        return f"{self.count(count)} {self.form(count, word)}"

    def quantity(self, value: float, places: int, word: str) -> str:
        """A measured amount with its word: ``44.4 bytes``, ``44,4 байта``, ``8 байт``.

        A whole amount takes the form of its count; a fraction takes the plural in English and
        the form of 2 in Russian (the genitive singular: 44,4 байта, 1,5 раза).
        """
        if places == 0:
            return self.plural(round(value), word)
        forms = self.t(f"n.{word}").split("|")
        return f"{self.decimal(value, places)} {forms[1]}"

    def form(self, count: int, word: str) -> str:
        """The form of ``n.<word>`` that goes with ``count`` (``воркера`` for 2), without it."""
        forms = self.t(f"n.{word}").split("|")
        if len(forms) == 2:
            return forms[0] if count == 1 else forms[1]
        tail, tens = count % 10, count % 100
        if tail == 1 and tens != 11:
            return forms[0]
        if 2 <= tail <= 4 and not 12 <= tens <= 14:
            return forms[1]
        return forms[2]

    # --- the study's values and codes ---

    def line_start(self, text: str) -> str:
        """``text`` where a line or heading starts: a Russian word gets its capital letter
        («Сервер разработки Flask»); a product name keeps its own case (gunicorn)."""
        first = text[:1]
        return first.upper() + text[1:] if first.isalpha() and not first.isascii() else text

    def server(self, server: Server) -> str:
        """A server in words: ``gunicorn, 2 gthread workers x 4 threads``."""
        if server.kind == "flask-dev":
            return self.t(f"server_dev_{server.mode}" if server.mode else "server_dev")
        if server.kind == "uvicorn":
            return self.t("server_uvicorn", workers=self.plural(server.workers, "worker"))
        if server.kind == "waitress":
            return self.t("server_waitress", threads=self.plural(server.threads, "thread"))
        if server.kind == "granian":
            text = self.t(
                "server_granian",
                workers=self.plural(server.workers, "worker"),
                threads=self.plural(server.threads, "thread"),
            )
            return text + (self.t("server_max_rss", mib=server.max_rss) if server.max_rss else "")
        if server.kind != "gunicorn":
            return server.label or server.kind
        threads = (
            self.t("server_threads", threads=self.plural(server.threads, "thread"))
            if server.worker_class == "gthread"
            else ""
        )
        text = self.t(
            "server_gunicorn",
            workers=server.workers,
            worker_class=server.worker_class,
            worker_word=self.form(server.workers, "worker"),
            threads=threads,
        )
        if server.timeout != _DEFAULT_TIMEOUT:
            if server.timeout:
                text += self.t("server_timeout", timeout=f"{server.timeout:g}")
            else:
                text += self.t("server_no_timeout")
        if server.preload:
            text += self.t("server_preload")
        return text

    def cap(self, cap: Cap | None) -> str:
        """How memory was capped, e.g. "cgroup v1 memory.limit_in_bytes"."""
        if cap is None:
            return self.na
        key = "cap_" + cap.mechanism.replace("-", "_")
        return self.t(key) if key in CATALOGS[self.code] else cap.mechanism

    def outcome(self, code: str) -> str:
        """An outcome code (ok, oom, rejected...) as a table shows it."""
        key = f"outcome.{code}"
        return self.t(key) if key in CATALOGS[self.code] else code

    def reason(self, trial: Trial) -> str:
        """Why a probe ended as it did, from its verdict's codes and counts."""
        verdict = trial.verdict
        if verdict.outcome == "oom":
            return self.t("reason_oom", kills=self.plural(verdict.oom_kills, "process"))
        if verdict.outcome == "memory-error":
            return self.t(
                "reason_memory_error", requests=self.plural(verdict.memory_errors, "request")
            )
        if verdict.outcome == "rejected":
            by_status = ", ".join(
                self.t("reason_by_status", count=count, status=status)
                for status, count in sorted(verdict.rejected_by_status.items())
            )
            served = trial.ok_requests
            rest = (
                self.t("reason_rest_served", served=served)
                if served
                else self.t("reason_rest_none")
            )
            return self.t(
                "reason_rejected",
                requests=self.plural(verdict.rejected, "request"),
                by_status=by_status,
                rest=rest,
            )
        if verdict.outcome == "failed":
            return self.t("reason_failed", parts=self._failure_parts(trial, verdict))
        return self.t("reason_ok", requests=self.plural(trial.requests, "request"))

    def _failure_parts(self, trial: Trial, verdict: Verdict) -> str:
        parts = []
        if verdict.rejected:
            parts.append(
                self.t("reason_refused", requests=self.plural(verdict.rejected, "request"))
            )
        if trial.failed_requests:
            classes = ", ".join(
                f"{count} {name}" for name, count in sorted(verdict.errors_by_class.items())
            )
            parts.append(
                self.t(
                    "reason_failed_requests",
                    requests=self.plural(trial.failed_requests, "request"),
                    classes=classes or self.na,
                )
            )
        if verdict.worker_timeouts:
            workers = self.plural(verdict.worker_timeouts, "worker")
            parts.append(self.t("reason_worker_timeouts", workers=workers))
        elif verdict.worker_sigkills:
            workers = self.plural(verdict.worker_sigkills, "worker")
            parts.append(self.t("reason_sigkills", workers=workers))
        if verdict.server_died:
            end = self.server_end(verdict.server_end) if verdict.server_end else self.na
            parts.append(self.t("reason_server_ended", end=end))
        return self.t("list_sep").join(parts)

    def server_end(self, end: ServerEnd) -> str:
        """``killed by SIGKILL (not by the lab)``, ``stopped by the lab (SIGTERM)``."""
        if end.signal is not None:
            how = self.t("end_signal", signal=end.signal)
        elif end.returncode is None:
            how = self.t("end_unknown")
        else:
            how = self.t("end_code", code=end.returncode)
        if end.stopped_by_lab:
            text = self.t("end_by_lab", how=end.signal or how)
        else:
            text = self.t("end_not_by_lab", how=how) if end.signal else how
        if end.forced:
            text += self.t("end_forced")
        return text

    def stop(self, stop: StopReason | None) -> str:
        """Why a search stopped."""
        if stop is None:
            return self.na
        return self.t(
            f"stop.{stop.code}",
            low=self.count(stop.low),
            high=self.count(stop.high),
            band=self.plural(stop.band, "n_value"),
            budget=stop.budget,
            tolerance=self.na if stop.tolerance is None else self.percent(stop.tolerance),
        )

    def noise(self, noise: Noise) -> str:
        """What else the machine did: ``1.40 cores used by other processes, steal 0%, ...``."""
        return self.t(
            "noise_parts",
            other=self.cores(noise.other_cores),
            steal=self.percent(noise.steal),
            available=self.size(noise.min_available_bytes),
        )

    def cores(self, value: float) -> str:
        """A mean number of cores, as the report prints it everywhere (0,03 in Russian)."""
        return self.decimal(value, 2)

    def failure(self, failure: Failure) -> str:
        """Why something could not be measured; an unforeseen error quotes its message."""
        detail = failure.detail or self.na
        text = self.t(f"error.{failure.code}", n=self.count(failure.n), detail=detail)
        return text
