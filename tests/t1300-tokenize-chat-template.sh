#!/bin/sh
# t1300-tokenize-chat-template: lmf-tokenize without --template does what
# LLaMA-Factory does (spec 3.3 rule 6): it parses the tokenizer's jinja
# chat_template into a template (parse_template), or takes 'empty' when
# there is none. Parsed from qwen3's tokenizer_config.json the template
# gives the same input_ids and labels as --template qwen3 on alpaca_en_demo
# and identity; so do a Llama-3 template whose generation prompt is behind
# add_generation_prompt and a Mistral-instruct-style template against
# --template llama3 and mistral. So does the shared llama3 template
# (original release), which prints the assistant header even without
# add_generation_prompt: lmf strips that unconditional generation prompt
# from the assistant slot, where LLaMA-Factory keeps it. Bad templates
# fail with one line. Needs ../shared; skipped without it.
. "$(dirname "$0")/lib.sh"
plan 17

if [ -z "$SHARED" ] || [ ! -d "$SHARED/tokenizers" ]; then
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17; do
		skip "no ../shared"
	done
	done_testing
fi
T=$SHARED/tokenizers
L=$SHARED/data/llamafactory

# tokdir NAME SRC TEMPLATE-FILE: a tokenizer dir with SRC's files and
# TEMPLATE-FILE's text as chat_template ("-": none)
tokdir() {
	mkdir -p "$1"
	ln -sf "$2/tokenizer.json" "$1/tokenizer.json"
	python3 - "$2/tokenizer_config.json" "$3" >"$1/tokenizer_config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.pop("chat_template", None)
if sys.argv[2] != "-":
    c["chat_template"] = open(sys.argv[2]).read()
json.dump(c, sys.stdout)
PY
}

# same DESC TOKDIR TEMPLATE DATASET: no --template equals --template
same() {
	lmf-tokenize -q --tokenizer "$2" --dataset_dir "$L" --stage sft \
	    --dataset "$4" -o auto.lmf 2>auto.err &&
	lmf-tokenize -q --tokenizer "$2" --dataset_dir "$L" --stage sft \
	    --dataset "$4" --template "$3" -o named.lmf &&
	lmf-dump -j auto.lmf | tail -n +2 >auto.j &&
	lmf-dump -j named.lmf | tail -n +2 >named.j &&
	[ "$(wc -l <auto.j)" -gt 1 ] && cmp -s auto.j named.j
	_result $? "$1"
}

same "qwen3 chat_template = --template qwen3 on alpaca_en_demo" \
    "$T/qwen3" qwen3 alpaca_en_demo
same "qwen3 chat_template = --template qwen3 on identity" \
    "$T/qwen3" qwen3 identity

# Llama 3 with the generation prompt behind add_generation_prompt
python3 - "$T/llama3/tokenizer_config.json" >llama3.jinja <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["chat_template"]
head = "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
assert t.endswith(head)
print(t[: -len(head)] + "{% if add_generation_prompt %}" + head +
      "{% endif %}", end="")
PY
tokdir llama3g "$T/llama3" llama3.jinja
same "llama3 (gated generation prompt) = --template llama3 on alpaca_en_demo" \
    llama3g llama3 alpaca_en_demo
same "llama3 (gated generation prompt) = --template llama3 on identity" \
    llama3g llama3 identity

cat >mistral.jinja <<'EOF2'
{{- bos_token }}
{%- for m in messages %}
    {%- if m.role == 'system' %}
        {{- m.content + '\n\n' }}
    {%- elif m.role == 'user' %}
        {{- '[INST] ' + m.content + '[/INST]' }}
    {%- elif m.role == 'assistant' %}
        {{- ' ' + m.content + eos_token }}
    {%- else %}
        {{- raise_exception('unknown role ' ~ m.role) }}
    {%- endif %}
{%- endfor %}
EOF2
tokdir mistralc "$T/mistral" mistral.jinja
same "mistral-style chat_template = --template mistral on alpaca_en_demo" \
    mistralc mistral alpaca_en_demo
