# Two commands: `make app` serves the demo on the bundled model; `make test` runs the tests.
# Both create .venv (Python >= 3.10) on first use and install what they need into it, torch first
# (scripts/install_torch.py: a CPU-only build on Linux without a GPU; TORCH="pip args" to choose).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# make test SLOW=1 runs the slow tests too (CI does); PYTEST_ARGS="-k name" narrows a run.
SLOW ?=
PYTEST_ARGS ?=
# make eval/bench: the model, the reviews and how many.
MODEL ?= longbert/model
DATA ?= sample
LIMIT ?= 300
OUT ?= runs/eval
SPACE ?= build/space
HARDWARE ?= cpu

.PHONY: app test lint eval bench screenshots space clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "longbert needs Python >= 3.10; this is " + sys.version.split()[0] + " (set PYTHON=python3.X)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python scripts/install_torch.py
	@touch $@

$(VENV)/.app: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install -q -e ".[app]"
	@touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@ $(VENV)/.app

app: $(VENV)/.app
	$(BIN)/python app.py

test: $(VENV)/.dev
	$(BIN)/python -m pytest -q $(if $(SLOW),,-m "not slow") $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

eval: $(VENV)/.app
	$(BIN)/python -m eval --model $(MODEL) --data $(DATA) --limit $(LIMIT) --out $(OUT)

bench: $(VENV)/.dev
	$(BIN)/python -m bench --model $(MODEL) --data $(DATA) --texts $(LIMIT)

screenshots: $(VENV)/.dev
	$(BIN)/python scripts/screenshots.py --serve

space: $(VENV)/.app
	$(BIN)/python scripts/build_space.py --out $(SPACE) --hardware $(HARDWARE)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
