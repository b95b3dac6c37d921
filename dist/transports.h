#pragma once
// The transports that dist::init() can choose from (internal to dist/).
#include <memory>

#include "dist/communicator.h"

namespace mixgrad::dist::detail {

// A world of this process alone.
std::shared_ptr<Communicator> local_world();

// Whether this binary has the MPI transport, whether the environment was set up by an MPI
// launcher, and the MPI world (initialises MPI; throws Error without MPI support).
bool mpi_built();
bool mpi_launched();
std::shared_ptr<Communicator> mpi_world();
void mpi_finalize();
void mpi_abort(int status);

// The element size and the check shared by the transports: dtypes they can reduce.
void check_reducible(const char* op, DType dtype, ReduceOp reduce);

}  // namespace mixgrad::dist::detail
