"""``make bench-instructions``: the user-space instructions servelab spends per request.

CPU time per request is noisy on a shared machine (a few percent from run to run, and
the kernel's user/system split is sampled at each tick). The instructions the client
executes in user space are not: valgrind counts them exactly, and a closed loop of the
same requests against the same server runs nearly the same ones. Two runs of different
lengths cancel what does not grow with the requests (start-up, imports, the summary):

    instructions per request = (I(large) - I(small)) / (large - small)

That number is the cost of servelab's own per-request path (its Python and the C it
calls), kernel excluded. Runs of the same code agree within about 1,000 instructions (the
server's timing moves how many reads a response takes): a check that a change to the
client made it cheaper or dearer, run A/B one after the other, which a requests/s
comparison needs many rounds for.

    .venv/bin/python -m bench.instructions                     # this tree
    .venv/bin/python -m bench.instructions --src ../other/src  # another tree, same target

Under valgrind the client runs about 50 times slower, so the server is never the limit.
Loopback only; each run is bounded by its request count and a timeout.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.measure import ROOT, Gunicorn, log_line

_TOTAL = re.compile(r"refs:\s+([\d,]+)")
_RUN_TIMEOUT = 600.0


def count_instructions(src: Path, url: str, requests: int, concurrency: int, out: Path) -> int:
    """User-space instructions of one ``servelab load`` run of ``requests`` requests."""
    argv = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        str(ROOT / ".venv" / "bin" / "python"),
        "-m",
        "servelab",
        "load",
        url,
        "--mode",
        "closed",
        "--concurrency",
        str(concurrency),
        "--requests",
        str(requests),
        "--method",
        "GET",
        "--json",
    ]
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=_RUN_TIMEOUT, check=False
    )
    found = _TOTAL.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run failed ({done.returncode}): {done.stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="servelab tree to count")
    parser.add_argument("--small", type=int, default=1000, help="requests in the short run")
    parser.add_argument("--large", type=int, default=4000, help="requests in the long run")
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args(argv)
    if not 0 < args.small < args.large:
        parser.error("need 0 < --small < --large")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (scripts/install-tool valgrind)")
    src = args.src.resolve()
    if not (src / "servelab" / "__init__.py").is_file():
        parser.error(f"--src {args.src}: no servelab package there")

    with tempfile.TemporaryDirectory(prefix="servelab-instr-") as tmp:
        work = Path(tmp)
        with Gunicorn(workers=2, worker_class="sync", log=work / "gunicorn.log") as target:
            counts = {}
            for requests in (args.small, args.large):
                log_line(f"valgrind: {requests} requests from {src}")
                counts[requests] = count_instructions(
                    src, target.url, requests, args.concurrency, work / f"callgrind.{requests}"
                )
    per_request = (counts[args.large] - counts[args.small]) / (args.large - args.small)
    print(
        f"{src}: {per_request:,.0f} user-space instructions per request "
        f"({args.small:,} and {args.large:,} requests, {args.concurrency} concurrent, "
        f"GET against gunicorn -w 2 sync)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
