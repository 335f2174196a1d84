/* train_test: the Trainer (train.h) over a tiny LoRA model: the
 * output_dir rule, the step plan from a batches header, should_save by
 * epoch, save_total_limit, the log window's mean of an extra metric in
 * log_history and trainer_log.jsonl, its sum carried in lmf_state.json,
 * train_results.json, and the resume found on a second run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmf/ckpt.h"
#include "lmf/llama.h"
#include "lmf/model.h"
#include "lmf/train.h"
#include "lmf/util.h"
#include "tap.h"
#include "mkmodel.h"

static void
write_tensor(const char *path, const char *kind, const char *name, float *v,
    int n, json_t *meta)
{
	struct lmf_tensor t = { .name = (char *)name, .dtype = LMF_F32,
		.ndim = 1, .shape = { n }, .data = v, .nbytes = 4 * (uint64_t)n };
	struct lmf_wr *wr;

	json_object_set_new(meta, "kind", json_string(kind));
	wr = lmf_wr_open_or_die(path, meta, &lmf_wropts_default);
	json_decref(meta);
	if (lmf_wr_item(wr, 1) < 0)
		die("%s", lmf_wr_errmsg(wr));
	lmf_wr_tensor_or_die(wr, &t);
	lmf_wr_close_or_die(wr);
}

/* a tiny random model into path, opened for LoRA rank 2 */
static struct lmf_llama *
tiny_lora(const char *path)
{
	struct lmf_train_opts o = lmf_train_opts_default();
	struct lmf_config c;
	struct lmf_llama *m;
	struct lmf_rd *r;
	char eb[256];

	mk_model(path, json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
	    "s:f, s:b}", "model_type", "llama", "hidden_size", 8,
	    "intermediate_size", 16, "num_hidden_layers", 1,
	    "num_attention_heads", 2, "num_key_value_heads", 2, "vocab_size",
	    16, "max_position_embeddings", 16, "rms_norm_eps", 1e-6,
	    "tie_word_embeddings", 0), 0.2f, &c);
	o.finetuning_type = LMF_FT_LORA;
	o.lora_rank = 2;
	r = lmf_rd_open_or_die(path);
	if (!(m = lmf_llama_open(r, &o, eb, sizeof eb)))
		die("%s", eb);
	lmf_rd_close(r);
	return m;
}

