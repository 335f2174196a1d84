# packref.py: examples streams for the lmf-pack tests, and an independent
# model of what lmf-pack must write (LLaMA-Factory's packing, spec 4.3,
# transcribed from its Python; its collators, spec 4.5-4.8). Usage:
#   packref.py make STAGE N SEED [key=value...] > form.jsonl
#   packref.py check form.jsonl train.jsonl [eval.jsonl] [key=value...]
# (train/eval: lmf-dump --json of lmf-pack's outputs). check prints what
# differs and exits 1, or exits 0.
import bisect, json, random, sys
from collections import defaultdict

IGNORE = -100
NAMES = {'pt': [('input_ids', 'labels')], 'sft': [('input_ids', 'labels')],
         'ppo': [('input_ids', 'labels')],
         'rm': [('chosen_input_ids', 'chosen_labels'),
                ('rejected_input_ids', 'rejected_labels')],
         'dpo': [('chosen_input_ids', 'chosen_labels'),
                 ('rejected_input_ids', 'rejected_labels')],
         'kto': [('input_ids', 'labels'), ('kl_input_ids', 'kl_labels')]}


def kv(args):
    d = {}
    for a in args:
        k, v = a.split('=', 1)
        d[k] = v
    return d


def make(stage, n, seed, o):
    rnd = random.Random(seed)
    V = int(o.get('vocab', 500))
    cutoff = int(o.get('cutoff', 32))
    lens = [int(x) for x in o['lens'].split(',')] if 'lens' in o else None
    extra = o.get('extra', '0') == '1'
    meta = {'kind': 'examples', 'stage': stage, 'template': 'default',
            'cutoff_len': cutoff, 'pad_token_id': int(o.get('pad', 0)),
            'eos_token_id': 2, 'bos_token_id': 1, 'vocab_size': V,
            'packing': o.get('packing', '0') == '1', 'neat_packing': False,
            'datasets': ['made']}
    out = [{'lmf': 1, 'meta': meta}]

    def seq(i, k):
        # the first token makes every example unique; ids never the pad
        n0 = rnd.choice(lens) if lens else rnd.randint(1, int(o.get('maxlen', 20)))
        ids = [3 + i % (V - 3)] + [rnd.randint(3, V - 1) for _ in range(n0 - 1)]
        if k == 'ppo':
            return ids, [rnd.randint(3, V - 1) for _ in range(rnd.randint(1, 9))]
        p = rnd.randint(0, len(ids))
        return ids, [IGNORE] * p + ids[p:]

    for i in range(n):
        ts = []
        for j, (a, b) in enumerate(NAMES[stage]):
            ids, lab = seq(i + j * n, stage)
            if stage == 'pt':
                lab = list(ids)
            ts.append({'name': a, 'dtype': 'i32', 'shape': [len(ids)], 'data': ids})
            ts.append({'name': b, 'dtype': 'i32', 'shape': [len(lab)], 'data': lab})
        if stage == 'kto':
            ts.append({'name': 'kto_tags', 'dtype': 'i32', 'shape': [], 'data': i % 3 != 0})
            ts[-1]['data'] = int(ts[-1]['data'])
        if extra:
            ts.append({'name': 'ref_logps', 'dtype': 'f32', 'shape': [], 'data': -i / 4})
            ts.append({'name': 'ref_pair', 'dtype': 'f32', 'shape': [2],
                       'data': [i / 2, -i / 8]})
        out.append({'item': i, 'tensors': ts})
    out.append({'end': n})
    for l in out:
        print(json.dumps(l))


# LLaMA-Factory's data/processor/processor_utils.py, as it reads
def search_for_fit(numbers, capacity):
    index = bisect.bisect(numbers, capacity)
    return -1 if index == 0 else (index - 1)


def greedy_knapsack(numbers, capacity):
    numbers.sort()
    knapsacks = []
    while numbers:
        current_knapsack = []
        remaining_capacity = capacity
        while True:
            index = search_for_fit(numbers, remaining_capacity)
            if index == -1:
                break
            remaining_capacity -= numbers[index]
            current_knapsack.append(numbers.pop(index))
        knapsacks.append(current_knapsack)
    return knapsacks


