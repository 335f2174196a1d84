#!/bin/sh
# lmf-eval under OpenMPI's mpirun: 2 and 3 ranks split the scoring groups
# of the demo task (data/eval/lmfdemo, 16 questions) and rank 0 alone
# prints the report and writes results.json and results.log, those of one
# process byte for byte, at batch 1 and 3; --dump_ids refuses several
# ranks. Skipped when mpirun is absent or lmf was built without MPI.
. "$(dirname "$0")/lib.sh"
N=9
plan $N
mpi_setup
tiny_model
mpi_probe m.lmf
G="$TOP/tests/golden/eval"
lmf-load -q -o e.lmf "$G/model" || exit 1
cp -R "$TOP/data/eval" tasks
E="lmf-eval -q --threads 1 --model e.lmf --template qwen --task_dir tasks"
E="$E --task lmfdemo_test"
# same DIR_GOT DIR_REF: the two files and the report alike
same() {
	cmp "$1/results.json" "$2/results.json" &&
		cmp "$1/results.log" "$2/results.log" && cmp "$1.txt" "$2.txt"
}
for b in 1 3; do
	$E --batch_size $b --save_dir one$b >one$b.txt
	check "batch $b: 2 ranks" sh -c "mpirun -np 2 $SHM $E --batch_size $b \
		--save_dir two$b >two$b.txt"
	check "  the report and files of 1 process" same two$b one$b
	check "  3 ranks, the same" sh -c "mpirun -np 3 $SHM $E \
		--batch_size $b --save_dir three$b >three$b.txt &&
		cmp three$b.txt one$b.txt && cmp three$b/results.json \
		one$b/results.json"
done
mpirun -np 2 $SHM $E --dump_ids ids.txt >/dev/null 2>dump.err
rc=$?
check "--dump_ids under 2 ranks refuses" test $rc -ne 0
check_grep "  saying so" '^lmf-eval: --dump_ids runs on one process only' \
	dump.err
check "  one process's report is not empty" test -s one1.txt
done_testing
