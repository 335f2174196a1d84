#!/usr/bin/env python3
# bench_gen_hf.py: the transformers side of dev/bench-hf.sh's generation
# table. transformers' LlamaForCausalLM (what LLaMA-Factory's chat and
# predict run) on one of lmf's bench shapes, random weights, random
# prompts; greedy generate() with its key/value cache, no EOS, fp32 or bf16
# weights. tokens/s = new tokens of all rows / decode time, where decode
# time = a generate() of --new tokens less one of 1 token (the prefill and
# the first token), the fastest of --reps each: the same split as lmf's
# side (a run less a 0-new-token run). Prints one JSON line. Needs
# transformers (not packaged by Debian); nothing in make check runs it.
import argparse
import json
import resource
import time

SIZES = {
    "tiny": dict(dim=288, layers=6, heads=6, hidden=768, vocab=32000),
    "small": dict(dim=768, layers=12, heads=12, hidden=2048, vocab=32000),
}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", default="tiny", choices=SIZES)
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prompt", type=int, default=32)
    p.add_argument("--new", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=2)
    a = p.parse_args()
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(a.threads)
    s = SIZES[a.size]
    cfg = LlamaConfig(hidden_size=s["dim"], intermediate_size=s["hidden"],
                      num_hidden_layers=s["layers"],
                      num_attention_heads=s["heads"],
                      num_key_value_heads=s["heads"], vocab_size=s["vocab"],
                      max_position_embeddings=2048,
                      tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    if a.dtype == "bf16":
        model = model.to(torch.bfloat16)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, s["vocab"], (a.batch, a.prompt), generator=g)
    mask = torch.ones_like(ids)

    def gen(n):
        t = time.perf_counter()
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=mask,
                                 max_new_tokens=n, min_new_tokens=n,
                                 do_sample=False, eos_token_id=None,
                                 pad_token_id=0, use_cache=True)
        t = time.perf_counter() - t
        assert out.shape[1] == a.prompt + n, out.shape
        return t

    gen(2)  # warm-up
    t1 = min(gen(1) for _ in range(a.reps))
    tn = min(gen(a.new) for _ in range(a.reps))
    d = tn - t1
    print(json.dumps(dict(
        engine="transformers", transformers=transformers.__version__,
        torch=torch.__version__, size=a.size, dtype=a.dtype,
        batch=a.batch, new=a.new, threads=torch.get_num_threads(),
        tokens_per_s=round(a.batch * (a.new - 1) / d, 1) if d > 0 else None,
        decode_s=round(d, 4), prefill_s=round(t1, 4),
        peak_rss_mb=round(resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 1024))), flush=True)


if __name__ == "__main__":
    main()
