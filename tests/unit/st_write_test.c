/* st_write_test: safetensors files byte for byte as the safetensors
 * library writes them; huggingface_hub's sharding. TAP output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmf/st_write.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "tap.h"


static char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(1 << 16);
	*n = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

int
main(void)
{
	/* safetensors: F32 before I32 before BF16, then by name; header
	 * padded with spaces to 8 bytes */
	static const char want[] = "{\"__metadata__\":{\"format\":\"pt\"},"
	    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	    "\"c\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]},"
	    "\"a\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":"
	    "[12,16]}";
	float b[2] = { 1, 2 }, c = 3, big[3] = { 4, 5, 6 };
	uint16_t a[2] = { 0x3f80, 0x4000 };
	int64_t s2[2] = { 1, 2 }, s1[1] = { 2 };
	char dir[] = "/tmp/st_write_testXXXXXX", err[256], *p;
	struct lmf_st_writer *w;
	size_t n, hl;
	char *buf;
	int rc;

	printf("1..6\n");
	if (!mkdtemp(dir))
		return 1;
	w = lmf_st_write_begin(dir, "model", 0);
	lmf_st_write_add(w, "a", LMF_BF16, 2, s2, a);
	lmf_st_write_add(w, "b", LMF_F32, 1, s1, b);
	lmf_st_write_add(w, "c", LMF_F32, 0, NULL, &c);
	ok(lmf_st_write_add(w, "c", LMF_F32, 0, NULL, &c) == LMF_E_PARAM,
	    "a repeated name is refused");
	rc = lmf_st_write_end(w, err, sizeof err);
	p = xasprintf("%s/model.safetensors", dir);
	buf = slurp(p, &n);
	hl = buf ? (size_t)lmf_get_u64((unsigned char *)buf) : 0;
	ok(rc == 0 && buf && hl % 8 == 0 && hl >= strlen(want) &&
	    !memcmp(buf + 8, want, strlen(want)) && n == 8 + hl + 16,
	    "header as the safetensors library writes it");
	ok(buf && !memcmp(buf + 8 + hl, b, 8) && !memcmp(buf + 16 + hl, &c,
	    4) && !memcmp(buf + 20 + hl, a, 4), "data in header order");
	unlink(p);
	free(p);
	free(buf);

	/* shards of at most 8 bytes: {b}, {c, a}; a 12-byte tensor alone */
	w = lmf_st_write_begin(dir, "model", 8);
	lmf_st_write_add(w, "b", LMF_F32, 1, s1, b);
	lmf_st_write_add(w, "c", LMF_F32, 0, NULL, &c);
	lmf_st_write_add(w, "a", LMF_BF16, 2, s2, a);
	lmf_st_write_add_copy(w, "big", LMF_F32, 1, (int64_t[]){ 3 }, big);
	rc = lmf_st_write_end(w, err, sizeof err);
	ok(rc == 0, "sharded write");
	p = xasprintf("%s/model.safetensors.index.json", dir);
	buf = slurp(p, &n);
	ok(buf && strstr(buf, "\"total_size\": 28") && strstr(buf,
	    "\"big\": \"model-00002-of-00003.safetensors\"") && strstr(buf,
	    "\"a\": \"model-00003-of-00003.safetensors\"") && strstr(buf,
	    "\"b\": \"model-00001-of-00003.safetensors\""),
	    "index: total size and weight map in huggingface_hub's order");
	unlink(p);
	free(p);
	free(buf);
	p = xasprintf("%s/model-00003-of-00003.safetensors", dir);
	ok(access(p, R_OK) == 0, "shard files named -0000k-of-0000n");
	free(p);
	for (rc = 1; rc <= 3; rc++) {
		p = xasprintf("%s/model-%05d-of-00003.safetensors", dir, rc);
		unlink(p);
		free(p);
	}
	rmdir(dir);
	return nfail != 0;
}
