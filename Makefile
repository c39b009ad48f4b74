# make study: the seed study (six runs, four critical-n searches) and its report in results/.
# make test: lint, types (src, tests, bench), the whole suite; what CI runs. Installs Debian's
#   Chromium for the browser tests. About 4-5 min on 2 cores.
# make test-fast: lint, types, and the suite without the tests marked slow (over about 3 s),
#   cgroup (real OOM kills in a memory cgroup) or browser (Chromium): about 2 min on 2 cores,
#   for the edit-test loop; needs no cgroup and no browser. Markers are declared in
#   pyproject.toml; run one group alone with e.g. `.venv/bin/python -m pytest -m cgroup`.
# All of them bootstrap .venv from a fresh clone.
# make bench: servelab's load engine vs wrk and Locust, a matrix of targets and concurrencies
#   (bench/README.md; BENCH_ARGS=--quick for a 3.5-minute look); not part of make test.
# make bench-instructions: servelab's user-space instructions per request (valgrind).
# make bench-alternatives: servelab's C and pure closed loops vs one on uvloop + httptools.
# make bench-distributed: servelab on Locust vs the own engine and FastHttpUser (docs/distributed.md).
#   Installs wrk (Debian) and a pinned Locust into its own .venv-bench (the project's .venv has
#   Locust too, the distributed extra, at any version above its lower bound).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
LOCUST ?= locust==2.47.0
BENCH_ARGS ?=

.PHONY: study test test-fast lint browser clean bench bench-instructions bench-distributed \
	bench-alternatives

# setup.py and the C loop too: an edited _speedups.c is rebuilt by the next make.
$(STAMP): pyproject.toml setup.py src/servelab/load/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,examples]'
	touch $(STAMP)

study: $(STAMP)
	$(BIN)/servelab study --out results --lang all --memory-budget auto

lint: $(STAMP)
	$(BIN)/ruff check src tests test bench examples
	$(BIN)/ruff format --check src tests test bench examples
	$(BIN)/mypy

browser:
	scripts/install-browser

test: lint browser
	$(BIN)/python -m pytest

test-fast: lint
	$(BIN)/python -m pytest -m "not slow and not cgroup and not browser"

clean:
	rm -rf $(VENV) results .mypy_cache .pytest_cache .ruff_cache

# The bench's Locust in its own venv (ignored by git through its own .gitignore): the numbers
# depend on Locust's version, pinned here, while .venv's follows the distributed extra's bound.
$(BENCH_STAMP):
	$(PYTHON) -m venv $(BENCH_VENV)
	echo '*' > $(BENCH_VENV)/.gitignore
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet '$(LOCUST)'
	touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	scripts/install-tool wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The client's user-space instructions per request, counted by valgrind (bench/instructions.py).
bench-instructions: $(STAMP)
	scripts/install-tool valgrind
	$(BIN)/python -m bench.instructions $(BENCH_ARGS)

# The closed loop built on uvloop + httptools, beside servelab's C and pure loops
# (bench/alternatives.py): the measurement behind the C loop. Adds uvloop and httptools to .venv.
bench-alternatives: $(STAMP)
	$(BIN)/python -m pip install --quiet 'uvloop>=0.19' 'httptools>=0.6'
	$(BIN)/python -m bench.alternatives $(BENCH_ARGS)

# Locust is in .venv (the distributed extra, through dev): no second venv for this one.
bench-distributed: $(STAMP)
	$(BIN)/python -m bench.distributed $(BENCH_ARGS)
