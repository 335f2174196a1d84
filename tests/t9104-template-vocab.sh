#!/bin/sh
# a template whose eos / stop words the tokenizer lacks: LLaMA-Factory adds
# them as special tokens and needs resize_vocab to grow the embeddings,
# which lmf does not do. LLaMA-Factory's stock reward example (template
# qwen3_nothink) over a tiny Llama 3 with the shared llama3 tokenizer is
# refused by lmf-tokenize with one line before any training; a Qwen3
# checkpoint, whose embeddings have rows past its tokenizer, takes the
# added token as LLaMA-Factory does; a tokenizer alone (no model) still
# tokenizes.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lfex.sh"
plan 9
have_shared 9
mkmodel l3 llama3
fill rm l3
check "rm.yaml differs from the example only in its paths" check_paths_only rm
lmf train rm.yaml >/dev/null 2>train.err
check "lmf train rm.yaml on Llama 3: exit 1" test $? -eq 1
check_grep "  one line naming the token and the vocab_size" \
	"^lmf-tokenize: template 'qwen3_nothink' adds '<|im_end|>' to the tokenizer as token 128256, past the model's vocab_size 128256 (resize_vocab is not implemented)" \
	train.err
check "  nothing trained" test ! -e out/rm/adapter_model.safetensors
check_exit "lmf-tokenize --tokenizer DIR with config.json: exit 1" 1 \
	lmf-tokenize -q --tokenizer l3 --dataset_dir "$DATA" --stage rm \
	--dataset dpo_en_demo --template qwen3_nothink --max_samples 1 -o x.lmf
check "the tokenizer alone: <|im_end|> is token 128256" sh -c "
	lmf-tokenize -q --tokenizer '$SHARED/tokenizers/llama3' \
	    --dataset_dir '$DATA' --stage rm --dataset dpo_en_demo \
	    --template qwen3_nothink --max_samples 1 -o t.lmf &&
	lmf-dump --meta t.lmf | grep -q 'eos_token_id: 128256'"
check "the llama3 template on Llama 3 is not refused" lmf-tokenize -q \
	--tokenizer l3 --dataset_dir "$DATA" --stage rm --dataset dpo_en_demo \
	--template llama3 --max_samples 1 -o l.lmf
mkmodel q3 qwen3
lmf-load -q -o q3.lmf q3
check "Qwen3 (151936 rows): the llama3 template's <|eot_id|> fits" \
	lmf-tokenize -q --model q3.lmf --dataset_dir "$DATA" --stage rm \
	--dataset dpo_en_demo --template llama3 --max_samples 1 -o q.lmf
lmf-dump --meta q.lmf >q.meta
check_grep "  as token 151669, the eos" "eos_token_id: 151669" q.meta
done_testing
