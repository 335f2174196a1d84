#!/bin/sh
# lmf train with nproc_per_node 2 (or NPROC_PER_NODE=2): lmf-sft under
# mpirun, the losses and adapter of one process at the same global batch
# (2 x GA 1 against 1 x GA 2); the dry run shows the mpirun line, with
# hostfile's, and stage rm's and ppo's; a bad count is a usage error.
# Skipped when mpirun is absent or lmf was built without MPI.
. "$(dirname "$0")/lib.sh"
N=9
plan $N
mpi_setup
export LMF_MPIRUN_ARGS="--oversubscribe --mca btl vader,self"
tiny_model
mpi_probe m.lmf
tiny_dir tiny
cat >sft.yaml <<CFG
model_name_or_path: tiny
train_from_scratch: true
stage: sft
do_train: true
finetuning_type: lora
dataset: alpaca_demo
dataset_dir: $TOP/data
template: llama3
cutoff_len: 64
max_samples: 16
output_dir: one
save_steps: 1
overwrite_output_dir: true
per_device_train_batch_size: 2
gradient_accumulation_steps: 2
learning_rate: 5.0e-3
num_train_epochs: 1.0
CFG

check "dry run: lmf-sft under mpirun -np 2" sh -c \
	'lmf train sft.yaml nproc_per_node=2 --dry_run | tail -n 1 |
	grep -q "^mpirun -np 2 --oversubscribe .* lmf-sft --model"'
check "dry run: hostfile, 2 per machine" sh -c \
	'lmf train sft.yaml nproc_per_node=2 hostfile=hosts --dry_run |
	tail -n 1 | grep -q "^mpirun --hostfile hosts --npernode 2 "'
check_exit "nproc_per_node 0 is refused" 2 lmf train sft.yaml \
	nproc_per_node=0
check "dry run: stage ppo, lmf-ppo under mpirun -np 2" sh -c \
	'lmf train sft.yaml stage=ppo reward_model=m.lmf nproc_per_node=2 \
	--dry_run | tail -n 1 |
	grep -q "^mpirun -np 2 --oversubscribe .* lmf-ppo --model"'
check "dry run: stage rm, lmf-rm under mpirun -np 2" sh -c \
	'lmf train sft.yaml stage=rm dataset=dpo_demo nproc_per_node=2 \
	--dry_run | tail -n 1 |
	grep -q "^mpirun -np 2 --oversubscribe .* lmf-rm --model"'
check "1 process, GA 2" lmf train sft.yaml
check "NPROC_PER_NODE=2, GA 1" env NPROC_PER_NODE=2 lmf train sft.yaml \
	gradient_accumulation_steps=1 output_dir=two
check "nproc_per_node: 2, GA 1" lmf train sft.yaml nproc_per_node=2 \
	gradient_accumulation_steps=1 output_dir=three
same() {
	lmf-dump --json "$1/adapter.lmf" >got.jsonl &&
		lmf-dump --json one/adapter.lmf >ref.jsonl &&
		python3 "$TOP/tests/cmpdist.py" "$1" one adapter.lmf got.jsonl \
		ref.jsonl
}
if same two >cmp.out && same three >>cmp.out; then r=0; else r=1; fi
_result $r "  both: the losses and adapter of 1 process"
[ $r -eq 0 ] || sed 's/^/# /' cmp.out
done_testing
