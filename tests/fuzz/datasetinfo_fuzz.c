/* datasetinfo_fuzz: libFuzzer harness for the dataset_info.json reader
 * (dataset.c): the input is dataset_info.json in a directory of fixed
 * small files (alpaca, sharegpt, ranking, kto JSON, JSON Lines, text, and
 * a folder of two JSON files), and every dataset it names (the first 8)
 * is loaded. A load that fails must say why on one line. Inputs naming a
 * file with ".." are skipped: they would read outside the directory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lmf/dataset.h"
#include "lmf/util.h"
#include "fuzz.h"
#include "lmf/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char alpaca[] = "[{\"instruction\": \"hi\", \"input\": \"x\", "
    "\"output\": \"yo\", \"system\": \"be nice\", \"history\": [[\"a\", "
    "\"b\"]]}, {\"instruction\": \"q\", \"output\": \"r\", \"chosen\": "
    "\"c\", \"rejected\": \"d\"}]";
static const char sharegpt[] = "[{\"conversations\": [{\"from\": \"human\","
    " \"value\": \"hi\"}, {\"from\": \"gpt\", \"value\": \"yo\"}], "
    "\"system\": \"s\", \"tools\": \"[]\", \"chosen\": {\"from\": \"gpt\", "
    "\"value\": \"c\"}, \"rejected\": {\"from\": \"gpt\", \"value\": "
    "\"r\"}}, {\"messages\": [{\"role\": \"user\", \"content\": \"u\"}, "
    "{\"role\": \"assistant\", \"content\": \"a\"}], \"label\": true}]";
static const char lines[] = "{\"text\": \"one\"}\n{\"text\": \"two\"}\n";
static const char text[] = "first line\nsecond line\r\nthird\n";

static int
has_dotdot(const json_t *root)
{
	const char *k;
	json_t *e;

	json_object_foreach((json_t *)root, k, e) {
		const char *f = json_string_value(json_object_get(e,
		    "file_name"));

		if (f && strstr(f, ".."))
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct lmf_dataset ds;
	json_t *root;
	const char *k;
	json_t *e;
	char err[512];
	int n = 0;

	if (!ready) {
		fuzz_write("alpaca.json", alpaca, sizeof alpaca - 1);
		fuzz_write("sharegpt.json", sharegpt, sizeof sharegpt - 1);
		fuzz_write("lines.jsonl", lines, sizeof lines - 1);
		fuzz_write("text.txt", text, sizeof text - 1);
		fuzz_write("dir/a.json", alpaca, sizeof alpaca - 1);
		fuzz_write("dir/b.json", alpaca, sizeof alpaca - 1);
		ready = 1;
	}
	root = json_loadb((const char *)data, size, 0, NULL);
	if (root && has_dotdot(root)) {
		json_decref(root);
		return 0;
	}
	fuzz_write("dataset_info.json", data, size);
	if (!json_is_object(root)) {
		err[0] = 0;
		if (lmf_dataset_load(fuzz_tmpdir(), "x", -1, 1, &ds, err,
		    sizeof err) == 0)
			abort();    /* no object, no dataset */
		fuzz_check_msg("datasetinfo_fuzz", err);
		json_decref(root);
		return 0;
	}
	json_object_foreach(root, k, e) {
		if (n++ == 8)
			break;
		err[0] = 0;
		if (lmf_dataset_load(fuzz_tmpdir(), k, n % 2 ? -1 : 2, 1, &ds,
		    err, sizeof err) == 0)
			lmf_dataset_free(&ds);
		else
			fuzz_check_msg("datasetinfo_fuzz", err);
	}
	json_decref(root);
	return 0;
}
