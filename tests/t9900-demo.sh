#!/bin/sh
# make demo's script, with fewer steps (DEMO_FAST=1): a tokenizer learned
# from data/, pt then LoRA sft through lmf train, the loss falls, the plots
# exist, the merged export reloads, and the fine-tuned model answers the
# trained identity prompt with the trained answer.
. "$(dirname "$0")/lib.sh"
plan 9
DEMO_FAST=1 DEMO_DIR="$PWD/demo" sh "$TOP/scripts/demo" >demo.out 2>&1
rc=$?
_result $rc "scripts/demo runs"
[ $rc -eq 0 ] || tail -n 20 demo.out | sed 's/^/# /'
check "the tokenizer loads" lmf-tokenize --encode --tokenizer demo/base \
    /dev/null
python3 - demo/pt demo/sft >loss.out 2>&1 <<'PY'
import json, sys
for d in sys.argv[1:]:
    l = [json.loads(x)['loss'] for x in open(d + '/trainer_log.jsonl')
         if '"loss"' in x]
    assert len(l) >= 2 and l[-1] < l[0] - 0.5, (d, l)
print('fell')
PY
check_grep "the loss fell in pt and sft" '^fell$' loss.out
check "pt loss plot" test -s demo/pt/training_loss.png
check "sft loss plot" test -s demo/sft/training_loss.png
check "the plot is named" grep -q 'loss plot:.*demo/sft/training_loss.png' \
    demo.out
check "the merged export reloads" lmf-load -q -o again.lmf demo/merged
check_grep "the trained answer" \
    '^I am lmf-demo, a small assistant trained with lmf\.$' demo/answer.txt
check_grep "the demo says where the outputs are" '^merged export: ' demo.out
done_testing