same "mistral-style chat_template = --template mistral on identity" \
    mistralc mistral identity

# the shared llama3 template (original release) prints the assistant
# header after the last message even without add_generation_prompt; lmf
# takes that header as the generation prompt, on the prompt side, not as
# part of the assistant slot (a deviation from LLaMA-Factory, which trains
# it), so the parsed template equals --template llama3
same "shared llama3 chat_template = --template llama3 on alpaca_en_demo" \
    "$T/llama3" llama3 alpaca_en_demo
same "shared llama3 chat_template = --template llama3 on identity" \
    "$T/llama3" llama3 identity
lmf-tokenize -q --tokenizer "$T/llama3" --dataset_dir "$L" --stage sft \
    --dataset identity --max_samples 1 -o auto.lmf &&
lmf-dump -j auto.lmf | sed -n 2p | python3 -c '
import json, sys
t = {x["name"]: x["data"] for x in json.load(sys.stdin)["tensors"]}
# <|eot_id|> ends the trained labels: no assistant header after it
sys.exit(0 if t["labels"][-1] == 128009 and t["input_ids"][-1] == 128009
    else 1)'
_result $? "shared llama3 chat_template: the answer ends with <|eot_id|>"

# a template printing bos_token for no messages, its turns ending with
# eos_token: nothing is taken for a generation prompt (no part of '<s>'
# is stripped off the answer's '</s>')
printf '%s' "{{ bos_token }}{% for m in messages %}{{ m.role + ': ' + m.content + eos_token }}{% endfor %}" >bos.jinja
tokdir bosc "$T/mistral" bos.jinja
lmf-tokenize -q --tokenizer bosc --dataset_dir "$L" --stage sft \
    --dataset identity --max_samples 1 -o bos.lmf &&
lmf-dump -j bos.lmf | sed -n 2p | python3 -c '
import json, sys
t = {x["name"]: x["data"] for x in json.load(sys.stdin)["tensors"]}
sys.exit(0 if t["labels"][-1] == 2 else 1)'
_result $? "bos-only empty render: the answer keeps its </s>"

# no chat_template: the empty template
tokdir mistral0 "$T/mistral" -
same "no chat_template: the empty template" mistral0 empty identity
lmf-tokenize --tokenizer mistral0 --dataset_dir "$L" --stage sft \
    --dataset identity --max_samples 1 -o x.lmf 2>note.err &&
grep -q "no chat_template, using 'empty'" note.err
_result $? "no chat_template: a note says so"
lmf-dump --meta auto.lmf | grep -q 'template: "empty"'
_result $? "the stream's meta names the template used"

# bad templates: one line, exit 1
printf '{%% for m in messages %%}{{ m.content }}' >unclosed.jinja
tokdir bad1 "$T/qwen3" unclosed.jinja
check_exit "unclosed block: exit 1, one line" 1 lmf-tokenize -q \
    --tokenizer bad1 --dataset_dir "$L" --stage sft --dataset identity \
    -o x.lmf
grep -q "unclosed 'for' block" check.err
_result $? "the message names the unclosed block"
printf '{{ messages | shout }}' >filter.jinja
tokdir bad2 "$T/qwen3" filter.jinja
check_exit "unknown filter: exit 1, one line" 1 lmf-tokenize -q \
    --tokenizer bad2 --dataset_dir "$L" --stage sft --dataset identity \
    -o x.lmf
printf '{%% for i in range(100000) %%}{%% for j in range(100000) %%}{%% endfor %%}{%% endfor %%}' >loop.jinja
tokdir bad3 "$T/qwen3" loop.jinja
check_exit "runaway loop: exit 1, one line" 1 lmf-tokenize -q \
    --tokenizer bad3 --dataset_dir "$L" --stage sft --dataset identity \
    -o x.lmf
done_testing
