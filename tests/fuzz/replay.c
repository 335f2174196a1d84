/* replay: run a libFuzzer harness (linked in) over files without libFuzzer
 * or sanitizers, so `make check` replays the seed corpora with plain cc.
 * Usage: replay FILE...; a harness that finds a problem aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lmf/util.h"
#include "lmf/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	int i;

	lmf_init(argc, argv);
	if (argc < 2)
		die_usage("usage: replay FILE...");
	for (i = 1; i < argc; i++) {
		size_t len;
		char *buf = lmf_read_file_or_die(argv[i], &len, 1u << 26);

		LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
		free(buf);
	}
	printf("replayed %d inputs\n", argc - 1);
	return 0;
}
