"""``servelab study --repeat K``: the same plan K times, each a whole study with fresh servers.

One draw of a threaded server's breaking point, or of a makespan on a busy machine, says
little about the next; K studies made the same way say how much each figure moves. Each
repeat is an ordinary study folder (``repeat-01`` ...), so everything that reads one study
reads it; the index (``repeats.json``) is rewritten after every repeat, so an interrupted
series keeps what it finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .._io import folder_error
from ..errors import ConfigError
from ..repeats import REPEATS_FILE, Repeats, repeat_folder, write_repeats
from ..results import STUDY_FILE, Noise, clear_report
from .plan import StudyPlan
from .runner import StudyProgress, run_study

__all__ = ["MAX_REPEATS", "check_repeat_folder", "run_repeated"]

# Each repeat is a whole study (about 3 minutes for the seed's); more than this is a typo.
MAX_REPEATS = 20


def check_repeat_folder(out: Path, count: int) -> None:
    """Refuse, before anything runs, what would mix a repeated study with a single one:
    ``--repeat`` into a folder that holds one study, or a single study into a repeated
    one. Nothing is removed or written."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_REPEATS:
        raise ConfigError(f"--repeat must be a whole number from 1 to {MAX_REPEATS}, not {count!r}")
    if count > 1 and (out / STUDY_FILE).is_file():
        raise ConfigError(
            f"{out} holds a single study ({STUDY_FILE}); give --repeat {count} a folder of its own"
        )
    if count == 1 and (out / REPEATS_FILE).is_file():
        raise ConfigError(
            f"{out} holds a repeated study ({REPEATS_FILE}); give a single study a folder"
            " of its own"
        )


def run_repeated(
    plan: StudyPlan,
    out: Path,
    count: int,
    progress_for: Callable[[int], StudyProgress],
    on_repeat: Callable[[Path], None] | None = None,
    *,
    memory_budget: int | None = None,
    compare_guard: bool = False,
    noise_at_start: Noise | None = None,
) -> Repeats:
    """Run ``plan`` ``count`` times into ``out/repeat-NN``; returns the index as saved.

    ``progress_for(i)`` gives the progress of the i-th repeat; ``on_repeat`` hears of each
    finished repeat's folder (to build its report). ``noise_at_start``: the machine check
    made before the series, kept by the first repeat."""
    check_repeat_folder(out, count)
    began = time.monotonic()
    repeats = Repeats(count=count, created=datetime.now(UTC).isoformat(timespec="seconds"))
    try:
        out.mkdir(parents=True, exist_ok=True)
        clear_report(out)  # the old top-level report, as a single study removes its own
        write_repeats(out, repeats)
    except OSError as error:
        raise folder_error(out, error) from None
    for index in range(1, count + 1):
        folder = out / repeat_folder(index)
        run_study(
            plan,
            folder,
            progress_for(index),
            memory_budget=memory_budget,
            compare_guard=compare_guard,
            noise_at_start=noise_at_start if index == 1 else None,
        )
        if on_repeat is not None:
            on_repeat(folder)
        repeats = Repeats(count, repeats.created, index, round(time.monotonic() - began, 1))
        try:
            write_repeats(out, repeats)
        except OSError as error:
            raise folder_error(out, error) from None
    return repeats
