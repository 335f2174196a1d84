#!/bin/sh
# lmf-dump: the text and JSON forms of every dtype, -r back to identical
# bytes (checked against streams built in Python), concatenation, options,
# and the errors of the JSON form.
. "$(dirname "$0")/lib.sh"
plan 86
PY=/usr/bin/python3
mkjson="$PY $TOP/tests/dumpform.py"

# every dtype with its extremes, nan/inf/-0, subnormals, empty tensors, a
# scalar, 8 dims, nested data, names that are not plain, unknown records
# before, inside and between items, an item of no tensors
cat >fix.jsonl <<'END'
{"lmf":1,"meta":{"kind":"examples","command":"lmf-tokenize --stage sft","n":3,"r":0.5,"cfg":{"a":[1,2,{"b":null}],"u":"h\u00e9"}}}
{"record":"PRE0","base64":"AAEC"}
{"item":0,"tensors":[{"record":"IN00","base64":""},{"name":"f32","dtype":"f32","shape":[14],"data":[0,-0.0,1,-1,0.1,"nan","-nan","inf","-inf",1e-45,1.17549435e-38,3.4028235e38,"nan:0x7fc00001",1.0000001]},{"record":"IN01","base64":"aGk="},{"name":"f64","dtype":"f64","shape":[10],"data":[0.1,-0.0,5e-324,1.7976931348623157e308,2.2250738585072014e-308,"nan","inf",1e300,123456789012345678,"nan:0xfff0000000000001"]},{"name":"f16","dtype":"f16","shape":[9],"data":[65504,-65504,6e-8,6.1035156e-05,-0.0,"nan","-inf",0.1,"nan:0x7c01"]},{"name":"bf16","dtype":"bf16","shape":[8],"data":[3.3895314e38,9.2e-41,1.1754944e-38,-0.0,"nan","-inf",0.1,"nan:0xff81"]}]}
{"item":1,"tensors":[{"name":"i8","dtype":"i8","shape":[3],"data":[-128,127,0]},{"name":"i16","dtype":"i16","shape":[2],"data":[-32768,32767]},{"name":"i32","dtype":"i32","shape":[2],"data":[-2147483648,2147483647]},{"name":"i64","dtype":"i64","shape":[2],"data":[-9223372036854775808,9223372036854775807]},{"name":"u8","dtype":"u8","shape":[3],"data":[0,255,128]},{"name":"text","dtype":"u8","shape":[10],"text":"h\u00e9llo\n\"w\""},{"name":"bool","dtype":"bool","shape":[3],"data":[true,false,2]}]}
{"item":2,"tensors":[]}
{"record":"\u0000\u00ff\u0010z","base64":"/w=="}
{"item":3,"tensors":[{"name":"empty","dtype":"f32","shape":[0],"data":[]},{"name":"empty3","dtype":"i64","shape":[2,0,3],"data":[]},{"name":"scalar","dtype":"f64","shape":[],"data":[2.5]},{"name":"dims8","dtype":"i16","shape":[1,2,1,2,1,2,1,2],"data":[[[[[[[[0,1],[2,3]]]],[[[[4,5],[6,7]]]]]]],[[[[[[8,9],[10,11]]]],[[[[12,13],[14,15]]]]]]]},{"namehex":"ff41","dtype":"u8","shape":[2],"hex":"00ff"},{"name":"sp ace\u00e9","dtype":"u8","shape":[0],"text":""}]}
{"record":"POST","base64":"YWJj"}
{"end":4}
END

check "-h prints usage on stdout" lmf-dump -h
check_grep "usage names -r" "lmf-dump -r" check.out
check "-V" lmf-dump -V
check_grep "-V names the version" "^lmf-dump [0-9]" check.out

