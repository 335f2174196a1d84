#!/bin/sh
# The tokenizer (libcommon/tok*.c) against the Hugging Face `tokenizers`
# library: tests/golden/tok/tok_test.c, built here, encodes and decodes the
# hard strings of tests/golden/tok/strings.jsonl with the project's tiny
# tokenizers (tests/data/tok-*) and, when /work/shared is there, with
# qwen3, llama3 and mistral, and compares with the committed goldens; and
# the long documents of tests/golden/tok/long.jsonl (a 30 KB document that
# Mistral sees as one word, long runs without spaces, U+2581 in the text,
# composing characters) with tiny-sentencepiece and the three.
. "$(dirname "$0")/lib.sh"
plan 7
libs=$(pkg-config --libs openblas jansson libzstd libpcre2-8 libutf8proc \
	2>/dev/null || echo -lopenblas -ljansson -lzstd -lpcre2-8 -lutf8proc)
# shellcheck disable=SC2086
check "tok_test builds" ${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE ${LMF_SANFLAGS:-} \
	-I"$TOP/include" -o tok_test "$TOP/tests/golden/tok/tok_test.c" \
	"$TOP/libcommon.a" $libs -lm -lpthread
TOP=$TOP ./tok_test >tap.out 2>&1
sed 's/^/# /' tap.out | grep -v '^# ok' | head -20
! grep -v tiny- tap.out | grep -v -e qwen3 -e llama3 -e mistral |
	grep -q '^not ok'
_result $? "API, refusals, invalid UTF-8, robustness"
! grep tiny- tap.out | grep -q '^not ok'
_result $? "tiny tokenizers: ids and decode equal the reference"
for t in qwen3 llama3 mistral; do
	if [ -z "$SHARED" ] || [ ! -d "$SHARED/tokenizers/$t" ]; then
		skip "no shared $t tokenizer"
		continue
	fi
	n=$(grep -c "^ok.* $t: " tap.out)
	[ "$n" -eq 6 ]
	_result $? "$t: loads, ids and decode equal the reference ($n/6)"
done
n=$(grep -c '^ok.* long: ' tap.out)
! grep ' long: ' tap.out | grep -q '^not ok' && [ "$n" -ge 3 ]
_result $? "long documents: ids and decode equal the reference ($n ok)"
done_testing
