# tryggkarta — the two commands: `make demo` and `make test`. Also `make bench`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2
# where `make demo` / `make serve` listen: `make demo PORT=5001` (HOST=0.0.0.0 for all interfaces)
PORT ?= 5000
HOST ?= 127.0.0.1
export TRYGGKARTA_INSTANCE_PATH ?= $(CURDIR)/instance
# `make demo REGION=1495,1471`: the demo as the EST group Skara–Götene (one municipality: 1495)
REGION ?=
ifneq ($(REGION),)
export TRYGGKARTA_REGION := $(REGION)
endif

.PHONY: demo test bench install assets lint clean serve

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml setup.py | $(BIN)/python
	$(PIP) install --quiet -e '.[test,browser]'
	touch $(STAMP)

install: $(STAMP) assets

# Front-end files that no XStatic package ships come from the npm registry (package-lock.json).
assets: $(STAMP)
	@if [ -f package.json ]; then $(BIN)/python -m tryggkarta.maps.build_assets; fi

# The address is checked first, so a busy port ends in one sentence before anything else.
demo: install
	@$(BIN)/tryggkarta serve --host $(HOST) --port $(PORT) --check-only
	@$(BIN)/tryggkarta demo $(if $(REGION),--municipality $(REGION))
	@echo
	@echo "  tryggkarta demo: http://$(HOST):$(PORT)/"
	@echo "  Logins (password 'tryggkarta-demo'): polis (police), kommun (municipality),"
	@echo "  planerare (planner), grannsamverkan (partner), admin (admin),"
	@echo "  fastighet and fritid (EST reporters: the phone form /rapport). All data is synthetic."
	@echo
	@$(BIN)/tryggkarta serve --host $(HOST) --port $(PORT)

serve: install
	@$(BIN)/tryggkarta serve --host $(HOST) --port $(PORT)

test: install
	@$(BIN)/ruff check tryggkarta tests bench
	@$(BIN)/ruff format --check tryggkarta tests bench
	@set +e; $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here." >&2; exit 1; fi; exit $$rc

bench: install
	$(PIP) install --quiet -e '.[bench]'
	$(BIN)/python bench/run_all.py --out bench/RESULTS.md
	$(BIN)/python bench/backtest_real.py --out docs/backtest.md > /dev/null

lint: $(STAMP)
	$(BIN)/ruff check tryggkarta tests bench
	$(BIN)/ruff format --check tryggkarta tests bench

clean:
	rm -rf $(VENV) build dist *.egg-info instance/tryggkarta.db*
