#!/usr/bin/env node
// tokhelper.js: the reference tokenizer for make_data_golden.py. The Hugging
// Face `tokenizers` library (npm tokenizers@0.23.2, installed outside the
// repository: cd /tmp/tokref2 && npm install tokenizers@0.23.2; run with
// NODE_PATH=/tmp/tokref2/node_modules). Arguments NAME=DIR; then JSON Lines
// on stdin: {"t": NAME, "s": text} -> {"ids": encode(s) without special
// tokens}, {"t": NAME, "id": token} -> {"id": token_to_id or null}.
const path = require("path");
const readline = require("readline");
const { Tokenizer } = require("tokenizers");

const toks = {};
for (const arg of process.argv.slice(2)) {
	const [name, dir] = arg.split("=");
	toks[name] = Tokenizer.fromFile(path.join(dir, "tokenizer.json"));
}
const rl = readline.createInterface({ input: process.stdin });
const queue = [];
let busy = false;
async function drain() {
	if (busy) return;
	busy = true;
	while (queue.length) {
		const q = JSON.parse(queue.shift());
		const t = toks[q.t];
		if ("id" in q) {
			const id = t.tokenToId(q.id);
			process.stdout.write(JSON.stringify({ id: id === undefined ? null : id }) + "\n");
		} else {
			const e = await t.encode(q.s, null, { addSpecialTokens: false });
			process.stdout.write(JSON.stringify({ ids: Array.from(e.getIds()) }) + "\n");
		}
	}
	busy = false;
}
rl.on("line", (l) => { queue.push(l); drain(); });
