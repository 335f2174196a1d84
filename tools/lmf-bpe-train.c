/* lmf-bpe-train: learn a small byte-level BPE tokenizer from text and write
 * it as a Hugging Face tokenizer.json + tokenizer_config.json in the Qwen
 * (ChatML) style: a Split pre-tokenizer with Qwen's regex, then ByteLevel
 * without its own regex; the 256 byte symbols first, then the merges in the
 * order learned, then <|endoftext|>, <|im_start|> and <|im_end|>.
 * Text comes from .json files (every string value), .jsonl files (every
 * string value of every line) and other files or stdin (taken as they
 * are). Merges are learned greedily by pair frequency over the distinct
 * pre-tokenized words; a tie goes to the pair of smaller ids, so the same
 * input always gives the same files. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <jansson.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lmf/bpe_train.h"
#include "lmf/opt.h"
#include "lmf/tok.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define MAXTEXT ((size_t)1 << 30)

static const char qwen_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char *const specials[] = {
	"<|endoftext|>", "<|im_start|>", "<|im_end|>",
};
#define NSPECIAL 3

static const char chatml[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role']"
    " != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant."
    "<|im_end|>\\n' }}{% endif %}{{ '<|im_start|>' + message['role'] + "
    "'\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}";

struct opts {
	const char *dir;
	int vocab_size;
	long min_freq;
};

/* the run: the options, the pre-tokenizer, the learner */
struct bpe {
	struct opts o;
	struct lmf_bpe_train t;
	pcre2_code *re;
	pcre2_match_data *md;
};

/* pre-tokenize text as the Split(Isolated) step does: matches and the
 * gaps between them are words */
static void
add_text(struct bpe *bp, const char *name, const char *s, size_t n)
{
	size_t at = 0, *ov;
	int rc;

	while (at < n) {
		rc = pcre2_match(bp->re, (PCRE2_SPTR)s, n, at, 0, bp->md, NULL);
		if (rc == PCRE2_ERROR_NOMATCH) {
			lmf_bpe_train_word(&bp->t, s + at, n - at);
			return;
		}
		if (rc < 0) {
			if (rc <= PCRE2_ERROR_UTF8_ERR1 &&
			    rc >= PCRE2_ERROR_UTF8_ERR21)
				die("%s: invalid UTF-8", name);
			die("%s: regex match failed (%d)", name, rc);
		}
		ov = pcre2_get_ovector_pointer(bp->md);
		if (ov[0] > at)
			lmf_bpe_train_word(&bp->t, s + at, ov[0] - at);
		if (ov[1] == ov[0]) {   /* an empty match: step one byte */
			at = ov[0] + 1;
			continue;
		}
		lmf_bpe_train_word(&bp->t, s + ov[0], ov[1] - ov[0]);
		at = ov[1];
	}
}

static void
add_json(struct bpe *bp, const char *name, json_t *j)
{
	size_t i;
	const char *k;
	json_t *v;

	if (json_is_string(j)) {
		add_text(bp, name, json_string_value(j), json_string_length(j));
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			add_json(bp, name, v);
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			add_json(bp, name, v);
	}
}

static int
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && !strcmp(s + n - m, suf);
}

static char *
read_stdin(size_t *len)
{
	struct lmf_buf b = { 0 };
	char tmp[65536];
	size_t n;

	lmf_stdin_binary_or_die();
	while ((n = fread(tmp, 1, sizeof tmp, stdin)) > 0) {
		if (b.n + n > MAXTEXT)
			die("stdin: more than %zu bytes of text", MAXTEXT);
		lmf_buf_add(&b, tmp, n);
	}
	if (ferror(stdin))
		die_errno("cannot read stdin");
	*len = b.n;
	if (!b.s)
		return xstrdup("");
	return b.s;
}

