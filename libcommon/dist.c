/* dist.c: the MPI collectives of dist.h, or a one-rank stub when lmf is
 * built without MPI (no LMF_MPI). A failed collective dies with one line;
 * OpenMPI's mpirun then stops the other ranks. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/dist.h"
#include "lmf/gemm.h"
#include "lmf/util.h"

#ifdef LMF_MPI
#include <mpi.h>
#endif
#include "lmf/banned.h"

/* the state of the one MPI world of the process; the gradient sums
 * under way (lmf_dist_isum_f32) on a communicator of their own */
static struct {
	int up, rank, size;
	double t, tw;
#ifdef LMF_MPI
	MPI_Comm gcomm;
	MPI_Request *req;
	int nreq, capreq;
#endif
} world = { .size = 1 };

#ifdef LMF_MPI
static int
launched(void)
{
	return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") ||
	    getenv("PMIX_RANK");
}
#endif

/* the world size the launcher set in the environment, without MPI */
static long
env_size(void)
{
	const char *s = getenv("OMPI_COMM_WORLD_SIZE");

	if (!s)
		s = getenv("PMI_SIZE");
	return s ? strtol(s, NULL, 10) : 1;
}

int
lmf_dist_built(void)
{
#ifdef LMF_MPI
	return 1;
#else
	return 0;
#endif
}

#ifdef LMF_MPI
static void
check(int rc, const char *what)
{
	char msg[MPI_MAX_ERROR_STRING];
	int len = 0;

	if (rc == MPI_SUCCESS)
		return;
	MPI_Error_string(rc, msg, &len);
	die("rank %d of %d: %s failed: %.*s", world.rank, world.size, what,
	    len, msg);
}
#endif

int
lmf_dist_init(void)
{
#ifdef LMF_MPI
	int done = 0;

	if (world.up || !launched())
		return world.size;
	MPI_Initialized(&done);
	if (!done)
		check(MPI_Init(NULL, NULL), "MPI_Init");
	/* errors come back to check(), which names the rank and dies */
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	check(MPI_Comm_rank(MPI_COMM_WORLD, &world.rank), "MPI_Comm_rank");
	check(MPI_Comm_size(MPI_COMM_WORLD, &world.size), "MPI_Comm_size");
	/* the buckets' sums are matched among themselves, in their order,
	 * whatever other collectives a rank calls while they are under way */
	check(MPI_Comm_dup(MPI_COMM_WORLD, &world.gcomm), "MPI_Comm_dup");
	world.up = 1;
#else
	if (env_size() > 1)
		die("launched by mpirun with several ranks, but built without "
		    "MPI (install libopenmpi-dev and rebuild)");
#endif
	return world.size;
}

void
lmf_dist_single_or_die(void)
{
	long n = world.up ? world.size : env_size();

	if (n > 1)
		die_usage("runs on one process only, not under mpirun with %ld "
		    "ranks", n);
}

int
lmf_dist_tool(const char *a, const char *b)
{
	int n = lmf_dist_init();

	if (n < 2)
		return n;
	if ((a && !strcmp(a, "-")) || (b && !strcmp(b, "-")))
		die_usage("under mpirun the model and the data must be files, "
		    "not stdin");
	if (world.rank > 0)
		lmf_verbose = 0;
	return n;
}

int
lmf_dist_start(int threads)
{
	/* lmf_gemm_init may execute the program again: before MPI_Init */
	int n = lmf_gemm_init(threads);

	if (lmf_dist_init() > 1 && !threads && lmf_dist_local_size() > 1)
		n = lmf_gemm_init(lmf_dist_threads(n));
	return n;
}

int
lmf_dist_threads(int cores)
{
	int n = lmf_dist_local_size();

	return n > 1 && cores / n > 1 ? cores / n : n > 1 ? 1 : cores;
}

int
lmf_dist_rank(void)
{
	return world.rank;
}

int
lmf_dist_size(void)
{
	return world.size;
}

int
lmf_dist_local_size(void)
{
	const char *s = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
	long n = s ? strtol(s, NULL, 10) : 1;

	return world.size > 1 && n > 0 && n <= world.size ? (int)n : 1;
}

void
lmf_dist_sum_f32(float *buf, size_t n)
{
#ifdef LMF_MPI
	double t0;
	size_t off, k;

	if (world.size < 2)
		return;
	/* the wait for the slowest rank apart from the transfer */
	t0 = lmf_now();
	check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
	world.tw += lmf_now() - t0;
	t0 = lmf_now();
	/* in chunks that fit an int count */
	for (off = 0; off < n; off += k) {
		k = n - off < (size_t)1 << 30 ? n - off : (size_t)1 << 30;
		check(MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)k,
		    MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
	}
	world.t += lmf_now() - t0;
#endif
}

