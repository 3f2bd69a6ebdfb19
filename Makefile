# Every target sets itself up on a fresh machine that has only Python and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The core (no evidently extra) is also tested under pandas 3, in a venv of its own.
VENV3  := .venv-pandas3
STAMP3 := $(VENV3)/.installed
APT_PACKAGES := prometheus prometheus-alertmanager chromium chromium-driver openssl e2fsprogs util-linux
APT_BINARIES := prometheus prometheus-alertmanager promtool amtool chromium chromedriver openssl chattr setpriv

.PHONY: demo test bench lint system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(STAMP3): pyproject.toml
	test -x $(VENV3)/bin/python || $(PYTHON) -m venv $(VENV3)
	$(VENV3)/bin/python -m pip install --quiet --upgrade pip
	$(VENV3)/bin/python -m pip install --quiet -e '.[parquet,core-test]' 'pandas>=3'
	touch $(STAMP3)

# Debian packages the tests start (real Prometheus and Alertmanager, headless Chromium, openssl
# for test certificates when the cryptography package is absent, chattr and setpriv for the
# checkpoint tests' file systems).
system-deps:
	@missing=""; for b in $(APT_BINARIES); do command -v $$b >/dev/null || missing=yes; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $(APT_PACKAGES)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

demo: $(STAMP)
	$(BIN)/aimon demo

test: $(STAMP) $(STAMP3) system-deps
	$(BIN)/python -m pytest
	$(VENV3)/bin/python -c 'import pandas, sys; v = pandas.__version__; print("pandas", v); sys.exit(int(v.split(".")[0]) < 3)'
	$(VENV3)/bin/python -m pytest -p no:cacheprovider --ignore=tests/integration tests aimon

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/soak.py
	$(BIN)/python benchmarks/drift.py
	$(BIN)/python benchmarks/quality.py
	$(BIN)/python benchmarks/sidecar.py
	$(BIN)/python benchmarks/estimation.py
	$(BIN)/python benchmarks/multivariate.py
	$(BIN)/python benchmarks/segments.py

lint: $(STAMP)
	$(BIN)/ruff check aimon tests benchmarks
	$(BIN)/ruff format --check aimon tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(VENV3) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
