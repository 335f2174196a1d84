#!/usr/bin/env node
// make_tok_golden.js: reference encodings of strings.jsonl by the Hugging
// Face `tokenizers` library (npm tokenizers@0.23.2, installed outside the
// repository: cd /tmp/tokref && npm install tokenizers@0.23.2, then run with
// NODE_PATH=/tmp/tokref/node_modules). For each NAME=DIR argument it writes
// NAME.jsonl beside this script: one line per string, {"ids": encode without
// special tokens, "ids_special": with them, "decode": decode(ids_special,
// false), "decode_skip": decode(ids_special, true)}.
//   node make_tok_golden.js qwen3=/work/shared/tokenizers/qwen3 ...
// With --long first, the strings are long.jsonl's (make_long.py) and the
// goldens NAME-long.jsonl: {"ids": encode without special tokens,
// "decode": decode(ids, false) when it is not the string itself}.
const fs = require("fs");
const path = require("path");
const { Tokenizer } = require("tokenizers");

async function main() {
	const here = __dirname;
	let args = process.argv.slice(2), input = "strings.jsonl", suffix = "";
	if (args[0] === "--long") {
		args = args.slice(1);
		input = "long.jsonl";
		suffix = "-long";
	}
	const strings = fs.readFileSync(path.join(here, input), "utf8")
		.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
	for (const arg of args) {
		const [name, dir] = arg.split("=");
		const tok = Tokenizer.fromFile(path.join(dir, "tokenizer.json"));
		const lines = [];
		for (const s of strings) {
			const a = await tok.encode(s, null, { addSpecialTokens: false });
			const b = await tok.encode(s, null, { addSpecialTokens: true });
			const ids = Array.from(a.getIds());
			const ids2 = Array.from(b.getIds());
			if (suffix) {
				// long: ids, and decode only where it is not the
				// string itself, to keep the goldens small
				const d = await tok.decode(ids, false);
				lines.push(JSON.stringify(d === s ? { ids: ids } :
					{ ids: ids, decode: d }));
				continue;
			}
			lines.push(JSON.stringify({
				ids: ids,
				ids_special: ids2,
				decode: await tok.decode(ids2, false),
				decode_skip: await tok.decode(ids2, true),
			}));
		}
		fs.writeFileSync(path.join(here, name + suffix + ".jsonl"),
			lines.join("\n") + "\n");
		console.error(name + ": " + lines.length + " strings");
	}
}
main().catch((e) => { console.error(e); process.exit(1); });