static void
add_file(struct bpe *bp, const char *path)
{
	json_error_t e;
	json_t *j;
	size_t len, lineno = 0;
	char *buf, *p, *nl, *end;

	if (!strcmp(path, "-"))
		buf = read_stdin(&len);
	else
		buf = lmf_read_file_or_die(path, &len, MAXTEXT);
	if (ends_with(path, ".jsonl")) {
		for (p = buf, end = buf + len; p < end; p = nl + 1) {
			lineno++;
			if (!(nl = memchr(p, '\n', (size_t)(end - p))))
				nl = end;
			if (nl == p || (nl == p + 1 && *p == '\r'))
				continue;
			if (!(j = json_loadb(p, (size_t)(nl - p), 0, &e)))
				die("%s:%zu: bad JSON: %s", path, lineno,
				    e.text);
			add_json(bp, path, j);
			json_decref(j);
		}
	} else if (ends_with(path, ".json")) {
		if (!(j = json_loadb(buf, len, 0, &e)))
			die("%s:%d: bad JSON: %s", path, e.line, e.text);
		add_json(bp, path, j);
		json_decref(j);
	} else {
		add_text(bp, strcmp(path, "-") ? path : "stdin", buf, len);
	}
	free(buf);
}

static json_t *
byte_level(void)
{
	return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel",
	    "add_prefix_space", 0, "trim_offsets", 0, "use_regex", 0);
}

static json_t *
added_token(size_t id, const char *content)
{
	return json_pack("{s:I, s:s, s:b, s:b, s:b, s:b, s:b}", "id",
	    (json_int_t)id, "content", content, "single_word", 0, "lstrip", 0,
	    "rstrip", 0, "normalized", 0, "special", 1);
}

static json_t *
tokenizer_json(const struct bpe *bp, json_t *merges)
{
	json_t *vocab = json_object(), *added = json_array(), *model, *pre;
	size_t i;

	for (i = 0; i < bp->t.ntok; i++)
		json_object_set_new(vocab, bp->t.tok[i],
		    json_integer((json_int_t)i));
	for (i = 0; i < NSPECIAL; i++)
		json_array_append_new(added, added_token(bp->t.ntok + i,
		    specials[i]));
	pre = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, o]}",
	    "type", "Sequence", "pretokenizers", "type", "Split", "pattern",
	    "Regex", qwen_regex, "behavior", "Isolated", "invert", 0,
	    byte_level());
	model = json_pack("{s:s, s:n, s:n, s:s, s:s, s:b, s:b, s:b, s:o, s:o}",
	    "type", "BPE", "dropout", "unk_token", "continuing_subword_prefix",
	    "", "end_of_word_suffix", "", "fuse_unk", 0, "byte_fallback", 0,
	    "ignore_merges", 0, "vocab", vocab, "merges", merges);
	if (!pre || !model)
		die("cannot build tokenizer.json");
	return json_pack("{s:s, s:n, s:n, s:o, s:n, s:o, s:o, s:o, s:o}",
	    "version", "1.0", "truncation", "padding", "added_tokens", added,
	    "normalizer", "pre_tokenizer", pre, "post_processor",
	    byte_level(), "decoder", byte_level(), "model", model);
}

static json_t *
config_json(const struct bpe *bp)
{
	json_t *dec = json_object(), *c;
	size_t i;
	char key[32];

	for (i = 0; i < NSPECIAL; i++) {
		json_t *t = added_token(bp->t.ntok + i, specials[i]);

		json_object_del(t, "id");
		snprintf(key, sizeof key, "%zu", bp->t.ntok + i);
		json_object_set_new(dec, key, t);
	}
	c = json_pack("{s:b, s:b, s:o, s:n, s:s, s:b, s:s, s:s, s:I, s:s, "
	    "s:b, s:s, s:n}",
	    "add_bos_token", 0, "add_prefix_space", 0, "added_tokens_decoder",
	    dec, "bos_token", "chat_template", chatml,
	    "clean_up_tokenization_spaces", 0, "eos_token", "<|im_end|>",
	    "errors", "replace", "model_max_length", (json_int_t)32768,
	    "pad_token", "<|endoftext|>", "split_special_tokens", 0,
	    "tokenizer_class", "Qwen2Tokenizer", "unk_token");
	if (!c)
		die("cannot build tokenizer_config.json");
	return c;
}

