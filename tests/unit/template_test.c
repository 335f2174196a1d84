/* template_test: the stop words a template gives generation (llama3 has
 * two, qwen one), and that they exist as tokens once the template has
 * fixed the tokenizer. TAP output. Needs $TOP (tests/lib.sh sets it). */
#include <stdlib.h>
#include <string.h>

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
	return tap_done();
}
