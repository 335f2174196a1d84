/* process.c: the dataset processors of LLaMA-Factory (spec 4.1-4.7):
 * messages in, token ids and labels out, example by example, with the
 * per-map-batch effects (pt remainder, KTO's KL rotation) kept. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/process.h"
#include "lmf/util.h"
#include "lmf/banned.h"

static const char *stages[] = { "pt", "sft", "rm", "dpo", "kto", "ppo" };

int
lmf_stage_parse(const char *s)
{
	for (int i = 0; i < 6; i++)
		if (!strcmp(s, stages[i]))
			return i;
	return -1;
}

const char *
lmf_stage_name(int stage)
{
	return stage >= 0 && stage < 6 ? stages[stage] : "?";
}

void
lmf_infer_seqlen(long source_len, long target_len, long cutoff_len,
    long *new_source, long *new_target)
{
	long maxt, maxs, nt;

	if (target_len * 2 < cutoff_len)
		maxt = cutoff_len;
	else if (source_len * 2 < cutoff_len)
		maxt = cutoff_len - source_len;
	else
		maxt = (long)((double)cutoff_len * ((double)target_len /
		    (double)(source_len + target_len)));
	nt = maxt < target_len ? maxt : target_len;
	maxs = cutoff_len - nt > 0 ? cutoff_len - nt : 0;
	*new_target = nt;
	*new_source = maxs < source_len ? maxs : source_len;
}

/* ---- output items ---- */

#define MAXT 5

struct out {
	struct lmf_item it;
	struct lmf_tensor t[MAXT];
	void (*emit)(void *, const struct lmf_item *);
	void *ctx;
	struct lmf_process_stats *st;
};

static void
add_tensor(struct out *o, const char *name, const int32_t *v, size_t n,
    int scalar)
{
	struct lmf_tensor *t = &o->t[o->it.ntensors++];

	memset(t, 0, sizeof *t);
	t->name = (char *)name;
	t->dtype = LMF_I32;
	t->ndim = scalar ? 0 : 1;
	t->shape[0] = (int64_t)n;
	t->data = (void *)v;
	t->nbytes = n * sizeof(int32_t);
}

static void
emit(struct out *o)
{
	o->it.t = o->t;
	o->emit(o->ctx, &o->it);
	o->it.ntensors = 0;
	o->st->nout++;
}

static void
skip(struct lmf_process_stats *st, const struct lmf_example *ex,
    const char *fmt, ...)
{
	va_list ap;
	char *r;
	int n;

	st->nskipped++;
	if (st->nreasons >= LMF_PROCESS_REASONS)
		return;
	r = st->reason[st->nreasons++];
	n = snprintf(r, sizeof st->reason[0], "'%s' row %zu: ", ex->dataset,
	    ex->row);
	va_start(ap, fmt);
	vsnprintf(r + n, sizeof st->reason[0] - n, fmt, ap);
	va_end(ap);
}

static void
labels_ignore(struct lmf_ids *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		lmf_ids_push(l, LMF_IGNORE_INDEX);
}

/* ---- pt (spec 4.4) ---- */

static int
process_pt(struct lmf_template *t, struct lmf_tok *tok,
    const struct lmf_process_opts *po, const struct lmf_dataset *ds,
    struct out *o, char *err, size_t errlen)
{
	const char *eos = !strcmp(lmf_template_name(t), "llama3") ?
	    "<|end_of_text|>" : lmf_tok_id_to_token(tok, lmf_tok_eos_id(tok));
	int32_t pad = lmf_tok_pad_id(tok), bos = lmf_tok_bos_id(tok);
	const char *bostext = bos >= 0 ? lmf_tok_id_to_token(tok, bos) : NULL;
	int add_bos = lmf_tok_add_bos(tok) && bos >= 0;
	struct lmf_ids cat = { 0 }, lab = { 0 };
	size_t cutoff = (size_t)po->cutoff_len;

