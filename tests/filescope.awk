# filescope.awk: the file-scope declarations of C files that are mutable
# data (not const, not a function, not a type): FILE:LINE: declaration.
# Comments and strings are blanked first; braces give the depth.
{
	line = $0
	sub(/\/\/.*/, "", line)
	if (incomment) {
		if (index(line, "*/")) { incomment = 0; line = substr(line, index(line, "*/") + 2) } else next
	}
	while (match(line, /\/\*([^*]|\*[^\/])*\*\//)) line = substr(line, 1, RSTART - 1) substr(line, RSTART + RLENGTH)
	if (index(line, "/*")) { incomment = 1; line = substr(line, 1, index(line, "/*") - 1) }
	gsub(/"([^"\\]|\\.)*"/, "\"\"", line)
	gsub(/'([^'\\]|\\.)*'/, "''", line)
	if (depth == 0 && line ~ /^[A-Za-z_]/ && line !~ /^#/) {
		stmt = line; start = FNR; collecting = 1
	} else if (depth == 0 && collecting) stmt = stmt " " line
	n = gsub(/\{/, "{", line); m = gsub(/\}/, "}", line)
	if (collecting && (depth + n - m == 0) && line ~ /;[ \t]*$/ ) {
		if (stmt !~ /\(/ && stmt !~ /(^|[^a-z_])const[^a-z_]/ && stmt !~ /^(typedef|enum|struct [a-z_]+ \{|union)/ && stmt !~ /^(struct|enum|union) [a-z_0-9]+;/)
			print FILENAME ":" start ": " stmt
		collecting = 0
	}
	if (collecting && depth + n - m == 0 && line ~ /\)[ \t]*$/) collecting = 0
	depth += n - m
	if (depth > 0 && n > 0 && collecting && stmt ~ /\(/) collecting = 0
}
