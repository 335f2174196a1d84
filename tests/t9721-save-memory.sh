#!/bin/sh
# A trainer writes the Hugging Face files of its result (checkpoints and
# the final output_dir) from the weights in memory, not by reading the
# result stream it just wrote back whole: full fine-tuning with
# --output_dir peaks within a quarter of the weights' size of the same run
# writing the stream alone (-o), where reading it back added the whole
# model (a 7B run would need 28 GB more at each save). The files are
# those lmf-export makes of the stream beside them, byte for byte.
. "$(dirname "$0")/lib.sh"
plan 6
[ -x /usr/bin/time ] || skip_all "no /usr/bin/time"
cat >cfg.json <<'CFG'
{"model_type": "llama", "hidden_size": 256, "intermediate_size": 688,
 "num_hidden_layers": 4, "num_attention_heads": 4,
 "num_key_value_heads": 4, "vocab_size": 8192,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": false}
CFG
lmf-load -q --init --config cfg.json -o m.lmf
python3 "$TOP/tests/mkbatches.py" -B 1 -T 16 -V 8192 -n 1 >b.lmf
sft() {
	_o=$1
	shift
	/usr/bin/time -f %M -o "$_o.rss" lmf-sft --model m.lmf --data b.lmf \
	    --threads 1 -l 0 -q --max_steps 1 --finetuning_type full "$@"
}
check "full fine-tuning into output_dir" sft dir --output_dir dir
check "the same run writing the stream alone" sft one -o one.lmf
lmf-dump -j --hex dir/model.lmf | sed 1d >dir.json
lmf-dump -j --hex one.lmf | sed 1d >one.json
check_same "  the same weights" dir.json one.json
# the weights in KiB: embed_tokens and lm_head, 4 layers, f32
W=$(((2 * 8192 * 256 + 4 * (4 * 256 * 256 + 3 * 256 * 688 + 2 * 256) +
    256) * 4 / 1024))
got=$(($(tail -1 dir.rss) - $(tail -1 one.rss)))
echo "# peak RSS with output_dir - with -o alone: $got KiB; weights $W KiB"
check "  output_dir costs less than a quarter of the weights" \
	test $((got * 4)) -lt "$W"
check "lmf-export of the stream" lmf-export --model_name_or_path \
	dir/model.lmf --export_dir exp --threads 1
check_same "  model.safetensors is lmf-export's" dir/model.safetensors \
	exp/model.safetensors
done_testing
