/* template_test: the stop words a template gives generation (llama3 has
 * two, qwen one), and that they exist as tokens once the template has
 * fixed the tokenizer; the stop ids of a generation (sample.h) from the
 * config, the tokenizer and the template; role names. TAP output. Needs $TOP (tests/lib.sh sets it). */
#include <stdlib.h>
#include <string.h>

#include "lmf/model.h"
#include "lmf/sample.h"
#include "lmf/template.h"
#include "lmf/tok.h"
#include "lmf/util.h"
#include "tap.h"


static struct lmf_template *
load(const char *name, struct lmf_tok **tok)
{
	char err[256], *dir = xasprintf("%s/tests/data/tok-bytelevel",
	    getenv("TOP") ? getenv("TOP") : ".");
	struct lmf_template *t;

	*tok = lmf_tok_load_dir(dir, err, sizeof err);
	free(dir);
	if (!*tok) {
		printf("# %s\n", err);
		return NULL;
	}
	t = lmf_template_new(name, *tok, NULL, err, sizeof err);
	if (!t)
		printf("# %s\n", err);
	return t;
}

int
main(int argc, char **argv)
{
	struct lmf_tok *tok;
	struct lmf_template *t;
	const char *w0, *w1;
	struct lmf_config c = { 0 };
	int32_t *stop;
	int n;

	lmf_init(argc, argv);
	t = load("llama3", &tok);
	ok(t != NULL, "llama3 template on the byte-level tokenizer");
	if (t) {
		w0 = lmf_template_stop_word(t, 0);
		w1 = lmf_template_stop_word(t, 1);
		ok(w0 && w1 && !strcmp(w0, "<|eot_id|>") &&
		    !strcmp(w1, "<|eom_id|>") && !lmf_template_stop_word(t, 2) &&
		    !lmf_template_stop_word(t, 99),
		    "llama3 stops at <|eot_id|> and <|eom_id|>");
		ok(lmf_tok_token_to_id(tok, "<|eot_id|>") >= 0 &&
		    lmf_tok_eos_id(tok) == lmf_tok_token_to_id(tok, "<|eot_id|>"),
		    "  the first is the eos token after the fix");
		c.vocab_size = 1 << 20;
		c.n_eos = 4;
		c.eos_token_ids[0] = 7;
		c.eos_token_ids[1] = -1;         /* none of these two */
		c.eos_token_ids[2] = 1 << 20;
		c.eos_token_ids[3] = 7;          /* once */
		n = lmf_sample_stop_ids(&c, tok, t, &stop);
		ok(n == 2 && stop[0] == 7 &&
		    stop[1] == lmf_tok_token_to_id(tok, "<|eot_id|>") &&
		    lmf_tok_token_to_id(tok, "<|eom_id|>") < 0,
		    "stop ids: the config's below V, once; the eos, "
		    "<|eom_id|> (not a token) left out");
		free(stop);
		n = lmf_sample_stop_ids(&c, NULL, NULL, &stop);
		ok(n == 1 && stop[0] == 7, "  without tokenizer or template");
		free(stop);
		lmf_template_free(t);
		lmf_tok_free(tok);
	}
	t = load("qwen", &tok);
	ok(t && lmf_template_stop_word(t, 0) &&
	    !strcmp(lmf_template_stop_word(t, 0), "<|im_end|>") &&
	    !lmf_template_stop_word(t, 1), "qwen stops at <|im_end|> only");
	if (t) {
		lmf_template_free(t);
		lmf_tok_free(tok);
	}
	ok(lmf_role_parse("assistant") == LMF_ROLE_ASSISTANT &&
	    lmf_role_parse("observation") == LMF_ROLE_OBSERVATION &&
	    lmf_role_parse("Assistant") == -1 && lmf_role_parse("") == -1,
	    "lmf_role_parse is lmf_role_name's inverse");
	return tap_done();
}
