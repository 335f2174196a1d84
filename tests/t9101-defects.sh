#!/bin/sh
# issue 15's defects: lmf train --dry_run checks the dataset, eval_dataset
# and template names; lmf export and lmf chat --dry_run print their commands and run
# none; a hub id as model_name_or_path says lmf is offline and how to
# point at a local copy; SIGINT under overwrite_output_dir says how to
# resume, and that advice resumes.
. "$(dirname "$0")/lib.sh"
plan 16
tiny_dir tiny
set -- --stage sft --do_train --model_name_or_path tiny \
	--train_from_scratch --dataset identity --dataset_dir "$TOP/data" \
	--template llama3 --cutoff_len 64 --output_dir out
check "train --dry_run with good names" lmf train "$@" --dry_run
# the dry run tokenizes one row: its giving no example (a pt document
# shorter than cutoff_len) is no failure, the run itself writes blocks
check "  a pt dataset whose first row fills no block: exit 0" lmf train \
	--stage pt --do_train --model_name_or_path tiny --train_from_scratch \
	--dataset text_demo --dataset_dir "$TOP/data" --cutoff_len 256 \
	--output_dir out --dry_run
# exit 1, as the run itself (lmf-tokenize's failure)
check_exit "  a dataset not in dataset_info.json: refused" 1 \
	lmf train "$@" --dataset identity,nosuch --dry_run
check_grep "  naming it" "dataset 'nosuch' is not in dataset_info.json" \
	check.err
check_exit "  an eval_dataset not in dataset_info.json: refused" 1 \
	lmf train "$@" --eval_dataset nosuch2 --dry_run
check_grep "  naming it" "dataset 'nosuch2' is not in dataset_info.json" \
	check.err
check_exit "  an unknown template: refused" 1 \
	lmf train "$@" --template nosuch --dry_run
check "  nothing written" test ! -e out

lmf-load -q --init tiny -o m.lmf
check "export --dry_run" sh -c 'lmf export model_name_or_path=m.lmf \
	export_dir=exp --dry_run >ex.txt'
check "  prints lmf-export, writes nothing" sh -c \
	'grep -q "^lmf-export --model_name_or_path m.lmf" ex.txt && ! test -e exp'
check "chat --dry_run prints lmf-generate, runs nothing" sh -c \
	'echo hi | lmf chat model_name_or_path=m.lmf template=llama3 \
	--dry_run >ch.txt && grep -q "^lmf-generate --model m.lmf" ch.txt &&
	! grep -qv "^lmf-generate\|^#\|^work=" ch.txt'

check_exit "a hub id: exit 1" 1 lmf train "$@" \
	--model_name_or_path Qwen/Qwen3-0.6B
check_grep "  says lmf is offline and how to get a local copy" \
	"'Qwen/Qwen3-0.6B' is not a local path and lmf is offline.*--local-dir DIR) and set model_name_or_path to DIR" check.err

# SIGINT under overwrite_output_dir: the same command would start over,
# so the message names the checkpoint to resume from
python3 "$TOP/tests/mkbatches.py" -B 2 -T 16 -n 6 >b.lmf
mkfifo data.lmf
{ head -c 2000 b.lmf; while [ ! -f go ]; do sleep 0.1; done
  tail -c +2001 b.lmf; } >data.lmf &
lmf-sft --model m.lmf --threads 1 -l 0 --data data.lmf --max_steps 12 \
	--logging_steps 1 --output_dir out --overwrite_output_dir 2>err &
pid=$!
i=0; while [ "$(cat out/trainer_log.jsonl 2>/dev/null | wc -l)" -lt 1 ] &&
	[ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid; sleep 0.3; touch go; wait $pid; rc=$?; wait
check "SIGINT: exit 130" test $rc = 130
step=$(sed -n 's/.*stopped by signal 2 after step \([0-9]*\).*/\1/p' err)
check_grep "  names resume_from_checkpoint, not the same command" \
	"resume with resume_from_checkpoint 'out/checkpoint-$step' (the same command starts over, as overwrite_output_dir says)" err
check "  which resumes" sh -c "lmf-sft --model m.lmf --threads 1 -l 0 \
	--data b.lmf --max_steps 12 --logging_steps 1 --output_dir out \
	--overwrite_output_dir --resume_from_checkpoint out/checkpoint-$step \
	-q 2>e2 && head -1 out/trainer_log.jsonl | grep -q '\"current_steps\": $((step + 1)),'"
done_testing