	for (size_t b = 0; b < ds->n; b += LMF_MAP_BATCH) {
		size_t e = ds->n - b > LMF_MAP_BATCH ? b + LMF_MAP_BATCH :
		    ds->n;

		cat.n = 0;
		for (size_t i = b; i < e; i++) {
			const struct lmf_example *ex = &ds->ex[i];
			char *text;
			int32_t *ids;
			size_t n;
			int rc;

			if (ex->nprompt < 1) {
				skip(o->st, ex, "%s", ex->broken ? ex->broken :
				    "no text");
				continue;
			}
			text = xasprintf("%s%s%s", !po->packing && add_bos ?
			    bostext : "", ex->prompt[0].content, eos ? eos :
			    "");
			rc = lmf_tok_encode(tok, text, strlen(text), 0, &ids,
			    &n, err, errlen);
			free(text);
			if (rc)
				return -1;
			if (!po->packing) {
				if (n > cutoff)
					n = cutoff;
				lab.n = 0;
				for (size_t k = 0; k < n; k++)
					lmf_ids_push(&lab, ids[k] == pad ?
					    LMF_IGNORE_INDEX : ids[k]);
				add_tensor(o, "input_ids", ids, n, 0);
				add_tensor(o, "labels", lab.v, n, 0);
				emit(o);
			} else {
				lmf_ids_append(&cat, ids, n);
			}
			free(ids);
		}
		if (!po->packing)
			continue;
		for (size_t k = 0; k + cutoff <= cat.n; k += cutoff) {
			int32_t *blk = cat.v + k;

			if (add_bos)
				blk[0] = bos;
			lab.n = 0;
			for (size_t j = 0; j < cutoff; j++)
				lmf_ids_push(&lab, blk[j] == pad ?
				    LMF_IGNORE_INDEX : blk[j]);
			add_tensor(o, "input_ids", blk, cutoff, 0);
			add_tensor(o, "labels", lab.v, cutoff, 0);
			emit(o);
		}
	}
	lmf_ids_free(&cat);
	lmf_ids_free(&lab);
	return 0;
}

/* ---- sft (spec 4.2) ---- */

static void
cat_msgs(const struct lmf_example *ex, struct lmf_msg *m, const struct lmf_msg
    *last)
{
	memcpy(m, ex->prompt, ex->nprompt * sizeof *m);
	m[ex->nprompt] = *last;
}

static int
process_sft(struct lmf_template *t, struct lmf_tok *tok,
    const struct lmf_process_opts *po, const struct lmf_example *ex,
    struct out *o, char *err, size_t errlen)
{
	int n = ex->nprompt + 1, eff = lmf_template_efficient_eos(t);
	int32_t eos = lmf_tok_eos_id(tok);
	struct lmf_msg *m;
	struct lmf_ids *enc, in = { 0 }, lab = { 0 };
	long total = eff ? 1 : 0;
	int rc, turns;

	if (ex->nprompt % 2 != 1 || ex->nresponse != 1) {
		skip(o->st, ex, "%s", ex->broken ? ex->broken : "needs an odd "
		    "number of prompt messages and one response");
		return 0;
	}
	m = xmallocarray(n, sizeof *m);
	cat_msgs(ex, m, &ex->response[0]);
	enc = xcalloc(n, sizeof *enc);
	rc = lmf_template_encode_multiturn(t, m, n, ex->system, ex->tools,
	    po->mask_history && !lmf_template_preserve_thinking(t), enc, err,
	    errlen);
	free(m);
	if (rc) {
		skip(o->st, ex, "%s", err);
		goto out;
	}
	turns = n / 2;
	for (int k = 0; k < turns; k++) {
		int ti = po->mask_history ? turns - 1 - k : k;
		struct lmf_ids *src = &enc[2 * ti], *tgt = &enc[2 * ti + 1];
		struct lmf_ids pi = { 0 }, pl = { 0 };
		long sl, tl;

		if (total >= po->cutoff_len)
			break;
		lmf_infer_seqlen((long)src->n, (long)tgt->n, po->cutoff_len -
		    total, &sl, &tl);
		total += sl + tl;
		lmf_ids_append(&pi, src->v, sl);
		lmf_ids_append(&pi, tgt->v, tl);
		if (po->train_on_prompt) {
			lmf_ids_append(&pl, src->v, sl);
		} else if (eff && k != 0) {
			lmf_ids_push(&pl, eos);
			labels_ignore(&pl, sl > 0 ? sl - 1 : 0);
		} else {
			labels_ignore(&pl, sl);
		}
		if (po->mask_history && k != 0)
			labels_ignore(&pl, tl);
		else
			lmf_ids_append(&pl, tgt->v, tl);
		if (po->mask_history) {
			lmf_ids_append(&pi, in.v, in.n);
			lmf_ids_append(&pl, lab.v, lab.n);
			lmf_ids_free(&in);
			lmf_ids_free(&lab);
			in = pi;
			lab = pl;
		} else {
			lmf_ids_append(&in, pi.v, pi.n);
			lmf_ids_append(&lab, pl.v, pl.n);
			lmf_ids_free(&pi);
			lmf_ids_free(&pl);
		}
	}
	if (eff) {
		lmf_ids_push(&in, eos);
		lmf_ids_push(&lab, eos);
	}
	if (in.n != lab.n) {
		skip(o->st, ex, "efficient_eos with an empty prompt");
		goto out;
	}
	add_tensor(o, "input_ids", in.v, in.n, 0);
	add_tensor(o, "labels", lab.v, lab.n, 0);
	emit(o);
out:
	for (int i = 0; i < n; i++)
		lmf_ids_free(&enc[i]);
	free(enc);
	lmf_ids_free(&in);
	lmf_ids_free(&lab);
	return 0;
}

