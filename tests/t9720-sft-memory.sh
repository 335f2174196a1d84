#!/bin/sh
# lmf-sft's activation memory without gradient checkpointing: each layer
# keeps q, k, v, the attention output, the residual after attention,
# gate and up (llama.h), not the RMSNorm outputs nor silu(gate) * up,
# which the backward recomputes. The peak RSS with checkpointing off less
# the peak with it on (the libraries and weights cancel out) is the other
# L - 1 layers' sets, within 15%; keeping ln1, ln2 and h again would add
# 43% and fail. Checkpointing on and off write the same adapter.
. "$(dirname "$0")/lib.sh"
plan 4
[ -x /usr/bin/time ] || skip_all "no /usr/bin/time"
C=128 FF=352 L=5 NH=4 B=8 T=256 R=8
cat >cfg.json <<CFG
{"model_type": "llama", "hidden_size": $C, "intermediate_size": $FF,
 "num_hidden_layers": $L, "num_attention_heads": $NH,
 "num_key_value_heads": $NH, "vocab_size": 256,
 "max_position_embeddings": 512, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
lmf-load -q --init --config cfg.json -o m.lmf
python3 "$TOP/tests/mkbatches.py" -B $B -T $T -V 256 -n 1 >b.lmf
sft() {
	_o=$1
	shift
	/usr/bin/time -f %M -o "$_o.rss" lmf-sft --model m.lmf --data b.lmf \
	    --threads 1 -l 0 -q --max_steps 1 --lora_rank $R \
	    --lora_target all --output_dir "$_o" "$@"
}
check "LoRA, checkpointing off" sft off --disable_gradient_checkpointing
check "LoRA, checkpointing on" sft on
check_same "  the same adapter" off/adapter_model.safetensors \
	on/adapter_model.safetensors
# one layer's set in KiB: (N, 5 C + 2 FF) plus its rstds (2), attention
# logsumexps (NH) and LoRA x A^T (7 R) per row, f32; the checkpointed run
# has one set and the (N, C) output it recomputes into
N=$((B * T))
set=$(((5 * C + 2 * FF + 2 + NH + 7 * R) * N * 4 / 1024))
want=$(((L - 1) * set - N * C * 4 / 1024))
got=$(($(tail -1 off.rss) - $(tail -1 on.rss)))
echo "# checkpointing off - on: $got KiB, the layers' sets $want KiB"
check "  off - on is the other layers' kept activations (within 15%)" \
	test $((got * 100)) -ge $((want * 85)) -a \
	$((got * 100)) -le $((want * 115))
done_testing
