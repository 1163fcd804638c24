# Interdict — see README.md. Every target works on a fresh machine: the test
# control plane is built from Go modules on first use (cached outside the repo).

# bash: `make chaos` reads its pipelines' exit codes (PIPESTATUS).
SHELL := /bin/bash
CARGO ?= cargo
DEV_CLUSTER_DIR ?= $(CURDIR)/target/dev-cluster

.PHONY: all build test lint fmt fmt-check clippy unit integration e2e python-test bench chaos crds \
        verify-crds control-plane dev-cluster dev-cluster-down run clean

all: build

build:
	$(CARGO) build --bin interdict

## The whole test suite: formatting, lints, CRD drift, unit and integration
## tests against a real kube-apiserver + etcd, the Python reader's suite (shared
## vectors included), and the end-to-end `make run` check.
test: fmt-check clippy control-plane
	$(CARGO) clippy --lib --no-default-features -- -D warnings
	$(CARGO) test --lib --bins --tests
	$(MAKE) python-test
	$(MAKE) e2e

## The Python reader: its suite (shared vectors included, the ASGI middleware under
## a real uvicorn) and `mypy --strict` on the package, both with the pinned tools of
## hack/python-tools.sh's venv (created on first use, outside the repository).
## INTERDICT_REQUIRE_TOOLS=1 makes a missing tool fail the suite instead of skipping.
python-test:
	hack/python-tools.sh >/dev/null
	INTERDICT_REQUIRE_TOOLS=1 "$$(hack/python-tools.sh)" -m unittest discover -s clients/python/tests -t clients/python
	cd clients/python && "$$(../../hack/python-tools.sh)" -m mypy --strict interdict_blocklist

## Benchmarks (printed figures, never assertions): Rust reader, sidecar over HTTP, Python reader,
## what the operator holds per ban (counted allocations),
## then the operator end to end on its own local control plane (writes the "Operator at scale"
## section of docs/performance.md; INTERDICT_BENCH_SCALE=quick for a two-minute smoke run that
## leaves the docs alone; other INTERDICT_BENCH_* knobs at the top of benches/operator/main.rs).
bench: control-plane
	$(CARGO) bench --bench reader
	python3 clients/python/bench.py
	$(CARGO) bench --bench memory
	$(CARGO) bench --bench operator

## The reliability suite (docs/reliability.md, "Running it"), at most about 30
## minutes: the property tests and admission parity with more cases than
## `make test` runs, the sidecar under hostile load (benches/hostile.rs), then
## fault injection: each fault kind with seed 1 and a fresh seed, all mixed with
## seeds 1 and 2 and a fresh one. INTERDICT_FAULT_SEEDS /
## INTERDICT_FAULT_MIXED_SEEDS, INTERDICT_FAULT_STEPS, PROPTEST_CASES,
## HYPOTHESIS_MAX_EXAMPLES and INTERDICT_PARITY_SAMPLES choose. The "Figures"
## section is written from what ran (hack/reliability-report.py), even when a
## run failed.
CHAOS_REPORT := target/faults-report
chaos: control-plane
	rm -rf $(CHAOS_REPORT) && mkdir -p $(CHAOS_REPORT)
	hack/python-tools.sh >/dev/null
	status=0; \
	cases=$${PROPTEST_CASES:-2048}; examples=$${HYPOTHESIS_MAX_EXAMPLES:-1000}; \
	samples=$${INTERDICT_PARITY_SAMPLES:-3000}; \
	fresh=$$(( $$(date +%s) % 100000 + 100 )); \
	echo "{\"proptestCases\": $$cases, \"hypothesisMaxExamples\": $$examples, \"paritySamples\": $$samples}" \
	  > $(CHAOS_REPORT)/fuzz-settings.json; \
	PROPTEST_CASES=$$cases $(CARGO) test --lib properties 2>&1 | tee $(CHAOS_REPORT)/proptest.log; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || status=1; \
	HYPOTHESIS_MAX_EXAMPLES=$$examples "$$(hack/python-tools.sh)" -m unittest \
	  discover -v -s clients/python/tests -t clients/python -p 'test_properties.py' 2>&1 \
	  | tee $(CHAOS_REPORT)/hypothesis.log; [ $${PIPESTATUS[0]} -eq 0 ] || status=1; \
	INTERDICT_PARITY_SAMPLES=$$samples $(CARGO) test --test admission_parity -- --nocapture 2>&1 \
	  | tee $(CHAOS_REPORT)/parity.log; [ $${PIPESTATUS[0]} -eq 0 ] || status=1; \
	$(CARGO) bench --bench hostile || status=1; \
	INTERDICT_FAULT_SEEDS=$${INTERDICT_FAULT_SEEDS:-1,$$fresh} \
	INTERDICT_FAULT_MIXED_SEEDS=$${INTERDICT_FAULT_MIXED_SEEDS:-1,2,$$fresh} \
	  $(CARGO) test --test faults -- --nocapture || status=1; \
	python3 hack/reliability-report.py --write; exit $$status

fmt:
	$(CARGO) fmt

fmt-check:
	$(CARGO) fmt --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

lint: fmt-check clippy verify-crds

unit:
	$(CARGO) test --lib

integration: control-plane
	$(CARGO) test --tests

e2e: control-plane
	tests/e2e/make-run.sh

## Regenerate crds/ from the Rust types.
crds: build
	target/debug/interdict crds > crds/interdict.dev.yaml

verify-crds: build
	@target/debug/interdict crds | diff -u crds/interdict.dev.yaml - \
	  || { echo "crds/ is stale: run 'make crds' and commit" >&2; exit 1; }

## Build (or find) kube-apiserver, etcd and kubectl; KUBEBUILDER_ASSETS wins.
control-plane:
	@hack/control-plane-bin.sh >/dev/null

dev-cluster:
	@hack/dev-cluster.sh up --dir $(DEV_CLUSTER_DIR) >/dev/null
	@echo "kubeconfig: $(DEV_CLUSTER_DIR)/kubeconfig"
	@echo "  export KUBECONFIG=$(DEV_CLUSTER_DIR)/kubeconfig"

dev-cluster-down:
	@hack/dev-cluster.sh down --dir $(DEV_CLUSTER_DIR)

run:
	@DEV_CLUSTER_DIR=$(DEV_CLUSTER_DIR) hack/run.sh

clean:
	-hack/dev-cluster.sh down --dir $(DEV_CLUSTER_DIR)
	$(CARGO) clean
