/* lmf-pack: turn an examples stream (lmf-tokenize) into a batches stream
 * for the trainers: val_size split, sft packing (greedy knapsack) and neat
 * packing, a seeded shuffle per epoch, every epoch written out, rows right
 * padded with an attention mask, pairwise and KTO batches, extra
 * per-example tensors stacked into the batch. It does not tokenize, and
 * it never changes a label: labels in the examples stream are final. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/opt.h"
#include "lmf/pack.h"
#include "lmf/process.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define MAX_ROW (1 << 30)

enum { PT = LMF_STAGE_PT, SFT = LMF_STAGE_SFT, RM = LMF_STAGE_RM,
	DPO = LMF_STAGE_DPO, KTO = LMF_STAGE_KTO, PPO = LMF_STAGE_PPO };

struct opts {
	long train_bs, eval_bs, cutoff, multiple, chunk;
	int packing, neat, noshuffle, eval_only; /* -1: not given */
	double val_size, epochs;
	uint64_t seed;
	const char *in, *out, *eval_out;
	struct lmf_wropts wo;
};

/* one training unit: an example, or a pack of sft examples */
struct unit {
	struct lmf_pack_seq s[2]; /* pairwise: chosen, rejected; kto: kl */
	int32_t tag;              /* kto_tags */
	struct lmf_tensor **extra;
};

/* the examples read, the units made of them */
struct pack {
	struct opts o;
	int stage;
	int aligned;         /* labels as long as input_ids */
	long vocab, pad_id;
	struct lmf_item *items;
	struct unit *units;
	long nitems, nunits, ndropped;
	char **extra_names;  /* tensors carried through, as example 0 */
	int nextra;
};

static int
pairwise(const struct pack *p)
{
	return p->stage == RM || p->stage == DPO;
}

static void
check_extra(struct pack *p, struct lmf_item *it, struct unit *u)
{
	int i, k, n = 0;
	char a[64], b[64];

	for (i = 0; i < it->ntensors; i++)
		n += !lmf_pack_known(p->stage, it->t[i].name);
	if (!p->extra_names) {
		p->extra_names = xmallocarray(n ? n : 1,
		    sizeof *p->extra_names);
		for (i = 0; i < it->ntensors; i++)
			if (!lmf_pack_known(p->stage, it->t[i].name))
				p->extra_names[p->nextra++] = it->t[i].name;
	}
	if (n != p->nextra)
		die("example %ld: %d extra tensors, not %d as in example 0",
		    p->nitems, n, p->nextra);
	u->extra = xcalloc(p->nextra + 1, sizeof *u->extra);
	for (k = 0; k < p->nextra; k++) {
		const char *nm = p->extra_names[k];
		struct lmf_tensor *e = lmf_item_find(&p->items[0], nm);
		struct lmf_tensor *t = lmf_item_find(it, nm);

		if (!t)
			die("example %ld: no tensor '%s' (example 0 has it)",
			    p->nitems, nm);
		if (t->ndim >= LMF_MAX_DIMS)
			die("example %ld: tensor '%s' has too many dimensions "
			    "to stack", p->nitems, t->name);
		if (t->dtype != e->dtype || t->ndim != e->ndim ||
		    memcmp(t->shape, e->shape, sizeof t->shape[0] * t->ndim))
			die("example %ld: tensor '%s' is %s %s, not %s %s as "
			    "in example 0", p->nitems, t->name,
			    lmf_dtype_name(t->dtype),
			    lmf_shape_str(t, a, sizeof a),
			    lmf_dtype_name(e->dtype),
			    lmf_shape_str(e, b, sizeof b));
		u->extra[k] = t;
	}
}

/* check an example and point a unit at its tensors */
static void
take(struct pack *p, struct lmf_item *it, struct unit *u)
{
	char err[256];

	if (lmf_pack_example(it, p->stage, p->vocab, p->aligned, u->s,
	    &u->tag, err, sizeof err) < 0)
		die("example %ld: %s", p->nitems, err);
	check_extra(p, it, u);
}

static long
meta_int(json_t *m, const char *key, long dflt)
{
	json_t *v = json_object_get(m, key);

	if (!v || json_is_null(v))
		return dflt;
	if (!json_is_integer(v))
		die("header field '%s' is not an integer", key);
	return (long)json_integer_value(v);
}

