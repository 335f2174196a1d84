/* adapter_fuzz: libFuzzer harness for the reader of a PEFT adapter's
 * adapter_config.json (lora.c's lmf_lora_peft_check_config, as lmf-load's
 * load_adapter calls it): the input is adapter_config.json, checked, and
 * then each tensor of a fixed adapter_model.safetensors (LoRA rank 2 on
 * q_proj and v_proj of a one-layer model, hidden size 8) against it
 * (lmf_lora_peft_check_tensor) and, for inputs of odd size, against that
 * model. A refusal must be one line. It does not write the adapter stream
 * (the writer is not a reader). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmf/lora.h"
#include "lmf/model.h"
#include "lmf/safetensors.h"
#include "lmf/util.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char model_config[] = "{\"model_type\": \"llama\", "
    "\"hidden_size\": 8, \"intermediate_size\": 16, \"num_hidden_layers\":"
    " 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 2, "
    "\"vocab_size\": 16, \"max_position_embeddings\": 32, "
    "\"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0, "
    "\"tie_word_embeddings\": false}";

/* LoRA A [2, 8] and B [8, 2] in F32 for q_proj and v_proj: 4 x 64 bytes */
static void
write_adapter(void)
{
	static const char *mods[] = { "q_proj", "v_proj" };
	struct lmf_buf h = { 0 };
	unsigned char *file;
	size_t off = 0, hl, i;
	char *s;

	lmf_buf_puts(&h, "{");
	for (i = 0; i < 2; i++) {
		s = xasprintf("%s\"base_model.model.model.layers.0.self_attn."
		    "%s.lora_A.weight\": {\"dtype\": \"F32\", \"shape\": [2, 8], "
		    "\"data_offsets\": [%zu, %zu]}, \"base_model.model.model."
		    "layers.0.self_attn.%s.lora_B.weight\": {\"dtype\": \"F32\", "
		    "\"shape\": [8, 2], \"data_offsets\": [%zu, %zu]}",
		    i ? ", " : "", mods[i], off, off + 64, mods[i], off + 64,
		    off + 128);
		lmf_buf_puts(&h, s);
		free(s);
		off += 128;
	}
	lmf_buf_puts(&h, "}");
	hl = h.n;
	file = xcalloc(1, 8 + hl + off);
	lmf_put_u64(file, hl);
	memcpy(file + 8, h.s, hl);
	for (i = 0; i < off / 4; i++) {
		float f = (float)i / 64.0f;

		memcpy(file + 8 + hl + 4 * i, &f, 4);
	}
	fuzz_write("adapter/adapter_model.safetensors", file, 8 + hl + off);
	fuzz_write("model/config.json", model_config, sizeof model_config - 1);
	free(file);
	free(h.s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lmf_safetensors *st;
	static struct lmf_param *p;
	static int np;
	char err[600];
	json_t *j;
	int64_t r;
	int i;

	if (!st) {
		struct lmf_config c;
		json_t *mj = json_loadb(model_config, sizeof model_config - 1,
		    0, NULL);
		char *sp;

		write_adapter();
		sp = xasprintf("%s/adapter/adapter_model.safetensors",
		    fuzz_tmpdir());
		if (!mj || lmf_config_parse(&c, mj, err, sizeof err) < 0 ||
		    !(st = lmf_safetensors_open(sp, NULL, err, sizeof err)))
			abort();
		p = lmf_model_params(&c, &np);
		json_decref(mj);
		free(sp);
		lmf_verbose = 0;
	}
	/* as load_json_or_die reads it */
	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return 0;
	}
	if ((r = lmf_lora_peft_check_config(j, err, sizeof err)) < 0)
		fuzz_check_msg("config", err);
	for (i = 0; r > 0 && i < st->ntensors; i++)
		/* odd sizes: checked against the model too */
		if (lmf_lora_peft_check_tensor(st, &st->t[i], r,
		    json_object_get(j, "target_modules"), size % 2 ? p : NULL,
		    np, err, sizeof err) < 0)
			fuzz_check_msg("tensor", err);
	json_decref(j);
	return 0;
}
