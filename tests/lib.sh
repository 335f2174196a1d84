# tests/lib.sh: TAP helpers shared by the shell tests (mblaze-style).
# Each test script: . "$(dirname "$0")/lib.sh"; plan N; check ...; done_testing
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
PATH="$TOP:$TOP/scripts:$PATH"
export PATH TOP
SHARED=$(cd "$TOP/../shared" 2>/dev/null && pwd || true)
SCRATCH="$TOP/tests/scratch/$(basename "$0" .sh)"
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
cd "$SCRATCH" || exit 1
_n=0
_fail=0

plan() { _plan=$1; echo "1..$1"; }

_result() {  # status description
	_n=$((_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_n - $2"
	else
		echo "not ok $_n - $2"
		_fail=$((_fail + 1))
	fi
}

# check DESC CMD...: the command succeeds
check() {
	_d=$1; shift
	if "$@" >check.out 2>check.err; then _result 0 "$_d"; else
		_result 1 "$_d"; sed 's/^/# /' check.err | head -5; fi
}

# check_exit DESC CODE CMD...: exit status is CODE and stderr is one line
check_exit() {
	_d=$1; _want=$2; shift 2
	"$@" >check.out 2>check.err
	_got=$?
	_lines=$(wc -l <check.err)
	if [ "$_got" -eq "$_want" ] && [ "$_lines" -eq 1 ]; then
		_result 0 "$_d"
	else
		_result 1 "$_d"
		echo "# exit $_got (want $_want), $_lines stderr lines:"
		sed 's/^/# /' check.err | head -5
	fi
}

# check_same DESC FILE1 FILE2: identical files
check_same() {
	if cmp -s "$2" "$3"; then _result 0 "$1"; else
		_result 1 "$1"; diff "$2" "$3" 2>/dev/null | head -10 | sed 's/^/# /'; fi
}

# check_grep DESC PATTERN FILE: the file has a line matching PATTERN
check_grep() {
	if grep -q -e "$2" "$3"; then _result 0 "$1"; else
		_result 1 "$1"; echo "# no '$2' in $3:"; head -5 "$3" | sed 's/^/# /'; fi
}

# small_llama LAYERS VOCAB MAXPOS: cfg.json, a LLaMA of width 32 (4 heads,
# 2 kv heads, MLP 64) of that many layers, vocabulary and positions, and
# m.lmf, the model initialised from it
small_llama() {
	cat >cfg.json <<CFG
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": $1, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": $2, "max_position_embeddings": $3, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
	lmf-load -q --init --config cfg.json -o m.lmf
}

# tiny_model: a 2-layer LLaMA of vocabulary 64 (the trainer tests' model)
tiny_model() { small_llama 2 64 64; }

# tiny_dir DIR: a model directory for train_from_scratch: data/models/
# tiny-llama's config at the byte-level test tokenizer's vocabulary (576),
# with that tokenizer
tiny_dir() {
	mkdir -p "$1"
	sed 's/"vocab_size": 512/"vocab_size": 576/' \
		"$TOP/data/models/tiny-llama/config.json" >"$1/config.json"
	cp "$TOP"/tests/data/tok-bytelevel/* "$1/"
}

# identity_yaml: sft.yaml, LoRA rank 8 on every projection of tiny/ from
# scratch (tiny_dir tiny) over 24 rows of the identity demo, 6 of them
# held out, batches of 4, into out/ (the predict tests' common keys; each
# test appends its own)
identity_yaml() {
	cat >sft.yaml <<CFG
model_name_or_path: tiny
train_from_scratch: true
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all
dataset: identity
dataset_dir: $TOP/data
template: llama3
cutoff_len: 128
max_samples: 24
val_size: 6
per_device_eval_batch_size: 4
output_dir: out
overwrite_output_dir: true
per_device_train_batch_size: 4
learning_rate: 5.0e-3
CFG
}

# byte_model: a 1-layer LLaMA of the byte-level test tokenizer's
# vocabulary (576), 128 positions (the preference and PPO tests' model)
byte_model() { small_llama 1 576 128; }

# pref_data N CUTOFF: N synthetic preference rows in ds/ (tests/mkpref.py),
# tokenized for the rm stage into rex.lmf; sets tok to the tokenizer
pref_data() {
	python3 "$TOP/tests/mkpref.py" ds "$1"
	tok=$TOP/tests/data/tok-bytelevel
	lmf-tokenize -q --tokenizer "$tok" --dataset_dir ds --dataset pref \
		--stage rm --cutoff_len "$2" -o rex.lmf
}

# ppo_prompts: ds/prompts.json, the preference rows' instructions as PPO
# prompts, registered in ds/dataset_info.json as "prompts"
ppo_prompts() {
	python3 - <<'PY'
import json
d = json.load(open('ds/pref.json'))
json.dump([{'instruction': r['instruction'], 'input': '', 'output': ''}
           for r in d], open('ds/prompts.json', 'w'))
i = json.load(open('ds/dataset_info.json'))
i['prompts'] = {'file_name': 'prompts.json'}
json.dump(i, open('ds/dataset_info.json', 'w'))
PY
}

# ppo_data N: with m.lmf, a reward model rm.lmf (full, one step on N
# preference rows of pref_data) and the rows' instructions as PPO prompts
# in p.lmf (cutoff 64, batches of 4)
ppo_data() {
	pref_data "$1" 64
	lmf-pack -q --per_device_train_batch_size 8 -o rtr.lmf rex.lmf
	lmf-rm -q --model m.lmf --data rtr.lmf --threads 1 \
		--finetuning_type full --learning_rate 1e-3 --max_steps 1 \
		-o rm.lmf
	ppo_prompts
	lmf-tokenize -q --tokenizer "$tok" --dataset_dir ds --dataset prompts \
		--stage ppo --cutoff_len 64 -o pex.lmf
	lmf-pack -q --per_device_train_batch_size 4 -o p.lmf pex.lmf
}

# rollout FILE: a dumped PPO step's queries and responses, as text
rollout() {
	lmf-dump --json "$1" | python3 -c '
import json, sys
for line in sys.stdin:
    for t in json.loads(line).get("tensors", []):
        if t["name"] in ("input_ids", "query_len", "response_len"):
            print(t["name"], t["data"])'
}

# man_flags TOOL: the flags of man/TOOL.1's OPTIONS items, "-name" for
# --name, "c" for -c, one a line
man_flags() {
	sed -n '/^\.Sh OPTIONS/,/^\.Sh /p' "$TOP/man/$1.1" | grep '^\.It' |
		grep -o 'Fl -\{0,1\}[A-Za-z_0-9-]*' | sed 's/^Fl //' | sort -u
}

# options_diff TOOL MANFLAGS: the options TOOL --list-options prints that
# the man page (man_flags's list in the file MANFLAGS) misses (both flags
# missing), and the man page's flags that are no option
options_diff() {
	"$1" --list-options | awk -F '\t' -v man="$2" '
	BEGIN { while ((getline f <man) > 0) inman[f] = 1 }
	{
		if ($1 != "") { known["-" $1] = 1 }
		if ($2 != "") { known[$2] = 1 }
		if (!(($1 != "" && ("-" $1) in inman) || ($2 != "" && $2 in inman)))
			print "not in the man page: " ($1 != "" ? $1 : $2)
	}
	END { for (f in inman) if (!(f in known)) print "not an option: " f }'
}

skip() { _n=$((_n + 1)); echo "ok $_n # skip $1"; }

# skip the rest of the plan with one reason, and end
skip_all() {
	while [ "$_n" -lt "$_plan" ]; do skip "$1"; done
	done_testing
}

# MPI tests: skip all without mpirun; let OpenMPI run as root in
# containers; SHM: mpirun's arguments for its shared-memory transport
mpi_setup() {
	command -v mpirun >/dev/null 2>&1 ||
	    skip_all "no mpirun (openmpi-bin)"
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
	export OMPI_MCA_btl_vader_single_copy_mechanism=none
	SHM="--oversubscribe --mca btl vader,self"
}

# MODEL: skip all when lmf was built without MPI (make MPI=0)
mpi_probe() {
	mpirun -np 2 $SHM lmf-sft --model "$1" --data /dev/null \
	    -o /dev/null 2>probe.err
	grep -q 'built without MPI' probe.err &&
	    skip_all "lmf built without MPI"
	return 0
}

done_testing() {
	[ "$_fail" -eq 0 ] && rm -rf "$SCRATCH"
	exit $((_fail > 0))
}
