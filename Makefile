# kubectl reach: the targets people look for.
PYTHON ?= python3

.PHONY: test demo lint fixtures record-local dist bench install clean

test:            ## the whole suite: replayed real recordings, no cluster, no network
	$(PYTHON) -m pytest

demo:            ## replay a recorded real session (no cluster needed)
	$(PYTHON) reach.py --demo

lint:            ## style and obvious bugs
	$(PYTHON) -m ruff check reach.py lib tests fixtures/build.py fixtures/record_local.py fixtures/apiserver.py \
	    tests/stub/kubectl tests/sim/kubectl fixtures/fakes/tool

fixtures:        ## rebuild fixtures/: from ../shared/recordings, and re-record the no-cluster ones
	$(PYTHON) fixtures/build.py
	$(PYTHON) fixtures/record_local.py

record-local:    ## record the no-cluster fixtures with the real kubectl on PATH
	$(PYTHON) fixtures/record_local.py

install:
	$(PYTHON) -m pip install .

bench:           ## time-to-verdict and kubectl processes (BENCHMARKS.md says how to read it)
	$(PYTHON) tests/bench.py

dist:
	@echo "make dist: not built yet (see the open issues)"; exit 1

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
