# Minibatch — the two commands a user needs are `make test` and `make bench`.
# Both first install the system libraries the package links (OpenBLAS, LAPACKE, Open MPI,
# pkg-config) and the SVG renderer the plot's tests use (librsvg2-bin's rsvg-convert) when
# pkg-config, mpirun or rsvg-convert cannot be found.

SWIFT        ?= swift
APT_PACKAGES := libopenblas-dev liblapacke-dev libopenmpi-dev openmpi-bin pkg-config librsvg2-bin
PKG_MODULES  := openblas lapacke ompi-c
BENCH_ARGS   ?=
TRAIN_ARGS   ?=
PRIVACY_ARGS ?= --help
# The command-line programs and their tests need swift-argument-parser, behind a package trait so
# that a package depending on the library never resolves it.
TRAITS       := --traits CommandLineTools
# mpirun for the MPI tests and benchmarks: as root (CI) Open MPI wants --allow-run-as-root;
# --oversubscribe lets 3 ranks share 2 cores; no single-copy mechanism (CMA is often refused in
# containers). `timeout` turns a deadlock into a failure.
MPIRUN       := timeout 600 mpirun --oversubscribe --bind-to none \
                --mca btl_vader_single_copy_mechanism none \
                $(if $(filter 0,$(shell id -u)),--allow-run-as-root)
MPI_RANKS    ?= 2 3
MPI_TESTS    := MPIDistributedTests

.PHONY: all deps build test test-mpi test-mapped-rss bench bench-mpi bench-quick bench-jax bench-torch train privacy privacy-reference readme-blocks docs test-thread-sanitizer test-address-sanitizer format lint clean

all: build

## deps: install OpenBLAS, LAPACKE, Open MPI, pkg-config and rsvg-convert through apt when they
## are missing
deps:
	@if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists $(PKG_MODULES) \
	    && command -v mpirun >/dev/null 2>&1 && command -v rsvg-convert >/dev/null 2>&1; then \
	  echo "deps: $(PKG_MODULES) found by pkg-config, mpirun and rsvg-convert on the PATH"; \
	else \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "deps: missing $(APT_PACKAGES); run 'apt-get install -y $(APT_PACKAGES)' as root" >&2; exit 1; fi; \
	  echo "deps: installing $(APT_PACKAGES)"; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $(APT_PACKAGES); \
	  pkg-config --exists $(PKG_MODULES) || { echo "deps: pkg-config still cannot find $(PKG_MODULES)" >&2; exit 1; }; \
	  command -v rsvg-convert >/dev/null 2>&1 || { echo "deps: rsvg-convert still missing (librsvg2-bin)" >&2; exit 1; }; \
	fi

## build: debug build of everything
build: deps
	$(SWIFT) build $(TRAITS)

## test: the whole test suite, then the MPI tests under mpirun with 2 and 3 processes, then the
## peak-memory check of training on a memory-mapped file
test: deps
	$(SWIFT) test $(TRAITS)
	$(MAKE) test-mpi
	$(MAKE) test-mapped-rss

## test-mapped-rss: one epoch of minibatch-train (release) on a 400 MB float32 .npy with
## --train-labels (mapped, not loaded); fails unless the child's peak RSS stays under half the
## file (MAPPED_RSS_ARGS=--compare also trains on the same rows loaded, for comparison)
MAPPED_RSS_ARGS ?=
test-mapped-rss: deps
	$(SWIFT) build -c release $(TRAITS) --product minibatch-train
	python3 Benchmarks/scripts/mapped_rss.py \
	  --minibatch-train $$($(SWIFT) build -c release --show-bin-path $(TRAITS))/minibatch-train \
	  $(MAPPED_RSS_ARGS)

## test-mpi: the MPI suite of the (already built) test binary under mpirun, for each MPI_RANKS
test-mpi: deps
	$(SWIFT) build --build-tests $(TRAITS)
	@for n in $(MPI_RANKS); do \
	  echo "test-mpi: mpirun -np $$n MinibatchPackageTests.xctest --filter '$(MPI_TESTS)'"; \
	  $(MPIRUN) -np $$n $$($(SWIFT) build --show-bin-path $(TRAITS))/MinibatchPackageTests.xctest \
	    --testing-library swift-testing --no-parallel --filter '$(MPI_TESTS)' || exit 1; \
	done

## bench: release build and the full benchmark table (BENCH_ARGS=--json for JSON lines), then
## the MPI rows under mpirun with 2 processes
bench: deps
	$(SWIFT) run -c release minibatch-bench $(BENCH_ARGS)
	$(MAKE) bench-mpi

