"""Helpers the tests share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def servelab_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the ``servelab`` command as a user would, in a subprocess.

    On timeout it gets SIGTERM first, which the CLI turns into a clean stop of its servers
    and memory caps, and SIGKILL only if that does not end it.
    """
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "servelab", *args]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
