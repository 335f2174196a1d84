#!/usr/bin/python3
"""mkseeds.py [SHARED]: write the seed corpora of the JSON/YAML harnesses
into tests/fuzz/corpus/NAME/ from the project's own files (data/,
examples/) and, when SHARED (default ../shared beside the checkout) is
there, from its tokenizers, LLaMA-Factory demo data and example configs,
cut small (a few KB each), plus small broken variants. Run from anywhere;
it overwrites only the files it writes. The stream corpus is mkcorpus.c's
(run.sh -c); the safetensors seeds are written here too."""
import json
import os
import struct
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, '..',
                                                            'shared')
CORPUS = os.path.join(TOP, 'tests', 'fuzz', 'corpus')


def put(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    elif not isinstance(data, bytes):
        data = json.dumps(data, ensure_ascii=False, indent=1).encode()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def load(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def shared(*p):
    path = os.path.join(SHARED, *p)
    return path if os.path.exists(path) else None


# ---- tokenizer.json: real pipelines over a vocabulary cut to nkeep ids
def cut_tokenizer(tok, nkeep, nmerges):
    tok = json.loads(json.dumps(tok))
    m = tok['model']
    vocab = {k: v for k, v in m['vocab'].items() if v < nkeep}
    merges = []
    for e in m['merges']:
        a, b = e.split(' ', 1) if isinstance(e, str) else e
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(e)
        if len(merges) >= nmerges:
            break
    m['vocab'] = vocab
    m['merges'] = merges
    tok['added_tokens'] = tok['added_tokens'][:6]
    return tok


def tokenizers():
    made = {}
    for name in ('llama3', 'mistral', 'qwen3'):
        p = shared('tokenizers', name, 'tokenizer.json')
        if not p:
            continue
        tok = cut_tokenizer(load(p), 300 if name != 'mistral' else 400, 120)
        made[name] = tok
        put('tokenizer', 'ok-' + name, json.dumps(tok, ensure_ascii=False))
        cfg = load(shared('tokenizers', name, 'tokenizer_config.json'))
        dec = cfg.get('added_tokens_decoder', {})
        cfg['added_tokens_decoder'] = dict(list(dec.items())[:4])
        cfg.pop('chat_template', None)
        put('tokconfig', 'ok-' + name, cfg)
    if 'llama3' in made:
        t = json.loads(json.dumps(made['llama3']))
        t['model']['merges'] = [m.split(' ') for m in t['model']['merges']]
        put('tokenizer', 'ok-merges-as-pairs', json.dumps(t))
        t['model'].pop('type')
        put('tokenizer', 'ok-untyped-model', json.dumps(t))
        t = json.loads(json.dumps(made['llama3']))
        t['added_tokens'].append({'id': 299, 'content': ' hello',
                                  'single_word': True, 'lstrip': True,
                                  'rstrip': True, 'normalized': True,
                                  'special': False})
        put('tokenizer', 'ok-added-normalized', json.dumps(t))
        t['model']['merges'].append('zz qq')
        put('tokenizer', 'bad-merge-unknown', json.dumps(t))
        t = json.loads(json.dumps(made['llama3']))
        t['model']['vocab']['x'] = -5
        put('tokenizer', 'bad-vocab-id', json.dumps(t))
        t['model']['type'] = 'Unigram'
        put('tokenizer', 'bad-model-type', json.dumps(t))
        t = json.loads(json.dumps(made['llama3']))
        t['pre_tokenizer']['pretokenizers'][0]['pattern']['Regex'] = '(?<'
        put('tokenizer', 'bad-regex', json.dumps(t))
    if 'mistral' in made:
        t = json.loads(json.dumps(made['mistral']))
        t['model']['unk_token'] = '<nope>'
        put('tokenizer', 'bad-unk-token', json.dumps(t))
    if 'qwen3' in made:
        t = json.loads(json.dumps(made['qwen3']))
        t['normalizer'] = {'type': 'Sequence', 'normalizers': [
            {'type': 'NFKC'}, {'type': 'Lowercase'},
            {'type': 'Strip', 'strip_left': True, 'strip_right': True}]}
        t['decoder'] = {'type': 'Sequence', 'decoders': [
            {'type': 'ByteLevel'}, {'type': 'Strip', 'content': ' ',
                                    'start': 1, 'stop': 0}]}
        put('tokenizer', 'ok-sequences', json.dumps(t, ensure_ascii=False))
    put('tokenizer', 'bad-not-object', '[1, 2, 3]')
    put('tokenizer', 'bad-empty', '')
    put('tokenizer', 'bad-no-model', '{"version": "1.0"}')
    # tokenizer_config.json: the special tokens in their forms
    toks = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', 'abc', 'ab']
    for i, t in enumerate(toks):
        put('tokconfig', 'ok-eos-%d' % i, {'eos_token': t, 'pad_token':
                                           toks[(i + 1) % 5],
                                           'add_bos_token': i % 2 == 0})
    put('tokconfig', 'ok-objects', {
        'bos_token': {'content': '<|im_start|>', 'lstrip': False,
                      '__type': 'AddedToken'},
        'eos_token': {'content': '<|im_end|>'}, 'unk_token': None,
        'add_eos_token': True, 'model_max_length': 1e30})
    put('tokconfig', 'bad-eos-int', {'eos_token': 10})
    put('tokconfig', 'bad-eos-absent', {'eos_token': '<|nope|>'})
    put('tokconfig', 'bad-eos-list', {'eos_token': ['<|im_end|>']})
    put('tokconfig', 'bad-not-object', '"eos"')
    put('tokconfig', 'bad-json', '{"eos_token": "<|im_end|>"')
    put('tokconfig', 'empty-object', '{}')


# ---- datasets: rows cut from the project's and LLaMA-Factory's demos
def rows(path, n):
    if path.endswith('.jsonl'):
        with open(path, encoding='utf-8') as f:
            return ''.join(f.readlines()[:n])
    if path.endswith('.txt'):
        with open(path, encoding='utf-8') as f:
            return ''.join(f.readlines()[:n])[:2000]
    d = load(path)
    cut = []
    for r in d[:n]:
        for k, v in r.items():
            if isinstance(v, str) and len(v) > 300:
                r[k] = v[:300]
        cut.append(r)
    return json.dumps(cut, ensure_ascii=False, indent=1)


def datasets():
    srcs = [os.path.join(TOP, 'data', f) for f in sorted(os.listdir(
        os.path.join(TOP, 'data'))) if f.endswith(('.json', '.jsonl',
                                                     '.txt'))
            and f != 'dataset_info.json']
    lf = shared('data', 'llamafactory')
    if lf:
        srcs += [os.path.join(lf, f) for f in sorted(os.listdir(lf))
                 if f != 'dataset_info.json']
    for p in srcs:
        tag = ('lf-' if lf and p.startswith(lf) else '') + \
            os.path.basename(p).replace('.', '-')
        put('dataset', 'ok-' + tag, rows(p, 3))
    put('dataset', 'ok-jsonl-sharegpt', '\n'.join(json.dumps(r) for r in [
        {'conversations': [{'from': 'human', 'value': 'hi'},
                           {'from': 'gpt', 'value': 'yo'}]},
        {'messages': [{'role': 'system', 'content': 's'},
                      {'role': 'user', 'content': 'u'},
                      {'role': 'assistant', 'content': 'a'}],
         'label': False}]) + '\n')
    put('dataset', 'ok-ranking', [{'instruction': 'q', 'input': '',
                                   'chosen': 'good', 'rejected': 'bad'},
                                  {'conversations': [{'from': 'human',
                                                      'value': 'x'}],
                                   'chosen': {'from': 'gpt', 'value': 'c'},
                                   'rejected': {'from': 'gpt',
                                                'value': 'r'}}])
    put('dataset', 'ok-tools-object', [{'instruction': 'call', 'output':
                                        'ok', 'tools': [{'name': 'f',
                                                         'x': 1.5e300}],
                                        'history': [['a', 'b'], ['c',
                                                                 'd']]}])
    put('dataset', 'bad-empty-file', '')
    put('dataset', 'bad-empty-array', '[]')
    put('dataset', 'bad-nul-line', '{"text": "a"}\n\0\n')
    put('dataset', 'bad-int-text', '[{"instruction": 5, "output": {"a": 1},'
        ' "history": "no"}]')
    put('dataset', 'bad-row-not-object', '[{"instruction": "a"}, 7]')
    put('dataset', 'bad-utf8', b'{"text": "\xff\xfe"}\nplain \xc3\n')
    put('dataset', 'bad-roles', '[{"conversations": [{"from": "gpt", '
        '"value": "a"}, {"from": "alien", "value": "b"}]}]')
    put('dataset', 'ok-crlf-lines', 'a\r\nb\rc\x0bd\xc2\x85e\xe2\x80\xa8f')


def datasetinfos():
    fix = {'alpaca': 'alpaca.json', 'sharegpt': 'sharegpt.json',
           'lines': 'lines.jsonl', 'text': 'text.txt', 'folder': 'dir'}
    infos = [os.path.join(TOP, 'data', 'dataset_info.json')]
    if shared('data', 'llamafactory', 'dataset_info.json'):
        infos.append(shared('data', 'llamafactory', 'dataset_info.json'))
    for k, p in enumerate(infos):
        info = load(p)
        out = {}
        for name, e in list(info.items())[:12]:
            if not isinstance(e, dict) or 'file_name' not in e:
                out[name] = e
                continue
            e = dict(e)
            f = e['file_name']
            e['file_name'] = (fix['sharegpt'] if e.get('formatting') ==
                              'sharegpt' else fix['lines'] if
                              f.endswith('.jsonl') else fix['text'] if
                              f.endswith('.txt') else fix['alpaca'])
            out[name] = e
        put('datasetinfo', 'ok-info-%d' % k, out)
    put('datasetinfo', 'ok-folder', {'f': {'file_name': 'dir'}})
    put('datasetinfo', 'ok-num-samples', {
        'a': {'file_name': 'alpaca.json', 'num_samples': 5},
        'b': {'file_name': 'lines.jsonl', 'columns': {'prompt': 'text'},
              'num_samples': 1}})
    put('datasetinfo', 'ok-kto', {'k': {
        'file_name': 'sharegpt.json', 'formatting': 'sharegpt',
        'columns': {'messages': 'messages', 'kto_tag': 'label'},
        'tags': {'role_tag': 'role', 'content_tag': 'content',
                 'user_tag': 'user', 'assistant_tag': 'assistant'}}})
    put('datasetinfo', 'bad-num-samples', {'a': {
        'file_name': 'alpaca.json', 'num_samples': -1}})
    put('datasetinfo', 'bad-ranking-word', {'a': {
        'file_name': 'alpaca.json', 'ranking': 'yes'}})
    put('datasetinfo', 'bad-hub', {'a': {'hf_hub_url': 'x/y'}})
    put('datasetinfo', 'bad-formatting', {'a': {'file_name': 'alpaca.json',
                                                'formatting': 'openai'}})
    put('datasetinfo', 'bad-columns', {'a': {'file_name': 'alpaca.json',
                                             'columns': ['prompt']}})
    put('datasetinfo', 'bad-missing-file', {'a': {'file_name': 'nope.json'}})
    put('datasetinfo', 'bad-type', {'a': {'file_name': 'x.csv'}})
    put('datasetinfo', 'bad-not-object', '[]')


# ---- LLaMA-Factory configurations, YAML and JSON
def configs():
    srcs = [os.path.join(TOP, 'examples', f) for f in sorted(os.listdir(
        os.path.join(TOP, 'examples'))) if f.endswith('.yaml')]
    lf = shared('spec', 'lf-examples')
    if lf:
        srcs += [os.path.join(lf, f) for f in sorted(os.listdir(lf))
                 if f.endswith('.yaml')]
    for p in srcs:
        with open(p, encoding='utf-8') as f:
            text = f.read()
        put('config', ('lf-' if lf and p.startswith(lf) else '') +
            os.path.basename(p), text[:3000])
    put('config', 'ok-json', {'stage': 'sft', 'do_train': True,
                              'dataset': ['a', 'b'], 'learning_rate': 1e-4,
                              'lora_rank': 8, 'lr_scheduler_kwargs':
                              {'x': 1}, 'val_size': 0.1, 'template': None})
    put('config', 'ok-yaml-list', 'stage: dpo\ndo_train: yes\ndataset:\n'
        '  - a\n  - b\npref_beta: 0.1\nlora_target: [q_proj, v_proj]\n'
        'output_dir: "saves/x"\n---\n')
    put('config', 'ok-empty', '')
    put('config', 'bad-null-stage', 'stage: ~\ndo_train: true\n')
    put('config', 'bad-unknown-key', 'stagee: sft\n')
    put('config', 'bad-twice', 'stage: sft\nstage: pt\n')
    put('config', 'bad-types', 'lora_rank: eight\nlearning_rate: fast\n'
        'do_train: maybe\n')
    put('config', 'bad-nested', 'stage:\n  a: b\n')
    put('config', 'bad-yaml', 'stage: [sft\n')
    put('config', 'bad-anchor', 'a: &x sft\nstage: *x\n')
    put('config', 'bad-json-object', '{"stage": {"a": 1}}')
    put('config', 'bad-not-implemented', 'stage: sft\nquantization_bit: 4\n')


# ---- PEFT adapter_config.json and the model's config.json
def adapters():
    base = {'peft_type': 'LORA', 'task_type': 'CAUSAL_LM', 'r': 2,
            'lora_alpha': 4, 'lora_dropout': 0.0, 'target_modules':
            ['q_proj', 'v_proj'], 'bias': 'none', 'fan_in_fan_out': False,
            'base_model_name_or_path': 'tiny', 'modules_to_save': None,
            'rank_pattern': {}, 'alpha_pattern': {}, 'use_dora': False}
    for pad in ('', ' '):   # the harness checks against the model on odd
        tag = '-model' if len(json.dumps(base) + pad) % 2 else ''
        put('adapter', 'ok-lora' + tag, json.dumps(base) + pad)
    for k, v, name in [('target_modules', 'q_proj|v_proj', 'ok-regex'),
                       ('target_modules', ['q_proj'], 'bad-untargeted'),
                       ('r', 4, 'bad-rank'), ('r', 0, 'bad-rank-zero'),
                       ('lora_alpha', -1, 'bad-alpha'),
                       ('peft_type', 'IA3', 'bad-peft-type'),
                       ('use_dora', True, 'bad-dora'),
                       ('rank_pattern', {'q_proj': 4}, 'bad-rank-pattern'),
                       ('target_modules', [], 'bad-no-targets'),
                       ('target_modules', [1], 'bad-target-int')]:
        d = dict(base)
        d[k] = v
        for pad in ('', ' '):
            put('adapter', name + ('-a' if pad else ''),
                json.dumps(d) + pad)
    put('adapter', 'bad-not-json', '{"peft_type": ')
    put('adapter', 'bad-array', '[]')
    cfg = load(os.path.join(TOP, 'data', 'models', 'tiny-llama',
                            'config.json'))
    put('hfconfig', 'ok-tiny-llama', cfg)
    for k, v, name in [('model_type', 'mistral', 'ok-mistral'),
                       ('model_type', 'qwen2', 'ok-qwen2'),
                       ('tie_word_embeddings', True, 'ok-tied'),
                       ('eos_token_id', [1, 2, 3], 'ok-eos-list'),
                       ('attention_bias', True, 'ok-bias'),
                       ('head_dim', 16, 'ok-head-dim'),
                       ('sliding_window', 4096, 'ok-window'),
                       ('model_type', 'gpt2', 'bad-type'),
                       ('hidden_size', -8, 'bad-hidden'),
                       ('num_key_value_heads', 3, 'bad-kv-heads'),
                       ('rope_scaling', {'type': 'linear', 'factor': 2},
                        'bad-rope-scaling'),
                       ('hidden_act', 'gelu', 'bad-act'),
                       ('num_hidden_layers', 1 << 40, 'bad-huge')]:
        d = dict(cfg)
        d[k] = v
        put('hfconfig', name, d)


# ---- safetensors: more dtypes, metadata and shapes than the first seeds
def st(header, data=b'', pad=0):
    h = json.dumps(header).encode() + b' ' * pad
    return struct.pack('<Q', len(h)) + h + data


def safetensors():
    sizes = {'F64': 8, 'F32': 4, 'F16': 2, 'BF16': 2, 'I64': 8, 'I32': 4,
             'I16': 2, 'I8': 1, 'U8': 1, 'BOOL': 1}
    hdr, off = {'__metadata__': {'format': 'pt', 'note': 'x'}}, 0
    for i, (dt, n) in enumerate(sizes.items()):
        shape = [[], [3], [2, 2], [1, 2, 1], [0, 4]][i % 5]
        numel = 1
        for s in shape:
            numel *= s
        hdr['t%d.%s' % (i, dt.lower())] = {'dtype': dt, 'shape': shape,
                                           'data_offsets': [off, off +
                                                            numel * n]}
        off += numel * n
    put('safetensors', 'ok-all-dtypes', st(hdr, bytes(range(off % 256)) +
                                           b'\0' * (off - off % 256), 6))
    many = {}
    for i in range(40):
        many['model.layers.%d.self_attn.q_proj.weight' % i] = {
            'dtype': 'F32', 'shape': [1, 1], 'data_offsets': [4 * i,
                                                               4 * i + 4]}
    put('safetensors', 'ok-many', st(many, b'\0' * 160))
    put('safetensors', 'ok-empty-header', st({}))
    put('safetensors', 'ok-unicode-name', st({'\u00e9\u4f60': {
        'dtype': 'U8', 'shape': [2], 'data_offsets': [0, 2]}}, b'ab'))
    put('safetensors', 'bad-neg-shape', st({'a': {
        'dtype': 'F32', 'shape': [-1], 'data_offsets': [0, 4]}}, b'\0' * 4))
    put('safetensors', 'bad-float-offset', st({'a': {
        'dtype': 'F32', 'shape': [1], 'data_offsets': [0.0, 4]}}, b'\0' * 4))
    put('safetensors', 'bad-huge-shape', st({'a': {
        'dtype': 'F64', 'shape': [1 << 62, 4], 'data_offsets': [0, 8]}},
        b'\0' * 8))
    put('safetensors', 'bad-metadata', st({'__metadata__': [1, 2]}))
    dup = (b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
           b'"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}')
    put('safetensors', 'bad-dup-names', struct.pack('<Q', len(dup)) + dup +
        b'x')
    put('safetensors', 'bad-gap', st({'a': {
        'dtype': 'U8', 'shape': [1], 'data_offsets': [1, 2]}}, b'xy'))


if __name__ == '__main__':
    tokenizers()
    datasets()
    datasetinfos()
    configs()
    adapters()
    safetensors()
