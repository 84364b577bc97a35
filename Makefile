# kubectl reach: the targets people look for.
PYTHON ?= python3

.PHONY: test demo lint compat fixtures record-local dist schema bench install clean

test:            ## the whole suite: replayed real recordings, no cluster, no network; 4 workers (most tests wait)
	$(PYTHON) -m pytest -n 4

demo:            ## replay a recorded real session (no cluster needed; exits 1: one target refused, one dns)
	$(PYTHON) reach.py --demo || test $$? = 1

lint:            ## style and obvious bugs; the oldest Python the tool runs on; the golden patches
	$(PYTHON) -m ruff check reach.py lib tests tools fixtures/build.py fixtures/record_local.py fixtures/apiserver.py \
	    tests/stub/kubectl tests/sim/kubectl fixtures/fakes/tool
	$(MAKE) --no-print-directory compat
	$(PYTHON) reach.py lint tests/golden/patch.json tests/golden/patch.yaml --level restricted
	$(PYTHON) reach.py lint tests/golden/patch.json tests/golden/patch.yaml tests/golden/replace.json \
	    --pod-file tests/golden/pod.json --level baseline
	$(PYTHON) reach.py lint tests/golden/copy.json --level baseline

compat:          ## what the runtime needs is Python 3.8 (jump hosts lag); vermin reads the code, runs nothing
	vermin --no-tips --violations --eval-annotations -t=3.8- reach.py lib

fixtures:        ## rebuild fixtures/: from ../shared/recordings, and re-record the no-cluster ones
	$(PYTHON) fixtures/build.py
	$(PYTHON) fixtures/record_local.py

record-local:    ## record the no-cluster fixtures with the real kubectl on PATH
	$(PYTHON) fixtures/record_local.py

install:
	$(PYTHON) -m pip install .

bench:           ## time-to-verdict and kubectl processes (BENCHMARKS.md says how to read it)
	$(PYTHON) tests/bench.py
	$(PYTHON) tests/bench.py --fleet --runs 3

dist:            ## dist/kubectl-reach: one file (zipapp) for hosts with only python3 and kubectl
	$(PYTHON) tools/build_dist.py dist/kubectl-reach

schema:          ## refresh lib/data/ephemeralcontainer.json: make schema SPEC=swagger.json VERSION=v1.37.0
	@test -n "$(SPEC)" -a -n "$(VERSION)" || { echo "usage: make schema SPEC=path/to/swagger.json VERSION=v1.NN.N"; exit 2; }
	$(PYTHON) tools/refresh_schema.py "$(SPEC)" "$(VERSION)"

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
