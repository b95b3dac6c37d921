# Front door only: the build itself is CMake (see CMakePresets.json).
#   make run   - install missing dependencies, build the library and the `mixgrad` command only,
#                train fashion-moe on Fashion-MNIST (RUN_ARGS: other arguments for `mixgrad train`)
#   make test  - install missing dependencies, build, run the whole test suite
#   make bench - build, run mixgrad-bench and its libtorch peer, print the ratio table
#                (make bench-threads: at 1 and at all threads; make bench-foundation: the
#                Google Benchmark one)
#   make fuzz  - build the libFuzzer targets with clang (preset fuzz, build/fuzz), write the
#                seed corpus, fuzz every reader for FUZZ_SECONDS each; fails on any finding
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)

# Debian packages the build needs (libopenblas-openmp-dev: OpenBLAS built for OpenMP callers),
# and what the model zoo reads and draws with: Fashion-MNIST, the English word list, gnuplot
# for the plots, Graphviz for `mixgrad graph --svg`; clang with libFuzzer (libclang-rt-dev),
# its OpenMP (libomp-dev) and llvm-symbolizer (llvm) for the fuzz targets; OpenMPI for training
# over several processes (dist/, the dist tests run under mpirun).
DEB_PACKAGES := build-essential cmake ninja-build ccache libopenblas-openmp-dev \
	libboost-graph-dev libgtest-dev libbenchmark-dev nlohmann-json3-dev zlib1g-dev libcli11-dev \
	dataset-fashion-mnist wamerican gnuplot-nox graphviz \
	clang libclang-rt-dev libomp-dev llvm libopenmpi-dev openmpi-bin

# `make run` builds the CUDA backend only where there is a GPU to run it on (nvcc alone is not
# reason enough to spend minutes compiling kernels that cannot run).
RUN_CUDA := $(shell nvidia-smi -L >/dev/null 2>&1 && echo AUTO || echo OFF)
RUN_DIR := build/run
RUN_ARGS ?=

.PHONY: deps configure build test run run-build bench bench-threads bench-foundation fuzz clean

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

configure: deps
	cmake --preset $(PRESET)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# The main job: the library and the command only (no tests, examples or benchmarks), then
# fashion-moe's default training run; its output directory is printed at the end.
run-build: deps
	cmake --preset run -DMIXGRAD_CUDA=$(RUN_CUDA)
	cmake --build $(RUN_DIR) -j $(JOBS) --target mixgrad_command

run: run-build
	$(RUN_DIR)/bin/mixgrad train fashion-moe --out runs/fashion-moe $(RUN_ARGS)

# The MoE issue's cases, one "<case> <median ms> ms" line each (BENCH_ARGS: --threads N,
# --filter REGEX, --min-time S, --list); where libtorch is installed, also its peer
# libtorch-bench and the libtorch/mixgrad ratio table (bench/run.sh, bench/compare.sh).
# bench-threads: the same at 1 thread and at all threads.
bench: build
	bench/run.sh $(BUILD_DIR) $(BENCH_ARGS)

bench-threads: build
	BENCH_THREADS="1 $(shell nproc)" bench/run.sh $(BUILD_DIR) $(BENCH_ARGS)

# The foundation workloads (Google Benchmark).
bench-foundation: build
	$(BUILD_DIR)/bench/mixgrad-foundation-bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

# Every reader under libFuzzer for FUZZ_SECONDS (the corpus and any findings stay in
# build/fuzz/fuzz/; see fuzz/run.sh). `make test` runs the same targets for a few seconds each.
FUZZ_SECONDS ?= 60
fuzz: deps
	cmake --preset fuzz
	cmake --build build/fuzz -j $(JOBS)
	fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf build
