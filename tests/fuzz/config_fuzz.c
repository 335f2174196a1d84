/* config_fuzz: libFuzzer harness for the readers of LLaMA-Factory
 * configurations (args.c, as lmf-config uses them): the input is read as
 * YAML and as JSON, each from the defaults, and what reads is resolved
 * (LLaMA-Factory's post-processing and lmf's refusals). A refusal must
 * say why on one line; crashes, hangs, leaks and undefined behaviour are
 * the findings. */
#include <stdint.h>
#include <stdlib.h>

#include "lmf/args.h"
#include "lmf/util.h"
#include "fuzz.h"
#include "lmf/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int (*reader)(struct lmf_args *, const char *, const char *, size_t,
    char *, size_t);

static void
one(reader rd, const char *src, const char *text, size_t size)
{
	struct lmf_args a;
	char err[1024];

	lmf_args_init(&a);
	err[0] = 0;
	if (rd(&a, src, text, size, err, sizeof err) < 0 ||
	    lmf_args_resolve(&a, err, sizeof err) < 0)
		fuzz_check_msg("config_fuzz", err);
	lmf_args_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;

	if (size > 4096)
		return 0;   /* key suggestions are quadratic in the key */
	lmf_verbose = 0;
	one(lmf_args_read_yaml, "fuzz.yaml", text, size);
	one(lmf_args_read_json, "fuzz.json", text, size);
	return 0;
}