void
lmf_dist_isum_f32(float *buf, size_t n)
{
#ifdef LMF_MPI
	double t0;
	size_t off, k;

	if (world.size < 2)
		return;
	t0 = lmf_now();
	for (off = 0; off < n; off += k) {
		k = n - off < (size_t)1 << 30 ? n - off : (size_t)1 << 30;
		if (world.nreq == world.capreq) {
			world.capreq = world.capreq ? 2 * world.capreq : 16;
			world.req = xrealloc(world.req,
			    (size_t)world.capreq * sizeof *world.req);
		}
		check(MPI_Iallreduce(MPI_IN_PLACE, buf + off, (int)k,
		    MPI_FLOAT, MPI_SUM, world.gcomm,
		    &world.req[world.nreq++]), "MPI_Iallreduce");
	}
	world.t += lmf_now() - t0;
#endif
}

void
lmf_dist_progress(void)
{
#ifdef LMF_MPI
	double t0;
	int done = 0;

	if (world.nreq == 0)
		return;
	t0 = lmf_now();
	check(MPI_Testall(world.nreq, world.req, &done, MPI_STATUSES_IGNORE),
	    "MPI_Testall");
	if (done)
		world.nreq = 0;
	world.t += lmf_now() - t0;
#endif
}

void
lmf_dist_wait(void)
{
#ifdef LMF_MPI
	double t0;

	if (world.nreq == 0)
		return;
	t0 = lmf_now();
	check(MPI_Waitall(world.nreq, world.req, MPI_STATUSES_IGNORE),
	    "MPI_Waitall");
	world.nreq = 0;
	world.t += lmf_now() - t0;
#endif
}

void
lmf_dist_sum_f64(double *buf, size_t n)
{
#ifdef LMF_MPI
	if (world.size < 2)
		return;
	check(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM,
	    MPI_COMM_WORLD), "MPI_Allreduce");
#endif
}

#ifdef LMF_MPI
/* rank 0's buffer for the counts c[] (bytes of each rank) and their
 * displacements d[]; dies past an int's count */
static char *
gather_room(const uint64_t *c, int *ic, int *d, size_t *len)
{
	uint64_t tot = 0;
	int i;

	for (i = 0; i < world.size; i++) {
		if (c[i] > INT_MAX || tot + c[i] > INT_MAX)
			die("rank %d of %d: %llu bytes to gather, more than "
			    "MPI_Gatherv takes", world.rank, world.size,
			    (unsigned long long)(tot + c[i]));
		ic[i] = (int)c[i];
		d[i] = (int)tot;
		len[i] = (size_t)c[i];
		tot += c[i];
	}
	return xmalloc(tot ? (size_t)tot : 1);
}
#endif

void *
lmf_dist_gather(const void *buf, size_t n, size_t *len)
{
	char *out = NULL;
#ifdef LMF_MPI
	uint64_t mine = n, *c = NULL;
	int *ic = NULL, *d = NULL;

	if (world.size > 1) {
		if (world.rank == 0) {
			c = xmallocarray((size_t)world.size, sizeof *c);
			ic = xmallocarray((size_t)world.size, sizeof *ic);
			d = xmallocarray((size_t)world.size, sizeof *d);
		}
		check(MPI_Gather(&mine, 1, MPI_UINT64_T, c, 1, MPI_UINT64_T, 0,
		    MPI_COMM_WORLD), "MPI_Gather");
		if (world.rank == 0)
			out = gather_room(c, ic, d, len);
		if (n > INT_MAX)
			die("rank %d of %d: %zu bytes to gather, more than "
			    "MPI_Gatherv takes", world.rank, world.size, n);
		check(MPI_Gatherv(buf, (int)n, MPI_BYTE, out, ic, d, MPI_BYTE,
		    0, MPI_COMM_WORLD), "MPI_Gatherv");
		free(c), free(ic), free(d);
		return out;
	}
#endif
	out = xmalloc(n ? n : 1);
	if (n)
		memcpy(out, buf, n);
	len[0] = n;
	return out;
}

int
lmf_dist_agree(long v)
{
#ifdef LMF_MPI
	long lo = v, hi = v;

	if (world.size < 2)
		return 1;
	check(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_LONG, MPI_MIN,
	    MPI_COMM_WORLD), "MPI_Allreduce");
	check(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_LONG, MPI_MAX,
	    MPI_COMM_WORLD), "MPI_Allreduce");
	return lo == hi;
#else
	return 1;
#endif
}

void
lmf_dist_barrier(void)
{
#ifdef LMF_MPI
	if (world.up)
		check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

void
lmf_dist_finish(void)
{
#ifdef LMF_MPI
	if (!world.up)
		return;
	world.up = 0;
	lmf_dist_wait();
	free(world.req);
	MPI_Comm_free(&world.gcomm);
	MPI_Finalize();
#endif
}

double
lmf_dist_time(double *wait)
{
	if (wait)
		*wait = world.tw;
	return world.t;
}
