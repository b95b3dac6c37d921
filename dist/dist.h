#pragma once
// Training over several processes (link mixgrad::dist): process groups, tensor collectives.
// Run a program under `mpirun -np N` and call mg::dist::init() first; see dist/process_group.h.
#include "dist/checkpoint.h"
#include "dist/collectives.h"
#include "dist/data_parallel.h"
#include "dist/expert_parallel.h"
#include "dist/process_group.h"