/* encode_oneturn of prompt + [last]; efficient_eos appends EOS */
static int
oneturn(struct lmf_template *t, struct lmf_tok *tok,
    const struct lmf_example *ex, const struct lmf_msg *last,
    struct lmf_ids *p, struct lmf_ids *r, char *err, size_t errlen)
{
	int n = ex->nprompt + 1, rc;
	struct lmf_msg *m = xmallocarray(n, sizeof *m);

	cat_msgs(ex, m, last);
	rc = lmf_template_encode_oneturn(t, m, n, ex->system, ex->tools, p, r,
	    err, errlen);
	free(m);
	if (!rc && lmf_template_efficient_eos(t))
		lmf_ids_push(r, lmf_tok_eos_id(tok));
	return rc;
}

/* prompt[:sl] + resp[:tl] and its labels */
static void
join(const struct lmf_ids *p, long sl, const struct lmf_ids *r, long tl,
    struct lmf_ids *in, struct lmf_ids *lab)
{
	in->n = lab->n = 0;
	lmf_ids_append(in, p->v, sl);
	lmf_ids_append(in, r->v, tl);
	labels_ignore(lab, sl);
	lmf_ids_append(lab, r->v, tl);
}

/* ---- rm, dpo (spec 4.5) ---- */

static int
process_pairwise(struct lmf_template *t, struct lmf_tok *tok,
    const struct lmf_process_opts *po, const struct lmf_example *ex,
    struct out *o, char *err, size_t errlen)
{
	struct lmf_ids p = { 0 }, c = { 0 }, p2 = { 0 }, r = { 0 };
	struct lmf_ids ci = { 0 }, cl = { 0 }, ri = { 0 }, rl = { 0 };
	long sl, tl, mx;

	if (ex->nprompt % 2 != 1 || ex->nresponse < 2) {
		skip(o->st, ex, "%s", ex->broken ? ex->broken : "needs an odd "
		    "number of prompt messages and two responses");
		return 0;
	}
	if (oneturn(t, tok, ex, &ex->response[0], &p, &c, err, errlen) ||
	    oneturn(t, tok, ex, &ex->response[1], &p2, &r, err, errlen)) {
		skip(o->st, ex, "%s", err);
		goto out;
	}
	mx = (long)(c.n > r.n ? c.n : r.n);
	lmf_infer_seqlen((long)p.n, mx, po->cutoff_len, &sl, &tl);
	join(&p, sl, &c, tl < (long)c.n ? tl : (long)c.n, &ci, &cl);
	join(&p, sl, &r, tl < (long)r.n ? tl : (long)r.n, &ri, &rl);
	add_tensor(o, "chosen_input_ids", ci.v, ci.n, 0);
	add_tensor(o, "chosen_labels", cl.v, cl.n, 0);
	add_tensor(o, "rejected_input_ids", ri.v, ri.n, 0);
	add_tensor(o, "rejected_labels", rl.v, rl.n, 0);
	emit(o);
out:
	lmf_ids_free(&p);
	lmf_ids_free(&c);
	lmf_ids_free(&p2);
	lmf_ids_free(&r);
	lmf_ids_free(&ci);
	lmf_ids_free(&cl);
	lmf_ids_free(&ri);
	lmf_ids_free(&rl);
	return 0;
}

/* ---- kto (spec 4.6) ---- */

