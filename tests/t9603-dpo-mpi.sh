#!/bin/sh
# lmf-dpo data-parallel under OpenMPI's mpirun: 2 ranks x GA 2 give the
# losses and logged metrics (rewards/*, logps/*, logits/*, the eval ones)
# of one process at GA 4 within 1e-5 relative at every step, and its
# weights within fp32 reduction-order tolerance, steps at an epoch's end
# where one rank has no micro-batch included (sigmoid with ftx, LoRA;
# orpo, full); pref_bco_weight refuses several ranks. Skipped when mpirun
# is absent or lmf was built without MPI.
. "$(dirname "$0")/lib.sh"
N=8
plan $N
mpi_setup
byte_model
mpi_probe m.lmf
python3 "$TOP/tests/mkpref.py" ds 24
lmf-tokenize -q --tokenizer "$TOP/tests/data/tok-bytelevel" --dataset_dir ds \
	--dataset pref --stage dpo --cutoff_len 32 -o ex.lmf
lmf-logps -q --model m.lmf -o scored.lmf ex.lmf
# 18 pairs: 9 batches an epoch, steps of 4, 4 and 1 micro-batches
lmf-pack -q --per_device_train_batch_size 2 --per_device_eval_batch_size 4 \
	--num_train_epochs 2 --val_size 0.25 --eval_output ev.lmf -o tr.lmf \
	scored.lmf
# dpo NP GA DIR [options]: NP ranks (1: no mpirun)
dpo() {
	_np=$1 _ga=$2 _d=$3
	shift 3
	_l=
	[ "$_np" -gt 1 ] && _l="mpirun -np $_np $SHM"
	$_l lmf-dpo --model m.lmf --data tr.lmf --eval_data ev.lmf --threads 1 \
		--save_steps 1 --logging_steps 1 --eval_strategy steps \
		--eval_steps 3 -q --gradient_accumulation_steps "$_ga" \
		--output_dir "$_d" "$@"
}
# same: DIR_GOT DIR_REF RESULT: cmpdist.py's and cmplog.py's verdicts
same() {
	lmf-dump --json "$1/$3" >got.jsonl &&
		lmf-dump --json "$2/$3" >ref.jsonl &&
		python3 "$TOP/tests/cmpdist.py" "$1" "$2" "$3" got.jsonl \
		ref.jsonl && python3 "$TOP/tests/cmplog.py" "$1" "$2"
}

check "sigmoid + ftx, LoRA: 1 process, GA 4" dpo 1 4 one \
	--learning_rate 1e-2 --pref_ftx 0.5
check "  2 ranks x GA 2" dpo 2 2 two --learning_rate 1e-2 --pref_ftx 0.5
check "  the losses, metrics and adapter of 1 process" same two one \
	adapter.lmf
check "orpo, full: 1 process, GA 4" dpo 1 4 full1 --pref_loss orpo \
	--finetuning_type full --learning_rate 1e-3
check "  2 ranks x GA 2" dpo 2 2 full2 --pref_loss orpo \
	--finetuning_type full --learning_rate 1e-3
check "  the losses, metrics and model of 1 process" same full2 full1 \
	model.lmf
dpo 2 2 bco --pref_bco_weight 0.5 2>bco.err
rc=$?
check "pref_bco_weight under 2 ranks refuses" test $rc -ne 0
check_grep "  saying so" \
	'^lmf-dpo: --pref_bco_weight runs on one process only' bco.err
done_testing
