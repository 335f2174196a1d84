/* lmf-pack: turn an examples stream (lmf-tokenize) into a batches stream
 * for the trainers: val_size split, sft packing (greedy knapsack) and neat
 * packing, a seeded shuffle per epoch, every epoch written out, rows right
 * padded with an attention mask, pairwise and KTO batches, extra
 * per-example tensors stacked into the batch. It does not tokenize, and
 * it never changes a label: labels in the examples stream are final. */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/pack.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"

#define IGNORE_INDEX (-100)
#define MAX_ROW (1 << 30)

enum stage { PT, SFT, RM, DPO, KTO, PPO };
static const char *stages[] = { "pt", "sft", "rm", "dpo", "kto", "ppo" };

static struct opts {
	long train_bs, eval_bs, cutoff, multiple, chunk;
	int packing, neat, noshuffle; /* -1: not given */
	double val_size, epochs;
	uint64_t seed;
	const char *in, *out, *eval_out;
	struct lmf_wropts wo;
} o = { .train_bs = 8, .eval_bs = 8, .cutoff = -1, .multiple = -1,
	.chunk = 1000, .packing = -1, .neat = -1, .noshuffle = 0,
	.epochs = 3.0, .seed = 42, .in = "-", .out = "-" };

/* an aligned pair of sequences, or (ppo) a prompt and its answer */
struct seq {
	int32_t *ids, *labels, *pos, *seg; /* pos, seg: packed rows only */
	long len, llen;
};

/* one training unit: an example, or a pack of sft examples */
struct unit {
	struct seq s[2];   /* pairwise: chosen, rejected; kto: target, kl */
	int32_t tag;       /* kto_tags */
	struct lmf_tensor **extra;
};

static enum stage stage;
static int nseq;             /* sequences per unit: 1, or 2 */
static int aligned = 1;      /* labels as long as input_ids */
static long vocab = -1, pad_id;
static struct lmf_item *items;
static struct unit *units;
static long nitems, nunits, ndropped;
static char **extra_names;   /* tensors carried through, as example 0 */
static int nextra;

static const char *names[2][2][2] = {   /* [stage kind][seq][ids|labels] */
	{ { "input_ids", "labels" }, { "kl_input_ids", "kl_labels" } },
	{ { "chosen_input_ids", "chosen_labels" },
	  { "rejected_input_ids", "rejected_labels" } },
};

static int
pairwise(void)
{
	return stage == RM || stage == DPO;
}

static int
known(const char *name)
{
	int i, j, p = pairwise();

	for (i = 0; i < nseq; i++)
		for (j = 0; j < 2; j++)
			if (!strcmp(name, names[p][i][j]))
				return 1;
	return stage == KTO && !strcmp(name, "kto_tags");
}

static struct lmf_tensor *
need(struct lmf_item *it, const char *name)
{
	struct lmf_tensor *t = lmf_item_find(it, name);
	char buf[64];

	if (!t)
		die("example %ld: no tensor '%s'", nitems, name);
	if (t->dtype != LMF_I32)
		die("example %ld: tensor '%s' is %s, not i32", nitems, name,
		    lmf_dtype_name(t->dtype) ? lmf_dtype_name(t->dtype) : "?");
	if (t->ndim != 1 && strcmp(name, "kto_tags"))
		die("example %ld: tensor '%s' has shape %s, not [n]", nitems,
		    name, lmf_shape_str(t, buf, sizeof buf));
	if (lmf_tensor_numel(t) >= MAX_ROW)
		die("example %ld: tensor '%s' is too long", nitems, name);
	return t;
}

static void
check_ids(const struct lmf_tensor *t, int labels)
{
	const int32_t *v = t->data;
	uint64_t i, n = lmf_tensor_numel(t);

	for (i = 0; i < n; i++) {
		if (labels && v[i] == IGNORE_INDEX)
			continue;
		if (v[i] < 0 || (vocab > 0 && v[i] >= vocab))
			die("example %ld: tensor '%s' has %s %ld at %lu, "
			    "outside the vocabulary of %ld", nitems, t->name,
			    labels ? "label" : "id", (long)v[i],
			    (unsigned long)i, vocab);
	}
}

