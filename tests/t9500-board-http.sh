#!/bin/sh
# lmf-board over HTTP (python3's http.client and raw sockets,
# tests/boardhttp.py): the token on every request, malformed forms refused
# with a 4xx and nothing changed, 1,000 bad requests and clients that
# hang up mid-request survived; the datasets per stage; preview and save;
# a tiny sft job started, a second Start refused, stopped with its
# checkpoint kept, listed and resumed.
. "$(dirname "$0")/lib.sh"
plan 53
# checks: DESC|CHECK|ARG... lines on stdin, one python3 for them all
checks() {
	python3 "$TOP/tests/boardhttp.py" "$URL" batch >batch.out 2>&1
	while IFS='	' read -r st desc why; do
		case $st in
		0 | 1) _result "$st" "$desc"
			[ -n "$why" ] && echo "# $why" ;;
		*) _result 1 "boardhttp.py: $st $desc" ;;
		esac
	done <batch.out
}

check "-h: the usage, exit 0" sh -c 'lmf-board -h | grep -q "^usage: lmf-board"'
check_exit "an unknown option: exit 2" 2 lmf-board --bogus
check_exit "--port 70000: exit 2" 2 lmf-board --port 70000
check_exit "--host that is no address: exit 1" 1 lmf-board --port 0 \
	--host nowhere --runs r0
man_flags lmf-board >man.txt
options_diff lmf-board man.txt >diff.txt
check "the man page's OPTIONS are the option table's" sh -c \
	'cat diff.txt >&2; ! test -s diff.txt'
check "lmf board dispatches to lmf-board" sh -c 'lmf board -h | grep -q -- --runs'

lmf-board --port 0 --runs runs >url.txt 2>err.txt &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
i=0
while [ ! -s url.txt ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
URL=$(cat url.txt)
check "the URL on stdout: 127.0.0.1, a 32-digit token" sh -c \
	"echo '$URL' | grep -Eq '^http://127\.0\.0\.1:[0-9]+/\?token=[0-9a-f]{32}$'"
F="_tab=train&model_name_or_path=tiny&template=llama3&dataset=alpaca_demo"
F="$F&dataset_dir=$TOP/data&output_dir=runs/j"
checks <<CHECKS
no token or a wrong one: 403, nothing started|no_token
the page sets the token as an HttpOnly cookie, which then serves|cookie
an unknown stage: 400|bad_form|$F&stage=zz|400|stage: 'zz'
a negative learning_rate: 400|bad_form|$F&learning_rate=-1e-4|400|learning_rate: -1e-4 is below 0
a NUL in a path: 400|bad_form|$F&adapter_name_or_path=a%00b|400|NUL
an unknown key: 400, the nearest named|bad_form|$F&learning_rat=1|400|did you mean 'learning_rate'
a bad escape: 400|bad_form|$F&seed=%zz|400|escape
a key given twice: 400|bad_form|$F&seed=1&seed=2|400|twice
an unknown tab: 400|bad_form|_tab=shell&seed=1|400|_tab
no output_dir: 400|bad_form|_tab=train&model_name_or_path=m|400|output_dir
a 10 MB body: 413|big_body
a long body with no length (chunked): 413|chunked_big
1,000 bad requests, then still serving|flood|1000
clients hanging up mid-request and mid-reply, then still serving|disconnect
datasets for sft: the plain ones|datasets|$TOP/data|sft|alpaca_demo,identity,sharegpt_demo,toolcall_demo,text_demo,text_demo_txt
datasets for dpo: the ranking ones|datasets|$TOP/data|dpo|dpo_alpaca_demo,dpo_demo
datasets for kto: those with a kto_tag|datasets|$TOP/data|kto|kto_demo
datasets from a directory without dataset_info.json: 404|get|/api/datasets?dataset_dir=nowhere&stage=sft|404
CHECKS
check "  nothing written under runs" sh -c 'test -z "$(ls runs)"'
check "  no connection left open" test "$(ls /proc/$pid/fd | wc -l)" -lt 30

tiny_dir tiny
lmf-load -q --init --config tiny/config.json -o tiny/model.lmf
F="_tab=train&stage=sft&model_name_or_path=tiny&template=llama3"
F="$F&dataset=alpaca_demo,identity&dataset_dir=$TOP/data&output_dir=runs/j"
F="$F&do_train=true&cutoff_len=64&max_samples=40&learning_rate=5e-3"
F="$F&num_train_epochs=200&logging_steps=1&save_steps=1000"
F="$F&per_device_train_batch_size=4"
M="model_name_or_path=tiny&template=llama3"
echo "keep: me" >mine.yaml
echo "its log" >other.log
checks <<CHECKS
preview: the command|post|preview|$F|200|command|lmf train runs/j.yaml
save: runs/j.yaml|post|save|$F|200|path|runs/j.yaml
save again over its own YAML: 200|post|save|$F|200|path|runs/j.yaml
save over a YAML lmf-board did not write: 409|post|save|_tab=export&$M&export_dir=mine|409
save beside a .log of another tool: 409|post|save|_tab=export&$M&export_dir=other|409
predict: do_predict in the YAML|yaml_has|preview|_tab=predict&$M&output_dir=runs/p&do_train=true&do_predict=true&predict_with_generate=true&val_size=0.1&dataset=identity|do_predict: true
chat: lmf chat, the prompts on its stdin|post|preview|_tab=chat&$M&_message=hi|200|command|lmf chat runs/chat.yaml < runs/chat.in
chat without a prompt: 400|post|preview|_tab=chat&$M|400
export: lmf export|post|preview|_tab=export&$M&export_dir=runs/e|200|command|lmf export runs/e.yaml
export without export_dir: 400|post|preview|_tab=export&$M|400
CHECKS
check "  which lmf-config reads back" \
	test "$(lmf-config --get learning_rate runs/j.yaml)" = 5e-3
check "  the user's YAML and log untouched, no other.yaml" sh -c \
	'test "$(cat mine.yaml other.log)" = "$(printf "keep: me\nits log")" &&
	! test -e other.yaml'
checks <<CHECKS
start: the job runs|post|start|$F
  its steps logged|wait_steps|2|30
a second start while it runs: 409|post|start|$F|409
stop: SIGINT|post|stop|
  the job ends stopped|wait_state|stopped|30
  its checkpoint kept, the run listed as stopped|run_is|j|stopped|checkpoint-
resume: from the checkpoint|post|resume|name=j
  steps logged after it|wait_more|30
  stopped again|post|stop|
  ended|wait_state|stopped|30
CHECKS
check "  the resume ran with resume_from_checkpoint" \
	grep -q "resume_from_checkpoint 'runs/j/checkpoint-" runs/j.log
mkdir runs/e runs/r
printf '# lmf-board: export\nmodel_name_or_path: tiny\nexport_dir: runs/e\n' \
	>runs/e.yaml
printf 'stage: rm\nmodel_name_or_path: tiny\noutput_dir: runs/r\n' >runs/r.yaml
checks <<CHECKS
runs list: an export's stage is export|stage_is|e|export
runs list: a stage from its YAML|stage_is|r|rm
CHECKS
kill -TERM $pid
wait $pid
check "SIGTERM: lmf-board ends with 0" test $? -eq 0
trap - EXIT
done_testing
