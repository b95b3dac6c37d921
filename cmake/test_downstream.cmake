# Checks that another project can use mixgrad (run by ctest: label "install").
#
#   cmake -DMIXGRAD_BINARY_DIR=<built mixgrad> -DDOWNSTREAM_SOURCE_DIR=<examples/downstream>
#         -DWORK_DIR=<scratch dir> -DGENERATOR=<generator> -DCXX_COMPILER=<compiler>
#         [-DCXX_FLAGS=<flags>] [-DBUILD_TYPE=<type>] [-DCXX_LAUNCHER=<ccache>]
#         [-DMODE=install|subdirectory] [-DWITH_CUDA=ON]
#         -P test_downstream.cmake
#
# MODE=install (default): installs the already built mixgrad into WORK_DIR/prefix, then
# configures, builds and runs examples/downstream against it through find_package, so only the
# app's one source file is compiled. The app gets mixgrad's compiler and flags (a sanitizer build
# of the static library links only into a program built with the same sanitizers).
# WITH_CUDA=ON (mixgrad built with its CUDA backend): the app is also built as app_cuda with
# COMPONENTS cuda and mixgrad::cuda. `ldd` must show no CUDA library in app and cuBLAS in app_cuda.
# MODE=subdirectory: configures examples/downstream with MIXGRAD_SOURCE_DIR (add_subdirectory)
# and checks that mixgrad's tests, examples and benchmarks default to off there; nothing is
# built, since that would compile the whole library again.
cmake_minimum_required(VERSION 3.25)

foreach(var MIXGRAD_BINARY_DIR DOWNSTREAM_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "test_downstream.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT WITH_CUDA)
  set(WITH_CUDA OFF)
endif()
if(NOT DEFINED MODE)
  set(MODE install)
endif()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()

# Runs one step and stops the test with its output when it fails; the app's output is always
# shown.
function(run_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name} failed (exit ${rc}): ${ARGN}\n${out}")
  endif()
  if(name STREQUAL "run")
    message(STATUS "${name}: ok\n${out}")
  else()
    message(STATUS "${name}: ok")
  endif()
endfunction()

# Fails unless the cache of the downstream build in `build_dir` has `entry` equal to `expected`.
function(expect_cache_entry build_dir entry expected)
  load_cache(${build_dir} READ_WITH_PREFIX cached_ ${entry})
  if(NOT "${cached_${entry}}" STREQUAL "${expected}")
    message(FATAL_ERROR "${entry} is '${cached_${entry}}', expected '${expected}'")
  endif()
endfunction()

# Fails unless running `program` prints `text`.
function(expect_output program text)
  execute_process(COMMAND ${program} OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(FIND "${out}" "${text}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${program} did not print '${text}':\n${out}")
  endif()
endfunction()

# Fails unless `ldd program` lists a library matching `required` (when not empty) and none
# matching `forbidden` (when not empty).
function(expect_libraries program required forbidden)
  execute_process(COMMAND ldd ${program} RESULT_VARIABLE rc OUTPUT_VARIABLE libs ERROR_VARIABLE libs)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "ldd ${program} failed: ${libs}")
  endif()
  if(required AND NOT libs MATCHES "${required}")
    message(FATAL_ERROR "${program} does not link ${required}; ldd says:\n${libs}")
  endif()
  if(forbidden AND libs MATCHES "${forbidden}")
    message(FATAL_ERROR "${program} links ${CMAKE_MATCH_0}, which it must not; ldd says:\n${libs}")
  endif()
  message(STATUS "ldd ${program}: ok")
endfunction()

set(build_dir ${WORK_DIR}/${MODE}-build)
file(REMOVE_RECURSE ${build_dir})
set(configure_args -S ${DOWNSTREAM_SOURCE_DIR} -B ${build_dir} -G ${GENERATOR}
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER} "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
  -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
  # Only the prefix given here may satisfy find_package(mixgrad).
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(CXX_LAUNCHER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER})
endif()

if(MODE STREQUAL "install")
  set(prefix ${WORK_DIR}/prefix)
  file(REMOVE_RECURSE ${prefix})
  run_step("install" ${CMAKE_COMMAND} --install ${MIXGRAD_BINARY_DIR} --prefix ${prefix})

  # The package must stand alone: no paths into the source or build tree, and no build-only
  # dependency.
  file(GLOB targets_files ${prefix}/lib*/cmake/mixgrad/mixgradTargets*.cmake)
  if(NOT targets_files)
    message(FATAL_ERROR "no mixgradTargets*.cmake under ${prefix}")
  endif()
  get_filename_component(source_dir ${DOWNSTREAM_SOURCE_DIR}/../.. ABSOLUTE)
  foreach(file ${targets_files})
    file(READ ${file} content)
    foreach(forbidden ${source_dir}/ ${MIXGRAD_BINARY_DIR} nlohmann)
      string(FIND "${content}" "${forbidden}" at)
      if(NOT at EQUAL -1)
        message(FATAL_ERROR "${file} mentions '${forbidden}'")
      endif()
    endforeach()
  endforeach()
  if(NOT EXISTS ${prefix}/include/mixgrad/mixgrad.h)
    message(FATAL_ERROR "mixgrad.h is not installed in ${prefix}/include/mixgrad")
  endif()

  run_step("configure" ${CMAKE_COMMAND} ${configure_args} -DCMAKE_PREFIX_PATH=${prefix}
    -DWITH_CUDA=${WITH_CUDA})
  file(GLOB config_dir LIST_DIRECTORIES true ${prefix}/lib*/cmake/mixgrad)
  expect_cache_entry(${build_dir} mixgrad_DIR ${config_dir})
  run_step("build" ${CMAKE_COMMAND} --build ${build_dir})
  run_step("run" ${build_dir}/app)
  expect_output(${build_dir}/app "CUDA backend: not linked")
  expect_libraries(${build_dir}/app "" "libcublas|libcudart|libcuda\\.")
  if(WITH_CUDA)
    expect_output(${build_dir}/app_cuda "CUDA backend: linked")
    expect_libraries(${build_dir}/app_cuda "libcublas" "")
  endif()
elseif(MODE STREQUAL "subdirectory")
  get_filename_component(source_dir ${DOWNSTREAM_SOURCE_DIR}/../.. ABSOLUTE)
  run_step("configure" ${CMAKE_COMMAND} ${configure_args} -DMIXGRAD_SOURCE_DIR=${source_dir})
  foreach(option MIXGRAD_BUILD_TESTS MIXGRAD_BUILD_EXAMPLES MIXGRAD_BUILD_BENCH MIXGRAD_INSTALL)
    expect_cache_entry(${build_dir} ${option} OFF)
  endforeach()
else()
  message(FATAL_ERROR "MODE must be install or subdirectory, got '${MODE}'")
endif()
