/* tokenizer_fuzz: libFuzzer harness for the tokenizer.json reader (tok.c,
 * tok_json.c, tok_bpe.c, tok_text.c). Loads the input as tokenizer.json;
 * a load that fails must say why on one line. A tokenizer that loads
 * encodes fixed texts and the input itself (with and without special
 * tokens) and decodes the ids; every id must be in the vocabulary and
 * token_to_id must give an id that has a token. It does not check that the
 * encoding is the one the tokenizers library would give (tok tests do). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/tok.h"
#include "lmf/util.h"
#include "fuzz.h"
#include "lmf/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
encode(struct lmf_tok *t, const char *text, size_t len)
{
	int32_t *ids = NULL, nv = lmf_tok_vocab_size(t);
	size_t n = 0, i;
	char err[512];
	int special;

	for (special = 0; special < 2; special++) {
		err[0] = 0;
		if (lmf_tok_encode(t, text, len, special, &ids, &n, err,
		    sizeof err) < 0) {
			fuzz_check_msg("tokenizer_fuzz", err);
			free(ids);
			ids = NULL;
			continue;
		}
		for (i = 0; i < n; i++)
			if (ids[i] < 0 || ids[i] >= nv) {
				fprintf(stderr, "tokenizer_fuzz: id %d of %d\n",
				    ids[i], nv);
				abort();
			}
		free(lmf_tok_decode(t, ids, n, special));
		free(ids);
		ids = NULL;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *texts[] = { "Hello, world! 123 4567",
		"  spaces\tand\nnew lines\r\n", "caf\xc3\xa9 \xe4\xbd\xa0\xe5"
		"\xa5\xbd \xf0\x9f\x98\x80", "<|endoftext|><s></s>[INST]",
		"", "\xff bad utf-8" };
	struct lmf_tok *t;
	char err[512];
	int32_t nv, id;
	size_t i;

	err[0] = 0;
	t = lmf_tok_load((const char *)data, size, NULL, 0, err, sizeof err);
	if (!t) {
		fuzz_check_msg("tokenizer_fuzz", err);
		return 0;
	}
	nv = lmf_tok_vocab_size(t);
	for (i = 0; i < sizeof texts / sizeof texts[0]; i++)
		encode(t, texts[i], strlen(texts[i]));
	encode(t, (const char *)data, size < 256 ? size : 256);
	for (id = 0; id < nv && id < 64; id++) {
		const char *s = lmf_tok_id_to_token(t, id);
		int32_t back;

		if (!s)
			continue;
		/* -1 for a token with a NUL inside (JSON "\u0000"); another
		 * id when two tokens share a content or an id (an added token
		 * wins over the vocabulary, as in the tokenizers library) */
		back = lmf_tok_token_to_id(t, s);
		if (back >= nv || (back >= 0 &&
		    !lmf_tok_id_to_token(t, back))) {
			fprintf(stderr, "tokenizer_fuzz: token %d '%s' -> %d\n",
			    id, s, back);
			abort();
		}
	}
	if (lmf_tok_id_to_token(t, nv) || lmf_tok_id_to_token(t, -1))
		abort();
	lmf_tok_free(t);
	return 0;
}