# the form to bytes: lmf-dump -r agrees with the bytes built in Python
check "python builds the stream" sh -c "$mkjson fix.jsonl >want.raw"
check "-r -l 0 of the fixture" sh -c 'lmf-dump -r -l 0 fix.jsonl >a.raw'
check_same "-r writes the bytes the form stands for" want.raw a.raw
check "--json of a raw stream" sh -c 'lmf-dump --json a.raw >a.json'
check "-r of the dump" sh -c 'lmf-dump -r -l 0 -o b.raw a.json'
check_same "dump --json, -r: identical raw bytes" a.raw b.raw
check "--json again" sh -c 'lmf-dump -j b.raw >b.json'
check_same "dump -> -r -> dump: identical JSON" a.json b.json
check "--hex --json" sh -c 'lmf-dump -j --hex a.raw >h.json'
check "-r of the hex form" sh -c 'lmf-dump -r -l 0 h.json >h.raw'
check_same "the hex form round-trips to identical bytes" a.raw h.raw
check_grep "--hex writes hex" '"hex":"' h.json
check "text form" sh -c 'lmf-dump a.raw >a.txt'
check "text form of the round trip" sh -c 'lmf-dump b.raw >b.txt'
check_same "dump -> -r -> dump: identical text" a.txt b.txt

# compressed (level 1, the default): same data, same text and JSON
check "-r compressed" sh -c 'lmf-dump -r a.json >c.lmf && lmf-dump -r fix.jsonl >d.lmf'
check "zstd magic" sh -c 'head -c 4 c.lmf | od -An -tx1 | grep -q "28 b5 2f fd"'
check "json of compressed" sh -c 'lmf-dump -j c.lmf >c.json'
check_same "compressed: identical JSON" a.json c.json
check "text of both compressed" sh -c 'lmf-dump c.lmf >c.txt && lmf-dump d.lmf >d.txt'
check_same "compressed: identical text" c.txt d.txt
check_grep "text says zstd" '^compression: zstd' c.txt

# what the forms show
check_grep "-0 stays -0" '"data":\[0,-0.0,1,-1,0.1,"nan","-nan","inf","-inf",1e-45,1.1754944e-38,3.4028235e+38,"nan:0x7fc00001",1.0000001\]' a.json
check_grep "f64 extremes" '5e-324,1.7976931348623157e+308,2.2250738585072014e-308,"nan","inf",1e+300,1.2345678901234568e+17,"nan:0xfff0000000000001"' a.json
check_grep "i64 extremes" '\[-9223372036854775808,9223372036854775807\]' a.json
check_grep "u8 text as text" '"text":"h.llo\\n\\"w\\""' a.json
check_grep "a name that is not UTF-8 as namehex" '"namehex":"ff41"' a.json
check_grep "nested data flattened" '"data":\[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\]' a.json
check_grep "an unknown record in an item" '{"item":0,"tensors":\[{"record":"IN00","base64":""},' a.json
check_grep "a tag that is not ASCII" '{"record":"\\u0000\\u00ff\\u0010z","base64":"/w=="}' a.json
check_grep "text: stats" '^  f32 f32 \[14\] \[0, -0.0, 1, -1, 0.1, nan, ...\] min -1 max 3.40282e+38 mean 3.78091e+37 nan 3 inf 2$' a.txt
check_grep "text: integer stats" '^  i8 i8 \[3\] \[-128, 127, 0\] min -128 max 127 mean -0.333333$' a.txt
check_grep "text: end" '^end: 4 items$' a.txt

# options
check "-n 2 --items 1-2" sh -c 'lmf-dump -n 2 --items 1-2 a.raw >o.txt'
check "--items shows only those items" sh -c 'grep -q "^item 1:" o.txt && grep -q "^item 2:" o.txt && ! grep -q "^item [03]:" o.txt'
check_grep "-n 2 shows two values" '^  i8 i8 \[3\] \[-128, 127, ...\] min' o.txt
check "--meta" sh -c 'lmf-dump --meta a.raw >m.txt && ! grep -q "^item" m.txt && grep -q "^  cfg: " m.txt'
check "-q prints nothing" sh -c 'lmf-dump -q c.lmf >q.out && test ! -s q.out'