static int
process_kto(struct lmf_template *t, struct lmf_tok *tok,
    const struct lmf_process_opts *po, const struct lmf_dataset *ds,
    struct out *o, char *err, size_t errlen)
{
	for (size_t b = 0; b < ds->n; b += LMF_MAP_BATCH) {
		size_t e = ds->n - b > LMF_MAP_BATCH ? b + LMF_MAP_BATCH :
		    ds->n;
		int seen[2] = { 0, 0 };

		for (size_t i = b; i < e; i++) {
			const struct lmf_example *ex = &ds->ex[i];
			const struct lmf_example *kx = &ds->ex[i == b ? e - 1 :
			    i - 1];
			struct lmf_ids p = { 0 }, r = { 0 }, kp = { 0 },
			    kr = { 0 }, in = { 0 }, lab = { 0 }, ki = { 0 },
			    kl = { 0 };
			const struct lmf_msg *last, *klast;
			int32_t tag;
			long sl, tl;

			if (ex->nprompt % 2 != 1 || ex->nresponse < 2) {
				skip(o->st, ex, "%s", ex->broken ? ex->broken :
				    "needs an odd number of prompt messages "
				    "and two responses");
				continue;
			}
			if (kx->nresponse < 1 || (!*kx->response[0].content &&
			    kx->nresponse < 2)) {
				skip(o->st, ex, "the KL response (of row %zu) "
				    "is missing", kx->row);
				continue;
			}
			tag = *ex->response[0].content ? 1 : 0;
			last = tag ? &ex->response[0] : &ex->response[1];
			klast = *kx->response[0].content ? &kx->response[0] :
			    &kx->response[1];
			if (oneturn(t, tok, ex, last, &p, &r, err, errlen) ||
			    oneturn(t, tok, ex, klast, &kp, &kr, err,
			    errlen)) {
				skip(o->st, ex, "%s", err);
			} else {
				seen[tag] = 1;
				lmf_infer_seqlen((long)p.n, (long)r.n,
				    po->cutoff_len, &sl, &tl);
				join(&p, sl, &r, tl, &in, &lab);
				lmf_infer_seqlen((long)kp.n, (long)kr.n,
				    po->cutoff_len, &sl, &tl);
				join(&kp, sl, &kr, tl, &ki, &kl);
				add_tensor(o, "input_ids", in.v, in.n, 0);
				add_tensor(o, "labels", lab.v, lab.n, 0);
				add_tensor(o, "kl_input_ids", ki.v, ki.n, 0);
				add_tensor(o, "kl_labels", kl.v, kl.n, 0);
				add_tensor(o, "kto_tags", &tag, 1, 1);
				emit(o);
			}
			lmf_ids_free(&p);
			lmf_ids_free(&r);
			lmf_ids_free(&kp);
			lmf_ids_free(&kr);
			lmf_ids_free(&in);
			lmf_ids_free(&lab);
			lmf_ids_free(&ki);
			lmf_ids_free(&kl);
		}
		if (seen[0] + seen[1] == 1)
			o->st->one_kto_tag = 1;
	}
	return 0;
}

/* ---- ppo, predict (spec 4.7) ---- */

static int
process_unsupervised(struct lmf_template *t, struct lmf_tok *tok,
    const struct lmf_process_opts *po, const struct lmf_example *ex,
    struct out *o, char *err, size_t errlen)
{
	static const struct lmf_msg empty = { LMF_ROLE_ASSISTANT, "" };
	struct lmf_ids p = { 0 }, r = { 0 };
	long sl, tl;

	if (ex->nprompt % 2 != 1) {
		skip(o->st, ex, "%s", ex->broken ? ex->broken : "needs an odd "
		    "number of prompt messages");
		return 0;
	}
	if (oneturn(t, tok, ex, ex->nresponse == 1 ? &ex->response[0] : &empty,
	    &p, &r, err, errlen)) {
		skip(o->st, ex, "%s", err);
	} else {
		lmf_infer_seqlen((long)p.n, (long)r.n, po->cutoff_len, &sl,
		    &tl);
		add_tensor(o, "input_ids", p.v, (size_t)sl, 0);
		add_tensor(o, "labels", r.v, (size_t)tl, 0);
		emit(o);
	}
	lmf_ids_free(&p);
	lmf_ids_free(&r);
	return 0;
}

int
lmf_process(struct lmf_template *t, struct lmf_tok *tok,
    const struct lmf_process_opts *po, const struct lmf_dataset *ds,
    void (*emitfn)(void *ctx, const struct lmf_item *it), void *ctx,
    struct lmf_process_stats *st, char *err, size_t errlen)
{
	struct out o;
	int rc = 0;

	memset(&o, 0, sizeof o);
	memset(st, 0, sizeof *st);
	o.emit = emitfn;
	o.ctx = ctx;
	o.st = st;
	st->nin = ds->n;
	if (po->stage == LMF_STAGE_PT)
		return process_pt(t, tok, po, ds, &o, err, errlen);
	if (po->stage == LMF_STAGE_KTO)
		return process_kto(t, tok, po, ds, &o, err, errlen);
	for (size_t i = 0; !rc && i < ds->n; i++) {
		const struct lmf_example *ex = &ds->ex[i];

		switch (po->stage) {
		case LMF_STAGE_SFT:
			rc = po->unsupervised ? process_unsupervised(t, tok,
			    po, ex, &o, err, errlen) : process_sft(t, tok, po,
			    ex, &o, err, errlen);
			break;
		case LMF_STAGE_RM:
		case LMF_STAGE_DPO:
			rc = process_pairwise(t, tok, po, ex, &o, err, errlen);
			break;
		default:
			rc = process_unsupervised(t, tok, po, ex, &o, err,
			    errlen);
		}
	}
	return rc;
}
