#!/usr/bin/env bash
# The CUDA backend's GPU verification as one prepared run, for a machine that has a GPU, nvcc,
# CMake and ninja but no apt and no network (the `device` tool's machines).
#
#   tools/gpu_check.sh fetch        here, with apt: downloads the build's Debian packages into
#                                   build/gpu-debs (about 30 MB; carry that folder along)
#   tools/gpu_check.sh run [OUT]    there: unpacks them into build/gpu-prefix (never into /),
#                                   builds the CUDA tests, runs the `cuda` label and
#                                   compute-sanitizer memcheck and racecheck, and writes every
#                                   log under OUT (default $OUT, else build/gpu-logs)
#
# A device call:  run(command="bash tools/gpu_check.sh run", carry=["build/gpu-debs"],
#                     timeout_s=580)
set -euo pipefail
cd "$(dirname "$0")/.."

debs=build/gpu-debs
packages="libopenblas-openmp-dev libopenblas0-openmp libopenblas-dev libgfortran5
  libboost1.74-dev libgtest-dev nlohmann-json3-dev zlib1g-dev"

fetch() {
  mkdir -p "$debs"
  # shellcheck disable=SC2086
  (cd "$debs" && apt-get download $packages)
  du -sh "$debs"
}

run() {
  local out=${1:-${OUT:-build/gpu-logs}}
  mkdir -p "$out"
  local prefix=$PWD/build/gpu-prefix
  mkdir -p "$prefix"
  for d in "$debs"/*.deb; do dpkg -x "$d" "$prefix"; done
  local usr=$prefix/usr lib=$prefix/usr/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH=$lib/openblas-openmp:$lib:${LD_LIBRARY_PATH:-}
  export PATH=/usr/local/cuda/bin:$PATH
  { nvidia-smi; nvcc --version; cmake --version; } >"$out/machine.txt" 2>&1 || true

  # The top CMakeLists looks for OpenBLAS in the system's paths only, so name it directly.
  cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DMIXGRAD_CUDA=ON \
    -DMIXGRAD_BUILD_BENCH=OFF -DMIXGRAD_BUILD_EXAMPLES=OFF -DMIXGRAD_INSTALL=OFF \
    "-DCMAKE_PREFIX_PATH=$usr" \
    "-DCBLAS_INCLUDE_DIR=$usr/include/x86_64-linux-gnu/openblas-openmp" \
    "-DOPENBLAS_LIBRARY=$lib/openblas-openmp/libopenblas.so" \
    "-DZLIB_ROOT=$usr" >"$out/configure.log" 2>&1
  ninja -C build/gpu mixgrad_cuda_tests mixgrad_cuda_selfcheck_tests >"$out/build.log" 2>&1

  local status=0
  ctest --test-dir build/gpu -L '^cuda$' --output-on-failure -j 8 >"$out/ctest-cuda.log" 2>&1 ||
    status=1
  local tests=build/gpu/tests/mixgrad_cuda_tests
  # The 100-step training runs add only time under the sanitizer; every op case still runs.
  local filter='-CudaTraining.*'
  compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 \
    "$tests" --gtest_filter="$filter" --gtest_brief=1 >"$out/memcheck.log" 2>&1 || status=1
  compute-sanitizer --tool racecheck --error-exitcode 1 \
    "$tests" --gtest_filter="$filter" --gtest_brief=1 >"$out/racecheck.log" 2>&1 || status=1
  tail -n 3 "$out"/ctest-cuda.log "$out"/memcheck.log "$out"/racecheck.log
  return "$status"
}

case "${1:-}" in
  fetch) fetch ;;
  run) shift; run "$@" ;;
  *) echo "usage: tools/gpu_check.sh fetch | run [OUT]" >&2; exit 2 ;;
esac