# an empty stream, concatenation, a big tensor through a pipe
printf '%s\n' '{"lmf":1,"meta":{"command":"x","kind":"examples"}}' '{"end":0}' >e.jsonl
check "empty stream round trip" sh -c 'lmf-dump -r e.jsonl | lmf-dump -j >e2.jsonl'
check_same "empty stream: identical" e.jsonl e2.jsonl
check "cat a b | lmf-dump (zstd)" sh -c 'cat c.lmf d.lmf | lmf-dump -j >cat.json'
check "items continue across concatenated streams" sh -c 'grep -q "^{\"item\":7," cat.json && grep -q "^{\"end\":8}$" cat.json'
check "cat a b | lmf-dump (raw)" sh -c 'cat a.raw b.raw | lmf-dump -j >cat2.json'
check_same "raw and zstd concatenations read alike" cat.json cat2.json
$PY -c '
import random, struct
random.seed(1)
v = [struct.unpack("<f", struct.pack("<f", random.gauss(0, 1)))[0] for i in range(400000)]
print("{\"lmf\":1,\"meta\":{\"command\":\"x\",\"kind\":\"model\"}}")
print("{\"item\":0,\"tensors\":[{\"name\":\"w\",\"dtype\":\"f32\",\"shape\":[400,1000],\"data\":[%s]}]}" % ",".join(repr(x) for x in v))
print("{\"end\":1}")' >big.jsonl
check "a big tensor" sh -c 'lmf-dump -r -l 0 big.jsonl >big.raw && lmf-dump -j big.raw | lmf-dump -r -l 0 | cmp -s - big.raw'
check "| head is quiet" sh -c 'lmf-dump -j big.raw | head -c 10 >/dev/null; lmf-dump big.raw | head -1 >/dev/null'
check_exit "no message after | head" 0 sh -c 'lmf-dump -j big.raw | head -c 10 >/dev/null; echo done >&2'

# usage errors: exit 2, one line
check_exit "unknown option" 2 lmf-dump --bogus a.raw
check_exit "-o without -r" 2 lmf-dump -o x a.raw
check_exit "-r with --json" 2 lmf-dump -r -j a.json
check_exit "two files" 2 lmf-dump a.raw b.raw
check_exit "-n junk" 2 lmf-dump -n x a.raw
check_exit "--items backwards" 2 lmf-dump --items 3-1 a.raw
check_exit "missing file" 1 lmf-dump nonexistent.lmf

# errors of the JSON form: exit 1, one line naming line and problem, no file
hdr='{"lmf":1,"meta":{"kind":"x"}}'
t='{"item":0,"tensors":[{"name":"a",'
bad() {  # DESC PATTERN LINE...
	_d=$1; _p=$2; shift 2
	printf '%s\n' "$@" >bad.jsonl
	lmf-dump -r -o bad.lmf bad.jsonl >check.out 2>check.err
	_rc=$?
	if [ "$_rc" -eq 1 ] && [ "$(wc -l <check.err)" -eq 1 ] &&
	    grep -q -e "$_p" check.err && [ ! -e bad.lmf ]; then
		_result 0 "$_d"
	else
		_result 1 "$_d"
		echo "# exit $_rc:"; sed 's/^/# /' check.err | head -3
	fi
}
bad "300 in u8" "line 2: tensor 'a': value 300 does not fit u8" "$hdr" \
    "$t"'"dtype":"u8","shape":[1],"data":[300]}]}' '{"end":1}'
bad "1e39 in f32" "line 2: tensor 'a': value 1e39 does not fit f32" "$hdr" \
    "$t"'"dtype":"f32","shape":[1],"data":[1e39]}]}' '{"end":1}'
bad "70000 in f16" "value 70000 does not fit f16" "$hdr" \
    "$t"'"dtype":"f16","shape":[1],"data":[70000]}]}' '{"end":1}'
