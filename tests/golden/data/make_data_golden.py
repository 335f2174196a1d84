#!/usr/bin/env python3
"""make_data_golden.py: reference examples for lmf-tokenize, written from
spec/llamafactory.md sections 2 (datasets), 3 (templates) and 4 (processing)
independently of the C code. Each template slot is tokenised on its own by
the Hugging Face `tokenizers` library through tokhelper.js (Node; see there
how to install it). Writes one CASE.jsonl per case beside this script: a
first line {"case", "tokenizer", "args"} (lmf-tokenize's options), then one
line per example {tensor name: ids}.

  python3 make_data_golden.py [/work/shared]
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = sys.argv[1] if len(sys.argv) > 1 else "/work/shared"
DATA = os.path.join(SHARED, "data", "llamafactory")
TOKDIR = os.path.join(SHARED, "tokenizers")
IGNORE = -100
BOS, EOS = ("bos",), ("eos",)

# ---- templates (spec 3.4) ----
def T(**kw):
    d = dict(prefix=[], system=None, user=None, assistant=None, function=None,
             observation=None, default_system="", stop=[], replace_eos=False,
             efficient_eos=False, cls="plain", tool_format="default")
    d.update(kw)
    d["user"] = d["user"] or ["{{content}}"]
    d["assistant"] = d["assistant"] or (["{{content}}"] if d["efficient_eos"]
                                        else ["{{content}}", EOS])
    d["system"] = d["system"] or ["{{content}}"]
    d["function"] = d["function"] or d["assistant"]
    d["observation"] = d["observation"] or d["user"]
    return d

QWEN = dict(system=["<|im_start|>system\n{{content}}<|im_end|>\n"],
            user=["<|im_start|>user\n{{content}}<|im_end|>\n<|im_start|>assistant\n"],
            assistant=["{{content}}<|im_end|>\n"], function=["{{content}}<|im_end|>\n"],
            observation=["<|im_start|>user\n<tool_response>\n{{content}}\n</tool_response><|im_end|>\n<|im_start|>assistant\n"],
            stop=["<|im_end|>"], replace_eos=True, tool_format="qwen")
TEMPLATES = {
    "default": T(user=["Human: {{content}}", EOS, "\nAssistant:"],
                 assistant=["{{content}}", EOS, "\n"],
                 system=["System: {{content}}", EOS, "\n"]),
    "empty": T(assistant=["{{content}}"]),
    "alpaca": T(user=["### Instruction:\n{{content}}\n\n### Response:\n"],
                assistant=["{{content}}", EOS, "\n\n"],
                default_system="Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"),
    "llama3": T(prefix=[BOS],
                system=["<|start_header_id|>system<|end_header_id|>\n\n{{content}}<|eot_id|>"],
                user=["<|start_header_id|>user<|end_header_id|>\n\n{{content}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"],
                assistant=["{{content}}<|eot_id|>"], function=["{{content}}<|eot_id|>"],
                observation=["<|start_header_id|>ipython<|end_header_id|>\n\n{{content}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"],
                stop=["<|eot_id|>", "<|eom_id|>"], replace_eos=True, tool_format="llama3"),
    "mistral": T(cls="llama2", prefix=[BOS], user=["[INST] {{content}}[/INST]"],
                 assistant=[" {{content}}", EOS], system=["{{content}}\n\n"],
                 function=["[TOOL_CALLS] {{content}}", EOS],
                 observation=['[TOOL_RESULTS] {"content": {{content}}}[/TOOL_RESULTS]'],
                 tool_format="mistral"),
    "qwen": T(default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", **QWEN),
    "qwen3": T(cls="reasoning", **QWEN),
}

# ---- the reference tokenizer ----
class Ref:
    def __init__(self, names):
        env = dict(os.environ)
        env.setdefault("NODE_PATH", "/tmp/tokref2/node_modules")
        args = ["node", os.path.join(HERE, "tokhelper.js")]
        args += ["%s=%s" % (n, os.path.join(TOKDIR, n)) for n in names]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=env, text=True, encoding="utf-8")
        self.cache = {}

    def ask(self, q):
        self.p.stdin.write(json.dumps(q) + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def encode(self, name, s):
        if s == "":
            return []
        key = (name, s)
        if key not in self.cache:
            self.cache[key] = self.ask({"t": name, "s": s})["ids"]
        return list(self.cache[key])

    def token_id(self, name, tok):
        return self.ask({"t": name, "id": tok})["id"]

def cfg_token(v):
    return v.get("content") if isinstance(v, dict) else v

class Tok:
    def __init__(self, ref, name, tmpl):
        self.ref, self.name = ref, name
        cfg = json.load(open(os.path.join(TOKDIR, name, "tokenizer_config.json")))
        self.bos = cfg_token(cfg.get("bos_token"))
        self.eos = cfg_token(cfg.get("eos_token"))
        self.pad = cfg_token(cfg.get("pad_token"))
        self.add_bos = bool(cfg.get("add_bos_token", False))
        if tmpl["replace_eos"]:                      # spec 3.3
            self.eos = tmpl["stop"][0]
        if self.eos is None:
            self.eos = "<|endoftext|>"
        if self.pad is None:
            self.pad = self.eos
        self.bos_id = ref.token_id(name, self.bos) if self.bos else None
        self.eos_id = ref.token_id(name, self.eos)
        self.pad_id = ref.token_id(name, self.pad)

    def encode(self, s):
        return self.ref.encode(self.name, s)

# ---- datasets (spec 2) ----
def load_rows(path):
    if path.endswith(".txt"):
        with open(path, encoding="utf-8") as f:
            return [{"text": l} for l in f.read().splitlines()]
    text = open(path, encoding="utf-8").read()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(l) for l in text.split("\n") if l.strip()]

def load_dataset(name, max_samples):
    info = json.load(open(os.path.join(DATA, "dataset_info.json")))[name]
    cols_default = {"prompt": "instruction", "query": "input", "response": "output",
                    "messages": "conversations"}
    tags_default = {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                    "assistant_tag": "gpt", "observation_tag": "observation",
                    "function_tag": "function_call", "system_tag": "system"}
    cols = info["columns"] if "columns" in info else cols_default
    tags = info["tags"] if "tags" in info else tags_default
    ranking = info.get("ranking", False)
    rows = load_rows(os.path.join(DATA, info["file_name"]))[:max_samples]
    out = []
    for row in rows:
        if info.get("formatting", "alpaca") == "sharegpt":
            out.append(sharegpt(row, cols, tags, ranking))
        else:
            out.append(alpaca(row, cols, ranking))
    return out

def alpaca(row, c, ranking):
    prompt = []
    if c.get("history") and isinstance(row.get(c["history"]), list):
        for q, a in row[c["history"]]:
            prompt += [("user", q), ("assistant", a)]
    q = []
    if c.get("prompt") and row.get(c["prompt"]):
        q.append(row[c["prompt"]])
    if c.get("query") and row.get(c["query"]):
        q.append(row[c["query"]])
    prompt.append(("user", "\n".join(q)))
    if c.get("kto_tag") and isinstance(row.get(c["kto_tag"]), bool):
        r = row[c["response"]]
        response = [("assistant", r), ("assistant", "")] if row[c["kto_tag"]] else [("assistant", ""), ("assistant", r)]
    elif ranking and isinstance(row.get(c.get("chosen")), str) and isinstance(row.get(c.get("rejected")), str):
        response = [("assistant", row[c["chosen"]]), ("assistant", row[c["rejected"]])]
    elif c.get("response") and isinstance(row.get(c["response"]), str):
        response = [("assistant", row[c["response"]])]
    else:
        response = []
    return dict(prompt=prompt, response=response,
                system=row.get(c["system"]) or "" if c.get("system") else "",
                tools=row.get(c["tools"]) or "" if c.get("tools") else "")

def sharegpt(row, c, t, ranking):
    m = {t.get("user_tag"): "user", t.get("assistant_tag"): "assistant",
         t.get("observation_tag"): "observation", t.get("function_tag"): "function"}
    odd = (t.get("user_tag"), t.get("observation_tag"))
    even = (t.get("assistant_tag"), t.get("function_tag"))
    rt, ct = t["role_tag"], t["content_tag"]
    msgs = row[c["messages"]]
    system = row.get(c["system"]) or "" if c.get("system") else ""
    if t.get("system_tag") and msgs and msgs[0][rt] == t["system_tag"]:
        system = msgs[0][ct]
        msgs = msgs[1:]
    broken = False
    aligned = []
    for i, msg in enumerate(msgs):
        if msg[rt] not in (odd if i % 2 == 0 else even):
            broken = True
            break
        aligned.append((m[msg[rt]], msg[ct]))
    if (not ranking and len(aligned) % 2 != 0) or (ranking and len(aligned) % 2 == 0):
        broken = True
    if broken:
        prompt, response = [], []
    elif c.get("kto_tag") and isinstance(row.get(c["kto_tag"]), bool):
        prompt, response = aligned[:-1], aligned[-1:]
        response = response + [("assistant", "")] if row[c["kto_tag"]] else [("assistant", "")] + response
    elif ranking and isinstance(row.get(c.get("chosen")), dict):
        ch, rj = row[c["chosen"]], row[c["rejected"]]
        prompt = aligned
        response = [(m[ch[rt]], ch[ct]), (m[rj[rt]], rj[ct])]
    else:
        prompt, response = aligned[:-1], aligned[-1:]
    tools = row.get(c["tools"]) or "" if c.get("tools") else ""
    return dict(prompt=prompt, response=response, system=system, tools=tools)

# ---- tools (spec 2.9) ----
def tool_text(fmt, tools):
    tools = json.loads(tools)
    if not tools:
        return ""
    if fmt == "qwen":
        text = "".join("\n" + json.dumps(x if x.get("type") == "function" else {"type": "function", "function": x},
                                         ensure_ascii=False) for x in tools)
        return ("\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
                "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
                + text + "\n</tools>\n\nFor each function call, return a json object with function name and "
                "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
                "\"arguments\": <args-json-object>}\n</tool_call>")
    if fmt == "mistral":
        w = [x if x.get("type") == "function" else {"type": "function", "function": x} for x in tools]
        return "[AVAILABLE_TOOLS] " + json.dumps(w, ensure_ascii=False) + "[/AVAILABLE_TOOLS]"
    if fmt != "default":
        raise NotImplementedError(fmt)
    text, names = "", []
    for x in tools:
        x = x.get("function", "") if x.get("type") == "function" else x
        params = ""
        for pn, p in x["parameters"]["properties"].items():
            req = ", required" if pn in x["parameters"].get("required", []) else ""
            enum = ", should be one of [{}]".format(", ".join(p["enum"])) if p.get("enum") else ""
            items = ", where each item should be {}".format(p["items"].get("type", "")) if p.get("items") else ""
            params += "  - {} ({}{}): {}{}{}\n".format(pn, p.get("type", ""), req, p.get("description", ""), enum, items)
        text += "> Tool Name: {}\nTool Description: {}\nTool Args:\n{}\n".format(x["name"], x.get("description", ""), params)
        names.append(x["name"])
    return ("You have access to the following tools:\n" + text + "Use the following format if using a tool:\n```\n"
            "Action: tool name (one of [" + ", ".join(names) + "])\nAction Input: the input to the tool, in a JSON "
            "format representing the kwargs (e.g. ```{\"input\": \"hello world\", \"num_beams\": 5}```)\n```\n")

def function_text(fmt, content):
    thought = re.search(re.escape("<think>\n") + "(.*)" + re.escape("\n</think>\n\n"), content, re.DOTALL)
    if thought:
        content = content.replace(thought.group(0), "")
    calls = json.loads(content)
    if not isinstance(calls, list):
        calls = [calls]
    fns = [(c["name"], json.dumps(c["arguments"], ensure_ascii=False)) for c in calls]
    if fmt == "default":
        s = "\n".join("Action: {}\nAction Input: {}".format(n, a) for n, a in fns)
    elif fmt == "qwen":
        s = "\n".join("<tool_call>\n" + json.dumps({"name": n, "arguments": json.loads(a)}, ensure_ascii=False)
                      + "\n</tool_call>" for n, a in fns)
    elif fmt == "mistral":
        s = json.dumps([{"name": n, "arguments": json.loads(a)} for n, a in fns], ensure_ascii=False)
    else:
        raise NotImplementedError(fmt)
    return (thought.group(0) if thought else "") + s

# ---- encoding (spec 3.1, 3.2) ----
def apply(tok, slots, **kw):
    ids = []
    for s in slots:
        if s == BOS:
            if tok.bos_id is not None:
                ids.append(tok.bos_id)
        elif s == EOS:
            ids.append(tok.eos_id)
        else:
            for k, v in kw.items():
                s = s.replace("{{" + k + "}}", v, 1)
            ids += tok.encode(s)
    return ids

def encode(tm, tok, msgs, system, tools):
    system = system or tm["default_system"]
    out = []
    for i, (role, content) in enumerate(msgs):
        ids, systext = [], ""
        if i == 0:
            ids += apply(tok, tm["prefix"])
            if system or tools:
                tt = tool_text(tm["tool_format"], tools) if tools else ""
                if tm["cls"] == "llama2":
                    systext = tm["system"][0].replace("{{content}}", system + tt, 1)
                else:
                    ids += apply(tok, tm["system"], content=system + tt)
        if role == "user":
            ids += apply(tok, tm["user"], content=systext + content, idx=str(i // 2))
        elif role == "assistant":
            ids += apply(tok, tm["assistant"], content=content)
        elif role == "observation":
            ids += apply(tok, tm["observation"], content=content)
        else:
            ids += apply(tok, tm["function"], content=function_text(tm["tool_format"], content))
        out.append(ids)
    return out

THINK = "<think>\n\n</think>\n\n"

def remove_thought(c):
    return re.sub(re.escape("<think>\n") + "(.*?)" + re.escape("\n</think>\n\n"), "", c, flags=re.DOTALL).lstrip("\n")

def no_thought(c):
    return "<think>" not in c and "</think>" not in c

def multiturn(tm, tok, msgs, system, tools, discard=False):
    msgs = list(msgs)
    if tm["cls"] == "reasoning" and discard:   # enable_thinking True
        for i in range(1, len(msgs) - 2, 2):
            msgs[i] = (msgs[i][0], remove_thought(msgs[i][1]))
    enc = encode(tm, tok, msgs, system, tools)
    if tm["cls"] == "reasoning":
        for i in range(0, len(msgs), 2):
            if discard and i + 2 < len(msgs):
                continue
            if no_thought(msgs[i + 1][1]):
                enc[i + 1] = tok.encode(THINK) + enc[i + 1]
    return [(enc[i], enc[i + 1]) for i in range(0, len(enc), 2)]

def oneturn(tm, tok, msgs, system, tools):
    msgs = list(msgs)
    if tm["cls"] == "reasoning":
        for i in range(1, len(msgs) - 2, 2):
            msgs[i] = (msgs[i][0], remove_thought(msgs[i][1]))
    enc = encode(tm, tok, msgs, system, tools)
    prompt = [x for e in enc[:-1] for x in e]
    resp = enc[-1]
    if tm["cls"] == "reasoning" and no_thought(msgs[-1][1]):
        resp = tok.encode(THINK) + resp
    return prompt, resp

# ---- processing (spec 4) ----
def infer_seqlen(s, t, cutoff):
    if t * 2 < cutoff:
        mt = cutoff
    elif s * 2 < cutoff:
        mt = cutoff - s
    else:
        mt = int(cutoff * (t / (s + t)))
    nt = min(mt, t)
    ns = min(max(cutoff - nt, 0), s)
    return ns, nt

def pt(tm, tok, name, exs, cutoff):
    eos = "<|end_of_text|>" if name == "llama3" else tok.eos
    out = []
    for b in range(0, len(exs), 1000):
        ids = []
        for ex in exs[b:b + 1000]:
            ids += tok.encode(ex["prompt"][0][1] + eos)
        n = len(ids) // cutoff * cutoff
        for i in range(0, n, cutoff):
            blk = ids[i:i + cutoff]
            if tok.add_bos:
                blk[0] = tok.bos_id
            out.append({"input_ids": blk, "labels": [IGNORE if x == tok.pad_id else x for x in blk]})
    return out

def sft(tm, tok, exs, cutoff, mask_history=False, train_on_prompt=False):
    out = []
    for ex in exs:
        if len(ex["prompt"]) % 2 != 1 or len(ex["response"]) != 1:
            continue
        pairs = multiturn(tm, tok, ex["prompt"] + ex["response"], ex["system"], ex["tools"],
                          discard=mask_history)
        inp, lab, total = [], [], 0
        if mask_history:
            pairs = pairs[::-1]
        for t, (src, tgt) in enumerate(pairs):
            if total >= cutoff:
                break
            sl, tl = infer_seqlen(len(src), len(tgt), cutoff - total)
            src, tgt = src[:sl], tgt[:tl]
            total += sl + tl
            sla = src if train_on_prompt else [IGNORE] * sl
            tla = [IGNORE] * tl if (mask_history and t != 0) else tgt
            if mask_history:
                inp, lab = src + tgt + inp, sla + tla + lab
            else:
                inp, lab = inp + src + tgt, lab + sla + tla
        out.append({"input_ids": inp, "labels": lab})
    return out

def pairwise(tm, tok, exs, cutoff):
    out = []
    for ex in exs:
        if len(ex["prompt"]) % 2 != 1 or len(ex["response"]) < 2:
            continue
        p, c = oneturn(tm, tok, ex["prompt"] + [ex["response"][0]], ex["system"], ex["tools"])
        _, r = oneturn(tm, tok, ex["prompt"] + [ex["response"][1]], ex["system"], ex["tools"])
        sl, tl = infer_seqlen(len(p), max(len(c), len(r)), cutoff)
        p, c, r = p[:sl], c[:tl], r[:tl]
        out.append({"chosen_input_ids": p + c, "chosen_labels": [IGNORE] * sl + c,
                    "rejected_input_ids": p + r, "rejected_labels": [IGNORE] * sl + r})
    return out

def kto(tm, tok, exs, cutoff):
    out = []
    for b in range(0, len(exs), 1000):
        batch = exs[b:b + 1000]
        klr = [batch[-1]["response"]] + [e["response"] for e in batch[:-1]]
        for i, ex in enumerate(batch):
            if len(ex["prompt"]) % 2 != 1 or len(ex["response"]) < 2:
                continue
            tag = 1 if ex["response"][0][1] else 0
            msgs = ex["prompt"] + [ex["response"][0] if tag else ex["response"][1]]
            kl = ex["prompt"] + [klr[i][0] if klr[i][0][1] else klr[i][1]]
            p, r = oneturn(tm, tok, msgs, ex["system"], ex["tools"])
            kp, kr = oneturn(tm, tok, kl, ex["system"], ex["tools"])
            sl, tl = infer_seqlen(len(p), len(r), cutoff)
            ksl, ktl = infer_seqlen(len(kp), len(kr), cutoff)
            out.append({"input_ids": p[:sl] + r[:tl], "labels": [IGNORE] * sl + r[:tl],
                        "kl_input_ids": kp[:ksl] + kr[:ktl], "kl_labels": [IGNORE] * ksl + kr[:ktl],
                        "kto_tags": [tag]})
    return out

def unsupervised(tm, tok, exs, cutoff):
    out = []
    for ex in exs:
        if len(ex["prompt"]) % 2 != 1:
            continue
        last = ex["response"] if len(ex["response"]) == 1 else [("assistant", "")]
        p, r = oneturn(tm, tok, ex["prompt"] + last, ex["system"], ex["tools"])
        sl, tl = infer_seqlen(len(p), len(r), cutoff)
        out.append({"input_ids": p[:sl], "labels": r[:tl]})
    return out

# template -> tokenizer used with it
TOKFOR = {"llama3": "llama3", "qwen": "qwen3", "qwen3": "qwen3", "mistral": "mistral",
          "alpaca": "mistral", "default": "llama3", "empty": "qwen3"}

def cases():
    for tm in ["llama3", "qwen", "mistral", "alpaca", "default", "empty", "qwen3"]:
        yield tm, "pt", "c4_demo", 15, 256, {}
        yield tm, "pt", "wiki_demo", 1, 1024, {}
        yield tm, "sft", "alpaca_en_demo", 10, 2048, {}
        yield tm, "sft", "alpaca_zh_demo", 10, 64, {}
        yield tm, "sft", "identity", 10, 2048, {}
        if tm != "llama3":
            yield tm, "sft", "glaive_toolcall_en_demo", 10, 1024, {}
            yield tm, "sft", "glaive_toolcall_en_demo", 10, 200, {"mask_history": True}
        yield tm, "rm", "dpo_en_demo", 6, 2048, {}
        yield tm, "dpo", "dpo_en_demo", 6, 300, {}
        yield tm, "kto", "kto_en_demo", 6, 2048, {}
        yield tm, "ppo", "alpaca_en_demo", 10, 128, {}
        yield tm, "sft", "identity", 5, 2048, {"train_on_prompt": True}

def main():
    ref = Ref(sorted(set(TOKFOR.values())))
    for tm, stage, ds, n, cutoff, extra in cases():
        tmpl = TEMPLATES[tm]
        tok = Tok(ref, TOKFOR[tm], tmpl)
        exs = load_dataset(ds, n)
        if stage == "pt":
            res = pt(tmpl, tok, tm, exs, cutoff)
        elif stage == "sft":
            res = sft(tmpl, tok, exs, cutoff, **extra)
        elif stage in ("rm", "dpo"):
            res = pairwise(tmpl, tok, exs, cutoff)
        elif stage == "kto":
            res = kto(tmpl, tok, exs, cutoff)
        else:
            res = unsupervised(tmpl, tok, exs, cutoff)
        args = ["--stage", stage, "--template", tm, "--dataset", ds,
                "--max_samples", str(n), "--cutoff_len", str(cutoff)]
        for k in extra:
            args.append("--" + k)
        name = "-".join([tm, stage, ds, str(cutoff)] + sorted(extra))
        with open(os.path.join(HERE, name + ".jsonl"), "w") as f:
            f.write(json.dumps({"case": name, "tokenizer": TOKFOR[tm], "args": args}) + "\n")
            for r in res:
                f.write(json.dumps(r, separators=(",", ":")) + "\n")
        print("%s: %d examples" % (name, len(res)), file=sys.stderr)

if __name__ == "__main__":
    main()
