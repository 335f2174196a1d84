/* mkckpt: write a synthetic Hugging Face llama checkpoint for benchmarks:
 * config.json, sharded bf16 model-0000N-of-0000M.safetensors and
 * model.safetensors.index.json, about 500 MB with the defaults (hidden
 * 1024, 12 layers, intermediate 3584, vocab 32000, untied lm_head). The
 * weights are N(0, 0.02) noise cut from one pool, norms are 1; it writes
 * no tokenizer and is no trained model. Deterministic output. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

static struct opts {
	const char *dir;
	int hidden, layers, inter, vocab, heads, shards;
} opts = { NULL, 1024, 12, 3584, 32000, 16, 2 };

#define POOL_ELEMS (8u << 20)
#define MAXT 1024

struct tdesc {
	char name[96];
	int64_t rows, cols;  /* cols 0: a vector */
	int shard;
};

static struct tdesc tens[MAXT];
static int ntens;
static uint16_t *pool;
static size_t pool_off;

static void
add(const char *name, int64_t rows, int64_t cols)
{
	if (ntens == MAXT)
		die("too many tensors");
	snprintf(tens[ntens].name, sizeof tens[ntens].name, "%s", name);
	tens[ntens].rows = rows;
	tens[ntens].cols = cols;
	ntens++;
}

static uint64_t
tbytes(const struct tdesc *t)
{
	return (uint64_t)t->rows * (uint64_t)(t->cols ? t->cols : 1) * 2;
}

static void
layout(void)
{
	static const char *attn[] = { "q_proj", "k_proj", "v_proj", "o_proj" };
	int64_t h = opts.hidden, f = opts.inter;
	char n[96];
	int l, i;

	add("model.embed_tokens.weight", opts.vocab, h);
	for (l = 0; l < opts.layers; l++) {
		snprintf(n, sizeof n, "model.layers.%d.input_layernorm.weight", l);
		add(n, h, 0);
		for (i = 0; i < 4; i++) {
			snprintf(n, sizeof n, "model.layers.%d.self_attn.%s.weight",
			    l, attn[i]);
			add(n, h, h);
		}
		snprintf(n, sizeof n,
		    "model.layers.%d.post_attention_layernorm.weight", l);
		add(n, h, 0);
		snprintf(n, sizeof n, "model.layers.%d.mlp.gate_proj.weight", l);
		add(n, f, h);
		snprintf(n, sizeof n, "model.layers.%d.mlp.up_proj.weight", l);
		add(n, f, h);
		snprintf(n, sizeof n, "model.layers.%d.mlp.down_proj.weight", l);
		add(n, h, f);
	}
	add("model.norm.weight", h, 0);
	add("lm_head.weight", opts.vocab, h);
}

static void
fwrite_or_die(const void *p, size_t n, FILE *f, const char *path)
{
	if (n && fwrite(p, 1, n, f) != n)
		die("writing '%s': %s", path, strerror(errno));
}

static void
write_data(const struct tdesc *t, FILE *f, const char *path)
{
	uint64_t n = tbytes(t) / 2, i;

	if (!t->cols) {
		uint16_t one[1024];

		for (i = 0; i < 1024; i++)
			one[i] = lmf_f32_to_bf16(1.0f);
		for (i = 0; i < n; i += 1024)
			fwrite_or_die(one, 2 * (n - i < 1024 ? n - i : 1024), f,
			    path);
		return;
	}
	for (i = 0; i < n;) {
		uint64_t k = n - i;

		if (pool_off >= POOL_ELEMS)
			pool_off = (pool_off * 7 + 4099) % (POOL_ELEMS / 2);
		if (k > POOL_ELEMS - pool_off)
			k = POOL_ELEMS - pool_off;
		fwrite_or_die(pool + pool_off, 2 * k, f, path);
		pool_off += k;
		i += k;
	}
}

static char *
shard_name(int s)
{
	return xasprintf("model-%05d-of-%05d.safetensors", s + 1, opts.shards);
}

