#!/bin/sh
# lmf-logps under OpenMPI's mpirun: 2 and 3 ranks score their shares of
# the examples (groups of --batch_size, rank-strided) and rank 0 writes the
# stream of one process, every reference log-prob in the examples' order
# (dpo pairs and kto examples with their KL rows, batch 1 and 3); stdin
# is refused. Skipped when mpirun is absent or lmf was built without MPI.
. "$(dirname "$0")/lib.sh"
N=8
plan $N
mpi_setup
byte_model
mpi_probe m.lmf
tok=$TOP/tests/data/tok-bytelevel
python3 "$TOP/tests/mkpref.py" ds 11
lmf-tokenize -q --tokenizer "$tok" --dataset_dir ds --dataset pref \
	--stage dpo --cutoff_len 32 -o dpo.lmf
python3 "$TOP/tests/mkfeedback.py" . 10
lmf-tokenize -q --tokenizer "$tok" --dataset_dir . --dataset fb \
	--stage kto --template default --cutoff_len 32 -o kto.lmf
# same NP STAGE BATCH: NP ranks write what one process writes (the
# header aside, whose command names another output)
same() {
	lmf-logps -q --threads 1 --model m.lmf --batch_size "$3" -o "one$2$3" \
		"$2.lmf" &&
	mpirun -np "$1" $SHM lmf-logps -q --threads 1 --model m.lmf \
		--batch_size "$3" -o "np$1$2$3" "$2.lmf" &&
	lmf-dump --json "one$2$3" | sed 1d >a.jsonl &&
	lmf-dump --json "np$1$2$3" | sed 1d >b.jsonl && test -s a.jsonl &&
	cmp a.jsonl b.jsonl && grep -q ref_logps_avg a.jsonl
}
check "dpo, batch 1: 2 ranks write the stream of 1 process" same 2 dpo 1
check "dpo, batch 3: 2 ranks, the same" same 2 dpo 3
check "dpo, batch 3: 3 ranks, the same" same 3 dpo 3
check "kto, batch 1: 2 ranks, the same" same 2 kto 1
check "kto, batch 3: 2 ranks, the same" same 2 kto 3
check "  the KL rows' log-probs are there" grep -q kl_ref_logps a.jsonl
mpirun -np 2 $SHM lmf-logps --model m.lmf -o x.lmf <dpo.lmf 2>in.err
rc=$?
check "stdin under 2 ranks refuses" test $rc -ne 0
check_grep "  saying so" '^lmf-logps: under mpirun .* must be files' in.err
done_testing
