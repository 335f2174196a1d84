#!/bin/sh
# lmf-sft training runs on a tiny random model: the loss goes to zero on
# one fixed batch, trainer_log.jsonl and the stderr lines, steps from the
# batches header, LoRA results with PEFT names, determinism, usage errors
# and bad input (each one stderr line).
. "$(dirname "$0")/lib.sh"
plan 38
PY=python3
tiny_model
$PY "$TOP/tests/mkbatches.py" -B 2 -T 16 >one.lmf
sft() { lmf-sft --model m.lmf --threads 1 "$@"; }

check "-h prints usage" sh -c 'lmf-sft -h | grep -q "^usage: lmf-sft"'
check "-V prints the version" sh -c 'lmf-sft -V | grep -q .'
check_exit "unknown option" 2 sft --data one.lmf -o x --bogus
check_exit "model and batches both stdin" 2 lmf-sft -o x
check_exit "nowhere to write" 2 sft --data one.lmf
check_exit "bad --lr_scheduler_type" 2 sft --data one.lmf -o x \
	--lr_scheduler_type wobbly
check_exit "bad --lora_target" 2 sft --data one.lmf -o x \
	--lora_target q_proj,nose_proj
check_exit "bad --lr_scheduler_kwargs" 2 sft --data one.lmf -o x \
	--lr_scheduler_kwargs '{"min_lr_rate": "x"}'
check_exit "bad --learning_rate" 2 sft --data one.lmf -o x \
	--learning_rate 1e-3x
check_exit "stray argument" 2 sft --data one.lmf -o x extra

# 200 steps on one batch (the file is read again as often as needed)
check "200 full steps on one batch" sft --data one.lmf --finetuning_type \
	full --max_steps 200 --learning_rate 1e-2 --logging_steps 20 \
	--output_dir run
cp check.err run.err
check "the log ends with the final line of LLaMA-Factory's last on_log" $PY -c '
import json, sys
l = json.loads(open("run/trainer_log.jsonl").read().splitlines()[-1])
sys.exit(not (set(l) == {"current_steps", "total_steps", "epoch",
    "percentage", "elapsed_time", "remaining_time", "throughput",
    "total_tokens"} and l["current_steps"] == 200 and l["epoch"] == 200.0
    and l["percentage"] == 100.0 and l["remaining_time"] == "0:00:00"))'
check "the loss ends near zero" $PY -c '
import json, sys
ls = [json.loads(l) for l in open("run/trainer_log.jsonl")][:-1]
sys.exit(not (len(ls) == 10 and ls[0]["loss"] > 1 and ls[-1]["loss"] < 0.05))'
check "trainer_log.jsonl has LLaMA-Factory's keys" $PY -c '
import json, sys
keys = {"current_steps", "total_steps", "loss", "lr", "epoch", "percentage",
        "elapsed_time", "remaining_time", "throughput", "total_tokens"}
ls = [json.loads(l) for l in open("run/trainer_log.jsonl")][:-1]
l = ls[-1]
sys.exit(not (all(set(x) == keys for x in ls) and l["current_steps"] == 200
    and l["total_steps"] == 200 and l["percentage"] == 100.0
    and l["total_tokens"] == 200 * 32 and abs(l["lr"]) < 1e-12
    and abs(ls[0]["lr"] - 9e-3) < 1e-12 and ls[0]["epoch"] == 20.0))'
check_grep "stderr has llm.c-style step lines" \
	'^step 200/200: loss 0\.0[0-9]* grad_norm [0-9.e-]* lr 0\.0e+00 epoch 200\.00 tok/s [0-9]*$' \
	run.err
check "the result is a model stream" sh -c \
	'lmf-dump run/model.lmf | grep -q "^kind: model"'
check "-q is quiet" sft --data one.lmf --finetuning_type full --max_steps 4 \
	--logging_steps 1 -q --output_dir quiet
check "  (no stderr)" test ! -s check.err
check "  (log lines still written, and the final one)" \
	test "$(wc -l <quiet/trainer_log.jsonl)" -eq 5

# steps from the header: 3 batches an epoch, 2 epochs, GA 2 -> 2 x 2 steps
$PY "$TOP/tests/mkbatches.py" -n 3 --epochs 2 >ep.lmf
check "epochs from the batches header" sft --data ep.lmf --logging_steps 1 \
	--gradient_accumulation_steps 2 --output_dir ep -q
check "  4 steps, epoch 2.0 at the end" $PY -c '
import json, sys
ls = [json.loads(l) for l in open("ep/trainer_log.jsonl")][:-1]
sys.exit(not (len(ls) == 4 and ls[-1]["total_steps"] == 4
    and ls[1]["epoch"] == 1.0 and ls[-1]["epoch"] == 2.0))'
