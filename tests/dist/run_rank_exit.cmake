# dist.rank_exit: runs rank_exit_probe under mpirun with 3 processes, the last of which kills
# itself mid-step; the two survivors must each report the timeout Error (and then refuse the
# next collective at once). A hang instead ends at the test's TIMEOUT and fails it.
#   cmake -DMPIEXEC=<mpirun> -DPROBE=<rank_exit_probe> -P run_rank_exit.cmake
# --enable-recovery: OpenMPI would otherwise kill the survivors itself as soon as one rank dies,
# and the test is about what the survivors see.
execute_process(
  COMMAND ${MPIEXEC} -np 3 --oversubscribe --bind-to none --enable-recovery ${PROBE} 3
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 120)
message("${out}")
foreach(rank 0 1)
  if(NOT out MATCHES "rank ${rank} caught at step 3 after [0-9.]+ s: dist.all_reduce: no answer from the group within 3 s")
    message(FATAL_ERROR "rank ${rank} did not report the timeout Error (exit ${rc}):\n${out}\n${err}")
  endif()
  if(NOT out MATCHES "rank ${rank} then: dist.barrier: this group \\(3 processes\\) failed earlier")
    message(FATAL_ERROR "rank ${rank} did not refuse the next collective:\n${out}\n${err}")
  endif()
endforeach()
