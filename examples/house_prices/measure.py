"""How much memory a /predict request takes, per row: the number a memory cap divides.

    python measure.py                 # sizes 1k..200k rows, each in a fresh process
    python measure.py 10000 50000     # sizes of your choice

Each size runs in a process of its own: Flask's test client posts one body of that many rows
to the app after a small warm-up request, and the process's peak resident memory (VmHWM,
reset just before the request through /proc/self/clear_refs) minus its resident memory at
that moment is the request's cost. The slope of a least-squares line through those costs is
the bytes per row; the table also shows the process's idle memory (interpreter, Flask,
scikit-learn, the model). Linux only (VmHWM, clear_refs).

The request's cost covers json.loads (a list and five number objects a row: the biggest
part), the float64 matrix, the pipeline's two 55-column matrices and the response. The body
itself (about 19 bytes a row) is read from a file before the peak is reset, as a server would
have it in memory anyway; counting it would add under 2%.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from . import payload
except ImportError:  # run as a script from its folder: modules are top-level
    import payload  # type: ignore[import-not-found, no-redef]

SIZES = (1_000, 5_000, 20_000, 50_000, 100_000, 200_000)
MiB = 1 << 20


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status: this needs Linux")


def child(size: int, body_file: Path) -> dict[str, int]:
    """One request with ``body_file``'s ``size`` rows in this process: idle RSS, peak growth."""
    # Imported here, not at the top: the parent process needs no model.
    try:
        from . import flask_app
    except ImportError:
        import flask_app  # type: ignore[import-not-found, no-redef]

    client = flask_app.app.test_client()
    body = body_file.read_bytes()
    # The first request pays for lazy imports and caches; it is not the batch's cost.
    client.post("/predict", data=payload.make_body(10), content_type="application/json")
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # 5: reset this process's peak RSS
    idle = _status_bytes("VmRSS")
    reply = client.post("/predict", data=body, content_type="application/json")
    peak = _status_bytes("VmHWM")
    if reply.status_code != 200 or reply.get_json()["rows"] != size:
        raise RuntimeError(f"predict answered {reply.status_code}: {reply.get_data()[:200]!r}")
    return {"size": size, "idle": idle, "growth": peak - idle, "body": len(body)}


def measure(size: int) -> dict[str, int]:
    """``child`` in a fresh interpreter, so one size's leftovers do not hide the next's.

    The body is made here: making it in the child would leave freed memory there that the
    request could reuse unseen.
    """
    here = Path(__file__).resolve()
    with tempfile.NamedTemporaryFile(prefix="house-prices-", suffix=".json") as body_file:
        body_file.write(payload.make_body(size))
        body_file.flush()
        done = subprocess.run(
            [sys.executable, str(here), "--child", str(size), body_file.name],
            cwd=here.parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
    result: dict[str, int] = json.loads(done.stdout.splitlines()[-1])
    return result


def slope(points: list[tuple[int, int]]) -> tuple[float, float]:
    """Least squares ``growth = per_row * size + fixed``: (per_row, fixed)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    per_row = sxy / sxx
    return per_row, mean_y - per_row * mean_x


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        print(json.dumps(child(int(argv[1]), Path(argv[2]))))
        return 0
    sizes = [int(arg) for arg in argv] or list(SIZES)
    if len(sizes) < 2:
        print("usage: python measure.py [SIZE SIZE ...] (two sizes or more)", file=sys.stderr)
        return 2
    print(f"{'rows':>9} {'body MiB':>9} {'idle MiB':>9} {'peak growth MiB':>16} {'B/row':>7}")
    results = [measure(size) for size in sizes]
    for r in results:
        print(
            f"{r['size']:>9} {r['body'] / MiB:>9.1f} {r['idle'] / MiB:>9.1f}"
            f" {r['growth'] / MiB:>16.1f} {r['growth'] / r['size']:>7.0f}"
        )
    per_row, fixed = slope([(r["size"], r["growth"]) for r in results])
    idle = max(r["idle"] for r in results)
    print(f"fit: {per_row:.0f} bytes per row + {fixed / MiB:.1f} MiB")
    print(f"idle process (Flask, scikit-learn, the model): {idle / MiB:.0f} MiB")
    for cap in (256 * MiB, 512 * MiB):
        rows = (cap - idle) / per_row
        print(f"a {cap // MiB} MiB cap on this one process: about {rows:,.0f} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
