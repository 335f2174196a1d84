#!/bin/sh
# lmf-sft data-parallel under OpenMPI's mpirun: 2 ranks x GA 1 (and x GA 2)
# give the losses of one process at GA 2 (GA 4) within 1e-5 relative at
# every step and its weights within fp32 reduction-order tolerance, over
# shared memory (vader) and TCP; only rank 0 writes; kill -9 of a rank
# stops the job, and the same command resumes to the weights of an
# uninterrupted run; lmf train's nproc_per_node gives the same. Skipped
# when mpirun is absent or lmf was built without MPI.
. "$(dirname "$0")/lib.sh"
N=17
plan $N
mpi_setup
# root may run mpirun only when it says so (containers); the test machine
# has few cores
TCP="--oversubscribe --mca btl tcp,self --mca btl_tcp_if_include lo"
tiny_model
python3 "$TOP/tests/mkbatches.py" -B 2 -T 16 -n 7 --epochs 2 >b.lmf
sft() { lmf-sft --model m.lmf --data b.lmf --threads 1 --save_steps 1 -q \
	--learning_rate 1e-2 --lora_dropout 0.1 "$@"; }
mpi_probe m.lmf
# same: DIR_GOT DIR_REF RESULT: cmpdist.py's verdict
same() {
	lmf-dump --json "$1/$3" >got.jsonl && lmf-dump --json "$2/$3" \
		>ref.jsonl && python3 "$TOP/tests/cmpdist.py" "$1" "$2" "$3" \
		got.jsonl ref.jsonl
}

check "1 process, GA 2 (LoRA, dropout)" sft --gradient_accumulation_steps 2 \
	--output_dir one
check "2 ranks (shared memory), GA 1" mpirun -np 2 $SHM lmf-sft \
	--model m.lmf --data b.lmf --threads 1 --save_steps 1 \
	--learning_rate 1e-2 --lora_dropout 0.1 --output_dir shm \
	--logging_steps 1
check "  one rank logs: each step line once" test "$(grep -c \
	'^step [0-9]*/8: loss' check.err)" -eq 8
check "  the losses and adapter of 1 process" same shm one adapter.lmf
check "2 ranks (TCP), GA 1" mpirun -np 2 $TCP lmf-sft --model m.lmf \
	--data b.lmf --threads 1 --save_steps 1 -q --learning_rate 1e-2 \
	--lora_dropout 0.1 --output_dir tcp
check "  the losses and adapter of 1 process" same tcp one adapter.lmf

# full fine-tuning: 2 ranks x GA 2 against 1 x GA 4 (sums in another order)
check "1 process, GA 4, full" sft --gradient_accumulation_steps 4 \
	--finetuning_type full --learning_rate 1e-3 --output_dir full1
check "2 ranks x GA 2, full" mpirun -np 2 $SHM lmf-sft --model m.lmf \
	--data b.lmf --threads 1 --save_steps 1 -q --learning_rate 1e-3 \
	--gradient_accumulation_steps 2 --finetuning_type full \
	--output_dir full2
check "  the losses and model of 1 process" same full2 full1 model.lmf

mpirun -np 2 $SHM lmf-sft --model m.lmf --data b.lmf --dump_grads g.lmf \
	2>dump.err
rc=$?
check "--dump_grads under 2 ranks refuses (exit 2)" test $rc -eq 2
check_grep "  saying so" '^lmf-sft: --dump_grads runs on one process only' \
	dump.err

python3 "$TOP/tests/mkbatches.py" -B 2 -T 16 -n 8 >c.lmf
mpirun $SHM -np 1 lmf-sft --model m.lmf --data b.lmf -q -o /dev/null : \
	-np 1 lmf-sft --model m.lmf --data c.lmf -q -o /dev/null 2>apart.err
rc=$?
check "ranks that read other batches stop the job" test $rc -eq 1
check_grep "  saying why" \
	'^lmf-sft: rank [01] of 2: .*must be the same files for every rank' \
	apart.err

# kill -9 of rank 1 after checkpoint-100; the same command resumes
run2() {
	mpirun -np 2 $SHM lmf-sft --model m.lmf --data c.lmf --threads 1 \
		--max_steps 300 --save_steps 100 --lora_dropout 0.1 -q \
		--learning_rate 1e-3 "$@"
}
run2 --output_dir whole 2>/dev/null
mpirun -np 2 $SHM lmf-sft --model m.lmf --data c.lmf --threads 1 \
	--max_steps 300 --save_steps 100 --lora_dropout 0.1 -q \
	--learning_rate 1e-3 --output_dir killed 2>killed.err &
mp=$!
i=0
while [ ! -d killed/checkpoint-100 ] && [ $i -lt 600 ]; do
	sleep 0.05; i=$((i + 1))
done
for p in $(pgrep -P $mp); do
	tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
		grep -qx OMPI_COMM_WORLD_RANK=1 && kill -9 "$p"
done
wait $mp
rc=$?
check "kill -9 of rank 1 stops the job" test $rc -ne 0 -a \
	! -f killed/adapter.lmf -a ! -d killed/checkpoint-300
check_grep "  mpirun says which rank died" 'rank 1 .*signal 9' killed.err
check "the same command resumes and ends" run2 --output_dir killed
check "  at the weights of an uninterrupted run" sh -c '
	lmf-dump --json killed/adapter.lmf | sed -n 2p >k.jsonl
	lmf-dump --json whole/adapter.lmf | sed -n 2p >w.jsonl
	cmp -s k.jsonl w.jsonl'
done_testing
