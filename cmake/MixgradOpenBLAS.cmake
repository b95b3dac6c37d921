# Finds OpenBLAS the way mixgrad links it and defines the imported target mixgrad::openblas.
# mixgrad's build and its installed package (mixgradConfig.cmake) both include this file, so a
# user's machine is searched afresh instead of trusting a path from the machine that built
# mixgrad. The OpenMP build is preferred: mixgrad keeps OpenBLAS single-threaded on every calling
# thread and splits large products across its own pool (core/thread_pool.h).
# Set MIXGRAD_OPENBLAS_LIBRARY (and, for building mixgrad, MIXGRAD_CBLAS_INCLUDE_DIR) to choose
# another OpenBLAS.
if(TARGET mixgrad::openblas)
  return()
endif()
set(_mixgrad_blas_dirs /usr/lib /usr/include)
if(CMAKE_LIBRARY_ARCHITECTURE)  # Debian's multiarch directories
  list(PREPEND _mixgrad_blas_dirs
    /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE} /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
endif()
find_library(MIXGRAD_OPENBLAS_LIBRARY NAMES openblas PATHS ${_mixgrad_blas_dirs}
  PATH_SUFFIXES openblas-openmp openblas-pthread NO_DEFAULT_PATH)
find_library(MIXGRAD_OPENBLAS_LIBRARY NAMES openblas)  # elsewhere (a no-op once found)
find_path(MIXGRAD_CBLAS_INCLUDE_DIR cblas.h PATHS ${_mixgrad_blas_dirs}
  PATH_SUFFIXES openblas-openmp openblas-pthread openblas NO_DEFAULT_PATH)
find_path(MIXGRAD_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas)
unset(_mixgrad_blas_dirs)
if(MIXGRAD_OPENBLAS_LIBRARY)
  add_library(mixgrad::openblas UNKNOWN IMPORTED GLOBAL)
  set_target_properties(mixgrad::openblas PROPERTIES IMPORTED_LOCATION ${MIXGRAD_OPENBLAS_LIBRARY})
endif()