static int
meta_bool(json_t *m, const char *key)
{
	json_t *v = json_object_get(m, key);

	if (v && !json_is_boolean(v))
		die("header field '%s' is not a boolean", key);
	return v && json_is_true(v);
}

static void
read_header(struct pack *p, struct lmf_rd *r)
{
	json_t *m = lmf_rd_meta(r), *s = json_object_get(m, "stage");
	struct opts *o = &p->o;
	int packing_given;

	lmf_rd_check_kind_or_die(r, "examples");
	if (!json_is_string(s))
		die("'%s' has no 'stage' in its header", lmf_rd_name(r));
	if ((p->stage = lmf_stage_parse(json_string_value(s))) < 0)
		die("'%s' has an unknown stage '%s'", lmf_rd_name(r),
		    json_string_value(s));
	p->aligned = p->stage != PPO && !meta_bool(m, "predict");
	p->vocab = meta_int(m, "vocab_size", -1);
	p->pad_id = meta_int(m, "pad_token_id", -1);
	if (p->pad_id < 0 || p->pad_id > INT32_MAX ||
	    (p->vocab > 0 && p->pad_id >= p->vocab))
		die("'%s' has no valid 'pad_token_id' in its header",
		    lmf_rd_name(r));
	if (o->cutoff < 0)
		o->cutoff = meta_int(m, "cutoff_len", -1);
	packing_given = o->packing > 0 || o->neat > 0;
	if (o->neat < 0)
		o->neat = meta_bool(m, "neat_packing");
	if (o->packing < 0)
		o->packing = meta_bool(m, "packing") || o->neat;
	if (p->stage != SFT && p->stage != PT && (o->packing || o->neat) &&
	    packing_given)
		die_usage("--packing and --neat_packing are for the pt and sft "
		    "stages, not %s", lmf_stage_name(p->stage));
	if (o->neat && !o->packing)
		die_usage("--neat_packing needs packing");
	if (p->stage != SFT && p->stage != PT)
		o->packing = o->neat = 0;
	if (o->multiple < 0)
		o->multiple = (p->stage == PT || p->stage == PPO) ? 1 : 8;
}

/* spec 4.3: the examples of one preprocessing batch into knapsacks of
 * C = cutoff_len - 1 tokens, each padded to C + 1 */
static void
pack_chunk(struct pack *p, const struct unit *ex, long n, long C)
{
	struct lmf_pack_seq *seq = xmallocarray(n + 1, sizeof *seq);
	struct lmf_pack_seq *rows = xmallocarray(n + 1, sizeof *rows);
	long i, nb;

	for (i = 0; i < n; i++)
		seq[i] = ex[i].s[0];
	nb = lmf_pack_rows(seq, n, C, p->o.neat, (int32_t)p->pad_id, rows,
	    &p->ndropped);
	for (i = 0; i < nb; i++) {
		struct unit *u = &p->units[p->nunits++];

		memset(u, 0, sizeof *u);
		u->s[0] = rows[i];
		u->extra = xcalloc(1, sizeof *u->extra);
	}
	free(seq);
	free(rows);
}

static void
read_examples(struct pack *p, struct lmf_rd *r)
{
	long cap = 0, i, n, chunk = p->o.chunk;
	struct unit *ex = NULL;

	for (;;) {
		if (p->nitems == cap) {
			cap = cap ? 2 * cap : 256;
			p->items = xrealloc(p->items, cap * sizeof *p->items);
			ex = xrealloc(ex, cap * sizeof *ex);
		}
		memset(&p->items[p->nitems], 0, sizeof p->items[0]);
		if (!lmf_rd_item_or_die(r, &p->items[p->nitems]))
			break;
		memset(&ex[p->nitems], 0, sizeof ex[0]);
		take(p, &p->items[p->nitems], &ex[p->nitems]);
		p->nitems++;
	}
	p->units = xmallocarray(p->nitems + 1, sizeof *p->units);
	if (!(p->stage == SFT && p->o.packing)) {
		memcpy(p->units, ex, p->nitems * sizeof *p->units);
		p->nunits = p->nitems;
		free(ex);
		return;
	}
	if (p->nextra)
		die("tensor '%s' cannot be carried into packed rows",
		    p->extra_names[0]);
	if (p->o.cutoff < 2)
		die_usage("packing needs a --cutoff_len of at least 2");
	for (i = 0; i < p->nitems; i += chunk) {
		n = p->nitems - i < chunk ? p->nitems - i : chunk;
		pack_chunk(p, ex + i, n, p->o.cutoff - 1);
	}
	for (i = 0; i < p->nitems; i++)
		free(ex[i].extra);
	free(ex);
}