def pack(examples, cutoff_len, pad_id, neat, chunk):
    """PackedSupervisedDatasetProcessor over map batches of chunk rows;
    cutoff_len is already the user's value - 1"""
    rows = []
    for c in range(0, len(examples), chunk):
        batch_input_ids, batch_labels, lengths = [], [], []
        length2indexes = defaultdict(list)
        valid_num = 0
        for ex in examples[c:c + chunk]:
            input_ids, labels = ex['input_ids'], ex['labels']
            length = len(input_ids)
            if length > cutoff_len:
                continue
            lengths.append(length)
            length2indexes[length].append(valid_num)
            batch_input_ids.append(input_ids)
            batch_labels.append(labels)
            valid_num += 1
        for knapsack in greedy_knapsack(lengths, cutoff_len):
            ids, mask, pos, lab = [], [], [], []
            for i, length in enumerate(knapsack):
                index = length2indexes[length].pop()
                ids += batch_input_ids[index]
                pos += list(range(len(batch_input_ids[index])))
                lab += batch_labels[index]
                mask += [i + 1 if neat else 1] * len(batch_input_ids[index])
            if len(ids) < cutoff_len + 1:
                k = cutoff_len - len(ids) + 1
                ids += [pad_id] * k
                pos += [0] * k
                lab += [IGNORE] * k
                mask += [0 if neat else 1] * k
            assert len(ids) == cutoff_len + 1
            rows.append({'input_ids': ids, 'labels': lab,
                         'attention_mask': mask, 'position_ids': pos})
    return rows


def roundup(n, m):
    return (n + m - 1) // m * m


def collate(rows, pad_id, m, aligned, pfx=''):
    """DataCollatorForSeq2Seq: right padding to the longest, a multiple of m"""
    T = roundup(max(len(r['input_ids']) for r in rows), m)
    L = T if aligned else roundup(max(len(r['labels']) for r in rows), m)
    out = {pfx + 'input_ids': [], pfx + 'attention_mask': [], pfx + 'labels': []}
    if 'position_ids' in rows[0]:
        out[pfx + 'position_ids'] = []
    for r in rows:
        k = T - len(r['input_ids'])
        out[pfx + 'input_ids'] += r['input_ids'] + [pad_id] * k
        out[pfx + 'attention_mask'] += r.get('attention_mask', [1] * len(r['input_ids'])) + [0] * k
        out[pfx + 'labels'] += r['labels'] + [IGNORE] * (L - len(r['labels']))
        if 'position_ids' in r:
            out[pfx + 'position_ids'] += r['position_ids'] + [0] * k
    shapes = {pfx + 'input_ids': [len(rows), T], pfx + 'attention_mask': [len(rows), T],
              pfx + 'labels': [len(rows), L], pfx + 'position_ids': [len(rows), T]}
    return {k: (shapes[k], v) for k, v in out.items()}


def load(path):
    lines = [json.loads(l) for l in open(path) if l.strip()]
    meta = lines[0]['meta']
    items = []
    for l in lines[1:]:
        if 'item' in l:
            d = {}
            for t in l['tensors']:
                v = t['data'] if isinstance(t['data'], list) else [t['data']]
                d[t['name']] = (t['shape'], v, t['dtype'])
            items.append(d)
    return meta, items


def fail(msg):
    print(msg)
    sys.exit(1)


