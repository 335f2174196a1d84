#!/bin/sh
# lmf-rm (LoRA and the value head, whose gradient is final before the
# blocks), lmf-dpo (full) and lmf-kto (LoRA) data-parallel with the
# gradients in small buckets (ddp_bucket_cap_mb): 2 ranks x GA 2 give the
# losses, metrics and weights of one process at GA 4 (cmpdist.py and
# cmplog.py), steps at an epoch's end where one rank has no micro-batch
# included, and exactly the weights of the flat allreduce. Skipped when
# mpirun is absent or lmf was built without MPI.
. "$(dirname "$0")/lib.sh"
N=21
plan $N
mpi_setup
cat >cfg.json <<'CFG'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": 576, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
lmf-load -q --init --config cfg.json -o m.lmf
mpi_probe m.lmf
TOK="$TOP/tests/data/tok-bytelevel"
python3 "$TOP/tests/mkpref.py" ds 24
python3 "$TOP/tests/mkfeedback.py" . 24
# 18 rows or pairs: 9 batches an epoch, steps of 4, 4 and 1 micro-batches
pack() { lmf-pack -q --per_device_train_batch_size 2 \
	--per_device_eval_batch_size 4 --num_train_epochs 2 --val_size 0.25 \
	--eval_output "$1-ev.lmf" -o "$1-tr.lmf" "$2"; }
lmf-tokenize -q --tokenizer "$TOK" --dataset_dir ds --dataset pref \
	--stage rm --cutoff_len 32 -o rm.lmf && pack rm rm.lmf
lmf-tokenize -q --tokenizer "$TOK" --dataset_dir ds --dataset pref \
	--stage dpo --cutoff_len 32 -o dpo.lmf &&
	lmf-logps -q --model m.lmf -o dpos.lmf dpo.lmf && pack dpo dpos.lmf
lmf-tokenize -q --tokenizer "$TOK" --dataset_dir . --dataset fb --stage kto \
	--template default --cutoff_len 32 -o kto.lmf &&
	lmf-logps -q --model m.lmf -o ktos.lmf kto.lmf && pack kto ktos.lmf
# run TOOL NP GA DIR CAP [options]: NP ranks (1: no mpirun), buckets of
# CAP MiB; stderr in DIR.err
run() {
	r_t=$1 r_np=$2 r_ga=$3 r_dir=$4 r_cap=$5
	shift 5
	r_l=
	[ "$r_np" -gt 1 ] && r_l="mpirun -np $r_np $SHM"
	r_s=${r_t#lmf-}
	$r_l $r_t --model m.lmf --data $r_s-tr.lmf --eval_data $r_s-ev.lmf \
		--threads 1 --save_steps 1 --logging_steps 1 \
		--eval_strategy steps --eval_steps 3 \
		--gradient_accumulation_steps "$r_ga" --ddp_bucket_cap_mb \
		"$r_cap" --output_dir "$r_dir" "$@" 2>"$r_dir.err"
}
# same: DIR_GOT DIR_REF RESULT [SKIP]: cmpdist.py's and cmplog.py's verdicts
same() {
	lmf-dump --json "$1/$3" >got.jsonl &&
		lmf-dump --json "$2/$3" >ref.jsonl &&
		python3 "$TOP/tests/cmpdist.py" "$1" "$2" "$3" got.jsonl \
		ref.jsonl ${4-} && python3 "$TOP/tests/cmplog.py" "$1" "$2"
}
# exact: DIR1 DIR2 RESULT: the same tensors, bit for bit
exact() {
	lmf-dump --json "$1/$3" | sed 1d >e1.jsonl &&
		lmf-dump --json "$2/$3" | sed 1d >e2.jsonl && cmp -s e1.jsonl e2.jsonl
}
# buckets FILE: the bucket count of the allreduce line in FILE
buckets() { sed -n 's/^2 ranks: allreduce .* in \([0-9]*\) buckets,.*/\1/p' "$1"; }

# the value head's bias aside (cmpdist.py: a gradient of rounding noise)
R="--learning_rate 1e-2 --lora_dropout 0.1"
check "rm, LoRA + value head: 1 process, GA 4" run lmf-rm 1 4 rm1 0 $R
check "  2 ranks x GA 2, flat" run lmf-rm 2 2 rmflat 0 $R
check "  2 ranks x GA 2, 1 KiB buckets" run lmf-rm 2 2 rmbk 0.0009765625 $R
n=$(buckets rmbk.err)
check "  several buckets ($n)" test "${n:-0}" -gt 4
check "  the losses, metrics and weights of 1 process" same rmbk rm1 \
	adapter.lmf v_head.summary.bias
check "  the weights of the flat allreduce, exactly" exact rmbk rmflat \
	adapter.lmf
check "  the value head of the flat allreduce, exactly" cmp -s \
	rmbk/value_head.safetensors rmflat/value_head.safetensors

D="--pref_loss orpo --finetuning_type full --learning_rate 1e-3"
check "dpo (orpo), full: 1 process, GA 4" run lmf-dpo 1 4 dpo1 0 $D
check "  2 ranks x GA 2, flat" run lmf-dpo 2 2 dpoflat 0 $D
check "  2 ranks x GA 2, 4 KiB buckets" run lmf-dpo 2 2 dpobk 0.00390625 $D
n=$(buckets dpobk.err)
check "  several buckets ($n)" test "${n:-0}" -gt 4
check "  the losses, metrics and model of 1 process" same dpobk dpo1 \
	model.lmf
check "  the model of the flat allreduce, exactly" exact dpobk dpoflat \
	model.lmf

K="--learning_rate 1e-2 --pref_ftx 0.5"
check "kto, LoRA + ftx: 1 process, GA 4" run lmf-kto 1 4 kto1 0 $K
check "  2 ranks x GA 2, flat" run lmf-kto 2 2 ktoflat 0 $K
check "  2 ranks x GA 2, 1 KiB buckets" run lmf-kto 2 2 ktobk 0.0009765625 $K
n=$(buckets ktobk.err)
check "  several buckets ($n)" test "${n:-0}" -gt 4
check "  the losses, metrics and adapter of 1 process" same ktobk kto1 \
	adapter.lmf
check "  the adapter of the flat allreduce, exactly" exact ktobk ktoflat \
	adapter.lmf
check "  the flat run says so" grep -q \
	'^2 ranks: allreduce .* MB), after .* waiting' ktoflat.err
check "  one process says nothing of ranks" sh -c '! grep -q ranks kto1.err'
done_testing
