/* config_fuzz: libFuzzer harness for lmf-config's readers of LLaMA-
 * Factory configurations (tools/lmf-config.c, included, with die turned
 * into a jump back here by fuzz_die.h): the input is read as YAML and as
 * JSON, each from the defaults, and what reads is resolved (LLaMA-
 * Factory's post-processing and lmf's refusals). A refusal must be one
 * line; crashes, hangs and undefined behaviour are the findings. */
#include "fuzz_die.h"
#define main lmf_config_main
#include "../../tools/lmf-config.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
reset(void)
{
	size_t k;

	for (k = 0; k < NKEYS; k++) {
		free(val[k]);
		val[k] = keys[k].def ? xstrdup(keys[k].def) : NULL;
		given[k] = 0;
		where[k] = NULL;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;

	if (size > 4096)
		return 0;   /* key suggestions are quadratic in the key */
	lmf_verbose = 0;
	reset();
	FUZZ_TRY(read_yaml("fuzz.yaml", text, size));
	if (fuzz_ok)
		FUZZ_TRY(resolve());
	reset();
	FUZZ_TRY(read_json("fuzz.json", text, size));
	if (fuzz_ok)
		FUZZ_TRY(resolve());
	return 0;
}