check "lmf-pack | lmf-sft: 1.5 epochs of 10 batches, GA 3: 6 steps" sh -c '
	python3 "$TOP/tests/packref.py" make sft 40 1 >sft.jsonl &&
	lmf-dump -r -o ex.lmf sft.jsonl &&
	sed "s/\"vocab_size\": 64/\"vocab_size\": 512/" cfg.json >c512.json &&
	lmf-load -q --init --config c512.json -o m512.lmf &&
	lmf-pack -q --num_train_epochs 1.5 --per_device_train_batch_size 4 \
	    ex.lmf | lmf-sft --model m512.lmf --gradient_accumulation_steps 3 \
	    --threads 1 --logging_steps 1 -q --output_dir pk &&
	tail -1 pk/trainer_log.jsonl | python3 -c "import json, sys
l = json.loads(sys.stdin.read())
sys.exit(not (l[\"current_steps\"] == 6 and l[\"total_steps\"] == 6))"'
check "no header counts: --max_steps needed" sh -c '
	python3 "$TOP/tests/mkbatches.py" --no-header-counts >nh.lmf
	! lmf-sft --model m.lmf --data nh.lmf -o x 2>/dev/null &&
	lmf-sft --model m.lmf --data nh.lmf -o x --max_steps 2'
check "batches from stdin running out: a warning, exit 0" sh -c '
	lmf-sft --model m.lmf --max_steps 3 -o x <one.lmf 2>w.err &&
	grep -q "ran out after step 1 of 3" w.err && test $(wc -l <w.err) = 1'

# LoRA: an adapter stream with PEFT names, continued from itself
check "LoRA run writes an adapter" sft --data one.lmf --max_steps 3 \
	--lora_rank 4 --output_dir lora -q
check "  with PEFT names" sh -c 'lmf-dump lora/adapter.lmf |
	grep -q "^kind: adapter" && lmf-dump lora/adapter.lmf |
	grep -q "base_model\.model\.model\.layers\.1\.self_attn\.q_proj\.lora_A\.weight f32 \[4, 32\]"'
check "  continued with --adapter_name_or_path" sft --data one.lmf \
	--max_steps 1 --adapter_name_or_path lora/adapter.lmf -o more.lmf -q
check "same seed, same result" sh -c 'mkdir d1 d2 && for d in d1 d2; do
	(cd $d && lmf-sft --model ../m.lmf --data ../one.lmf --max_steps 3 \
	    -q -o a.lmf --threads 1 --lora_dropout 0.1) || exit 1; done &&
	cmp d1/a.lmf d2/a.lmf'

# bad input
lmf-dump --json m.lmf >m.json
$PY "$TOP/tests/edit_model.py" drop model.norm.weight <m.json |
	lmf-dump -r -o drop.lmf
$PY "$TOP/tests/edit_model.py" shape model.layers.0.mlp.up_proj.weight \
	<m.json | lmf-dump -r -o shape.lmf
$PY "$TOP/tests/edit_model.py" nan model.layers.1.mlp.down_proj.weight \
	<m.json | lmf-dump -r -o nan.lmf
$PY "$TOP/tests/mkbatches.py" --bad-id >badid.lmf
$PY "$TOP/tests/mkbatches.py" --ignore-all >ign.lmf
head -c 300 ep.lmf >cut.lmf
check_exit "a model with a missing tensor" 1 lmf-sft --model drop.lmf \
	--data one.lmf -o x
check_exit "a model tensor of the wrong shape" 1 lmf-sft --model shape.lmf \
	--data one.lmf -o x
check_exit "a token id >= vocab_size" 1 sft --data badid.lmf -o x
check_exit "a step whose labels are all -100" 1 sft --data ign.lmf -o x
check_exit "a NaN weight: NaN loss at step 1" 1 lmf-sft --model nan.lmf \
	--data one.lmf --finetuning_type full --output_dir nanrun
check_grep "  names the step" "step 1: the loss is nan" check.err
check "  and keeps the last good state" sh -c \
	'lmf-dump -q nanrun/model.lmf'
check_exit "a huge learning rate: stops when the loss overflows" 1 sft \
	--data one.lmf --finetuning_type full --learning_rate 1e30 \
	--max_steps 50 --max_grad_norm 0 -o huge.lmf
check_exit "a truncated batches stream" 1 sft --data cut.lmf -o x
check_exit "batches given as the model" 1 lmf-sft --model one.lmf \
	--data one.lmf -o x
done_testing
