#!/bin/sh
# lmf-sft data-parallel with the gradients in buckets (ddp_bucket_cap_mb):
# buckets small enough that many are sent during the backward give the
# losses and weights of one process at the same global batch (1e-5
# relative, cmpdist.py's tolerances) and, with 2 ranks (where a sum of
# two is the same in any order), exactly the weights of the flat
# allreduce, for LoRA and full tuning; 3 ranks, whose epoch ends with
# ranks that have no micro-batch, too; a bucket larger than the gradients
# is one; a negative size is a usage error; lmf train passes the key.
# Skipped when mpirun is absent or lmf was built without MPI.
. "$(dirname "$0")/lib.sh"
N=22
plan $N
mpi_setup
tiny_model
python3 "$TOP/tests/mkbatches.py" -B 2 -T 16 -n 7 --epochs 2 >b.lmf
mpi_probe m.lmf
# same: DIR_GOT DIR_REF RESULT: cmpdist.py's verdict
same() {
	lmf-dump --json "$1/$3" >got.jsonl && lmf-dump --json "$2/$3" \
		>ref.jsonl && python3 "$TOP/tests/cmpdist.py" "$1" "$2" "$3" \
		got.jsonl ref.jsonl
}
# exact: DIR1 DIR2 RESULT: the same tensors, bit for bit
exact() {
	lmf-dump --json "$1/$3" | sed 1d >e1.jsonl &&
		lmf-dump --json "$2/$3" | sed 1d >e2.jsonl && cmp -s e1.jsonl e2.jsonl
}
# buckets FILE: the bucket count of the allreduce line in FILE
buckets() { sed -n 's/^2 ranks: allreduce .* in \([0-9]*\) buckets,.*/\1/p' "$1"; }
lora() { lmf-sft --model m.lmf --data b.lmf --threads 1 --save_steps 1 \
	--learning_rate 1e-2 --lora_dropout 0.1 "$@"; }
full() { lmf-sft --model m.lmf --data b.lmf --threads 1 --save_steps 1 \
	--learning_rate 1e-3 --finetuning_type full "$@"; }

# LoRA (14 tensors a layer, of 128 to 512 floats): 1 KiB buckets hold
# one tensor each
check "1 process, GA 2 (LoRA, dropout)" lora -q \
	--gradient_accumulation_steps 2 --output_dir one
check "2 ranks, flat allreduce (ddp_bucket_cap_mb 0)" mpirun -np 2 $SHM \
	lmf-sft --model m.lmf --data b.lmf --threads 1 --save_steps 1 \
	--learning_rate 1e-2 --lora_dropout 0.1 --ddp_bucket_cap_mb 0 \
	--output_dir flat
check_grep "  says it is one flat allreduce" \
	'^2 ranks: allreduce .* MB), after .* waiting' check.err
check "2 ranks, buckets of 1 KiB" mpirun -np 2 $SHM lmf-sft --model m.lmf \
	--data b.lmf --threads 1 --save_steps 1 --learning_rate 1e-2 \
	--lora_dropout 0.1 --ddp_bucket_cap_mb 0.0009765625 --output_dir bk
cp check.err bk.err
check "  28 buckets used (one for each LoRA tensor)" test \
	"$(buckets bk.err)" = 28
check "  the losses and adapter of 1 process" same bk one adapter.lmf
check "  the adapter of the flat allreduce, exactly" exact bk flat adapter.lmf
check "2 ranks, one bucket larger than the gradients" mpirun -np 2 $SHM \
	lmf-sft --model m.lmf --data b.lmf --threads 1 --max_steps 2 \
	--learning_rate 1e-2 --ddp_bucket_cap_mb 25 -o /dev/null
check "  is one bucket" test "$(buckets check.err)" = 1

# full: 2 ranks x GA 2 against 1 x GA 4; 4 KiB buckets
check "1 process, GA 4, full" full -q --gradient_accumulation_steps 4 \
	--output_dir full1
check "2 ranks x GA 2, full, flat" mpirun -np 2 $SHM lmf-sft --model m.lmf \
	--data b.lmf --threads 1 --save_steps 1 --learning_rate 1e-3 \
	--finetuning_type full --gradient_accumulation_steps 2 -q \
	--output_dir fullflat
check "2 ranks x GA 2, full, buckets of 4 KiB" mpirun -np 2 $SHM lmf-sft \
	--model m.lmf --data b.lmf --threads 1 --save_steps 1 \
	--learning_rate 1e-3 --finetuning_type full \
	--gradient_accumulation_steps 2 --ddp_bucket_cap_mb 0.00390625 \
	--output_dir fullbk
cp check.err fullbk.err
n=$(buckets fullbk.err)
check "  several buckets ($n)" test "${n:-0}" -gt 4
check "  the losses and model of 1 process" same fullbk full1 model.lmf
check "  the model of the flat allreduce, exactly" exact fullbk fullflat \
	model.lmf

# 3 ranks x GA 1 against 1 x GA 3: steps of 3, 3, 1 micro-batches (two
# ranks with none at the end of each epoch send their zeros)
check "1 process, GA 3, full" full -q --gradient_accumulation_steps 3 \
	--output_dir full3
check "3 ranks, full, buckets of 4 KiB" mpirun -np 3 $SHM lmf-sft \
	--model m.lmf --data b.lmf --threads 1 --save_steps 1 -q \
	--learning_rate 1e-3 --finetuning_type full --ddp_bucket_cap_mb \
	0.00390625 --output_dir fullbk3
check "  the losses and model of 1 process" same fullbk3 full3 model.lmf

check_exit "a negative bucket size is a usage error" 2 lmf-sft --model m.lmf \
	--data b.lmf -o /dev/null --ddp_bucket_cap_mb -1
check "the one-process run takes the key and is the same" sh -c '
	lmf-sft --model m.lmf --data b.lmf --threads 1 --save_steps 1 \
		--learning_rate 1e-2 --lora_dropout 0.1 -q \
		--gradient_accumulation_steps 2 --ddp_bucket_cap_mb 0.001 \
		--output_dir one1 &&
	lmf-dump --json one/adapter.lmf | sed 1d >o1.jsonl &&
	lmf-dump --json one1/adapter.lmf | sed 1d >o2.jsonl &&
	cmp -s o1.jsonl o2.jsonl'

# lmf train passes ddp_bucket_cap_mb to the trainer it launches
tiny_dir tiny
cat >sft.yaml <<CFG
model_name_or_path: tiny
train_from_scratch: true
stage: sft
do_train: true
dataset: alpaca_demo
dataset_dir: $TOP/data
template: llama3
cutoff_len: 64
max_samples: 16
output_dir: out
ddp_bucket_cap_mb: 0.5
CFG
check "lmf train: ddp_bucket_cap_mb reaches lmf-sft" sh -c \
	'lmf train sft.yaml nproc_per_node=2 --dry_run | tail -n 1 |
	grep -q "^mpirun -np 2 .*lmf-sft .*--ddp_bucket_cap_mb 0.5"'
check "lmf train: and lmf-rm" sh -c \
	'lmf train sft.yaml stage=rm dataset=dpo_demo nproc_per_node=2 \
	--dry_run | tail -n 1 | grep -q "lmf-rm .*--ddp_bucket_cap_mb 0.5"'
done_testing