## bench-mpi: the allreduce and its share of a training step on 2 processes of this machine,
## after the same step on 1 process (the baseline)
bench-mpi: deps
	$(SWIFT) build -c release --product minibatch-bench
	@for n in 1 2; do \
	  $(MPIRUN) -np $$n $$($(SWIFT) build -c release --show-bin-path)/minibatch-bench --mpi $(BENCH_ARGS) || exit 1; \
	done

## bench-quick: the small grid CI runs as a smoke test
bench-quick: deps
	$(SWIFT) run -c release minibatch-bench --quick

## bench-jax: the same model cases in JAX on the CPU, for comparison (optional; pip installs jax)
bench-jax:
	python3 -c "import jax" 2>/dev/null || pip install "jax[cpu]"
	python3 Benchmarks/scripts/jax_bench.py $(BENCH_ARGS)

## bench-torch: the same model cases in PyTorch on the CPU (optional; pip installs torch)
bench-torch:
	python3 -c "import torch" 2>/dev/null || pip install torch
	python3 Benchmarks/scripts/torch_bench.py $(BENCH_ARGS)

## train: the example program on the bundled digits (TRAIN_ARGS=--help for its options)
train: deps
	$(SWIFT) run -c release $(TRAITS) minibatch-train $(TRAIN_ARGS)

## privacy: the command-line privacy accountant (PRIVACY_ARGS="epsilon --noise-multiplier 1.1 …")
privacy: deps
	$(SWIFT) run -c release $(TRAITS) minibatch-privacy $(PRIVACY_ARGS)

## test-thread-sanitizer / test-address-sanitizer: the suite under TSan / ASan (+ LeakSanitizer)
test-thread-sanitizer: deps
	$(SWIFT) test $(TRAITS) --sanitize=thread --scratch-path .build-tsan

# XCTest's async test support leaks a few bytes on exit; .lsan-suppressions names only that.
test-address-sanitizer: deps
	LSAN_OPTIONS=suppressions=$(CURDIR)/.lsan-suppressions:print_suppressions=0 \
	  $(SWIFT) test $(TRAITS) --sanitize=address --scratch-path .build-asan

## privacy-reference: the accountants' reference table (dp-accounting's PLD and RDP, Opacus' PRV,
## ours) and the test data Tests/MinibatchTests/Privacy/PrivacyReferenceData.swift (pip installs
## dp-accounting and opacus when missing)
privacy-reference: deps
	$(SWIFT) build -c release $(TRAITS) --product minibatch-privacy
	python3 Benchmarks/scripts/privacy_reference.py \
	  --minibatch $$($(SWIFT) build -c release --show-bin-path $(TRAITS))/minibatch-privacy \
	  --swift Tests/MinibatchTests/Privacy/PrivacyReferenceData.swift
	$(SWIFT) format --in-place Tests/MinibatchTests/Privacy/PrivacyReferenceData.swift

## readme-blocks: regenerate Tests/MinibatchTests/Readme/ReadmeBlocks.swift from README.md
readme-blocks: deps
	MINIBATCH_WRITE_README_BLOCKS=1 $(SWIFT) test $(TRAITS) --filter ReadmeSyncTests

## format / lint: the toolchain's swift format with the repository's .swift-format
format:
	$(SWIFT) format --in-place --recursive Package.swift Sources Tests Benchmarks

lint:
	$(SWIFT) format lint --strict --recursive Package.swift Sources Tests Benchmarks

clean:
	rm -rf .build .build-tsan .build-asan

## docs: the DocC documentation (the catalog in Sources/Minibatch/Minibatch.docc and the public
## API) as a static site in .build/docs, with the toolchain's docc (no plugin to resolve)
docs:
	$(SWIFT) package dump-symbol-graph --minimum-access-level public
	rm -rf .build/docs .build/symbol-graphs && mkdir -p .build/symbol-graphs
	cp .build/*/symbolgraph/Minibatch.symbols.json .build/*/symbolgraph/Minibatch@*.symbols.json \
	  .build/symbol-graphs/
	docc convert Sources/Minibatch/Minibatch.docc --additional-symbol-graph-dir .build/symbol-graphs \
	  --fallback-display-name Minibatch --fallback-bundle-identifier org.minibatch.Minibatch \
	  --output-path .build/docs --warnings-as-errors
	@echo "docs: .build/docs (serve it with: python3 -m http.server -d .build/docs, then open /documentation/minibatch)"
