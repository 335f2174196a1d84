#!/bin/sh
# lmf-ppo data-parallel under OpenMPI's mpirun, greedy (do_sample false):
# 2 ranks x GA 1, each generating its share of the prompts, give the
# losses, logged statistics (reward, KL, whitened advantages, ...) and the
# adapter and value head of one process at GA 2 (LoRA, a full reward
# model; an epoch's last step with one prompt batch); --dump_step
# refuses several ranks. Skipped when mpirun is absent or lmf was built
# without MPI.
. "$(dirname "$0")/lib.sh"
N=6
plan $N
mpi_setup
byte_model
mpi_probe m.lmf
pref_data 20 32
lmf-pack -q --per_device_train_batch_size 4 -o rtr.lmf rex.lmf
lmf-rm -q --model m.lmf --data rtr.lmf --threads 1 --finetuning_type full \
	--learning_rate 1e-3 --num_train_epochs 1 -o rm.lmf
ppo_prompts
lmf-tokenize -q --tokenizer "$tok" --dataset_dir ds --dataset prompts \
	--stage ppo --cutoff_len 32 -o pex.lmf
# 20 prompts: 5 batches of 4, steps of 2, 2 and 1 in each of 3 epochs
lmf-pack -q --per_device_train_batch_size 4 -o p.lmf pex.lmf
opts="--model m.lmf --data p.lmf --reward_model rm.lmf --reward_model_type
full --threads 1 --max_new_tokens 6 --do_sample false --save_steps 1
--logging_steps 1 --learning_rate 1e-3 -q"
# same: DIR_GOT DIR_REF: cmpdist.py's and cmplog.py's verdicts
same() {
	lmf-dump --json "$1/adapter.lmf" >got.jsonl &&
		lmf-dump --json "$2/adapter.lmf" >ref.jsonl &&
		python3 "$TOP/tests/cmpdist.py" "$1" "$2" adapter.lmf got.jsonl \
		ref.jsonl && python3 "$TOP/tests/cmplog.py" "$1" "$2"
}

check "1 process, GA 2" lmf-ppo $opts --gradient_accumulation_steps 2 \
	--output_dir one
check "2 ranks x GA 1" mpirun -np 2 $SHM lmf-ppo $opts --output_dir two
check "  9 steps" test "$(python3 -c '
import json; print(json.load(open("two/trainer_state.json"))["global_step"])
')" -eq 9
check "  the losses, statistics and adapter of 1 process" same two one
mpirun -np 2 $SHM lmf-ppo $opts --dump_step d.lmf 2>dump.err
rc=$?
check "--dump_step under 2 ranks refuses" test $rc -ne 0
check_grep "  saying so" \
	'^lmf-ppo: --dump_step and --rollout run on one process only' dump.err
done_testing
