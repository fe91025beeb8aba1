# simlab: every target sets up what it needs; `.venv` is created on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.simlab-installed

.PHONY: setup test lab demo bench clean

setup: $(STAMP)

# Re-install only when the dependency list changes: a second `make setup` is instant.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

test: setup
	$(BIN)/python -m pytest

lab: setup
	$(BIN)/jupyter lab notebooks/

demo: setup
	$(BIN)/simlab demo --out reports/demo

bench: setup
	$(BIN)/simlab bench compare

clean:
	rm -rf $(VENV) reports .pytest_cache
