# ctest's fuzz.libfuzzer: every fuzz target under libFuzzer for a few seconds.
#
#   cmake -DSOURCE_DIR=<mixgrad> -DWORK_DIR=<scratch> -DPREBUILT_LIBRARY=<libmixgrad.a>
#         -DGENERATOR=<generator> -DSECONDS=<per target>
#         -P test_fuzz.cmake
#
# Configures and builds a clang sub-build in WORK_DIR with MIXGRAD_FUZZ=ON and
# MIXGRAD_FUZZ_PREBUILT: the readers (io/, data/) and the targets are compiled with libFuzzer's
# coverage, ASan and UBSan, and everything else comes from the test build's own library (any
# compiler: the C++ ABI is the same). Then run.sh fuzzes each target for SECONDS. Where clang++
# or its libFuzzer runtime is missing the test says "fuzz.libfuzzer skipped: ..." and ctest
# marks it skipped.
cmake_minimum_required(VERSION 3.25)

foreach(var SOURCE_DIR WORK_DIR PREBUILT_LIBRARY GENERATOR SECONDS)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "test_fuzz.cmake: -D${var}=... is required")
  endif()
endforeach()

function(skip reason)
  message("fuzz.libfuzzer skipped: ${reason}")
endfunction()

function(run_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name} failed (exit ${rc}): ${ARGN}\n${out}")
  endif()
  message(STATUS "${name}: ok")
endfunction()

find_program(CLANGXX NAMES clang++ clang++-14 clang++-15 clang++-16)
if(NOT CLANGXX)
  skip("no clang++ (make deps installs clang)")
  return()
endif()
# libFuzzer is a separate Debian package (libclang-rt-14-dev) that clang only recommends.
file(MAKE_DIRECTORY ${WORK_DIR})
file(WRITE ${WORK_DIR}/probe.cpp
  "#include <cstddef>\n#include <cstdint>\n"
  "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
execute_process(
  COMMAND ${CLANGXX} -fsanitize=fuzzer,address,undefined ${WORK_DIR}/probe.cpp
    -o ${WORK_DIR}/probe
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  skip("${CLANGXX} cannot link a libFuzzer program (install libclang-rt-dev):\n${out}")
  return()
endif()

set(build_dir ${WORK_DIR}/build)
set(configure_args -S ${SOURCE_DIR} -B ${build_dir} -G ${GENERATOR}
  -DCMAKE_CXX_COMPILER=${CLANGXX} -DCMAKE_BUILD_TYPE=Release
  -DMIXGRAD_FUZZ=ON -DMIXGRAD_FUZZ_PREBUILT=${PREBUILT_LIBRARY}
  -DMIXGRAD_BUILD_TESTS=OFF -DMIXGRAD_BUILD_EXAMPLES=OFF -DMIXGRAD_BUILD_BENCH=OFF
  -DMIXGRAD_BUILD_APP=OFF -DMIXGRAD_INSTALL=OFF -DMIXGRAD_CUDA=OFF)
run_step("configure" ${CMAKE_COMMAND} ${configure_args})
run_step("build" ${CMAKE_COMMAND} --build ${build_dir})

# run.sh's output is the report: what each target ran, and any finding with its input.
# A fixed seed: a new finding should fail `make fuzz`, not an unrelated test run by chance.
execute_process(COMMAND ${CMAKE_COMMAND} -E env FUZZ_SEED=1 ${SOURCE_DIR}/fuzz/run.sh ${build_dir}
                        ${SECONDS} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzzing found something (exit ${rc}); see above")
endif()
