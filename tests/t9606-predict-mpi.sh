#!/bin/sh
# sft predict (predict_with_generate, greedy) under mpirun through lmf
# train with nproc_per_node 2: each rank generates its share of the
# prompt batches (rank-strided) and rank 0 writes generated_predictions.jsonl
# and the predict_* scores of one process at the same global batch (3
# batches: 2 on rank 0, 1 on rank 1). Skipped when mpirun is absent or
# lmf was built without MPI.
. "$(dirname "$0")/lib.sh"
N=4
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
do_predict: true
predict_with_generate: true
finetuning_type: lora
dataset: identity
dataset_dir: $TOP/data
template: llama3
cutoff_len: 128
max_samples: 16
val_size: 6
per_device_eval_batch_size: 2
output_dir: one
overwrite_output_dir: true
per_device_train_batch_size: 2
gradient_accumulation_steps: 2
learning_rate: 5.0e-3
num_train_epochs: 1.0
max_new_tokens: 12
do_sample: false
CFG

check "1 process, GA 2" lmf train sft.yaml
check "nproc_per_node 2, GA 1" lmf train sft.yaml nproc_per_node=2 \
	gradient_accumulation_steps=1 output_dir=two
check "  the predictions of 1 process, in its order" cmp \
	two/generated_predictions.jsonl one/generated_predictions.jsonl
check "  the predict_* scores of 1 process" python3 -c '
import json
g, r = (json.load(open(d + "/predict_results.json")) for d in ("two", "one"))
k = [x for x in r if "runtime" not in x and "per_second" not in x]
assert len(k) == 4 and list(g) == list(r), (g, r)
assert all(g[x] == r[x] for x in k), (g, r)'
done_testing
