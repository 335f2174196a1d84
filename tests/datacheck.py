# datacheck.py: every dataset in a dataset_info.json, converted to
# messages by LLaMA-Factory's rules (spec 2.1-2.8), must give only valid
# examples for its stage. Usage: datacheck.py DATA_DIR; prints one line
# per dataset ("name rows kind") or what is wrong, exit 1.
import json, os, sys

COLS = {'prompt': 'instruction', 'query': 'input', 'response': 'output',
        'history': None, 'messages': 'conversations', 'system': None,
        'tools': None, 'chosen': None, 'rejected': None, 'kto_tag': None}
TAGS = {'role_tag': 'from', 'content_tag': 'value', 'user_tag': 'human',
        'assistant_tag': 'gpt', 'observation_tag': 'observation',
        'function_tag': 'function_call', 'system_tag': 'system'}
bad = 0


def attrs(a):
    # DatasetAttr.join: a given object resets every unlisted key to None
    c = dict(COLS) if 'columns' not in a else {k: a['columns'].get(k) for k in COLS}
    t = dict(TAGS) if 'tags' not in a else {k: a['tags'].get(k) for k in TAGS}
    return c, t


def rows_of(path):
    if path.endswith('.txt'):
        return [{'text': l.rstrip('\n')} for l in open(path)]
    if path.endswith('.jsonl'):
        return [json.loads(l) for l in open(path) if l.strip()]
    return json.load(open(path))


def alpaca(r, c, ranking):
    prompt = []
    if c['history'] and isinstance(r.get(c['history']), list):
        for old_p, old_r in r[c['history']]:
            prompt += [('user', old_p), ('assistant', old_r)]
    q = [r[k] for k in (c['prompt'], c['query']) if k and r.get(k)]
    prompt.append(('user', '\n'.join(q)))
    if c['kto_tag'] and isinstance(r.get(c['kto_tag']), bool):
        resp = [('assistant', r[c['response']]), ('assistant', '')]
        if not r[c['kto_tag']]:
            resp.reverse()
    elif ranking and isinstance(r.get(c['chosen']), str) and isinstance(r.get(c['rejected']), str):
        resp = [('assistant', r[c['chosen']]), ('assistant', r[c['rejected']])]
    elif c['response'] and isinstance(r.get(c['response']), str):
        resp = [('assistant', r[c['response']])]
    else:
        resp = []
    return prompt, resp


def sharegpt(r, c, t, ranking):
    odd = (t['user_tag'], t['observation_tag'])
    even = (t['assistant_tag'], t['function_tag'])
    msgs = r[c['messages']]
    if t['system_tag'] and msgs and msgs[0][t['role_tag']] == t['system_tag']:
        msgs = msgs[1:]
    for i, m in enumerate(msgs):
        if m[t['role_tag']] not in (odd if i % 2 == 0 else even):
            return [], []
        if not isinstance(m[t['content_tag']], str):
            return [], []
    if (len(msgs) % 2 == 1) != bool(ranking):
        return [], []
    role = lambda m: 'user' if m[t['role_tag']] in odd else 'assistant'
    conv = [(role(m), m[t['content_tag']]) for m in msgs]
    if c['kto_tag'] and isinstance(r.get(c['kto_tag']), bool):
        resp = conv[-1:] + [('assistant', '')]
        if not r[c['kto_tag']]:
            resp.reverse()
        return conv[:-1], resp
    if ranking:
        ch, rj = r.get(c['chosen']), r.get(c['rejected'])
        if not (isinstance(ch, dict) and isinstance(rj, dict)):
            return [], []
        if ch[t['role_tag']] not in even or rj[t['role_tag']] not in even:
            return [], []
        return conv, [('assistant', ch[t['content_tag']]), ('assistant', rj[t['content_tag']])]
    return conv[:-1], conv[-1:]


def kind(a, c):
    if a.get('ranking'):
        return 'pairwise'
    if c['kto_tag']:
        return 'kto'
    if c['prompt'] == 'text' or (c['response'] is None and a.get('formatting', 'alpaca') == 'alpaca'):
        return 'pt'
    return 'sft'


def main(d):
    global bad
    info = json.load(open(os.path.join(d, 'dataset_info.json')))
    for name, a in info.items():
        c, t = attrs(a)
        path = os.path.join(d, a['file_name'])
        rows = rows_of(path)
        k = kind(a, c)
        tools = 0
        for i, r in enumerate(rows):
            if k == 'pt':
                ok = isinstance(r.get(c['prompt']), str) and r[c['prompt']].strip() != ''
            else:
                if a.get('formatting', 'alpaca') == 'sharegpt':
                    p, s = sharegpt(r, c, t, a.get('ranking'))
                else:
                    p, s = alpaca(r, c, a.get('ranking'))
                need = {'sft': 1, 'pairwise': 2, 'kto': 2}[k]
                ok = len(p) % 2 == 1 and len(s) == need and all(m[1] for m in p)
                if k == 'kto':
                    ok = ok and (s[0][1] != '') != (s[1][1] != '')
                if k == 'pairwise':
                    ok = ok and s[0][1] != s[1][1] and all(m[1] for m in s)
                if k == 'sft':
                    ok = ok and s[0][1] != ''
                if c['tools'] and r.get(c['tools']):
                    json.loads(r[c['tools']])
                    tools += 1
            if not ok:
                print('%s: row %d is not a valid %s example' % (name, i, k))
                bad += 1
        if len(rows) < 12:
            print('%s: only %d rows' % (name, len(rows)))
            bad += 1
        print('%s %d %s%s' % (name, len(rows), k, ' tools' if tools else ''))


main(sys.argv[1])
sys.exit(1 if bad else 0)
