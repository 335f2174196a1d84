#!/bin/sh
# a run shorter than logging_steps: trainer_log.jsonl is not left empty.
# As LLaMA-Factory's LogCallback does on the Trainer's final log, every
# run's log ends with one line of the last step (no loss, no lr), and
# trainer_state.json's log_history ends with the train metrics.
. "$(dirname "$0")/lib.sh"
plan 6
tiny_model
python3 "$TOP/tests/mkbatches.py" -B 2 -T 16 >one.lmf
check "3 steps at logging_steps 10" lmf-sft --model m.lmf --data one.lmf \
	--threads 1 --max_steps 3 --logging_steps 10 -q --output_dir short
check "  the log has one line" test "$(wc -l <short/trainer_log.jsonl)" -eq 1
check "  of step 3 of 3, 100 percent, no loss" python3 -c '
import json, sys
l = json.loads(open("short/trainer_log.jsonl").read())
sys.exit(not (l["current_steps"] == 3 and l["total_steps"] == 3 and
    l["percentage"] == 100.0 and l["remaining_time"] == "0:00:00" and
    "loss" not in l and "lr" not in l and l["total_tokens"] == 96))'
check "  log_history: the train metrics only" python3 -c '
import json, sys
h = json.load(open("short/trainer_state.json"))["log_history"]
sys.exit(not (len(h) == 1 and h[0]["step"] == 3 and "train_loss" in h[0]))'
check "3 steps at logging_steps 2" lmf-sft --model m.lmf --data one.lmf \
	--threads 1 --max_steps 3 --logging_steps 2 -q --output_dir two
check "  one step line and the final line" python3 -c '
import json, sys
ls = [json.loads(l) for l in open("two/trainer_log.jsonl")]
sys.exit(not (len(ls) == 2 and ls[0]["current_steps"] == 2 and
    "loss" in ls[0] and ls[1]["current_steps"] == 3 and "loss" not in ls[1]))'
done_testing
