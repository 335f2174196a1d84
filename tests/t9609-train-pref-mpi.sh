#!/bin/sh
# lmf train --stage dpo and kto with nproc_per_node 2: lmf-logps and the
# trainer under mpirun (the dry run shows both), the losses, logged
# metrics and adapter of one process at the same global batch (2 x GA 1
# against 1 x GA 2). Skipped when mpirun is absent or lmf was built
# without MPI.
. "$(dirname "$0")/lib.sh"
N=7
plan $N
mpi_setup
export LMF_MPIRUN_ARGS="--oversubscribe --mca btl vader,self"
tiny_model
mpi_probe m.lmf
tiny_dir tiny
python3 "$TOP/tests/mkfeedback.py" fb 12
cat >dpo.yaml <<CFG
model_name_or_path: tiny
train_from_scratch: true
stage: dpo
do_train: true
finetuning_type: lora
dataset: dpo_demo
dataset_dir: $TOP/data
template: llama3
cutoff_len: 64
max_samples: 12
output_dir: one
save_steps: 1
logging_steps: 1
overwrite_output_dir: true
per_device_train_batch_size: 2
gradient_accumulation_steps: 2
learning_rate: 5.0e-3
num_train_epochs: 1.0
# AdamW's first steps make whole steps of the sign of a gradient near
# zero, rounding noise of the sums' order included: epsilon damps them
adam_epsilon: 1.0e-6
CFG
# same DIR_GOT DIR_REF: cmpdist.py's and cmplog.py's verdicts
same() {
	lmf-dump --json "$1/adapter.lmf" >got.jsonl &&
		lmf-dump --json "$2/adapter.lmf" >ref.jsonl &&
		python3 "$TOP/tests/cmpdist.py" "$1" "$2" adapter.lmf got.jsonl \
		ref.jsonl && python3 "$TOP/tests/cmplog.py" "$1" "$2"
}

check "dry run: lmf-logps and lmf-dpo under mpirun -np 2" sh -c \
	'lmf train dpo.yaml nproc_per_node=2 --dry_run >dry.txt &&
	grep -q "^mpirun -np 2 --oversubscribe .* lmf-logps --model" dry.txt &&
	grep -q "^mpirun -np 2 --oversubscribe .* lmf-dpo --model" dry.txt'
check "dpo: 1 process, GA 2" lmf train dpo.yaml
check "  nproc_per_node 2, GA 1" lmf train dpo.yaml nproc_per_node=2 \
	gradient_accumulation_steps=1 output_dir=two
check "  the losses, metrics and adapter of 1 process" same two one
sed -e 's/^stage: dpo/stage: kto/' -e 's/^dataset: dpo_demo/dataset: fb/' \
	-e 's/^dataset_dir: .*/dataset_dir: fb/' \
	-e 's/^template: llama3/template: default/' dpo.yaml >kto.yaml
check "kto: 1 process, GA 2" lmf train kto.yaml output_dir=k1
check "  nproc_per_node 2, GA 1" lmf train kto.yaml nproc_per_node=2 \
	gradient_accumulation_steps=1 output_dir=k2
check "  the losses, metrics and adapter of 1 process" same k2 k1
done_testing