bad "1.5 in i32" "line 2: tensor 'a': 1.5 is not an integer (i32)" "$hdr" \
    "$t"'"dtype":"i32","shape":[1],"data":[1.5]}]}' '{"end":1}'
bad "2^63 in i64" "does not fit i64" "$hdr" \
    "$t"'"dtype":"i64","shape":[1],"data":[9223372036854775808]}]}' '{"end":1}'
bad "a string in i8" "a string where a number (i8) is due" "$hdr" \
    "$t"'"dtype":"i8","shape":[1],"data":["nan"]}]}' '{"end":1}'
bad "a bad nan form" '"nan:0x7f800000" is not a f32 value' "$hdr" \
    "$t"'"dtype":"f32","shape":[1],"data":["nan:0x7f800000"]}]}' '{"end":1}'
bad "unknown dtype name" 'unknown dtype "f8"' "$hdr" \
    "$t"'"dtype":"f8","shape":[1],"data":[1]}]}' '{"end":1}'
bad "missing field" 'missing field "shape"' "$hdr" \
    "$t"'"dtype":"f32","data":[1]}]}' '{"end":1}'
bad "no data" 'needs one of "data", "text" or "hex"' "$hdr" \
    "$t"'"dtype":"f32","shape":[1]}]}' '{"end":1}'
bad "unknown field" 'unknown field "colour"' "$hdr" \
    "$t"'"dtype":"f32","shape":[1],"data":[1],"colour":1}]}' '{"end":1}'
bad "too few values" "1 values where its shape holds 2" "$hdr" \
    "$t"'"dtype":"f32","shape":[2],"data":[1]}]}' '{"end":1}'
bad "too many values" "more than the 2 values its shape holds" "$hdr" \
    "$t"'"dtype":"f32","shape":[2],"data":[1,2,3]}]}' '{"end":1}'
bad "text of the wrong length" "text of 2 bytes where its shape holds 3" \
    "$hdr" "$t"'"dtype":"u8","shape":[3],"text":"ab"}]}' '{"end":1}'
bad "bad hex" 'non-hex digit' "$hdr" \
    "$t"'"dtype":"i16","shape":[1],"hex":"zz00"}]}' '{"end":1}'
bad "2^40 elements" "2^40-byte limit" "$hdr" \
    "$t"'"dtype":"f32","shape":[1048576,1048576],"data":[]}]}' '{"end":1}'
bad "malformed JSON" "line 2: malformed JSON: '2' at column" "$hdr" \
    "$t"'"dtype":"f32","shape":[2],"data":[1 2]}]}' '{"end":1}'
bad "unterminated line" "line 2: malformed JSON" "$hdr" '{"item":0,"tens'
bad "bad base64" "malformed base64" "$hdr" '{"record":"ABCD","base64":"a"}' \
    '{"end":0}'
bad "a reserved tag" "'ITEM' is not an unknown record" "$hdr" \
    '{"record":"ITEM","base64":""}' '{"end":0}'
bad "items out of order" "item 1 where item 0 is due" "$hdr" \
    '{"item":1,"tensors":[]}' '{"end":1}'
bad "wrong end count" "end line counts 2 items, 1 were given" "$hdr" \
    '{"item":0,"tensors":[]}' '{"end":2}'
bad "no end line" "ends after line 2 without an end line" "$hdr" \
    '{"item":0,"tensors":[]}'
bad "a line after the end" "line 3: a line after the end line" "$hdr" \
    '{"end":0}' '{"end":0}'
bad "no header" "the first line must be" '{"end":0}'
bad "meta without kind" 'line 1: "meta" has no "kind" string' \
    '{"lmf":1,"meta":{"kinds":"x"}}' '{"end":0}'
bad "a later form version" "JSON form version 2" \
    '{"lmf":2,"meta":{"kind":"x"}}' '{"end":0}'
bad "empty input" "the input is empty"
done_testing
