# The two set-up commands of the README, plus the developer gate.
#   make demo   set up, generate sample DICOM with fake burned-in PHI, de-identify it, PDF report
#   make test   set up, run the whole test suite
#   make check  format check, lint, type check, tests (what developers run before pushing)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test check bench bench-headers

setup:
	bash scripts/bootstrap.sh

demo: setup
	$(BIN)/dicomscrub demo --dir demo-output

test: setup
	$(BIN)/python -m pytest -q -n auto

check: setup
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/ruff check src tests bench tools
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -n auto

bench: setup
	$(BIN)/python bench/run_bench.py

# Header-only throughput against dicognito, deid and dicom-anonymizer (installed into
# bench/.venv-competitors on first use); results are appended to bench/RESULTS.md.
bench-headers: setup
	$(BIN)/python bench/bench_headers.py --setup
	$(BIN)/python bench/bench_headers.py
