#!/bin/sh
# lmf-similarity on the golden set (tests/golden/metric, made by
# make_metric_golden.py with python3-jieba, python3-nltk and rouge_chinese's
# formula): jieba's words of every text, BLEU-4 within 1e-4 on every pair,
# ROUGE-1/2/L within 1e-4 on the pairs whose words agree, the fraction of
# pairs whose segmentation is identical (at least 99%), and the means as
# predict_results.json holds them.
. "$(dirname "$0")/lib.sh"
G="$TOP/tests/golden/metric"
plan 6
if ! test -r "${LMF_JIEBA_DIR:-/usr/lib/python3/dist-packages/jieba}/dict.txt"
then
	for i in 1 2 3 4 5 6; do skip "no python3-jieba"; done
	exit 0
fi
check "per-example scores of $(wc -l <"$G/pairs.jsonl") pairs" \
	lmf-similarity --per_example "$G/pairs.jsonl"
mv check.out got.jsonl
perl -MJSON::PP -e '
	open(my $w, "<", $ARGV[0]) or die; open(my $g, "<", $ARGV[1]) or die;
	my ($n, $seg, $bleu, $rouge, $worst) = (0, 0, 0, 0, 0);
	while (my $a = <$w>) {
		my $b = <$g>; last unless defined $b;
		my $x = decode_json($a); my $y = decode_json($b); $n++;
		my $same = join("\x01", @{$x->{predict_words}}, "\x02",
		    @{$x->{label_words}}) eq join("\x01", @{$y->{predict_words}},
		    "\x02", @{$y->{label_words}});
		$seg += $same;
		my $d = abs($x->{"bleu-4"} - $y->{"bleu-4"});
		$worst = $d if $d > $worst;
		$bleu++ if $d <= 1e-4;
		my $ok = 1;
		for my $k ("rouge-1", "rouge-2", "rouge-l") {
			my $e = abs($x->{$k} - $y->{$k});
			$ok = 0 if $e > 1e-4;
			$worst = $e if $same && $e > $worst;
		}
		$rouge++ if $ok || !$same;
	}
	printf "pairs %d seg %d bleu %d rouge %d worst %.3g\n", $n, $seg,
	    $bleu, $rouge, $worst;
' "$G/pairs.jsonl" got.jsonl >cmp.txt
read -r _ n _ seg _ bleu _ rouge _ worst <cmp.txt
echo "# segmentation identical to jieba's on $seg of $n pairs" \
	"($(awk "BEGIN { printf \"%.1f\", 100 * $seg / $n }")%);" \
	"largest difference $worst"
check "one line per pair" test "$n" -eq "$(wc -l <"$G/pairs.jsonl")"
check "segmentation identical on at least 99% of the pairs" \
	test $((seg * 100)) -ge $((n * 99))
check "BLEU-4 within 1e-4 on every pair" test "$bleu" -eq "$n"
check "ROUGE-1/2/L within 1e-4 where the words agree" test "$rouge" -eq "$n"
lmf-similarity "$G/pairs.jsonl" >results.json 2>err.txt
check "the means within 1e-4 of predict_results.json's" perl -MJSON::PP -e '
	local $/; open(my $a, "<", $ARGV[0]) or die;
	open(my $b, "<", $ARGV[1]) or die;
	my $x = decode_json(<$a>); my $y = decode_json(<$b>);
	exit 1 unless keys %$x == 4 && keys %$y == 4;
	for (keys %$x) { exit 1 if abs($x->{$_} - $y->{$_}) > 1e-4 }
' "$G/results.json" results.json
done_testing
