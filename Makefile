# Two commands for a new user:  `make demo` (the main job, offline) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean chromium

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## run the whole pipeline offline against the bundled real PubMed records
	$(BIN)/litwatch demo

test: $(STAMP) chromium  ## run the test suite (SQLite and PostgreSQL on 127.0.0.1:5432)
	$(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

# The console's browser tests drive Debian's Chromium (Playwright cannot download browsers here). Installed when
# missing and apt-get can (root); otherwise those tests skip with the reason, or fail under CI=true.
# A machine whose package lists are empty or stale needs an `apt-get update` first: tried only when install fails.
chromium:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; }; } || \
		echo "note: /usr/bin/chromium missing; the console's browser tests will skip (CI=true: fail)"

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)  ## throughput vs the network floor (extra parsers for comparison: benchmarks/requirements.txt)
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks.backfill

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info demo-output
