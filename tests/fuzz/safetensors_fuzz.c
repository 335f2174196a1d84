/* safetensors_fuzz.c: libFuzzer harness for the safetensors reader. Parses
 * the input as a whole .safetensors file in memory and, when it opens,
 * reads every tensor's data back through lmf_safetensors_read, so every
 * offset the header claims is exercised. Built and run by tests/fuzz/run.sh
 * on the seed corpus in tests/fuzz/corpus/safetensors/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/safetensors.h"
#include "lmf/util.h"
#include "lmf/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lmf_safetensors *st;
	unsigned char buf[256];
	char msg[600];
	uint64_t off, n;
	int i, err;

	st = lmf_safetensors_open_mem(data, size, &err, msg, sizeof msg);
	if (!st) {
		if (err >= 0 || !msg[0] || strchr(msg, '\n'))
			abort(); /* a failure must say why, on one line */
		return 0;
	}
	for (i = 0; i < st->ntensors; i++) {
		const struct lmf_st_tensor *t = &st->t[i];

		uint64_t numel = 1;
		int d;

		for (d = 0; d < t->ndim; d++)
			numel *= (uint64_t)t->shape[d];
		if (lmf_safetensors_find(st, t->name) == NULL ||
		    numel * lmf_dtype_size(t->dtype) != t->nbytes ||
		    t->begin + t->nbytes > st->data_size)
			abort();
		for (off = 0; off < t->nbytes; off += n) {
			n = t->nbytes - off < sizeof buf ? t->nbytes - off :
			    sizeof buf;
			if (lmf_safetensors_read(st, t, off, buf, (size_t)n) < 0)
				abort(); /* checked offsets must read */
		}
		if (lmf_safetensors_read(st, t, t->nbytes, buf, 1) == 0)
			abort(); /* past the end must fail */
	}
	lmf_safetensors_close(st);
	return 0;
}
