#!/bin/sh
# lmf-rm training runs on a tiny random model and synthetic preference
# data whose chosen answer is learnable (tests/mkpref.py): eval accuracy
# rises above 0.5; the output directory holds LLaMA-Factory's rm files
# (value_head.safetensors with TRL's names and shapes, read with plain
# json, and no v_head in the weights); predictions in LLaMA-Factory's
# format; --score agrees with the value head read back by lmf-load and
# with lmf-export's merge of a LoRA reward model; usage errors.
. "$(dirname "$0")/lib.sh"
plan 32
byte_model
python3 "$TOP/tests/mkpref.py" ds 96
lmf-tokenize -q --tokenizer "$TOP/tests/data/tok-bytelevel" --dataset_dir ds \
	--dataset pref --stage rm --cutoff_len 64 -o ex.lmf
lmf-pack -q --per_device_train_batch_size 8 --per_device_eval_batch_size 8 \
	--val_size 0.25 --eval_output ev.lmf -o tr.lmf ex.lmf
rm_() { lmf-rm --model m.lmf --data tr.lmf --threads 1 "$@"; }

man_flags lmf-rm >man.txt
options_diff lmf-rm man.txt >diff.txt
check "lmf-rm(1) OPTIONS are lmf-rm --list-options" sh -c \
	'test -s man.txt && cat diff.txt >&2 && ! test -s diff.txt'
check "-h prints usage" sh -c 'lmf-rm -h | grep -q "^usage: lmf-rm"'
check_exit "unknown option" 2 rm_ -o x --bogus
check_exit "model and batches both stdin" 2 lmf-rm -o x
check_exit "nowhere to write" 2 rm_
check_exit "--do_predict without --eval_data" 2 rm_ --output_dir o \
	--do_predict
check_exit "--score with --output_dir" 2 rm_ --score --output_dir o

check "full training with eval each epoch" rm_ --eval_data ev.lmf \
	--output_dir full --finetuning_type full --learning_rate 1e-3 \
	--num_train_epochs 4 --eval_strategy epoch --do_predict --plot_loss \
	--logging_steps 9
check "eval accuracy rises above 0.5, eval loss below log 2" python3 -c '
import json, sys
r = json.load(open("full/all_results.json"))
h = [e for e in json.load(open("full/trainer_state.json"))["log_history"]
     if "eval_accuracy" in e]
sys.exit(not (r["eval_accuracy"] > 0.5 and r["eval_loss"] < 0.69 and
              len(h) == 4 and h[-1]["eval_accuracy"] > 0.5))'
for f in config.json model.safetensors value_head.safetensors \
    trainer_state.json trainer_log.jsonl train_results.json \
    eval_results.json training_loss.png training_eval_accuracy.png \
    checkpoint-36/value_head.safetensors; do
	check "output_dir has $f" test -s "full/$f"
done
cat >sthead.py <<'PY'
import json, struct, sys
def names(p):
    with open(p, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop('__metadata__', None)
    return {k: (v['dtype'], v['shape']) for k, v in h.items()}
vh = names(sys.argv[1] + '/value_head.safetensors')
w = names(sys.argv[1] + '/' + sys.argv[2])
ok = vh == {'v_head.summary.weight': ('F32', [1, 32]),
            'v_head.summary.bias': ('F32', [1])}
sys.exit(not (ok and w and not any(k.startswith('v_head') for k in w)))
PY
check "value_head.safetensors: TRL's names and shapes; none in the model" \
	python3 sthead.py full model.safetensors
check "generated_predictions.jsonl: one line per eval pair, no last newline" \
	python3 -c '
import re, sys
s = open("full/generated_predictions.jsonl").read()
ls = s.split("\n")
pat = r"\{\"chosen\": -?\d+\.\d{1,2}, \"rejected\": -?\d+\.\d{1,2}\}$"
sys.exit(not (len(ls) == 24 and not s.endswith("\n") and
              all(re.match(pat, l) for l in ls)))'

check "LoRA training" rm_ --output_dir lora --max_steps 3 --lora_rank 4
check "LoRA: value_head.safetensors beside the adapter, none in it" \
	python3 sthead.py lora adapter_model.safetensors

# resume from a checkpoint: the same weights and value head as a run
# without a break (value-head dropout masks included)
for ft in full lora; do
	rm_ -q --output_dir r1$ft --finetuning_type $ft --max_steps 4 \
		--save_steps 2
	mkdir r2$ft && cp -r r1$ft/checkpoint-2 r2$ft/
	check "$ft: a resumed run ends as an unbroken one" sh -c "
	lmf-rm -q --model m.lmf --data tr.lmf --threads 1 --output_dir r2$ft \
	    --finetuning_type $ft --max_steps 4 --save_steps 2 &&
	cmp r1$ft/value_head.safetensors r2$ft/value_head.safetensors &&
	cmp r1$ft/*model.safetensors r2$ft/*model.safetensors"
done

# --score: the trained model's own stream, and the model read back from
# the Hugging Face directory with its value_head.safetensors
lmf-load -q full -o back.lmf
check "--score: one line of two scores per example" sh -c '
lmf-rm --score --model full/model.lmf --data ex.lmf >s1.txt &&
test "$(wc -l <s1.txt)" = 96 && test "$(awk "NF != 2" s1.txt | wc -l)" = 0'
check "--score from the Hugging Face directory agrees" sh -c '
lmf-rm --score --model back.lmf --data ex.lmf >s2.txt && cmp s1.txt s2.txt'
check "--score: chosen above rejected after training" sh -c '
test "$(awk "\$1 > \$2" s1.txt | wc -l)" -gt 80'
# lmf-export merges an rm adapter and writes the value head beside it
check "lmf-export of the LoRA reward model" lmf-export --model_name_or_path \
	m.lmf --adapter_name_or_path lora/adapter.lmf --export_dir merged
check "the export has value_head.safetensors, no v_head in the weights" \
	python3 sthead.py merged model.safetensors
check "scores of the export agree with model + adapter" sh -c '
lmf-load -q merged -o mm.lmf &&
lmf-rm --score --model mm.lmf --data ex.lmf >s3.txt &&
lmf-rm --score --model m.lmf --adapter_name_or_path lora --data ex.lmf \
    >s4.txt && paste s3.txt s4.txt | awk "{ d = \$1 - \$3; e = \$2 - \$4;
    if (d * d > 1e-8 || e * e > 1e-8) exit 1 }"'
check_exit "--score of a model without a value head" 1 \
	lmf-rm --score --model m.lmf --data ex.lmf
done_testing
