/* llama_mem_test: the activations llama.c recomputes in the backward
 * instead of keeping per layer (ln1, ln2, h, the LoRA dropout inputs) come
 * back bit for bit: a training step with them recomputed (the default)
 * and with them kept (lmf_llama_keep_acts) gives the same loss and the
 * same gradients byte for byte, for LoRA with and without dropout, full
 * fine-tuning, checkpointing on and off, fp32 and bf16, llama and qwen3
 * (q_norm, k_norm) and qwen2 (biases: the unfused projections). TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmf/kernels.h"
#include "lmf/llama.h"
#include "lmf/llama_priv.h"
#include "lmf/model.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "lmf/banned.h"
#include "tap.h"
#include "mkmodel.h"

#define NB 2
#define NT 24
#define V 96

/* a random model of model_type type into path */
static void
write_model(const char *path, const char *type)
{
	struct lmf_config c;

	mk_model(path, json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
	    "s:f, s:b}", "model_type", type, "hidden_size", 32,
	    "intermediate_size", 80, "num_hidden_layers", 3,
	    "num_attention_heads", 4, "num_key_value_heads", 2, "vocab_size",
	    V, "max_position_embeddings", 64, "rms_norm_eps", 1e-6,
	    "tie_word_embeddings", 0), 0.2f, &c);
}

static struct lmf_llama *
open_model(const char *path, const struct lmf_train_opts *o, int keep)
{
	struct lmf_rd *r = lmf_rd_open_or_die(path);
	struct lmf_llama *m;
	char eb[256];
	int i;

	m = lmf_llama_open(r, o, eb, sizeof eb);
	if (!m)
		die("%s", eb);
	lmf_rd_close(r);
	lmf_llama_keep_acts(m, keep);
	/* LoRA's B is zero at init: give it values, so that every path
	 * carries gradient */
	for (i = 0; i < lmf_llama_ntrainable(m); i++) {
		struct lmf_tparam *t = lmf_llama_trainable(m, i);
		uint64_t j;

		for (j = 0; strstr(t->name, "lora_B") && j < t->numel; j++)
			t->w[j] = 0.05f * (float)((j * 7) % 13) - 0.3f;
	}
	lmf_llama_weights_changed(m);
	return m;
}

/* two steps (the second after a plain SGD update, so that the bf16
 * copies are refreshed too); the summed losses */
static double
steps(struct lmf_llama *m, const struct lmf_batch *b)
{
	double loss = 0;
	long np;
	int k, i;

	for (k = 0; k < 2; k++) {
		if (k) {
			for (i = 0; i < lmf_llama_ntrainable(m); i++) {
				struct lmf_tparam *t = lmf_llama_trainable(m, i);
				uint64_t j;

				for (j = 0; j < t->numel; j++)
					t->w[j] -= 0.1f * t->g[j];
			}
			lmf_llama_weights_changed(m);
		}
		lmf_llama_zero_grad(m);
		loss += lmf_llama_step(m, b, 0.05f, &np);
	}
	return loss;
}

/* recomputed and kept: the same loss and gradients, byte for byte */
static void
check(const char *path, const char *what, const struct lmf_train_opts *o,
    const struct lmf_batch *b)
{
	struct lmf_llama *m1 = open_model(path, o, 0);
	struct lmf_llama *m2 = open_model(path, o, 1);
	double l1 = steps(m1, b), l2 = steps(m2, b);
	int i, n = lmf_llama_ntrainable(m1), same = 1;
	uint64_t nz = 0, j;

	for (i = 0; i < n; i++) {
		struct lmf_tparam *t1 = lmf_llama_trainable(m1, i);
		struct lmf_tparam *t2 = lmf_llama_trainable(m2, i);

		if (memcmp(t1->g, t2->g, t1->numel * sizeof(float)))
			same = 0;
		for (j = 0; j < t1->numel; j++)
			nz += t1->g[j] != 0;
	}
	ok(same && l1 == l2 && nz > 0 && n == lmf_llama_ntrainable(m2),
	    "%s: recomputed and kept give the same gradients (%d tensors, "
	    "%llu nonzero, loss %.6f)", what, n, (unsigned long long)nz, l1);
	lmf_llama_free(m1);
	lmf_llama_free(m2);
}

int
main(int argc, char **argv)
{
	static const char *types[] = { "llama", "qwen3", "qwen2" };
	char tmpl[] = "/tmp/llama_mem_test.XXXXXX", *dir, *path, what[128];
	int32_t ids[NB * NT], mask[NB * NT], lab[NB * NT];
	struct lmf_batch b = { .B = NB, .T = NT, .input_ids = ids,
		.attention_mask = mask, .labels = lab };
	struct lmf_train_opts o;
	struct lmf_rng rng;
	int i, k, gc, bf, ft;

	(void)argc;
	lmf_init(1, argv);
	dir = mkdtemp(tmpl);
	if (!dir)
		die_errno("mkdtemp");
	lmf_rng_seed(&rng, 3);
	for (i = 0; i < NB * NT; i++) {
		ids[i] = (int32_t)(lmf_rng_u32(&rng) % V);
		/* row 1 ends in 5 padding tokens; the first 6 labels of
		 * each row are ignored, as a prompt's are */
		mask[i] = i >= NB * NT - 5 ? 0 : 1;
		lab[i] = i % NT < 6 || !mask[i] ? LMF_IGNORE_INDEX : ids[i];
	}
	for (k = 0; k < 3; k++) {
		path = xasprintf("%s/%s.lmf", dir, types[k]);
		write_model(path, types[k]);
		for (gc = 0; gc < 2; gc++)
			for (bf = 0; bf < 2; bf++)
				for (ft = 0; ft < 3; ft++) {
					o = lmf_train_opts_default();
					o.gradient_checkpointing = gc;
					o.bf16 = bf;
					o.finetuning_type = ft < 2 ? LMF_FT_LORA
					    : LMF_FT_FULL;
					o.lora_dropout = ft == 1 ? 0.25 : 0;
					snprintf(what, sizeof what, "%s, %s%s, "
					    "checkpointing %s, %s", types[k],
					    ft == 2 ? "full" : "LoRA", ft == 1 ?
					    " dropout 0.25" : "", gc ? "on" :
					    "off", bf ? "bf16" : "fp32");
					check(path, what, &o, &b);
				}
		unlink(path);
		free(path);
	}
	rmdir(dir);
	return tap_done();
}
