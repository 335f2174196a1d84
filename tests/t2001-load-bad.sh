#!/bin/sh
# lmf-load: usage errors (exit 2) and bad input (exit 1), each one line on
# stderr naming the problem: broken safetensors, bad configs, checkpoints
# that do not match their config, bad adapters.
. "$(dirname "$0")/lib.sh"
plan 61
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
T=$TOP/tests
$PY "$T/mkckpt.py" llama ll && $PY "$T/mkckpt.py" qwen2 qw &&
	$PY "$T/mkckpt.py" adapter ad || exit 1

# usage errors
check_exit "unknown option" 2 lmf-load --bogus qw
check_grep "the message names the option" "unknown option '--bogus'" check.err
check_exit "missing option argument" 2 lmf-load qw --dtype
check_exit "bad --dtype" 2 lmf-load --dtype f8 qw
check_exit "bad --seed" 2 lmf-load --init --seed 1x qw
check_exit "bad --level" 2 lmf-load -l 99 qw
check_exit "no directory" 2 lmf-load
check_exit "two directories" 2 lmf-load --model_name_or_path qw ll
check_exit "extra argument" 2 lmf-load qw ll
check_exit "--init with an adapter" 2 lmf-load --init \
	--adapter_name_or_path ad qw
check_exit "--config without --init" 2 lmf-load --config qw/config.json qw

# badst KIND DESC PATTERN: a broken model.safetensors beside a good config
badst() {
	rm -rf b && mkdir b && cp qw/config.json b/ &&
		$PY "$T/mkckpt.py" bad "$1" b/model.safetensors
	check_exit "safetensors: $2" 1 lmf-load -o out.lmf b
	check_grep "  names it: $3" "$3" check.err
}
badst overlap "overlapping tensors" "overlap"
badst past-end "offsets past the file" "outside the data block"
badst dtype "unknown dtype" "unknown dtype 'F8_E4M3'"
badst shape "size not numel * dtype size" "bytes of data"
badst json "header not JSON" "not JSON"
badst hdrlen "header length past the file" "header length"
check "a failed -o leaves no file" sh -c '! ls out.lmf* 2>/dev/null'

# badcfg DESC PATTERN PYTHON-EDIT: qwen2 with its config edited
badcfg() {
	rm -rf c && cp -r qw c &&
		$PY -c "import json; c = json.load(open('c/config.json')); $3;
json.dump(c, open('c/config.json', 'w'))"
	check_exit "config: $1" 1 lmf-load c
	check_grep "  names it: $2" "$2" check.err
}
badcfg "missing field" "'hidden_size' is missing" "del c['hidden_size']"
badcfg "negative field" "'num_hidden_layers' must be positive" \
	"c['num_hidden_layers'] = -2"
badcfg "unsupported model_type" "'model_type' 'gpt2'" "c['model_type'] = 'gpt2'"
badcfg "rope_scaling" "'rope_scaling'" \
	"c['rope_scaling'] = {'rope_type': 'longrope', 'factor': 2.0}"
badcfg "kv heads do not divide heads" "'num_key_value_heads'" \
	"c['num_key_value_heads'] = 3"
badcfg "sliding window" "'use_sliding_window'" "c['use_sliding_window'] = True"
badcfg "misshapen tensor" "model.embed_tokens.weight' has shape" \
	"c['vocab_size'] = 21"
badcfg "unexpected tensor" "unexpected tensor 'model.layers.1" \
	"c['num_hidden_layers'] = 1"
badcfg "missing tensor" "model.layers.2.input_layernorm.weight' is missing" \
	"c['num_hidden_layers'] = 3"
printf '{"model_type": "llama",' >c/config.json
check_exit "config: not JSON" 1 lmf-load c

# sharded checkpoints
rm -rf s && cp -r ll s && rm s/model-00002-of-00003.safetensors
check_exit "a shard is missing" 1 lmf-load s
check_grep "  names it" "model-00002-of-00003.safetensors" check.err
rm -rf s && cp -r ll s && $PY -c "import json
i = json.load(open('s/model.safetensors.index.json'))
m = i['weight_map']
k = sorted(m)[0]
m[k] = [f for f in sorted(set(m.values())) if f != m[k]][0]
json.dump(i, open('s/model.safetensors.index.json', 'w'))"
check_exit "the index names the wrong shard" 1 lmf-load s
rm -rf s && mkdir s && cp ll/config.json s/
check_exit "no checkpoint at all" 1 lmf-load s
check_exit "no such directory" 1 lmf-load nonexistent

# adapters
badad() {
	rm -rf a && cp -r ad a &&
		$PY -c "import json; c = json.load(open('a/adapter_config.json')); $3;
json.dump(c, open('a/adapter_config.json', 'w'))"
	check_exit "adapter: $1" 1 lmf-load --adapter_name_or_path a ${4:-}
	check_grep "  names it: $2" "$2" check.err
}
badad "no peft_type" "'peft_type' is missing" "del c['peft_type']"
badad "wrong rank" "not rank 4" "c['r'] = 4"
badad "module not targeted" "not in target_modules" \
	"c['target_modules'] = ['q_proj']"
badad "shapes against another model" "the model's\\|not a linear layer" \
	"pass" "--model_name_or_path qw"
badad "use_rslora a string (PEFT reads \"true\" as true)" \
	"'use_rslora' is not true or false" "c['use_rslora'] = 'true'"
badad "use_dora a number" "'use_dora' is not true or false" \
	"c['use_dora'] = 1"

printf '\001\002' >short.safetensors
rm -rf b && mkdir b && cp qw/config.json b/ && cp short.safetensors \
	b/model.safetensors
check_exit "a 2-byte safetensors file" 1 lmf-load b

done_testing