static void
write_shard(int s, json_t *wmap)
{
	json_t *hdr = json_object();
	char *name = shard_name(s), *path, *js;
	uint64_t off = 0, hlen;
	unsigned char len8[8];
	FILE *f;
	int i;

	json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format",
	    "pt"));
	for (i = 0; i < ntens; i++) {
		struct tdesc *t = &tens[i];
		json_t *shape = t->cols ? json_pack("[I,I]", (json_int_t)t->rows,
		    (json_int_t)t->cols) : json_pack("[I]", (json_int_t)t->rows);

		if (t->shard != s)
			continue;
		json_object_set_new(hdr, t->name, json_pack("{s:s,s:o,s:[I,I]}",
		    "dtype", "BF16", "shape", shape, "data_offsets",
		    (json_int_t)off, (json_int_t)(off + tbytes(t))));
		json_object_set_new(wmap, t->name, json_string(name));
		off += tbytes(t);
	}
	js = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
	hlen = strlen(js);
	path = xasprintf("%s/%s", opts.dir, name);
	f = xfopen(path, "wb");
	/* pad the header with spaces to 8 bytes, as the Python writer does */
	lmf_put_u64(len8, (hlen + 7) / 8 * 8);
	fwrite_or_die(len8, 8, f, path);
	fwrite_or_die(js, hlen, f, path);
	fwrite_or_die("       ", (hlen + 7) / 8 * 8 - hlen, f, path);
	for (i = 0; i < ntens; i++)
		if (tens[i].shard == s)
			write_data(&tens[i], f, path);
	if (fclose(f))
		die("writing '%s': %s", path, strerror(errno));
	free(js);
	free(path);
	free(name);
	json_decref(hdr);
}

static void
write_json(const char *file, json_t *j)
{
	char *path = xasprintf("%s/%s", opts.dir, file);

	if (json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
		die("cannot write '%s'", path);
	free(path);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: mkckpt [--hidden N] [--layers N] [--intermediate N] "
	    "[--vocab N] [--shards N] DIR\n");
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "hidden", required_argument, NULL, 'H' },
		{ "layers", required_argument, NULL, 'L' },
		{ "intermediate", required_argument, NULL, 'I' },
		{ "vocab", required_argument, NULL, 'v' },
		{ "shards", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct lmf_rng rng;
	uint64_t total = 0, acc = 0;
	json_t *wmap, *cfg;
	int c, i, s;

	lmf_init(argc, argv);
	while ((c = lmf_getopt(argc, argv, "hV", lo)) != -1) {
		switch (c) {
		case 'H':
			opts.hidden = (int)lmf_parse_int("--hidden", optarg, 16,
			    65536);
			break;
		case 'L':
			opts.layers = (int)lmf_parse_int("--layers", optarg, 1, 100);
			break;
		case 'I':
			opts.inter = (int)lmf_parse_int("--intermediate", optarg, 1,
			    1 << 20);
			break;
		case 'v':
			opts.vocab = (int)lmf_parse_int("--vocab", optarg, 1,
			    1 << 22);
			break;
		case 's':
			opts.shards = (int)lmf_parse_int("--shards", optarg, 1, 99);
			break;
		case 'h':
			lmf_help_exit(usage);
		case 'V':
			lmf_version_exit();
		default:
			BUG("option %d", c);
		}
	}
	if (optind != argc - 1)
		lmf_usage_exit(usage);
	opts.dir = argv[optind];
	if (opts.hidden % opts.heads)
		die_usage("--hidden must be a multiple of %d", opts.heads);
	if (mkdir(opts.dir, 0755) && errno != EEXIST)
		die_errno("cannot create '%s'", opts.dir);
	layout();
	for (i = 0; i < ntens; i++)
		total += tbytes(&tens[i]);
	/* fill shards in order, each up to an equal share */
	for (i = 0, s = 0; i < ntens; i++) {
		if (acc >= (uint64_t)(s + 1) * (total / (uint64_t)opts.shards) &&
		    s < opts.shards - 1)
			s++;
		tens[i].shard = s;
		acc += tbytes(&tens[i]);
	}
	pool = xmallocarray(POOL_ELEMS, 2);
	lmf_rng_seed(&rng, 20240326);
	for (i = 0; i < (int)POOL_ELEMS; i++)
		pool[i] = lmf_f32_to_bf16(lmf_rng_normal(&rng) * 0.02f);
	wmap = json_object();
	for (s = 0; s < opts.shards; s++)
		write_shard(s, wmap);
	write_json("model.safetensors.index.json", json_pack("{s:{s:I},s:o}",
	    "metadata", "total_size", (json_int_t)total, "weight_map", wmap));
	cfg = json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f,"
	    "s:s,s:b,s:s,s:i,s:i,s:s,s:b}",
	    "architectures", "LlamaForCausalLM", "model_type", "llama",
	    "hidden_size", opts.hidden, "intermediate_size", opts.inter,
	    "num_hidden_layers", opts.layers, "num_attention_heads", opts.heads,
	    "num_key_value_heads", opts.heads, "vocab_size", opts.vocab,
	    "max_position_embeddings", 2048, "rms_norm_eps", 1e-5,
	    "rope_theta", 10000.0, "hidden_act", "silu",
	    "tie_word_embeddings", 0, "torch_dtype", "bfloat16",
	    "bos_token_id", 1, "eos_token_id", 2,
	    "transformers_version", "4.40.0", "attention_bias", 0);
	write_json("config.json", cfg);
	printf("%s: %d tensors, %.1f MB in %d shards\n", opts.dir, ntens,
	    (double)total / 1e6, opts.shards);
	return 0;
}
