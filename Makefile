# `make run` and `make test` each set up .venv from the pinned requirements, then do their job.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --no-input

.PHONY: run test bench bench-full bench-enhancer bench-video bench-training clean-venv

$(VENV)/.runtime: requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps -r requirements-nodeps.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-cluster.txt
	$(PIP) install -r requirements-dev.txt -r requirements-cluster.txt
	touch $@

$(VENV)/.bench: $(VENV)/.dev bench/requirements-bench.txt
	$(PIP) install --no-deps --no-build-isolation -r bench/requirements-bench.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) main.py

test: $(VENV)/.dev
	$(PY) -m pytest

bench: $(VENV)/.bench
	$(PY) -m bench

bench-full: $(VENV)/.bench
	$(PY) -m bench --full

bench-enhancer: $(VENV)/.dev
	$(PY) -m bench.enhancer

bench-video: $(VENV)/.runtime
	$(PY) -m bench.video

bench-training: $(VENV)/.runtime
	$(PY) -m bench.training

clean-venv:
	rm -rf $(VENV)
