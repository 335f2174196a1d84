#!/bin/sh
# lmf-board over HTTP (python3's http.client and raw sockets,
# tests/boardhttp.py): the token on every request, malformed forms refused
# with a 4xx and nothing changed, 1,000 bad requests and clients that
# hang up mid-request survived; the datasets per stage; preview and save;
# a tiny sft job started, a second Start refused, stopped with its
# checkpoint kept, listed and resumed.
. "$(dirname "$0")/lib.sh"
plan 33
H="python3 $TOP/tests/boardhttp.py"

check_exit "-h: exit 0" 0 sh -c 'lmf-board -h >&2'
check_exit "an unknown option: exit 2" 2 lmf-board --bogus
check_exit "--port 70000: exit 2" 2 lmf-board --port 70000
check_exit "--host that is no address: exit 1" 1 lmf-board --port 0 \
	--host nowhere --runs r0
check "lmf board dispatches to lmf-board" sh -c 'lmf board -h | grep -q -- --runs'

lmf-board --port 0 --runs runs >url.txt 2>err.txt &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
i=0
while [ ! -s url.txt ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
URL=$(cat url.txt)
check "the URL on stdout: 127.0.0.1, a 32-digit token" sh -c \
	"echo '$URL' | grep -Eq '^http://127\.0\.0\.1:[0-9]+/\?token=[0-9a-f]{32}$'"
check "no token or a wrong one: 403, nothing started" $H "$URL" no_token
check "the page sets the token as an HttpOnly cookie, which then serves" \
	$H "$URL" cookie
F="_tab=train&model_name_or_path=tiny&template=llama3&dataset=alpaca_demo"
F="$F&dataset_dir=$TOP/data&output_dir=runs/j"
check "an unknown stage: 400" $H "$URL" bad_form "$F&stage=zz" 400 "stage: 'zz'"
check "a negative learning_rate: 400" $H "$URL" bad_form \
	"$F&learning_rate=-1e-4" 400 "learning_rate: -1e-4 is below 0"
check "a NUL in a path: 400" $H "$URL" bad_form "$F&adapter_name_or_path=a%00b" \
	400 "NUL"
check "an unknown key: 400, the nearest named" $H "$URL" bad_form \
	"$F&learning_rat=1" 400 "did you mean 'learning_rate'"
check "a bad escape: 400" $H "$URL" bad_form "$F&seed=%zz" 400 "escape"
check "a key given twice: 400" $H "$URL" bad_form "$F&seed=1&seed=2" 400 twice
check "an unknown tab: 400" $H "$URL" bad_form "_tab=shell&seed=1" 400 _tab
check "no output_dir: 400" $H "$URL" bad_form "_tab=train&model_name_or_path=m" \
	400 output_dir
check "a 10 MB body: 413" $H "$URL" big_body
check "a long body with no length (chunked): 413" $H "$URL" chunked_big
check "  nothing written under runs" sh -c 'test -z "$(ls runs)"'
check "1,000 bad requests, then still serving" $H "$URL" flood 1000
check "clients hanging up mid-request and mid-reply, then still serving" \
	$H "$URL" disconnect
check "datasets for sft: the plain ones" $H "$URL" datasets "$TOP/data" sft \
	alpaca_demo,identity,sharegpt_demo,toolcall_demo,text_demo,text_demo_txt
check "datasets for dpo: the ranking ones" $H "$URL" datasets "$TOP/data" dpo \
	dpo_alpaca_demo,dpo_demo
check "datasets for kto: those with a kto_tag" $H "$URL" datasets "$TOP/data" \
	kto kto_demo
check "datasets from a directory without dataset_info.json: 404" $H "$URL" \
	get "/api/datasets?dataset_dir=nowhere&stage=sft" 404

mkdir tiny
sed 's/"vocab_size": 512/"vocab_size": 576/' \
	"$TOP/data/models/tiny-llama/config.json" >tiny/config.json
cp "$TOP"/tests/data/tok-bytelevel/* tiny/
lmf-load -q --init --config tiny/config.json -o tiny/model.lmf
F="_tab=train&stage=sft&model_name_or_path=tiny&template=llama3"
F="$F&dataset=alpaca_demo,identity&dataset_dir=$TOP/data&output_dir=runs/j"
F="$F&do_train=true&cutoff_len=64&max_samples=40&learning_rate=5e-3"
F="$F&num_train_epochs=200&logging_steps=1&save_steps=1000"
F="$F&per_device_train_batch_size=4"
check "preview: the command" $H "$URL" post preview "$F" 200 command \
	"lmf train runs/j.yaml"
check "save: runs/j.yaml, which lmf-config reads back" sh -c "$H '$URL' post \
	save '$F' && test \"\$(lmf-config --get learning_rate runs/j.yaml)\" = 5e-3"
check "start: the job runs and logs steps" sh -c "$H '$URL' post start '$F' &&
	$H '$URL' wait_steps 2 20"
check "a second start while it runs: 409" $H "$URL" post start "$F" 409
check "stop: SIGINT, the job ends stopped" sh -c "$H '$URL' post stop '' &&
	$H '$URL' wait_state stopped 20"
check "  its checkpoint kept, the run listed as stopped" $H "$URL" run_is j \
	stopped checkpoint-
check "resume: from the checkpoint, then stopped again" sh -c "$H '$URL' post \
	resume name=j && $H '$URL' wait_steps 2 20 && $H '$URL' post stop '' &&
	$H '$URL' wait_state stopped 20 && grep -q resume_from_checkpoint runs/j.log"
kill -TERM $pid
wait $pid
check "SIGTERM: lmf-board ends with 0" test $? -eq 0
trap - EXIT
done_testing
