# dflab: two commands set up a fresh machine (see README.md).
#   make lab    serve lab 02 to a demo trainee on local JupyterLab + SQLite until Ctrl-C (the main job; no Docker)
#   make test   install what the real-tool tests need, then run the whole suite
.PHONY: deps lab test bench

VENV := .venv
PY := $(VENV)/bin/python
LAB ?= labs/02-disk
ROSTER ?= labs/demo-roster.csv
SESSION ?= build/lab-session

deps:
	bash environments/host/install-deps.sh

lab: deps
	$(VENV)/bin/dflab session start --backend local --lab $(LAB) --roster $(ROSTER) --session-dir $(SESSION) --serve

# The Docker engine is started here (installed first if missing); the trainee image is built by the
# tests' session fixture, so its minutes overlap with the other tests on the second worker.
test: deps
	bash environments/docker/engine.sh start
	$(PY) -m pytest -n 2 --dist loadgroup -q

bench: deps
	$(PY) benchmarks/evidence.py