static void
check_extra(struct lmf_item *it, struct unit *u)
{
	int i, k, n = 0;
	char a[64], b[64];

	for (i = 0; i < it->ntensors; i++)
		n += !known(it->t[i].name);
	if (!extra_names) {
		extra_names = xmallocarray(n ? n : 1, sizeof *extra_names);
		for (i = 0; i < it->ntensors; i++)
			if (!known(it->t[i].name))
				extra_names[nextra++] = it->t[i].name;
	}
	if (n != nextra)
		die("example %ld: %d extra tensors, not %d as in example 0",
		    nitems, n, nextra);
	u->extra = xcalloc(nextra + 1, sizeof *u->extra);
	for (k = 0; k < nextra; k++) {
		const char *nm = extra_names[k];
		struct lmf_tensor *p = lmf_item_find(&items[0], nm);
		struct lmf_tensor *t = lmf_item_find(it, nm);

		if (!t)
			die("example %ld: no tensor '%s' (example 0 has it)",
			    nitems, extra_names[k]);
		if (t->ndim >= LMF_MAX_DIMS)
			die("example %ld: tensor '%s' has too many dimensions "
			    "to stack", nitems, t->name);
		if (t->dtype != p->dtype || t->ndim != p->ndim ||
		    memcmp(t->shape, p->shape, sizeof t->shape[0] * t->ndim))
			die("example %ld: tensor '%s' is %s %s, not %s %s as "
			    "in example 0", nitems, t->name,
			    lmf_dtype_name(t->dtype),
			    lmf_shape_str(t, a, sizeof a),
			    lmf_dtype_name(p->dtype),
			    lmf_shape_str(p, b, sizeof b));
		u->extra[k] = t;
	}
}

