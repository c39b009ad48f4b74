"""servelab installed where no C compiler works: the wheel builds, and both loops run pure.

The C loops are optional (setup.py): a machine without a compiler or Python's headers must
still install servelab and measure. The test builds a wheel from the sources with ``CC``
set to ``false`` (every compile fails), installs it into a folder of its own, and runs a
closed and an open loop from it against a scripted server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from servelab.load import speedups
from tests.helpers import REPO, replying, scripted_server

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

RUN = """
import sys
import servelab
from servelab.load import RequestSpec, run_closed, run_open, speedups
assert servelab.__file__.startswith(sys.argv[1]), servelab.__file__
closed = run_closed(sys.argv[2], concurrency=1, requests=5, request=RequestSpec("GET"))
opened = run_open(sys.argv[3], rate=50, requests=5, max_in_flight=1, request=RequestSpec("GET"))
print(speedups.engine(), closed.ok, opened.ok, opened.connections_opened)
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_without_a_compiler_servelab_installs_and_runs_its_pure_loops(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "src", source / "src", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    env = {**os.environ, "CC": "false", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    [wheel] = tmp_path.glob("servelab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "servelab/load/speedups.py" in names
    assert not [name for name in names if name.endswith(".so")]

    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert install.returncode == 0, install.stderr[-2000:]

    # The wheel's servelab first; its dependencies from this environment.
    run_env = {**os.environ, "PYTHONPATH": str(site)}
    run_env.pop(speedups.PURE_ENV, None)
    with (
        scripted_server(replying(*[OK] * 5)) as closed_url,
        scripted_server(replying(*[OK] * 5)) as open_url,
    ):
        done = subprocess.run(
            [sys.executable, "-c", RUN, str(site), closed_url, open_url],
            env=run_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["Python", "5", "5", "1"]