static int
exists(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	struct stat sb;
	int r = stat(p, &sb) == 0;

	free(p);
	return r;
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/train_test.XXXXXX", *dir, *out, *bat, *p;
	struct lmf_tparam *tp;
	struct lmf_llama *m;
	struct lmf_train_args a;
	struct lmf_trainer tr;
	const char *wname;
	struct lmf_item it;
	json_t *h, *j;
	float one[2] = { 1, 2 };
	int i, ntp, saves = 0, ok_step = 1;
	uint64_t k;
	double acc;
	char *s;

	(void)argc;
	lmf_init(1, argv);
	lmf_verbose = 0;
	dir = mkdtemp(tmpl);
	out = xasprintf("%s/out", dir);
	bat = xasprintf("%s/b.lmf", dir);
	p = xasprintf("%s/m.lmf", dir);
	m = tiny_lora(p);
	free(p);
	ntp = lmf_llama_ntrainable(m);
	tp = xmallocarray((size_t)ntp, sizeof *tp);
	for (i = 0; i < ntp; i++)
		tp[i] = *lmf_llama_trainable(m, i);
	/* the rule */
	ok(!lmf_train_resume_rule(out, 0, NULL, &wname) && !wname,
	    "rule: no output_dir, a fresh start");
	mkdir(out, 0777);
	p = xasprintf("%s/model.lmf", out);
	fclose(fopen(p, "w"));
	ok(!lmf_train_resume_rule(out, 0, NULL, &wname) && wname &&
	    !strcmp(wname, "model.lmf"), "rule: a finished run is refused");
	ok(!lmf_train_resume_rule(out, 1, NULL, &wname) && !wname,
	    "rule: overwrite_output_dir");
	s = lmf_train_resume_rule(out, 0, "ck", &wname);
	ok(s && !strcmp(s, "ck") && !wname, "rule: resume_from_checkpoint");
	free(s);
	unlink(p);
	free(p);

	/* 3 batches an epoch, 2 epochs; logs every 2 steps, saves at epochs */
	write_tensor(bat, "batches", "input_ids", one, 2,
	    json_pack("{s:i, s:i}", "batches_per_epoch", 3, "num_epochs", 1));
	lmf_train_args_default(&a);
	a.output_dir = out;
	a.num_train_epochs = 2;
	a.epochs_given = 1;
	a.logging_steps = 2;
	a.save_strategy = LMF_ST_EPOCH;
	a.save_total_limit = 1;
	a.lr_scheduler_type = LMF_SCHED_CONSTANT;
	a.learning_rate = 0.1;
	lmf_train_init(&tr, &a, lmf_now());
	tr.data_path = bat;
	tr.wo = &lmf_wropts_default;
	tr.result_name = "adapter.lmf";
	tr.model = m;
	lmf_train_begin(&tr);
	ok(!tr.resume_dir, "begin: a fresh start");
	lmf_train_open(&tr);
	ok(tr.total == 6 && tr.bpe == 3, "plan: T = 2 epochs of 3 steps "
	    "(%ld)", tr.total);
	lmf_train_start(&tr, tp, ntp, lmf_llama_trainable_numel(m));
	while (tr.step < tr.total) {
		if (lmf_train_next(&tr, &it) != 1)
			break;
		lmf_item_free(&it);
		lmf_train_micro(&tr, 2, 8);
		for (i = 0; i < ntp; i++)
			for (k = 0; k < tp[i].numel; k++)
				tp[i].g[k] = 0.1f;
		lmf_train_metric(&tr, "rewards/accuracies", tr.step % 2);
		lmf_train_update(&tr, (double)(tr.step + 1));
		ok_step &= tr.adam.step == tr.step;
		if (lmf_train_should_save(&tr)) {
			saves++;
			lmf_train_save(&tr);
		}
	}
	ok(tr.step == 6 && ok_step, "six steps, as many AdamW steps");
	ok(saves == 2 && !exists(out, "checkpoint-3") &&
	    exists(out, "checkpoint-6/adapter_model.safetensors") &&
	    exists(out, "checkpoint-6/optimizer.lmf"),
	    "saved at each epoch's end; save_total_limit 1 keeps the last");
	ok(json_array_size(tr.history) == 3, "three log entries");
	h = json_array_get(tr.history, 1);
	acc = json_number_value(json_object_get(h, "rewards/accuracies"));
	ok(acc == 0.5 && json_number_value(json_object_get(h, "loss")) ==
	    3.5 && json_integer_value(json_object_get(h, "step")) == 4,
	    "log_history: the window's means of loss and the metric");
	lmf_train_end(&tr);
	p = xasprintf("%s/train_results.json", out);
	j = json_load_file(p, 0, NULL);
	ok(json_number_value(json_object_get(j, "train_loss")) == 3.5,
	    "train_results.json: the mean loss");
	json_decref(j);
	free(p);
	p = xasprintf("%s/checkpoint-6/lmf_state.json", out);
	j = json_load_file(p, 0, NULL);
	ok(json_is_object(json_object_get(j, "metric_sums")),
	    "lmf_state.json: the metric's sum for a resume");
	json_decref(j);
	free(p);
	p = xasprintf("%s/trainer_log.jsonl", out);
	s = lmf_read_file_or_die(p, NULL, 1 << 20);
	ok(strstr(s, "\"accuracy\": 0.5") || strstr(s, "\"accuracy\":0.5"),
	    "trainer_log.jsonl: accuracy, LLaMA-Factory's key");
	free(s);
	free(p);
	ok(exists(out, "adapter.lmf") && exists(out, "trainer_state.json") &&
	    exists(out, "all_results.json") &&
	    exists(out, "adapter_model.safetensors") &&
	    exists(out, "adapter_config.json"), "the final files");
	lmf_train_free(&tr);

	/* a second run finds the checkpoint */
	lmf_train_init(&tr, &a, lmf_now());
	tr.data_path = bat;
	lmf_train_begin(&tr);
	s = xasprintf("%s/checkpoint-6", out);
	ok(tr.resume_dir && !strcmp(tr.resume_dir, s),
	    "a second run resumes from checkpoint-6");
	free(s);
	lmf_train_free(&tr);
	s = xasprintf("rm -rf '%s'", dir);
	if (system(s) != 0)
		warn("cannot remove '%s'", dir);
	free(s);
	lmf_llama_free(m);
	free(tp);
	free(out);
	free(bat);
	return tap_done();
}