/* check an example and point a unit at its tensors */
static void
take(struct lmf_item *it, struct unit *u)
{
	int i, p = pairwise();

	for (i = 0; i < nseq; i++) {
		struct lmf_tensor *x = need(it, names[p][i][0]);
		struct lmf_tensor *y = need(it, names[p][i][1]);

		check_ids(x, 0);
		check_ids(y, 1);
		u->s[i].ids = x->data;
		u->s[i].labels = y->data;
		u->s[i].len = x->shape[0];
		u->s[i].llen = y->shape[0];
		if (aligned && x->shape[0] != y->shape[0])
			die("example %ld: '%s' has %ld tokens but '%s' %ld",
			    nitems, x->name, (long)x->shape[0], y->name,
			    (long)y->shape[0]);
	}
	if (stage == KTO) {
		struct lmf_tensor *t = need(it, "kto_tags");

		if (lmf_tensor_numel(t) != 1)
			die("example %ld: 'kto_tags' is not one value", nitems);
		u->tag = *(int32_t *)t->data;
		if (u->tag != 0 && u->tag != 1)
			die("example %ld: 'kto_tags' is %ld, not 0 or 1",
			    nitems, (long)u->tag);
	}
	check_extra(it, u);
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
read_header(struct lmf_rd *r)
{
	json_t *m = lmf_rd_meta(r), *s = json_object_get(m, "stage");
	int i, packing_given;

	lmf_rd_check_kind_or_die(r, "examples");
	if (!json_is_string(s))
		die("'%s' has no 'stage' in its header", lmf_rd_name(r));
	for (i = 0; i < 6; i++)
		if (!strcmp(json_string_value(s), stages[i]))
			break;
	if (i == 6)
		die("'%s' has an unknown stage '%s'", lmf_rd_name(r),
		    json_string_value(s));
	stage = i;
	nseq = (pairwise() || stage == KTO) ? 2 : 1;
	aligned = stage != PPO && !meta_bool(m, "predict");
	vocab = meta_int(m, "vocab_size", -1);
	pad_id = meta_int(m, "pad_token_id", -1);
	if (pad_id < 0 || pad_id > INT32_MAX || (vocab > 0 && pad_id >= vocab))
		die("'%s' has no valid 'pad_token_id' in its header",
		    lmf_rd_name(r));
	if (o.cutoff < 0)
		o.cutoff = meta_int(m, "cutoff_len", -1);
	packing_given = o.packing > 0 || o.neat > 0;
	if (o.neat < 0)
		o.neat = meta_bool(m, "neat_packing");
	if (o.packing < 0)
		o.packing = meta_bool(m, "packing") || o.neat;
	if (stage != SFT && stage != PT && (o.packing || o.neat) &&
	    packing_given)
		die_usage("--packing and --neat_packing are for the pt and sft "
		    "stages, not %s", stages[stage]);
	if (o.neat && !o.packing)
		die_usage("--neat_packing needs packing");
	if (stage != SFT && stage != PT)
		o.packing = o.neat = 0;
	if (o.multiple < 0)
		o.multiple = (stage == PT || stage == PPO) ? 1 : 8;
}

/* spec 4.3: the examples of one preprocessing batch into knapsacks of
 * C = cutoff_len - 1 tokens, each padded to C + 1 */
static void
pack_chunk(struct unit *ex, long n, long C)
{
	int *len = xmallocarray(n + 1, sizeof *len);
	int *order = xmallocarray(n + 1, sizeof *order);
	int *start = xmallocarray(n + 2, sizeof *start);
	long *idx = xmallocarray(n + 1, sizeof *idx);
	long i, m = 0;
	int b, nb;

	for (i = 0; i < n; i++) {
		if (ex[i].s[0].len > C) {
			ndropped++;
			continue;
		}
		len[m] = (int)ex[i].s[0].len;
		idx[m++] = i;
	}
	nb = lmf_pack_greedy_knapsack(len, (int)m, (int)C, order, start);
	if (nb < 0)
		BUG("knapsack refused its lengths");
	for (b = 0; b < nb; b++) {
		struct unit *u = &units[nunits++];
		struct seq *s = &u->s[0];
		long k, T = C + 1;
		int j;

		s->ids = xmallocarray(T, sizeof(int32_t));
		s->labels = xmallocarray(T, sizeof(int32_t));
		s->pos = xmallocarray(T, sizeof(int32_t));
		s->seg = xmallocarray(T, sizeof(int32_t));
		s->len = 0;
		for (j = start[b]; j < start[b + 1]; j++) {
			struct seq *e = &ex[idx[order[j]]].s[0];

			memcpy(s->ids + s->len, e->ids,
			    e->len * sizeof(int32_t));
			memcpy(s->labels + s->len, e->labels,
			    e->len * sizeof(int32_t));
			for (k = 0; k < e->len; k++) {
				s->pos[s->len + k] = (int32_t)k;
				s->seg[s->len + k] = o.neat ?
				    j - start[b] + 1 : 1;
			}
			s->len += e->len;
		}
		for (k = s->len; k < T; k++) {
			s->ids[k] = (int32_t)pad_id;
			s->labels[k] = IGNORE_INDEX;
			s->pos[k] = 0;
			s->seg[k] = o.neat ? 0 : 1;
		}
		s->len = s->llen = T;
		u->extra = xcalloc(1, sizeof *u->extra);
	}
	free(len);
	free(order);
	free(start);
	free(idx);
}

static void
read_examples(struct lmf_rd *r)
{
	long cap = 0, i;
	struct unit *ex = NULL;

	for (;;) {
		if (nitems == cap) {
			cap = cap ? 2 * cap : 256;
			items = xrealloc(items, cap * sizeof *items);
			ex = xrealloc(ex, cap * sizeof *ex);
		}
		memset(&items[nitems], 0, sizeof items[nitems]);
		if (!lmf_rd_item_or_die(r, &items[nitems]))
			break;
		memset(&ex[nitems], 0, sizeof ex[nitems]);
		take(&items[nitems], &ex[nitems]);
		nitems++;
	}
	units = xmallocarray(nitems + 1, sizeof *units);
	if (!(stage == SFT && o.packing)) {
		memcpy(units, ex, nitems * sizeof *units);
		nunits = nitems;
		free(ex);
		return;
	}
	if (nextra)
		die("tensor '%s' cannot be carried into packed rows",
		    extra_names[0]);
	if (o.cutoff < 2)
		die_usage("packing needs a --cutoff_len of at least 2");
	for (i = 0; i < nitems; i += o.chunk)
		pack_chunk(ex + i, nitems - i < o.chunk ? nitems - i : o.chunk,
		    o.cutoff - 1);
	for (i = 0; i < nitems; i++)
		free(ex[i].extra);
	free(ex);
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

static struct lmf_tensor *
new_tensor(struct lmf_item *it, const char *name, int dtype, int ndim,
    const int64_t *shape)
{
	struct lmf_tensor *t = &it->t[it->ntensors++];
	int i;

	memset(t, 0, sizeof *t);
	t->name = xstrdup(name);
	t->dtype = dtype;
	t->ndim = ndim;
	for (i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	t->nbytes = lmf_tensor_numel(t) * lmf_dtype_size(dtype);
	t->data = xmalloc(t->nbytes);
	return t;
}

static long
round_up(long n)
{
	return (n + o.multiple - 1) / o.multiple * o.multiple;
}

/* rows right padded together: input_ids, attention_mask, labels (and
 * position_ids for packed rows) under prefix pfx */
static void
put_rows(struct lmf_item *it, const char *pfx, struct seq **s, long B)
{
	char nm[64];
	long b, t, T = 0, L = 0;
	int32_t *ids, *mask, *lab, *pos = NULL;

	for (b = 0; b < B; b++) {
		T = s[b]->len > T ? s[b]->len : T;
		L = s[b]->llen > L ? s[b]->llen : L;
	}
	T = round_up(T);
	L = aligned ? T : round_up(L);
	snprintf(nm, sizeof nm, "%sinput_ids", pfx);
	ids = new_tensor(it, nm, LMF_I32, 2, (int64_t[]){ B, T })->data;
	snprintf(nm, sizeof nm, "%sattention_mask", pfx);
	mask = new_tensor(it, nm, LMF_I32, 2, (int64_t[]){ B, T })->data;
	snprintf(nm, sizeof nm, "%slabels", pfx);
	lab = new_tensor(it, nm, LMF_I32, 2, (int64_t[]){ B, L })->data;
	if (s[0]->pos) {
		snprintf(nm, sizeof nm, "%sposition_ids", pfx);
		pos = new_tensor(it, nm, LMF_I32, 2, (int64_t[]){ B, T })->data;
	}
	for (b = 0; b < B; b++) {
		for (t = 0; t < T; t++) {
			int in = t < s[b]->len;

			ids[b * T + t] = in ? s[b]->ids[t] : (int32_t)pad_id;
			mask[b * T + t] = !in ? 0 :
			    s[b]->seg ? s[b]->seg[t] : 1;
			if (pos)
				pos[b * T + t] = in ? s[b]->pos[t] : 0;
		}
		for (t = 0; t < L; t++)
			lab[b * L + t] = t < s[b]->llen ? s[b]->labels[t] :
			    IGNORE_INDEX;
	}
}

static void
put_batch(struct lmf_wr *w, const long *sel, long n)
{
	struct lmf_item it = { 0, NULL };
	struct seq **rows = xmallocarray(2 * n, sizeof *rows);
	long i;
	int k;

	it.t = xcalloc(16 + nextra, sizeof *it.t);
	if (pairwise()) {
		for (i = 0; i < n; i++) {
			rows[i] = &units[sel[i]].s[0];
			rows[n + i] = &units[sel[i]].s[1];
		}
		put_rows(&it, "", rows, 2 * n);
	} else {
		for (i = 0; i < n; i++)
			rows[i] = &units[sel[i]].s[0];
		put_rows(&it, "", rows, n);
	}
	if (stage == KTO) {
		int32_t *tags;

		for (i = 0; i < n; i++)
			rows[i] = &units[sel[i]].s[1];
		put_rows(&it, "kl_", rows, n);
		tags = new_tensor(&it, "kto_tags", LMF_I32, 1,
		    (int64_t[]){ n })->data;
		for (i = 0; i < n; i++)
			tags[i] = units[sel[i]].tag;
	}
	for (k = 0; k < nextra; k++) {
		struct lmf_tensor *p = units[sel[0]].extra[k], *t;
		int64_t shape[LMF_MAX_DIMS + 1] = { n };

		memcpy(shape + 1, p->shape, p->ndim * sizeof *shape);
		t = new_tensor(&it, p->name, p->dtype, p->ndim + 1, shape);
		for (i = 0; i < n; i++)
			memcpy((char *)t->data + i * p->nbytes,
			    units[sel[i]].extra[k]->data, p->nbytes);
	}
	lmf_wr_item_or_die(w, &it);
	lmf_item_free(&it);
	free(rows);
}

static json_t *
out_meta(json_t *in, const char *split, long n, long bs, long per_epoch,
    long epochs)
{
	json_t *m = json_deep_copy(in);

	json_object_set_new(m, "kind", json_string("batches"));
	json_object_set_new(m, "command", json_string(lmf_cmdline()));
	json_object_set_new(m, "split", json_string(split));
	json_object_set_new(m, "num_batches", json_integer(per_epoch * epochs));
	json_object_set_new(m, "batches_per_epoch", json_integer(per_epoch));
	json_object_set_new(m, "num_epochs", json_integer(epochs));
	json_object_set_new(m, "num_train_epochs", json_real(o.epochs));
	json_object_set_new(m, "num_examples", json_integer(n));
	json_object_set_new(m, "per_device_train_batch_size",
	    json_integer(o.train_bs));
	json_object_set_new(m, "per_device_eval_batch_size",
	    json_integer(o.eval_bs));
	json_object_set_new(m, "batch_size", json_integer(bs));
	json_object_set_new(m, "packing", json_boolean(o.packing));
	json_object_set_new(m, "neat_packing", json_boolean(o.neat));
	if (o.cutoff >= 0)
		json_object_set_new(m, "cutoff_len", json_integer(o.cutoff));
	json_object_set_new(m, "pad_to_multiple_of", json_integer(o.multiple));
	json_object_set_new(m, "val_size", json_real(o.val_size));
	json_object_set_new(m, "seed", json_integer((json_int_t)o.seed));
	json_object_set_new(m, "shuffle", json_boolean(!o.noshuffle &&
	    !strcmp(split, "train")));
	return m;
}

/* write the units sel[0..n) as epochs of batches of bs */
static void
write_split(const char *path, json_t *in, const char *split, long *sel,
    long n, long bs, long epochs, struct lmf_rng *rng)
{
	long per_epoch = (n + bs - 1) / bs, e, i;
	json_t *m = out_meta(in, split, n, bs, per_epoch, epochs);
	struct lmf_wr *w = lmf_wr_open_or_die(path, m, &o.wo);

	json_decref(m);
	for (e = 0; e < epochs; e++) {
		if (rng)
			shuffle(sel, n, rng);
		for (i = 0; i < n; i += bs)
			put_batch(w, sel + i, n - i < bs ? n - i : bs);
	}
	lmf_wr_close_or_die(w);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: lmf-pack [--per_device_train_batch_size n] "
	    "[--num_train_epochs x]\n"
	    "       [--val_size x --eval_output file] "
	    "[--per_device_eval_batch_size n]\n"
	    "       [--packing [bool]] [--neat_packing [bool]] "
	    "[--cutoff_len n] [--seed n]\n"
	    "       [--disable_shuffling [bool]] [--pad_to_multiple_of n]\n"
	    "       [--preprocessing_batch_size n] [-l n] [-q] [-o file] "
	    "[file]\n"
	    "  --per_device_train_batch_size n  examples per batch "
	    "(default 8)\n"
	    "  --num_train_epochs x       epochs written, rounded up "
	    "(default 3.0)\n"
	    "  --val_size x               fraction, or count if > 1, split "
	    "off (default 0)\n"
	    "  --eval_output file         where the split-off batches go\n"
	    "  --per_device_eval_batch_size n  eval examples per batch "
	    "(default 8)\n"
	    "  --packing [bool]           sft: knapsack packing "
	    "(default: the header's)\n"
	    "  --neat_packing [bool]      sft: packing, no cross-example "
	    "attention\n"
	    "  --cutoff_len n             pack length (default: the "
	    "header's)\n"
	    "  --seed n                   split and shuffle seed (default 42)\n"
	    "  --disable_shuffling [bool] keep the order of the examples\n"
	    "  --pad_to_multiple_of n     round row lengths up (default 8; "
	    "pt, ppo 1)\n"
	    "  --preprocessing_batch_size n  examples per packing group "
	    "(default 1000)\n"
	    "  -l, --level n              zstd level, 0 for raw (default 1)\n"
	    "  -o file                    write to file (default stdout)\n"
	    "  -q                         no summary line\n"
	    "  -h, -V                     help, version\n");
}

enum { OPT_TBS = 256, OPT_EBS, OPT_EPOCHS, OPT_VAL, OPT_EVAL_OUT,
	OPT_PACKING, OPT_NEAT, OPT_CUTOFF, OPT_SEED, OPT_NOSHUF, OPT_MULT,
	OPT_CHUNK };

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "per_device_train_batch_size", required_argument, NULL,
		    OPT_TBS },
		{ "per_device_eval_batch_size", required_argument, NULL,
		    OPT_EBS },
		{ "num_train_epochs", required_argument, NULL, OPT_EPOCHS },
		{ "val_size", required_argument, NULL, OPT_VAL },
		{ "eval_output", required_argument, NULL, OPT_EVAL_OUT },
		{ "packing", optional_argument, NULL, OPT_PACKING },
		{ "neat_packing", optional_argument, NULL, OPT_NEAT },
		{ "cutoff_len", required_argument, NULL, OPT_CUTOFF },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "disable_shuffling", optional_argument, NULL, OPT_NOSHUF },
		{ "pad_to_multiple_of", required_argument, NULL, OPT_MULT },
		{ "preprocessing_batch_size", required_argument, NULL,
		    OPT_CHUNK },
		{ "level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct lmf_rd *r;
	struct lmf_rng split_rng, rng;
	long *perm, i, ntest = 0, epochs;
	int ch;

	lmf_init(argc, argv);
	o.wo = lmf_wropts_default;
	while ((ch = lmf_getopt(argc, argv, "hVqo:l:", lo)) != -1) {
		switch (ch) {
		case OPT_TBS:
			o.train_bs = lmf_parse_int(
			    "--per_device_train_batch_size", optarg, 1,
			    1 << 20);
			break;
		case OPT_EBS:
			o.eval_bs = lmf_parse_int(
			    "--per_device_eval_batch_size", optarg, 1, 1 << 20);
			break;
		case OPT_EPOCHS:
			o.epochs = lmf_parse_float("--num_train_epochs", optarg,
			    1e-9, 1e6);
			break;
		case OPT_VAL:
			o.val_size = lmf_parse_float("--val_size", optarg, 0,
			    1e12);
			break;
		case OPT_EVAL_OUT: o.eval_out = optarg; break;
		case OPT_PACKING:
			o.packing = lmf_opt_bool("--packing", argc, argv);
			break;
		case OPT_NEAT:
			o.neat = lmf_opt_bool("--neat_packing", argc, argv);
			break;
		case OPT_CUTOFF:
			o.cutoff = lmf_parse_int("--cutoff_len", optarg, 1,
			    MAX_ROW);
			break;
		case OPT_SEED:
			o.seed = (uint64_t)lmf_parse_int("--seed", optarg, 0,
			    INT64_MAX);
			break;
		case OPT_NOSHUF:
			o.noshuffle = lmf_opt_bool("--disable_shuffling", argc,
			    argv);
			break;
		case OPT_MULT:
			o.multiple = lmf_parse_int("--pad_to_multiple_of",
			    optarg, 1, 1 << 20);
			break;
		case OPT_CHUNK:
			o.chunk = lmf_parse_int("--preprocessing_batch_size",
			    optarg, 1, INT32_MAX);
			break;
		case 'l': o.wo.level = lmf_parse_level(optarg); break;
		case 'o': o.out = optarg; break;
		case 'q': lmf_verbose = 0; break;
		case 'h': lmf_help_exit(usage);
		case 'V': lmf_version_exit();
		default: BUG("option %d", ch);
		}
	}
	if (optind < argc)
		o.in = argv[optind++];
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (o.neat > 0 && o.packing == 0)
		die_usage("--neat_packing needs packing");
	if (o.val_size > 1e-6 && !o.eval_out)
		die_usage("--val_size needs --eval_output");
	if (o.val_size <= 1e-6 && o.eval_out)
		die_usage("--eval_output needs a --val_size");
	if (o.val_size > 1 && o.val_size != floor(o.val_size))
		die_usage("--val_size: above 1 it is a count, not '%g'",
		    o.val_size);
	if (o.eval_out && !strcmp(o.eval_out, o.out))
		die_usage("--eval_output and -o are both '%s'", o.out);
	if (!strcmp(o.out, "-"))
		lmf_stdout_binary_or_die();

	r = lmf_rd_open_or_die(o.in);
	read_header(r);
	read_examples(r);
	if (nunits == 0)
		die("'%s' holds no examples%s", lmf_rd_name(r),
		    ndropped ? " shorter than the packing capacity" : "");

	/* LLaMA-Factory's split_dataset: a seeded shuffled split, the test
	 * part first in the permutation */
	perm = xmallocarray(nunits, sizeof *perm);
	for (i = 0; i < nunits; i++)
		perm[i] = i;
	if (o.val_size > 1e-6) {
		ntest = o.val_size > 1 ? (long)o.val_size :
		    (long)ceil(o.val_size * (double)nunits);
		if (ntest >= nunits)
			die("--val_size %g leaves no training examples of %ld",
			    o.val_size, nunits);
		lmf_rng_seed(&split_rng, o.seed);
		shuffle(perm, nunits, &split_rng);
		write_split(o.eval_out, lmf_rd_meta(r), "eval", perm, ntest,
		    o.eval_bs, 1, NULL);
	}
	epochs = (long)ceil(o.epochs);
	lmf_rng_seed(&rng, o.seed ^ 0x5348554646ull);
	write_split(o.out, lmf_rd_meta(r), "train", perm + ntest,
	    nunits - ntest, o.train_bs, epochs, o.noshuffle ? NULL : &rng);
	if (lmf_verbose) {
		char packs[64] = "";

		if (stage == SFT && o.packing)
			snprintf(packs, sizeof packs, " in %ld packs", nunits);
		warn("%s: %ld examples%s, %ld too long, %ld eval; %ld batches "
		    "per epoch, %ld epochs", stages[stage], nitems, packs,
		    ndropped, ntest, (nunits - ntest + o.train_bs - 1) /
		    o.train_bs, epochs);
	}
	free(perm);
	lmf_rd_close(r);
	lmf_close_out();
	return 0;
}