static void
write_json(const struct bpe *bp, const char *name, json_t *j)
{
	struct lmf_afile a;
	char *p = xasprintf("%s/%s", bp->o.dir, name);

	if (lmf_afile_open(&a, p) < 0)
		die_errno("cannot create '%s'", p);
	if (json_dumpf(j, a.f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ||
	    fputc('\n', a.f) == EOF) {
		lmf_afile_abort(&a);
		die("cannot write '%s'", p);
	}
	if (lmf_afile_commit(&a) < 0)
		die_errno("cannot write '%s'", p);
	free(p);
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage u = { "-o DIR [--vocab_size N] "
	    "[--min_frequency N] [FILE...]",
	    "Learn a byte-level BPE tokenizer (Qwen style) from text, each "
	    "FILE a .json or\n.jsonl (every string value) or plain text ('-' "
	    "or none: stdin); write\nDIR/tokenizer.json and "
	    "DIR/tokenizer_config.json." };
	struct bpe bp = { .o = { .vocab_size = 1024, .min_freq = 2 } };
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("output_dir", 'o', LMF_OPT_STRING, &bp.o.dir, "DIR",
		    0, 0, "the directory written (made if missing)"),
		LMF_OPT_ROW("vocab_size", 0, LMF_OPT_INT, &bp.o.vocab_size, "N",
		    256 + NSPECIAL, 1000000,
		    "tokens in all, 3 special ones included"),
		LMF_OPT_ROW("min_frequency", 0, LMF_OPT_LONG, &bp.o.min_freq,
		    "N", 1, (double)(1LL << 40),
		    "stop when the best pair is rarer"),
		LMF_OPT_ROW(NULL, 'h', LMF_OPT_HELP, NULL, NULL, 0, 0,
		    "this help"),
		LMF_OPT_ROW(NULL, 'V', LMF_OPT_VERSION, NULL, NULL, 0, 0,
		    "the version"),
		{ 0 },
	};
	json_t *merges, *tj, *cj;
	int i, err;
	PCRE2_SIZE eoff;

	lmf_init(argc, argv);
	i = lmf_opt_parse(tab, &u, argc, argv);
	if (!bp.o.dir)
		die_usage("no --output_dir given");
	bp.re = pcre2_compile((PCRE2_SPTR)qwen_regex, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_UCP, &err, &eoff, NULL);
	if (!bp.re)
		die("cannot compile the pre-tokenizer regex (%d)", err);
	bp.md = pcre2_match_data_create_from_pattern(bp.re, NULL);
	if (i == argc)
		add_file(&bp, "-");
	for (; i < argc; i++)
		add_file(&bp, argv[i]);
	merges = lmf_bpe_train_learn(&bp.t, (size_t)bp.o.vocab_size -
	    NSPECIAL, (uint64_t)bp.o.min_freq);
	tj = tokenizer_json(&bp, merges);
	cj = config_json(&bp);
	if (!tj || !cj)
		die("cannot build the tokenizer files");
	/* made only now: a failure before leaves no empty directory */
	if (mkdir(bp.o.dir, 0777) < 0 && errno != EEXIST)
		die_errno("cannot make '%s'", bp.o.dir);
	write_json(&bp, "tokenizer.json", tj);
	write_json(&bp, "tokenizer_config.json", cj);
	json_decref(tj);
	json_decref(cj);
	lmf_bpe_train_free(&bp.t);
	pcre2_match_data_free(bp.md);
	pcre2_code_free(bp.re);
	return 0;
}
