# The two commands of the README: `make demo` and `make test`.
SWIFT ?= swift
RELEASE_BIN := .build/release/cwrepro

.PHONY: deps test-deps venv python-env build demo test test-swift test-python bench bench-torch clean

deps:
	@scripts/install-deps.sh

## test-deps: the system packages plus qemu-user (an emulated AVX2-only CPU for the portability tests).
test-deps:
	@scripts/install-deps.sh --tests

## venv: .venv with torch 2.13.0+cpu, keras 3.15.1, tensorflow-cpu 2.21.0, ray[tune] 2.60.0 (reused when present).
venv:
	@scripts/setup-venv.sh

build: deps
	$(SWIFT) build -c release --product cwrepro

## demo: install what is missing, build, record the example on the embedded digits data, replay it,
## show a divergence report and a cross-framework explanation.
demo: build
	$(RELEASE_BIN) record examples/mlp-digits.json -o run.cwr --force
	$(RELEASE_BIN) replay run.cwr
	$(RELEASE_BIN) show run.cwr
	@echo "--- replay with one thing changed: the first divergent step, tensor and cause ---"
	@$(RELEASE_BIN) replay run.cwr --until-diverge --set optimizer.lr=0.05; \
	  test $$? -eq 1 && echo "(exit 1: diverged, as expected)"
	@echo "--- why does the same CNN train differently under PyTorch and Keras semantics? ---"
	$(RELEASE_BIN) explain examples/crossedwires-cnn-pytorch.json examples/crossedwires-cnn-keras.json

## test: the whole test suite: Swift (unit, golden against real PyTorch/Keras traces, CLI end to
## end) and Python (the capture package against real PyTorch and Keras).
test: test-swift test-python

## python-env: the venv with this checkout's Python package installed (editable): the Python tests
## and the Swift tests of `sweep --executor ray` (its driver is cwrepro.ray) need it.
python-env: venv
	@.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e ./python

test-swift: test-deps python-env
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

test-python: python-env
	.venv/bin/python -m pytest -q python/tests

## bench: release-build benchmarks (figures for the README).
bench: deps
	$(SWIFT) build -c release
	.build/release/Benchmarks

## bench-torch: one training step of the same models in cwrepro and real PyTorch, at 1 and 2 threads
## (uses .venv's torch when make test has set it up).
bench-torch: deps
	PYTHON=$$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 ) scripts/bench-vs-torch.sh

clean:
	rm -rf .build run.cwr run.cwr-wal run.cwr-shm
