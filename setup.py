"""The optional C part of servelab: the closed loop's per-request path (src/servelab/load/
_speedups.c). Everything else about the package is in pyproject.toml.

Optional on purpose: without a C compiler or Python's headers, or off Linux (it runs on
epoll), the build says so and goes on, and servelab runs its pure-Python loop
(servelab.load.speedups says which one runs; SERVELAB_PURE_PYTHON=1 chooses the pure one).
"""

import sys

from setuptools import Extension, setup

extensions = []
if sys.platform.startswith("linux") and sys.implementation.name == "cpython":
    extensions.append(
        Extension(
            "servelab.load._speedups",
            sources=["src/servelab/load/_speedups.c"],
            optional=True,  # a failed build is a warning: the pure loop stands in
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    )

setup(ext_modules=extensions)
