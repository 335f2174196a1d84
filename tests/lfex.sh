# tests/lfex.sh: shared by t92xx, sourced after lib.sh. LLaMA-Factory's
# stock example configs (tests/data/lf-examples, copies carried by the
# tests) filled in with paths only, on tiny random Qwen3 / Llama 3
# checkpoints (Hugging Face directories) with the real tokenizers.
EX=$TOP/tests/data/lf-examples
DATA=$SHARED/data/llamafactory
[ -d "$TOP/data/llamafactory" ] && DATA=$TOP/data/llamafactory
# have_shared N: true when the tokenizers and datasets are here, else N skips
have_shared() {
	if [ -d "$SHARED/tokenizers/qwen3" ] && [ -d "$SHARED/tokenizers/llama3" ] &&
	    [ -f "$DATA/dataset_info.json" ]; then return 0; fi
	_i=0
	while [ $_i -lt "$1" ]; do skip "no ../shared tokenizers or data"
		_i=$((_i + 1)); done
	done_testing
	exit 0
}
# mkmodel DIR qwen3|llama3: a tiny random checkpoint of that architecture
mkmodel() {
	mkdir -p "$1.init"
	if [ "$2" = qwen3 ]; then cat >"$1.init/config.json" <<'CFG'
{"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
 "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
 "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8,
 "vocab_size": 151936, "max_position_embeddings": 4096,
 "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": true,
 "bos_token_id": 151643, "eos_token_id": 151645}
CFG
	else cat >"$1.init/config.json" <<'CFG'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
 "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 128256,
 "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
 "rope_theta": 500000.0, "tie_word_embeddings": false,
 "bos_token_id": 128000, "eos_token_id": 128009}
CFG
	fi
	lmf-load -q --init --config "$1.init/config.json" -o "$1.lmf" &&
	lmf-export --model_name_or_path "$1.lmf" --export_dir "$1" \
		--finetuning_type full 2>/dev/null &&
	cp "$SHARED/tokenizers/$2/tokenizer.json" \
		"$SHARED/tokenizers/$2/tokenizer_config.json" "$1/"
}
# fill NAME MODEL [ADAPTER [RM]]: NAME.yaml from the example, paths only
fill() {
	sed "s|@MODEL@|$2|; s|@ADAPTER@|${3:-}|; s|@RM@|${4:-}|;
	    s|@DATA@|$DATA|; s|@OUT@|out|" "$EX/$1.yaml" >"$1.yaml"
}
# check_paths_only NAME: the filled config differs only in its paths
check_paths_only() {
	diff "$EX/$1.yaml" "$1.yaml" | grep '^[<>]' |
	    grep -v '^[<>] \(model_name_or_path\|adapter_name_or_path\|reward_model\|dataset_dir\|output_dir\|export_dir\):' |
	    grep -q . && return 1 || return 0
}
# check_has DIR FILE...: each file is in DIR and not empty
check_has() {
	_dir=$1; shift
	for _f; do check "$_dir has $_f" test -s "$_dir/$_f"; done
}
