# dflab: two commands set up a fresh machine (see README.md).
#   make lab    build the bundled case for one trainee and verify it (the main job; no Docker needed)
#   make test   install what the real-tool tests need, then run the whole suite
.PHONY: deps lab test bench

VENV := .venv
PY := $(VENV)/bin/python
TRAINEE ?= trainee1
OUT ?= build/nightjar

deps:
	bash environments/host/install-deps.sh

lab: deps
	$(VENV)/bin/dflab scenario validate labs/scenarios/nightjar.yaml --trainee $(TRAINEE)
	$(VENV)/bin/dflab evidence build labs/scenarios/nightjar.yaml --out $(OUT) --trainee $(TRAINEE) --force
	$(VENV)/bin/dflab evidence verify $(OUT)/$(TRAINEE)/evidence

# The Docker engine is started here (installed first if missing); the trainee image is built by the
# tests' session fixture, so its minutes overlap with the other tests on the second worker.
test: deps
	bash environments/docker/engine.sh start
	$(PY) -m pytest -n 2 --dist loadgroup -q

bench: deps
	$(PY) benchmarks/evidence.py
