#!/usr/bin/python3
# make_eval_golden.py: the golden of lmf-eval (tests/golden/eval/): a tiny
# random model (make_golden.py's float64 reference, written as a Hugging
# Face folder with tests/data/tok-bytelevel's tokenizer), the prompt ids
# lmf-eval builds for every question of the demo task data/eval/lmfdemo
# (--dump_ids, 5 shots, template qwen), and the answer LLaMA-Factory's
# scoring picks for each: the float64 logits of the prompt's last position,
# softmax over the ids of A, B, C, D (encode(c)[-1]), argmax.
# Usage (from the repository root, after make): /usr/bin/python3
# tests/golden/make_eval_golden.py. Deterministic.
import json, os, shutil, subprocess, sys
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, 'eval')
TOK = os.path.join(TOP, 'tests', 'data', 'tok-bytelevel')


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    mdir = os.path.join(OUT, 'model')
    os.makedirs(mdir)
    cfg = mg.base_cfg(vocab_size=520, max_position_embeddings=4096)
    w = mg.random_weights(cfg, torch.Generator().manual_seed(14))
    with open(os.path.join(mdir, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
    mg.write_st(os.path.join(mdir, 'model.safetensors'),
                [(n, w[n]) for n, _, _ in mg.param_table(cfg)])
    for n in ('tokenizer.json', 'tokenizer_config.json'):
        shutil.copy(os.path.join(TOK, n), mdir)
    tmp = os.path.join(OUT, 'm.lmf')
    subprocess.check_call([os.path.join(TOP, 'lmf-load'), '-q', '-o', tmp,
                           mdir])
    ids = os.path.join(OUT, 'ids.txt')
    subprocess.check_call([os.path.join(TOP, 'lmf-eval'), '-q', '--model',
                           tmp, '--template', 'qwen', '--task',
                           'lmfdemo_test', '--task_dir',
                           os.path.join(TOP, 'data', 'eval'),
                           '--dump_ids', ids], stdout=subprocess.DEVNULL)
    os.unlink(tmp)
    vocab = json.load(open(os.path.join(TOK, 'tokenizer.json')))
    choice = [vocab['model']['vocab'][c] for c in 'ABCD']
    out = []
    for line in open(ids):
        subj, i, s = line.split()
        t = torch.tensor([[int(x) for x in s.split(',')]])
        T = t.shape[1]
        logits = mg.forward(cfg, w, None, t, torch.ones(1, T,
                            dtype=torch.long), torch.arange(T)[None])
        p = torch.softmax(logits[0, T - 1, choice], -1)
        out.append('%s %s %s' % (subj, i, 'ABCD'[int(p.argmax())]))
    with open(os.path.join(OUT, 'answers.txt'), 'w') as f:
        f.write('\n'.join(out) + '\n')
    print('%d questions' % len(out))


main()