static void
pack_free(struct pack *p)
{
	int packed = p->stage == SFT && p->o.packing;
	long i;

	for (i = 0; i < p->nunits; i++) {
		if (packed)
			lmf_pack_seq_free(&p->units[i].s[0]);
		free(p->units[i].extra);
	}
	for (i = 0; i < p->nitems; i++)
		lmf_item_free(&p->items[i]);
	free(p->units);
	free(p->items);
	free(p->extra_names);
}

static void
shuffle(long *a, long n, struct lmf_rng *rng)
{
	long i;

	for (i = n - 1; i > 0; i--) {
		long j = (long)lmf_rng_below(rng, (uint32_t)(i + 1)), t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

static void
put_batch(const struct pack *p, struct lmf_wr *w, const long *sel, long n)
{
	struct lmf_item it = { 0, NULL };
	const struct lmf_pack_seq **rows = xmallocarray(2 * n, sizeof *rows);
	const struct unit *u = p->units;
	long i, mult = p->o.multiple;
	int32_t pad = (int32_t)p->pad_id, *tags;
	int k, pw = pairwise(p);

	for (i = 0; i < n; i++) {
		rows[i] = &u[sel[i]].s[0];
		rows[n + i] = &u[sel[i]].s[1];
	}
	lmf_pack_collate(&it, "", rows, pw ? 2 * n : n, mult, p->aligned,
	    pad);
	if (p->stage == KTO) {
		lmf_pack_collate(&it, "kl_", rows + n, n, mult, p->aligned,
		    pad);
		tags = lmf_item_add_tensor(&it, "kto_tags", LMF_I32, 1,
		    (int64_t[]){ n })->data;
		for (i = 0; i < n; i++)
			tags[i] = u[sel[i]].tag;
	}
	for (k = 0; k < p->nextra; k++) {
		const struct lmf_tensor *e = u[sel[0]].extra[k];
		struct lmf_tensor *t;
		int64_t shape[LMF_MAX_DIMS + 1] = { n };

		memcpy(shape + 1, e->shape, e->ndim * sizeof *shape);
		t = lmf_item_add_tensor(&it, e->name, e->dtype, e->ndim + 1,
		    shape);
		for (i = 0; i < n; i++)
			memcpy((char *)t->data + i * e->nbytes,
			    u[sel[i]].extra[k]->data, e->nbytes);
	}
	lmf_wr_item_or_die(w, &it);
	lmf_item_free(&it);
	free(rows);
}

static json_t *
out_meta(const struct opts *o, json_t *in, const char *split, long n,
    long bs, long per_epoch, long epochs)
{
	json_t *m = json_deep_copy(in);

	json_object_update_new(m, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:f, "
	    "s:I}", "kind", "batches", "command", lmf_cmdline(), "split", split,
	    "num_batches", (json_int_t)(per_epoch * epochs), "batches_per_epoch",
	    (json_int_t)per_epoch, "num_epochs", (json_int_t)epochs,
	    "num_train_epochs", o->epochs, "num_examples", (json_int_t)n));
	json_object_set_new(m, "per_device_train_batch_size",
	    json_integer(o->train_bs));
	json_object_set_new(m, "per_device_eval_batch_size",
	    json_integer(o->eval_bs));
	json_object_set_new(m, "batch_size", json_integer(bs));
	json_object_set_new(m, "packing", json_boolean(o->packing));
	json_object_set_new(m, "neat_packing", json_boolean(o->neat));
	if (o->cutoff >= 0)
		json_object_set_new(m, "cutoff_len", json_integer(o->cutoff));
	json_object_set_new(m, "pad_to_multiple_of",
	    json_integer(o->multiple));
	json_object_set_new(m, "val_size", json_real(o->val_size));
	json_object_set_new(m, "seed", json_integer((json_int_t)o->seed));
	json_object_set_new(m, "shuffle", json_boolean(!o->noshuffle &&
	    !strcmp(split, "train")));
	return m;
}

/* write the units sel[0..n) as epochs of batches of bs */
static void
write_split(const struct pack *p, const char *path, json_t *in,
    const char *split, long *sel, long n, long bs, long epochs,
    struct lmf_rng *rng)
{
	long per_epoch = (n + bs - 1) / bs, e, i;
	json_t *m = out_meta(&p->o, in, split, n, bs, per_epoch, epochs);
	struct lmf_wr *w = lmf_wr_open_or_die(path, m, &p->o.wo);

	json_decref(m);
	for (e = 0; e < epochs; e++) {
		if (rng)
			shuffle(sel, n, rng);
		for (i = 0; i < n; i += bs)
			put_batch(p, w, sel + i, n - i < bs ? n - i : bs);
	}
	lmf_wr_close_or_die(w);
}

static void
check_args(const struct opts *o)
{
	if (o->neat > 0 && o->packing == 0)
		die_usage("--neat_packing needs packing");
	if (o->val_size > 1e-6 && !o->eval_out)
		die_usage("--val_size needs --eval_output");
	if (o->val_size <= 1e-6 && o->eval_out)
		die_usage("--eval_output needs a --val_size");
	if (o->val_size > 1 && o->val_size != floor(o->val_size))
		die_usage("--val_size: above 1 it is a count, not '%g'",
		    o->val_size);
	if (o->eval_only && (o->val_size > 1e-6 || o->eval_out))
		die_usage("--eval_only: no --val_size or --eval_output with it");
	if (o->eval_out && lmf_same_file(o->eval_out, o->out))
		die_usage("--eval_output and -o are one file ('%s')", o->out);
}

int
main(int argc, char **argv)
{
	static const struct lmf_opt_usage us = {
	    "[--per_device_train_batch_size N] "
	    "[--num_train_epochs X]\n"
	    "                [--val_size X --eval_output FILE] "
	    "[--per_device_eval_batch_size N]\n"
	    "                [--packing [BOOL]] [--neat_packing [BOOL]] "
	    "[--cutoff_len N] [--seed N]\n"
	    "                [--disable_shuffling [BOOL]] "
	    "[--pad_to_multiple_of N]\n"
	    "                [--preprocessing_batch_size N] [-l N] [-q] "
	    "[-o FILE] [FILE]",
	    "Batch an examples stream for the trainers." };
	struct pack p = { .o = { .train_bs = 8, .eval_bs = 8, .cutoff = -1,
		.multiple = -1, .chunk = 1000, .packing = -1, .neat = -1,
		.epochs = 3.0, .seed = 42, .in = "-", .out = "-" } };
	struct opts *o = &p.o;
#define L LMF_OPT_LONG
#define B LMF_OPT_BOOL
	struct lmf_opt tab[] = {
		LMF_OPT_ROW("per_device_train_batch_size", 0, L, &o->train_bs,
		    "N", 1, 1 << 20, "examples per batch"),
		{ "num_train_epochs", 0, LMF_OPT_FLOAT, &o->epochs, "X", 1e-9,
		    1e6, "epochs written, rounded up", "3.0", NULL, 0 },
		LMF_OPT_ROW("val_size", 0, LMF_OPT_FLOAT, &o->val_size, "X", 0,
		    1e12, "fraction, or count if > 1, split off"),
		LMF_OPT_ROW("eval_output", 0, LMF_OPT_STRING, &o->eval_out,
		    "FILE", 0, 0, "where the split-off batches go"),
		LMF_OPT_ROW("per_device_eval_batch_size", 0, L, &o->eval_bs,
		    "N", 1, 1 << 20, "eval examples per batch"),
		LMF_OPT_ROW("eval_only", 0, B, &o->eval_only, NULL, 0, 0,
		    "all as eval batches, in order (eval_dataset)"),
		{ "packing", 0, B, &o->packing, NULL, 0, 0,
		    "sft: knapsack packing", "the header's", NULL, 0 },
		{ "neat_packing", 0, B, &o->neat, NULL, 0, 0,
		    "sft: packing, no cross-example attention",
		    "the header's", NULL, 0 },
		{ "cutoff_len", 0, L, &o->cutoff, "N", 1, MAX_ROW,
		    "pack length", "the header's", NULL, 0 },
		LMF_OPT_ROW("seed", 0, LMF_OPT_U64, &o->seed, "N", 0,
		    (double)INT64_MAX, "split and shuffle seed"),
		LMF_OPT_ROW("disable_shuffling", 0, B, &o->noshuffle, NULL, 0,
		    0, "keep the order of the examples"),
		{ "pad_to_multiple_of", 0, L, &o->multiple, "N", 1, 1 << 20,
		    "round row lengths up", "8; pt, ppo 1", NULL, 0 },
		LMF_OPT_ROW("preprocessing_batch_size", 0, L, &o->chunk, "N", 1,
		    INT32_MAX, "examples per packing group"),
		{ "level", 'l', LMF_OPT_FUNC, &o->wo.level, "N", 0, 0,
		    "zstd level, 0 for raw", "1", lmf_opt_level, 0 },
		{ NULL, 'o', LMF_OPT_STRING, &o->out, "FILE", 0, 0,
		    "write to FILE", "stdout", NULL, 0 },
		{ NULL, 'q', LMF_OPT_FUNC, NULL, NULL, 0, 0,
		    "no summary line", NULL, lmf_opt_quiet, 0 },
		LMF_OPT_LAST_ROWS,
	};
#undef L
#undef B
	struct lmf_rd *r;
	struct lmf_rng split_rng, rng;
	long *perm, i, ntest = 0, epochs;

	lmf_init(argc, argv);
	o->wo = lmf_wropts_default;
	i = lmf_opt_parse(tab, &us, argc, argv);
	if (i < argc)
		o->in = argv[i++];
	if (i < argc)
		die_usage("unexpected argument '%s'", argv[i]);
	check_args(o);
	if (!strcmp(o->out, "-"))
		lmf_stdout_binary_or_die();

	r = lmf_rd_open_or_die(o->in);
	read_header(&p, r);
	read_examples(&p, r);
	if (p.nunits == 0)
		die("'%s' holds no examples%s", lmf_rd_name(r),
		    p.ndropped ? " shorter than the packing capacity" : "");

	/* LLaMA-Factory's split_dataset: a seeded shuffled split, the test
	 * part first in the permutation */
	perm = xmallocarray(p.nunits, sizeof *perm);
	for (i = 0; i < p.nunits; i++)
		perm[i] = i;
	if (o->val_size > 1e-6) {
		ntest = o->val_size > 1 ? (long)o->val_size :
		    (long)ceil(o->val_size * (double)p.nunits);
		if (ntest >= p.nunits)
			die("--val_size %g leaves no training examples of %ld",
			    o->val_size, p.nunits);
		lmf_rng_seed(&split_rng, o->seed);
		shuffle(perm, p.nunits, &split_rng);
		write_split(&p, o->eval_out, lmf_rd_meta(r), "eval", perm,
		    ntest, o->eval_bs, 1, NULL);
	}
	epochs = (long)ceil(o->epochs);
	lmf_rng_seed(&rng, o->seed ^ 0x5348554646ull);
	if (o->eval_only)   /* eval_dataset: every example, in order */
		write_split(&p, o->out, lmf_rd_meta(r), "eval", perm,
		    ntest = p.nunits, o->eval_bs, epochs = 1, NULL);
	else
		write_split(&p, o->out, lmf_rd_meta(r), "train", perm + ntest,
		    p.nunits - ntest, o->train_bs, epochs,
		    o->noshuffle ? NULL : &rng);
	if (lmf_verbose) {
		char packs[64] = "";

		if (p.stage == SFT && o->packing)
			snprintf(packs, sizeof packs, " in %ld packs",
			    p.nunits);
		warn("%s: %ld examples%s, %ld too long, %ld eval; %ld batches "
		    "per epoch, %ld epochs", lmf_stage_name(p.stage), p.nitems,
		    packs, p.ndropped, ntest, (p.nunits - ntest + o->train_bs -
		    1) / o->train_bs, epochs);
	}
	free(perm);
	pack_free(&p);
	lmf_rd_close(r);
	lmf_close_out();
	return 0;
}
