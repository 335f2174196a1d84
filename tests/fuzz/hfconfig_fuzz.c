/* hfconfig_fuzz: libFuzzer harness for the reader of a Hugging Face
 * model's config.json (lmf_config_parse, model.c, as lmf-load and lmf-
 * export use it): a config that fails must say why on one line; one that
 * parses must give a parameter table whose shapes are positive. */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "lmf/model.h"
#include "lmf/util.h"
#include "fuzz.h"
#include "lmf/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lmf_config c;
	struct lmf_param *p;
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	char err[512];
	int n, i, d;

	if (!j)
		return 0;
	err[0] = 0;
	if (lmf_config_parse(&c, j, err, sizeof err) < 0) {
		fuzz_check_msg("hfconfig_fuzz", err);
		json_decref(j);
		return 0;
	}
	p = lmf_model_params(&c, &n);
	for (i = 0; i < n; i++)
		for (d = 0; d < p[i].ndim; d++)
			if (p[i].shape[d] <= 0)
				abort();
	free(p);
	json_decref(j);
	return 0;
}
