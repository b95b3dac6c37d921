# Fails when a source file includes a header that its folder may not include, by the rules in
# docs/layers.txt. Run by ctest (layering.includes):
#
#   cmake -DSOURCE_DIR=<mixgrad checkout> [-DINJECT=<file>|<header>] -P check_includes.cmake
#
# INJECT checks the tree as if <file> also included <header> (test layering.catches_a_violation
# shows that the check fails then).
cmake_minimum_required(VERSION 3.25)
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "check_includes.cmake: -DSOURCE_DIR=<mixgrad checkout> is required")
endif()

# The rules: folder (or single file) -> allowed folders (its own always allowed).
file(STRINGS ${SOURCE_DIR}/docs/layers.txt lines)
set(folders "")
foreach(line IN LISTS lines)
  if(line MATCHES "^[ \t]*#" OR line MATCHES "^[ \t]*$")
    continue()
  endif()
  if(NOT line MATCHES "^([^: \t]+):(.*)$")
    message(FATAL_ERROR "docs/layers.txt: cannot read the line '${line}'")
  endif()
  set(folder ${CMAKE_MATCH_1})
  string(STRIP "${CMAKE_MATCH_2}" allowed)
  separate_arguments(allowed UNIX_COMMAND "${allowed}")
  list(APPEND folders ${folder})
  set(allowed_${folder} ${folder} ${allowed})
endforeach()

# The folder a quoted include names: its directory, "." for a file in the top folder, and
# "backends" for the dispatch point's files.
function(folder_of header out)
  get_filename_component(dir ${header} DIRECTORY)
  if(dir STREQUAL "")
    set(dir ".")
  endif()
  set(${out} ${dir} PARENT_SCOPE)
endfunction()

# Which folder's rule covers a source file's directory (tests/ops -> tests).
function(rule_of dir out)
  set(candidate ${dir})
  while(TRUE)
    if(candidate IN_LIST folders)
      set(${out} ${candidate} PARENT_SCOPE)
      return()
    endif()
    get_filename_component(parent ${candidate} DIRECTORY)
    if(parent STREQUAL "" OR parent STREQUAL candidate)
      set(${out} "" PARENT_SCOPE)
      return()
    endif()
    set(candidate ${parent})
  endwhile()
endfunction()

file(GLOB_RECURSE sources RELATIVE ${SOURCE_DIR} LIST_DIRECTORIES false
  ${SOURCE_DIR}/*.h ${SOURCE_DIR}/*.cpp ${SOURCE_DIR}/*.cu ${SOURCE_DIR}/*.cuh)
# Build trees (build/, build-*/) and git's own files are not sources.
list(FILTER sources EXCLUDE REGEX "^(build[^/]*|\\.git)/")
set(inject_file "")
if(INJECT)
  string(REPLACE "|" ";" inject "${INJECT}")
  list(GET inject 0 inject_file)
  list(GET inject 1 inject_header)
endif()

set(violations "")
set(checked 0)
foreach(source IN LISTS sources)
  folder_of(${source} dir)
  if(source IN_LIST folders)  # a rule for this one file
    set(rule ${source})
  else()
    rule_of(${dir} rule)
  endif()
  if(rule STREQUAL "")
    list(APPEND violations "${source}: its folder ${dir} has no line in docs/layers.txt")
    continue()
  endif()
  if("*" IN_LIST allowed_${rule})
    continue()
  endif()
  math(EXPR checked "${checked} + 1")
  file(STRINGS ${SOURCE_DIR}/${source} includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  if(source STREQUAL inject_file)
    list(APPEND includes "#include \"${inject_header}\"")
  endif()
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*$" "\\1" header "${line}")
    folder_of(${header} target)
    if(NOT target IN_LIST allowed_${rule})
      string(REPLACE ";" " " allowed "${allowed_${rule}}")
      list(APPEND violations "${source} includes ${header}: ${rule} may include only ${allowed}")
    endif()
  endforeach()
endforeach()

if(violations)
  list(LENGTH violations count)
  string(REPLACE ";" "\n  " listing "${violations}")
  message(FATAL_ERROR "${count} include(s) break the layers of docs/layers.txt:\n  ${listing}")
endif()
message(STATUS "includes of ${checked} library files follow docs/layers.txt")
