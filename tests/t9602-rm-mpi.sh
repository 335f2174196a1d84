#!/bin/sh
# lmf-rm data-parallel under OpenMPI's mpirun: 2 ranks x GA 2 give the
# losses and logged metrics (eval_loss, eval_accuracy) of one process at
# GA 4 within 1e-5 relative at every step, and its adapter and value head
# within fp32 reduction-order tolerance, steps at an epoch's end where one
# rank has no micro-batch included (LoRA with dropout); rank 0 alone
# writes the predictions; --score refuses several ranks. Skipped when
# mpirun is absent or lmf was built without MPI.
. "$(dirname "$0")/lib.sh"
N=8
plan $N
mpi_setup
byte_model
mpi_probe m.lmf
python3 "$TOP/tests/mkpref.py" ds 24
lmf-tokenize -q --tokenizer "$TOP/tests/data/tok-bytelevel" --dataset_dir ds \
	--dataset pref --stage rm --cutoff_len 32 -o ex.lmf
# 18 pairs: 9 batches an epoch, steps of 4, 4 and 1 micro-batches
lmf-pack -q --per_device_train_batch_size 2 --per_device_eval_batch_size 4 \
	--num_train_epochs 2 --val_size 0.25 --eval_output ev.lmf -o tr.lmf \
	ex.lmf
rm_() { lmf-rm --model m.lmf --data tr.lmf --eval_data ev.lmf --threads 1 \
	--save_steps 1 --logging_steps 1 --eval_strategy steps --eval_steps 3 \
	--learning_rate 1e-2 --lora_dropout 0.1 -q "$@"; }
# same: DIR_GOT DIR_REF: cmpdist.py's and cmplog.py's verdicts; the value
# head's bias aside: its gradient, the sum of each pair's +g and -g, is
# zero but for rounding, and AdamW makes steps of that noise
same() {
	lmf-dump --json "$1/adapter.lmf" >got.jsonl &&
		lmf-dump --json "$2/adapter.lmf" >ref.jsonl &&
		python3 "$TOP/tests/cmpdist.py" "$1" "$2" adapter.lmf got.jsonl \
		ref.jsonl v_head.summary.bias &&
		python3 "$TOP/tests/cmplog.py" "$1" "$2"
}
# preds: the predictions of DIR_GOT and DIR_REF, rounded to 2 places,
# within one unit of the last
preds() {
	python3 - "$1/generated_predictions.jsonl" \
		"$2/generated_predictions.jsonl" <<'PY'
import json, sys
g, r = ([json.loads(x) for x in open(p)] for p in sys.argv[1:])
sys.exit(not (len(g) == len(r) > 0 and all(abs(a[k] - b[k]) <= 0.0101
         for a, b in zip(g, r) for k in ("chosen", "rejected"))))
PY
}

check "1 process, GA 4" rm_ --gradient_accumulation_steps 4 \
	--output_dir one --do_predict
check "2 ranks x GA 2" mpirun -np 2 $SHM lmf-rm --model m.lmf --data tr.lmf \
	--eval_data ev.lmf --threads 1 --save_steps 1 --logging_steps 1 \
	--eval_strategy steps --eval_steps 3 --learning_rate 1e-2 \
	--lora_dropout 0.1 -q --gradient_accumulation_steps 2 \
	--output_dir two --do_predict
check "  6 steps, the last of each epoch on rank 0 alone" test "$(python3 -c '
import json; print(json.load(open("two/trainer_state.json"))["global_step"])
')" -eq 6
check "  the losses, metrics and adapter of 1 process" same two one
check "  the predictions of 1 process" preds two one
check "  the value head file" test -s two/value_head.safetensors
mpirun -np 2 $SHM lmf-rm --model m.lmf --data ex.lmf --score >/dev/null \
	2>score.err
rc=$?
check "--score under 2 ranks refuses (exit 2)" test $rc -ne 0
check_grep "  saying so" '^lmf-rm: runs on one process only' score.err
done_testing
