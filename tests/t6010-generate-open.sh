#!/bin/sh
# How lmf-generate reads a model: q/k/v and gate/up go straight into their
# fused blocks (f32), or every projection and lm_head straight into the
# bf16 block (--infer_dtype bfloat16), whatever dtype the stream stores
# them in; a weight in another dtype (f64) takes the slower way, a second
# tensor of a name is ignored, a tied lm_head is narrowed from the
# embedding; and bf16 never holds the f32 projections (peak memory).
. "$(dirname "$0")/lib.sh"
plan 7
lmf-load -q --init --seed 4 --config "$TOP/data/models/tiny-llama/config.json" \
    -o bare.lmf
for m in round mix tie tieref; do
	lmf-dump --json bare.lmf | python3 "$TOP/tests/mixdtype.py" $m |
	    lmf-dump -r -o $m.lmf || echo "# mixdtype.py $m failed"
done
check "streams rewritten: mixed dtypes, a second k_proj, tied" \
    test -s round.lmf -a -s mix.lmf -a -s tie.lmf -a -s tieref.lmf

set --
for p in 1 1,2 3,4,5 7,7,7,7 9 10,11 12,13,14,15,16 17 \
    1,2,3,4,5,6,7,8,9,10,11,12; do
	set -- "$@" --prompt_ids "$p"
done
G="lmf-generate --threads 2 --do_sample false --max_new_tokens 60 \
    --batch_size 9"
$G --model round.lmf "$@" >round.txt
$G --model mix.lmf "$@" >mix.txt
check_same "f32: bf16, f64 and duplicate tensors read as their values" \
    round.txt mix.txt
$G --model mix.lmf "$@" --infer_dtype bfloat16 >mixbf.txt
check_same "bf16: the same stream equals f32 on the rounded weights" \
    round.txt mixbf.txt
$G --model tie.lmf "$@" --infer_dtype bfloat16 >tiebf.txt
$G --model tieref.lmf "$@" >tieref.txt
check_same "bf16, tied: lm_head is the embedding rounded" tiebf.txt tieref.txt
lmf-generate --threads 1 --model mix.lmf --prompt_ids 3,4,5 --seed 7 \
    --max_new_tokens 40 --temperature 1.2 --infer_dtype bfloat16 >s1.txt
lmf-generate --threads 1 --model round.lmf --prompt_ids 3,4,5 --seed 7 \
    --max_new_tokens 40 --temperature 1.2 >s2.txt
check_same "bf16: sampling equals f32 on the rounded weights" s1.txt s2.txt
check_exit "a model stream with no item: exit 1" 1 \
    sh -c 'lmf-dump --json bare.lmf | grep -v "\"item\"" | sed "s/\"end\":1/\"end\":0/" |
    lmf-dump -r |
    lmf-generate --model - --prompt_ids 1 --max_new_tokens 1'

# peak memory at the benchmark's tiny shape (24.4 M weights, 98 MB in f32,
# of them 15.2 M projections and lm_head): bf16 holds 37 MB of f32
# embedding and 30 MB of bf16, and no f32 copy of the rest on the way
cat >big.json <<-E
{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": 288, "intermediate_size": 768, "num_attention_heads": 6,
 "num_key_value_heads": 6, "num_hidden_layers": 6, "vocab_size": 32000,
 "rms_norm_eps": 1e-05, "max_position_embeddings": 256,
 "tie_word_embeddings": false, "hidden_act": "silu"}
E
lmf-load -q --init --config big.json -l 0 -o big.lmf
rss() {
	/usr/bin/time -f %M -o "$1.rss" lmf-generate --threads 1 --model big.lmf \
	    --prompt_ids 1,2,3 --max_new_tokens 1 --infer_dtype "$1" >/dev/null
	cat "$1.rss"
}
f=$(rss float32)
b=$(rss bfloat16)
echo "# peak RSS KiB: float32 $f, bfloat16 $b"
check "bf16 peak RSS under 0.8 of f32's" test $((b * 10)) -lt $((f * 8))
done_testing
