#!/usr/bin/env node
// bench-tok-ref.js: the reference for dev/bench-tok.c. Encodes the same
// documents with the Hugging Face `tokenizers` library (npm
// tokenizers@0.23.2, NODE_PATH pointing at it), one encode call per
// document, and prints "load_s MB/s tokens bytes_per_token", best of runs.
//   node bench-tok-ref.js DIR FILE [runs]
const fs = require("fs");
const { Tokenizer } = require("tokenizers");

async function main() {
	const [dir, file, runsArg] = process.argv.slice(2);
	const runs = Number(runsArg || 3);
	let t0 = process.hrtime.bigint();
	const tok = Tokenizer.fromFile(dir + "/tokenizer.json");
	const load = Number(process.hrtime.bigint() - t0) / 1e9;
	const lines = fs.readFileSync(file, "utf8").split("\n");
	const docs = [];
	lines.forEach((l, i) => {
		if (file.endsWith(".jsonl")) {
			if (l.length) docs.push(JSON.parse(l).text);
		} else if (l.length || i < lines.length - 1) {
			docs.push(i < lines.length - 1 ? l + "\n" : l);
		}
	});
	const bytes = docs.reduce((a, d) => a + Buffer.byteLength(d), 0);
	let best = 1e30, ntok = 0;
	for (let r = 0; r < runs; r++) {
		ntok = 0;
		t0 = process.hrtime.bigint();
		for (const d of docs) {
			const e = await tok.encode(d, null, { addSpecialTokens: false });
			ntok += e.getIds().length;
		}
		const s = Number(process.hrtime.bigint() - t0) / 1e9;
		if (s < best) best = s;
	}
	console.log(load.toFixed(2), (bytes / best / 1e6).toFixed(1), ntok,
		(bytes / ntok).toFixed(2));
}
main().catch((e) => { console.error(e); process.exit(1); });
