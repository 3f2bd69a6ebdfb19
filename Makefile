# Every target sets itself up on a fresh machine that has only Python and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
APT_PACKAGES := prometheus prometheus-alertmanager
APT_BINARIES := prometheus prometheus-alertmanager promtool amtool

.PHONY: demo test bench lint system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the integration tests start (real Prometheus and Alertmanager).
system-deps:
	@missing=""; for b in $(APT_BINARIES); do command -v $$b >/dev/null || missing=yes; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $(APT_PACKAGES)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

demo: $(STAMP)
	$(BIN)/aimon demo

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/soak.py

lint: $(STAMP)
	$(BIN)/ruff check aimon tests benchmarks
	$(BIN)/ruff format --check aimon tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
