/* mkmodel.h: random model streams for the unit tests (static functions:
 * include it once, after lmf/model.h, lmf/stream.h and lmf/util.h). */
#ifndef MKMODEL_H
#define MKMODEL_H

/* a tensor of name and shape (ndim dimensions sh), mean + sd N(0, 1)
 * drawn from rng, into w */
static void
mk_tensor(struct lmf_wr *w, const char *name, int ndim, const int64_t *sh,
    struct lmf_rng *rng, float mean, float sd)
{
	struct lmf_tensor t = { 0 };
	uint64_t i, n = 1;
	float *p;
	int d;

	for (d = 0; d < ndim; d++)
		n *= (uint64_t)sh[d];
	p = xmallocarray(n, sizeof *p);
	for (i = 0; i < n; i++)
		p[i] = mean + sd * lmf_rng_normal(rng);
	t.name = (char *)name;
	t.dtype = LMF_F32;
	t.ndim = ndim;
	memcpy(t.shape, sh, (size_t)ndim * sizeof *sh);
	t.data = p;
	t.nbytes = n * 4;
	lmf_wr_tensor_or_die(w, &t);
	free(p);
}

/* a model stream of config cfg (a reference taken) into path, its
 * parsed config into c: the norm weights 1 + 0.1 N(0, 1), the others
 * sd N(0, 1), drawn in order from seed 7 */
static void
mk_model(const char *path, json_t *cfg, float sd, struct lmf_config *c)
{
	json_t *meta;
	struct lmf_param *p;
	struct lmf_rng rng;
	struct lmf_wr *w;
	char err[256];
	int np, i;

	if (lmf_config_parse(c, cfg, err, sizeof err))
		die("%s", err);
	meta = json_pack("{s:s, s:o}", "kind", "model", "config", cfg);
	w = lmf_wr_open_or_die(path, meta, &lmf_wropts_default);
	json_decref(meta);
	p = lmf_model_params(c, &np);
	if (lmf_wr_item(w, (uint32_t)np) < 0)
		die("%s", lmf_wr_errmsg(w));
	lmf_rng_seed(&rng, 7);
	for (i = 0; i < np; i++)
		mk_tensor(w, p[i].name, p[i].ndim, p[i].shape, &rng,
		    p[i].kind == LMF_PARAM_NORM ? 1.0f : 0.0f,
		    p[i].kind == LMF_PARAM_NORM ? 0.1f : sd);
	free(p);
	lmf_wr_close_or_die(w);
}

#endif
