#include <mpi.h>

// Open MPI defines its predefined handles as macros that cast the address of a global
// (`#define MPI_COMM_WORLD ((MPI_Comm) &ompi_mpi_comm_world)`), which Swift cannot import. These
// inline functions hand the same handles to Swift; they are the only C this package writes.
static inline MPI_Comm minibatch_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype minibatch_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype minibatch_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype minibatch_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype minibatch_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op minibatch_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Errhandler minibatch_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline void *minibatch_mpi_in_place(void) { return MPI_IN_PLACE; }
