/* dataset_fuzz: libFuzzer harness for the dataset file readers
 * (dataset.c): the input is written as data.json and data.txt beside a
 * fixed dataset_info.json naming it in every format (alpaca with history,
 * system and tools; sharegpt with from/value and role/content tags;
 * ranking; kto; num_samples; text) and each dataset is loaded, then mixed.
 * A load that fails must say why on one line; one that loads must give
 * well-formed examples (roles known, contents set). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/dataset.h"
#include "lmf/util.h"
#include "fuzz.h"
#include "lmf/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char info[] = "{"
    "\"alpaca\": {\"file_name\": \"data.json\"},"
    "\"alpaca_cols\": {\"file_name\": \"data.json\", \"columns\": {"
    "\"prompt\": \"instruction\", \"query\": \"input\", \"response\": "
    "\"output\", \"system\": \"system\", \"history\": \"history\", "
    "\"tools\": \"tools\"}},"
    "\"sharegpt\": {\"file_name\": \"data.json\", \"formatting\": "
    "\"sharegpt\", \"columns\": {\"messages\": \"conversations\", "
    "\"system\": \"system\", \"tools\": \"tools\"}},"
    "\"openai\": {\"file_name\": \"data.json\", \"formatting\": "
    "\"sharegpt\", \"columns\": {\"messages\": \"messages\", \"tools\": "
    "\"tools\"}, \"tags\": {\"role_tag\": \"role\", \"content_tag\": "
    "\"content\", \"user_tag\": \"user\", \"assistant_tag\": \"assistant\","
    " \"observation_tag\": \"observation\", \"function_tag\": "
    "\"function_call\", \"system_tag\": \"system\"}},"
    "\"rank\": {\"file_name\": \"data.json\", \"ranking\": true, "
    "\"columns\": {\"prompt\": \"instruction\", \"query\": \"input\", "
    "\"chosen\": \"chosen\", \"rejected\": \"rejected\"}},"
    "\"rank_sharegpt\": {\"file_name\": \"data.json\", \"ranking\": true, "
    "\"formatting\": \"sharegpt\", \"columns\": {\"messages\": "
    "\"conversations\", \"chosen\": \"chosen\", \"rejected\": "
    "\"rejected\"}},"
    "\"kto\": {\"file_name\": \"data.json\", \"formatting\": \"sharegpt\", "
    "\"columns\": {\"messages\": \"messages\", \"kto_tag\": \"label\"}, "
    "\"tags\": {\"role_tag\": \"role\", \"content_tag\": \"content\", "
    "\"user_tag\": \"user\", \"assistant_tag\": \"assistant\"}},"
    "\"sampled\": {\"file_name\": \"data.json\", \"num_samples\": 5},"
    "\"text\": {\"file_name\": \"data.txt\", \"columns\": {\"prompt\": "
    "\"text\"}}}";

static const char *names[] = { "alpaca", "alpaca_cols", "sharegpt",
	"openai", "rank", "rank_sharegpt", "kto", "sampled", "text" };
#define NNAMES (sizeof names / sizeof names[0])

static void
check_msgs(const struct lmf_msg *m, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!m[i].content || !lmf_role_name(m[i].role))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lmf_dataset ds[NNAMES], mix;
	int ok[NNAMES], nok = 0;
	char err[512];
	size_t i, k;

	if (size > (1 << 20))
		return 0;
	fuzz_write("dataset_info.json", info, sizeof info - 1);
	fuzz_write("data.json", data, size);
	fuzz_write("data.txt", data, size);
	for (i = 0; i < NNAMES; i++) {
		err[0] = 0;
		ok[i] = lmf_dataset_load(fuzz_tmpdir(), names[i], i % 3 ? -1 :
		    3, 42, &ds[i], err, sizeof err) == 0;
		if (!ok[i]) {
			fuzz_check_msg("dataset_fuzz", err);
			continue;
		}
		for (k = 0; k < ds[i].n; k++) {
			const struct lmf_example *e = &ds[i].ex[k];

			if (!e->system || !e->tools || e->nprompt < 0 ||
			    e->nresponse < 0)
				abort();
			check_msgs(e->prompt, e->nprompt);
			check_msgs(e->response, e->nresponse);
		}
		nok++;
	}
	if (nok >= 2) {
		struct lmf_dataset two[2];
		int j = 0;

		for (i = 0; i < NNAMES && j < 2; i++)
			if (ok[i])
				two[j++] = ds[i];
		if (lmf_dataset_mix(two, 2, (int)(size % 3), NULL, 7, &mix,
		    err, sizeof err) == 0)
			lmf_dataset_free_shallow(&mix);
		else
			fuzz_check_msg("dataset_fuzz", err);
	}
	for (i = 0; i < NNAMES; i++)
		if (ok[i])
			lmf_dataset_free(&ds[i]);
	return 0;
}
