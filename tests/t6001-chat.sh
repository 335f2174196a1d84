#!/bin/sh
# lmf chat (scripts/lmf-chat): from a pipe each line is answered as
# lmf-generate answers it through the template; `lmf chat` dispatches to
# it; an HF directory is loaded on the way; usage errors.
. "$(dirname "$0")/lib.sh"
plan 5
python3 -c "
import json
c = json.load(open('$TOP/data/models/tiny-llama/config.json'))
c['vocab_size'] = 520
json.dump(c, open('cfg.json', 'w'))"
lmf-load -q --init --seed 3 --config cfg.json \
    "$TOP/tests/data/tok-bytelevel" -o tm.lmf
lmf-export --model_name_or_path tm.lmf --export_dir hf
printf 'hi\nhow are you\n' >q.txt
lmf-generate --model tm.lmf --template qwen --do_sample false \
    --max_new_tokens 6 q.txt >want.txt
lmf-chat --model_name_or_path tm.lmf --template qwen --do_sample false \
    --max_new_tokens 6 <q.txt >got.txt
check_same "a pipe: one answer a line, as lmf-generate" got.txt want.txt
lmf chat --model_name_or_path hf --template qwen do_sample=false \
    max_new_tokens=6 <q.txt >got2.txt
check_same "lmf chat with a Hugging Face directory" got2.txt want.txt
check_exit "no template: exit 2" 2 lmf-chat --model_name_or_path tm.lmf
check_exit "no model: exit 2" 2 lmf-chat --template qwen
check_exit "a corrupt model: exit 1" 1 sh -c \
    'head -c 100 tm.lmf >cut.lmf; lmf-chat --model_name_or_path cut.lmf --template qwen </dev/null'
done_testing
