#ifndef LMF_DIST_H
#define LMF_DIST_H
/* dist.h: data parallelism over MPI, the few collectives the trainer
 * needs. MPI is initialised only when mpirun (or another MPI launcher)
 * started the process: OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the
 * environment. Otherwise, or when lmf was built without MPI, there is one
 * rank and every call below is a no-op, so a plain run needs no MPI
 * runtime. Any rank that exits without lmf_dist_finish (die, a signal)
 * makes the launcher stop the whole job. */
#include <stddef.h>

/* MPI_Init when launched by mpirun (idempotent): the world size */
int lmf_dist_init(void);
/* for a tool that does not split its work: exit 2 with one line when
 * launched as one of several ranks (from the environment: no MPI_Init) */
void lmf_dist_single_or_die(void);
/* for a tool that splits its work: lmf_dist_init; with several ranks
 * exit 2 with one line when a or b (either may be NULL) is "-" (stdin
 * reaches rank 0 only), and ranks past 0 quiet (lmf_verbose 0): the
 * world size */
int lmf_dist_tool(const char *a, const char *b);
/* what a tool that runs under mpirun does first: lmf_gemm_init(threads)
 * (which may execute the program again, so before MPI_Init), then
 * lmf_dist_init, and with threads 0 and several ranks on this machine
 * the thread count lmf_dist_threads gives: the threads each rank uses */
int lmf_dist_start(int threads);
/* a rank's threads when 0 were asked for: the machine's cores over the
 * ranks on it, at least 1 */
int lmf_dist_threads(int cores);
int lmf_dist_rank(void);              /* 0 without MPI */
int lmf_dist_size(void);              /* 1 without MPI */
int lmf_dist_local_size(void);        /* ranks on this machine, from env */
int lmf_dist_built(void);             /* 1 if built with MPI */
/* the sum over the ranks of buf, in place, on every rank (OpenMPI's
 * algorithms reduce in the same order for the same world size and
 * length, and give every rank the same result) */
void lmf_dist_sum_f32(float *buf, size_t n);
void lmf_dist_sum_f64(double *buf, size_t n);
/* start the same sum of buf (n floats) with MPI_Iallreduce, on a
 * communicator of its own: every rank must start its sums in the same
 * order, and touch no buf until lmf_dist_wait; other collectives may come
 * between. lmf_dist_progress moves them on (MPI_Testall: MPI progresses
 * over shared memory only inside its calls), lmf_dist_wait ends them all.
 * Their time counts in lmf_dist_time, the wait for the slowest rank
 * included */
void lmf_dist_isum_f32(float *buf, size_t n);
void lmf_dist_progress(void);
void lmf_dist_wait(void);
/* the n bytes of buf of every rank on rank 0, concatenated in rank
 * order: a new buffer, and len[i] the bytes of rank i (len has room for
 * the world size); NULL on the other ranks. With one rank a copy of buf */
void *lmf_dist_gather(const void *buf, size_t n, size_t *len);
/* 1 if every rank passed the same v (always with one rank) */
int lmf_dist_agree(long v);
void lmf_dist_barrier(void);
/* MPI_Finalize after a good run (before the last exit 0) */
void lmf_dist_finish(void);
/* seconds lmf_dist_sum_f32 spent in MPI_Allreduce so far, and the
 * bucket sums in their MPI calls (lmf_dist_isum_f32 ... lmf_dist_wait);
 * *wait (when not NULL) the seconds lmf_dist_sum_f32 waited before for
 * the slowest rank */
double lmf_dist_time(double *wait);

#endif