def check(form, trainf, evalf, o):
    meta, exs = load(form)
    stage = meta['stage']
    pad = meta['pad_token_id']
    bs = int(o.get('bs', 8))
    ebs = int(o.get('ebs', 8))
    epochs = int(o.get('epochs', 3))
    m = int(o.get('multiple', 1 if stage in ('pt', 'ppo') else 8))
    packing = o.get('packing', '0') == '1'
    neat = o.get('neat', '0') == '1'
    noshuf = o.get('noshuffle', '0') == '1'
    aligned = stage != 'ppo'
    extras = [k for k in exs[0] if k not in sum(map(list, NAMES[stage]), []) + ['kto_tags']]
    # the units: examples, or packs
    units = []
    if stage == 'sft' and packing:
        cut = int(o.get('cutoff', meta['cutoff_len'])) - 1
        ex1 = [{'input_ids': e['input_ids'][1], 'labels': e['labels'][1]} for e in exs]
        for r in pack(ex1, cut, pad, neat, int(o.get('chunk', 1000))):
            units.append({'s': [r]})
    else:
        for e in exs:
            u = {'s': [{'input_ids': e[a][1], 'labels': e[b][1]} for a, b in NAMES[stage]]}
            if stage == 'kto':
                u['tag'] = e['kto_tags'][1][0]
            u['extra'] = {k: e[k] for k in extras}
            units.append(u)
    packlen = int(o.get('cutoff', meta['cutoff_len'])) if stage == 'sft' and packing else None

    def ukey(u):
        return tuple((tuple(x['input_ids']), tuple(x['labels'])) for x in u['s'])

    index = {}  # units alike in every tensor (real data) share a name
    for i, u in enumerate(units):
        index.setdefault(ukey(u), i)
    canon = [index[ukey(u)] for u in units]

    def batch(sel):
        rows = [units[i]['s'][0] for i in sel]
        if stage in ('rm', 'dpo'):
            rows += [units[i]['s'][1] for i in sel]
        b = collate(rows, pad, m, aligned)
        if stage == 'kto':
            b.update(collate([units[i]['s'][1] for i in sel], pad, m, True, 'kl_'))
            b['kto_tags'] = ([len(sel)], [units[i]['tag'] for i in sel])
        for k in extras:
            shp = units[sel[0]]['extra'][k][0]
            b[k] = ([len(sel)] + shp, sum((units[i]['extra'][k][1] for i in sel), []))
        return b

    def strip(item, pfx, r):
        """row r of a batch without its padding: the length is what the
        attention mask covers (a pack: its fixed length)"""
        T = item[pfx + 'input_ids'][0][1]
        L = item[pfx + 'labels'][0][1]
        ids = item[pfx + 'input_ids'][1][r * T:(r + 1) * T]
        mask = item[pfx + 'attention_mask'][1][r * T:(r + 1) * T]
        lab = item[pfx + 'labels'][1][r * L:(r + 1) * L]
        n = packlen if packlen else sum(1 for x in mask if x != 0)
        nl = n if aligned else sum(1 for x in lab if x != IGNORE)
        return (tuple(ids[:n]), tuple(lab[:nl]))

    def identify(item, n):
        sel = []
        for r in range(n):
            if stage in ('rm', 'dpo'):
                k = (strip(item, '', r), strip(item, '', n + r))
            elif stage == 'kto':
                k = (strip(item, '', r), strip(item, 'kl_', r))
            else:
                k = (strip(item, '', r),)
            if k not in index:
                fail('batch row %d: no example has %s' % (r, k))
            sel.append(index[k])
        return sel

    def read_split(path, b, want_epochs, shuffled):
        hm, items = load(path)
        per = (hm['num_examples'] + b - 1) // b
        for k, v in (('kind', 'batches'), ('stage', stage), ('num_epochs', want_epochs),
                     ('batches_per_epoch', per), ('num_batches', per * want_epochs)):
            if hm.get(k) != v:
                fail('%s: header %s is %r, not %r' % (path, k, hm.get(k), v))
        if len(items) != per * want_epochs:
            fail('%s: %d batches, not %d' % (path, len(items), per * want_epochs))
        orders = []
        for e in range(want_epochs):
            order = []
            for j, it in enumerate(items[e * per:(e + 1) * per]):
                B = it['input_ids'][0][0]
                sel = identify(it, B // 2 if stage in ('rm', 'dpo') else B)
                want = batch(sel)
                got = {k: (v[0], v[1]) for k, v in it.items()}
                if sorted(got) != sorted(want):
                    fail('batch %d: tensors %s, not %s' % (j, sorted(got), sorted(want)))
                for k in want:
                    if got[k] != want[k]:
                        fail('batch %d: tensor %s is %s, not %s' % (j, k, got[k], want[k]))
                order += sel
            orders.append(order)
        if any(sorted(x) != sorted(orders[0]) for x in orders):
            fail('%s: the epochs hold different examples' % path)
        if len(orders[0]) != hm['num_examples']:
            fail('%s: an epoch of %d examples, not %d' % (path, len(orders[0]), hm['num_examples']))
        if shuffled and len(orders[0]) >= 6:
            if want_epochs > 1 and orders[0] == orders[1]:
                fail('%s: two epochs in the same order' % path)
        if not shuffled and any(x != orders[0] for x in orders):
            fail('%s: unshuffled epochs differ' % path)
        return orders[0]

    train = read_split(trainf, bs, epochs, not noshuf)
    seen = list(train)
    if evalf:
        ev = read_split(evalf, ebs, 1, False)
        seen += ev
        val = float(o['val'])
        want = int(val) if val > 1 else -(-val * len(units) // 1)
        if len(ev) != int(want):
            fail('eval has %d examples, not %d' % (len(ev), want))
    if sorted(seen) != sorted(canon):
        fail('train and eval do not hold every unit once (%d of %d)' % (len(seen), len(units)))
    if noshuf and not evalf and train != canon:
        fail('--disable_shuffling changed the order')
    if stage == 'sft' and packing:
        print('packs %d' % len(units))


if __name__ == '__main__':
    if sys.argv[1] == 'make':
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), kv(sys.argv[5:]))
    else:
        args = sys.argv[2:]
        files = [a for a in args if '=' not in a]
        check(files[0], files[1], files[2] if len(files) > 2 else None,
              kv([a for a in args if '=' in a]))
