/* tokconfig_fuzz: libFuzzer harness for the tokenizer_config.json reader
 * (tok.c): the input is tokenizer_config.json beside a fixed small byte-
 * level BPE tokenizer.json. A load that fails must say why on one line;
 * one that loads must give special token ids inside the vocabulary (or
 * -1), encode with them and accept lmf_tok_set_special. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/tok.h"
#include "lmf/util.h"
#include "fuzz.h"
#include "lmf/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char tokjson[] =
    "{\"version\":\"1.0\",\"added_tokens\":["
    "{\"id\":8,\"content\":\"<|endoftext|>\",\"special\":true},"
    "{\"id\":9,\"content\":\"<|im_start|>\",\"special\":true},"
    "{\"id\":10,\"content\":\"<|im_end|>\",\"special\":true}],"
    "\"normalizer\":null,"
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
    "\"trim_offsets\":true,\"use_regex\":true},"
    "\"post_processor\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
    "\"trim_offsets\":false,\"use_regex\":true},"
    "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
    "\"trim_offsets\":true,\"use_regex\":true},"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
    "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,"
    "\"fuse_unk\":false,\"byte_fallback\":false,"
    "\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"\\u0120\":3,\"ab\":4,"
    "\"\\u0120a\":5,\"abc\":6,\"!\":7},"
    "\"merges\":[\"a b\",\"\\u0120 a\",\"ab c\"]}}";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *which[] = { "eos", "pad", "bos", "unk" };
	static const char text[] = "<|im_start|>abc ab!<|im_end|>";
	struct lmf_tok *t;
	int32_t nv, id[4], *ids = NULL;
	size_t n, i;
	char err[512];

	err[0] = 0;
	t = lmf_tok_load(tokjson, sizeof tokjson - 1, (const char *)data,
	    size, err, sizeof err);
	if (!t) {
		fuzz_check_msg("tokconfig_fuzz", err);
		return 0;
	}
	nv = lmf_tok_vocab_size(t);
	id[0] = lmf_tok_eos_id(t);
	id[1] = lmf_tok_pad_id(t);
	id[2] = lmf_tok_bos_id(t);
	id[3] = lmf_tok_unk_id(t);
	for (i = 0; i < 4; i++)
		if (id[i] < -1 || id[i] >= nv) {
			fprintf(stderr, "tokconfig_fuzz: %s id %d of %d\n",
			    which[i], id[i], nv);
			abort();
		}
	if (lmf_tok_encode(t, text, sizeof text - 1, 1, &ids, &n, err,
	    sizeof err) < 0)
		abort();    /* valid UTF-8 always encodes */
	free(lmf_tok_decode(t, ids, n, 1));
	free(ids);
	for (i = 0; i < 4; i++) {
		const char *s = id[i] >= 0 ? lmf_tok_id_to_token(t, id[i]) :
		    NULL;

		if (s && lmf_tok_set_special(t, which[(i + 1) % 4], s, 0) < 0)
			abort();    /* a token that exists is accepted */
	}
	lmf_tok_set_special(t, "eos", "<|new|>", 1);
	lmf_tok_free(t);
	return 0;
}
