/* bench-mem: memory bandwidth, STREAM-like, for the decode roofline of
 * BENCH.md. Over arrays far larger than the caches it times a read-only
 * sum (s += a[i]: what a matrix-vector product does to its weights) and
 * the triad a[i] = b[i] + s c[i], on each thread count asked for, and
 * prints the best of the repetitions in GB/s (10^9 bytes/s; the triad
 * counts 3 arrays, as STREAM does, not the write-allocate read). Not a
 * test, and not part of lmf: dev/bench-mem.sh builds and runs it.
 *
 *   bench-mem [-m MIB] [-r REPS] [THREADS...]   (defaults: 256, 5, 1 2) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* first touch on the threads that will read, as STREAM does */
static void
fill(float *a, float *b, float *c, long n, int nt)
{
	long i;

#pragma omp parallel for schedule(static) num_threads(nt)
	for (i = 0; i < n; i++) {
		a[i] = 1.0f;
		b[i] = 2.0f;
		c[i] = (float)(i & 7);
	}
}

/* 128 partial sums per thread, so that the adds are not one chain of
 * dependent vector adds (that would time the adder, not the memory) */
static float
sum(const float *a, long n, int nt)
{
	float s = 0;

#pragma omp parallel num_threads(nt) reduction(+:s)
	{
		float acc[128] = { 0 };
		long i, nb = n / 128, b0, b1;
		int j, id = 0, k = 1;

#ifdef _OPENMP
		id = omp_get_thread_num();
		k = omp_get_num_threads();
#endif
		b0 = nb * id / k;
		b1 = nb * (id + 1) / k;
		for (i = b0 * 128; i < b1 * 128; i += 128)
			for (j = 0; j < 128; j++)
				acc[j] += a[i + j];
		for (j = 0; j < 128; j++)
			s += acc[j];
	}
	return s;
}

static void
triad(float *a, const float *b, const float *c, float q, long n, int nt)
{
	long i;

#pragma omp parallel for simd schedule(static) num_threads(nt)
	for (i = 0; i < n; i++)
		a[i] = b[i] + q * c[i];
}

int
main(int argc, char **argv)
{
	long mib = 256, n, reps = 5, r;
	int opt, i, nt, def[2] = { 1, 2 };
	float *a, *b, *c, chk = 0;

	while ((opt = getopt(argc, argv, "m:r:h")) != -1) {
		switch (opt) {
		case 'm': mib = strtol(optarg, NULL, 10); break;
		case 'r': reps = strtol(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: bench-mem [-m MIB] [-r REPS] "
			    "[THREADS...]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (mib < 1 || reps < 1) {
		fprintf(stderr, "bench-mem: -m and -r take positive numbers\n");
		return 2;
	}
	n = mib * (1L << 20) / (long)sizeof(float);
	a = malloc((size_t)n * sizeof *a);
	b = malloc((size_t)n * sizeof *b);
	c = malloc((size_t)n * sizeof *c);
	if (!a || !b || !c) {
		fprintf(stderr, "bench-mem: cannot allocate 3 x %ld MiB\n",
		    mib);
		return 1;
	}
	printf("# 3 arrays of %ld MiB, best of %ld, GB/s = 10^9 bytes/s\n",
	    mib, reps);
	for (i = 0; i < (argc > optind ? argc - optind : 2); i++) {
		double best[2] = { 1e30, 1e30 }, t;

		nt = argc > optind ? (int)strtol(argv[optind + i], NULL, 10) :
		    def[i];
		if (nt < 1)
			nt = 1;
		fill(a, b, c, n, nt);
		for (r = 0; r < reps; r++) {
			t = now();
			chk += sum(a, n, nt);
			t = now() - t;
			best[0] = t < best[0] ? t : best[0];
			t = now();
			triad(a, b, c, 0.5f, n, nt);
			t = now() - t;
			best[1] = t < best[1] ? t : best[1];
		}
		printf("read   threads %d  %.2f GB/s\n", nt,
		    n * 4.0 / best[0] / 1e9);
		printf("triad  threads %d  %.2f GB/s\n", nt,
		    n * 12.0 / best[1] / 1e9);
	}
	/* keep the sums alive */
	if (chk == 12345.0f)
		printf("#\n");
	free(a);
	free(b);
	free(c);
	return 0;
}
