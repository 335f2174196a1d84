/* adapter_fuzz: libFuzzer harness for the reader of a PEFT adapter's
 * adapter_config.json (lmf-load's load_adapter, tools/lmf-load.c included,
 * with die turned into a jump back here by fuzz_die.h): the input is
 * adapter_config.json beside a fixed adapter_model.safetensors (LoRA rank
 * 2 on q_proj and v_proj of a one-layer model, hidden size 8) and that
 * model's config.json; the adapter is checked against the model and
 * written as an adapter stream. A refusal must be one line. */
#include "fuzz_die.h"
#define main lmf_load_main
#include "../../tools/lmf-load.c"
#undef main

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
	static char adir[128], mdir[128], out[128];
	struct lmf_wr *w = NULL;

	if (!adir[0]) {
		write_adapter();
		snprintf(adir, sizeof adir, "%s/adapter", fuzz_tmpdir());
		snprintf(mdir, sizeof mdir, "%s/model", fuzz_tmpdir());
		snprintf(out, sizeof out, "%s/out.lmf", fuzz_tmpdir());
		lmf_verbose = 0;
	}
	fuzz_write("adapter/adapter_config.json", data, size);
	o.adapter = adir;
	o.model = size % 2 ? mdir : NULL;
	o.out = out;
	o.dtype = LMF_F32;
	o.wo = lmf_wropts_default;
	o.wo.level = 0;
	FUZZ_TRY(load_adapter(&w));
	if (fuzz_ok && w)
		lmf_wr_close(w);
	return 0;
}
