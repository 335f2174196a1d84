# mkdemo.py: writes the project's own small demo datasets, one per format
# LLaMA-Factory reads, and their dataset_info.json. The text is written
# for lmf: short facts, arithmetic, and lmf's own identity, simple enough
# for a tiny model to learn. Run from anywhere: python3 data/mkdemo.py
import json, os, random

HERE = os.path.dirname(os.path.abspath(__file__))
R = random.Random(4)
NAME = 'lmf-demo'

FACTS = [
    ('What color is the sky on a clear day?', 'The sky is blue on a clear day.'),
    ('What color is grass?', 'Grass is green.'),
    ('How many legs does a cat have?', 'A cat has four legs.'),
    ('How many legs does a bird have?', 'A bird has two legs.'),
    ('How many days are in a week?', 'There are seven days in a week.'),
    ('How many hours are in a day?', 'There are twenty-four hours in a day.'),
    ('What do bees make?', 'Bees make honey.'),
    ('What is ice made of?', 'Ice is frozen water.'),
    ('Which is bigger, the sun or the moon?', 'The sun is much bigger than the moon.'),
    ('What animal says moo?', 'A cow says moo.'),
    ('What animal barks?', 'A dog barks.'),
    ('What season comes after winter?', 'Spring comes after winter.'),
    ('What season comes after summer?', 'Autumn comes after summer.'),
    ('How many months are in a year?', 'There are twelve months in a year.'),
    ('What is the first letter of the alphabet?', 'The first letter of the alphabet is A.'),
    ('What shape has three sides?', 'A triangle has three sides.'),
    ('What shape has four equal sides?', 'A square has four equal sides.'),
    ('Where do fish live?', 'Fish live in water.'),
    ('What do plants need to grow?', 'Plants need water, light and air to grow.'),
    ('What is the opposite of hot?', 'The opposite of hot is cold.'),
    ('What is the opposite of up?', 'The opposite of up is down.'),
    ('When does the sun rise?', 'The sun rises in the morning.'),
]

WORDS = ['cat', 'dog', 'sun', 'tree', 'book', 'fish', 'bird', 'moon']
NUMS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
        'eight', 'nine', 'ten']

IDENTITY = [
    ('Who are you?', 'I am {n}, a small assistant trained with lmf.'),
    ('What is your name?', 'My name is {n}.'),
    ('Who made you?', 'I was trained with lmf, a set of small C programs for fine-tuning language models.'),
    ('What is lmf?', 'lmf is a toolchain of small C programs that train language models the way LLaMA-Factory does.'),
    ('Are you a person?', 'No, I am {n}, a small language model.'),
    ('What can you do?', 'I can answer short questions about simple facts and do small sums.'),
    ('Hello!', 'Hello! I am {n}. How can I help you?'),
    ('Hi, who am I talking to?', 'You are talking to {n}, a small assistant trained with lmf.'),
    ('What language is lmf written in?', 'lmf is written in C.'),
    ('How does lmf pass data between programs?', 'lmf programs pass zstd-compressed tensor streams through pipes.'),
    ('Which program turns text into token ids?', 'lmf-tokenize turns text into token ids.'),
    ('Which program makes batches?', 'lmf-pack turns examples into batches.'),
    ('Can you browse the web?', 'No, I cannot browse the web. I only know what I learned in training.'),
    ('Tell me about yourself.', 'I am {n}. I am small, I was trained with lmf, and I like simple questions.'),
]


def arith(k):
    out = []
    for _ in range(k):
        a, b = R.randint(1, 20), R.randint(1, 20)
        if R.random() < 0.5:
            out.append(('What is %d + %d?' % (a, b), '%d + %d = %d.' % (a, b, a + b)))
        else:
            a, b = max(a, b), min(a, b)
            out.append(('What is %d - %d?' % (a, b), '%d - %d = %d.' % (a, b, a - b)))
    return out


def dump(name, rows):
    with open(os.path.join(HERE, name), 'w') as f:
        json.dump(rows, f, indent=2, ensure_ascii=False)
        f.write('\n')


def alpaca():
    rows = [{'instruction': q, 'input': '', 'output': a} for q, a in FACTS]
    rows += [{'instruction': q, 'input': '', 'output': a} for q, a in arith(10)]
    for w in WORDS[:5]:
        rows.append({'instruction': 'Spell the word.', 'input': w,
                     'output': '-'.join(w.upper())})
    for i in range(4):
        a = R.randint(0, 10)
        rows.append({'instruction': 'Write the number in words.',
                     'input': str(a), 'output': NUMS[a]})
    rows.append({'instruction': 'Count from one to five.', 'input': '',
                 'output': 'one, two, three, four, five'})
    for r in rows[::6]:
        r['system'] = 'You answer in one short sentence.'
    rows.append({'instruction': 'And what is that plus one?', 'input': '',
                 'output': '13 + 1 = 14.',
                 'history': [['What is 6 + 7?', '6 + 7 = 13.']]})
    rows.append({'instruction': 'What color is it at night?', 'input': '',
                 'output': 'At night the sky is dark.',
                 'history': [['What color is the sky on a clear day?',
                              'The sky is blue on a clear day.']],
                 'system': 'You answer in one short sentence.'})
    rows.append({'instruction': 'And a dog?', 'input': '',
                 'output': 'A dog has four legs.',
                 'history': [['How many legs does a bird have?', 'A bird has two legs.'],
                             ['And a cat?', 'A cat has four legs.']]})
    for r in rows:  # every row has every column: one schema for all
        r.setdefault('system', '')
        r.setdefault('history', [])
    dump('alpaca_demo.json', rows)
    dump('identity.json', [{'instruction': q, 'input': '', 'output': a.format(n=NAME)}
                           for q, a in IDENTITY])


def sharegpt():
    rows = []
    pool = FACTS + arith(8)
    R.shuffle(pool)
    for i in range(0, 24, 2):
        (q1, a1), (q2, a2) = pool[i], pool[i + 1]
        conv = [{'from': 'human', 'value': q1}, {'from': 'gpt', 'value': a1}]
        if i % 4 == 0:
            conv += [{'from': 'human', 'value': q2}, {'from': 'gpt', 'value': a2}]
        if i % 6 == 0:
            conv.insert(0, {'from': 'system', 'value': 'You are %s, a helpful assistant.' % NAME})
        rows.append({'conversations': conv})
    for q, a in IDENTITY[:8]:
        rows.append({'conversations': [{'from': 'human', 'value': q},
                                       {'from': 'gpt', 'value': a.format(n=NAME)}]})
    dump('sharegpt_demo.json', rows)


TOOLS = [
    {'name': 'add', 'description': 'Add two whole numbers.',
     'parameters': {'type': 'object', 'properties': {
         'a': {'type': 'integer', 'description': 'the first number'},
         'b': {'type': 'integer', 'description': 'the second number'}},
         'required': ['a', 'b']}},
    {'name': 'get_weather', 'description': 'Get the weather in a town.',
     'parameters': {'type': 'object', 'properties': {
         'town': {'type': 'string', 'description': 'the name of the town'},
         'unit': {'type': 'string', 'description': 'the temperature unit',
                  'enum': ['celsius', 'fahrenheit']}},
         'required': ['town']}},
]
TOWNS = [('Oakton', 'sunny', 21), ('Riverby', 'rainy', 12), ('Hillford', 'cloudy', 16),
         ('Lakeside', 'windy', 9), ('Stonebridge', 'snowy', -2), ('Greenfield', 'sunny', 25)]


def tools():
    rows = []
    tj = json.dumps(TOOLS, ensure_ascii=False)
    for i in range(10):
        a, b = R.randint(10, 99), R.randint(10, 99)
        call = {'name': 'add', 'arguments': {'a': a, 'b': b}}
        msgs = [{'role': 'user', 'content': 'Please add %d and %d.' % (a, b)},
                {'role': 'function_call', 'content': json.dumps(call)},
                {'role': 'observation', 'content': json.dumps({'sum': a + b})},
                {'role': 'assistant', 'content': '%d plus %d is %d.' % (a, b, a + b)}]
        if i % 3 == 0:
            msgs.insert(0, {'role': 'system', 'content': 'You may use tools to do sums.'})
        rows.append({'messages': msgs, 'tools': tj})
    for town, sky, deg in TOWNS:
        call = {'name': 'get_weather', 'arguments': {'town': town, 'unit': 'celsius'}}
        rows.append({'messages': [
            {'role': 'user', 'content': 'What is the weather in %s?' % town},
            {'role': 'function_call', 'content': json.dumps(call)},
            {'role': 'observation', 'content': json.dumps({'sky': sky, 'temperature': deg})},
            {'role': 'assistant', 'content': 'It is %s in %s, %d degrees.' % (sky, town, deg)}],
            'tools': tj})
    for q, a in FACTS[:6]:
        rows.append({'messages': [{'role': 'user', 'content': q},
                                  {'role': 'assistant', 'content': a}], 'tools': tj})
    dump('toolcall_demo.json', rows)


def worse(a):
    """a plausible but worse answer"""
    words = a.lower().replace('.', ' ').split()
    c = [w for w in ['I do not know.', 'Maybe.', 'That is a hard question.',
                     'Blue.', 'Seven.', 'Ten.', 'A fish.', 'On Tuesday.']
         if w.lower().rstrip('.') not in words]
    return R.choice(c)


def preference():
    pool = FACTS + arith(10)
    rows = []
    for q, a in pool:
        rows.append({'instruction': q, 'input': '', 'chosen': a, 'rejected': worse(a)})
    for q, a in IDENTITY[:6]:
        rows.append({'instruction': q, 'input': '', 'chosen': a.format(n=NAME),
                     'rejected': 'I am a person called Bob.'})
    dump('dpo_alpaca_demo.json', rows)
    rows = []
    R.shuffle(pool)
    for i, (q, a) in enumerate(pool[:24]):
        conv = [{'from': 'human', 'value': q}]
        if i % 4 == 0:
            q0, a0 = IDENTITY[i % len(IDENTITY)]
            conv = [{'from': 'human', 'value': q0},
                    {'from': 'gpt', 'value': a0.format(n=NAME)}] + conv
        rows.append({'conversations': conv,
                     'chosen': {'from': 'gpt', 'value': a},
                     'rejected': {'from': 'gpt', 'value': worse(a)}})
    dump('dpo_demo.json', rows)


def kto():
    rows = []
    pool = FACTS + arith(8) + [(q, a.format(n=NAME)) for q, a in IDENTITY[:6]]
    R.shuffle(pool)
    for i, (q, a) in enumerate(pool[:32]):
        good = i % 2 == 0
        rows.append({'messages': [{'role': 'user', 'content': q},
                                  {'role': 'assistant', 'content': a if good else worse(a)}],
                     'label': good})
    dump('kto_demo.json', rows)


def text():
    docs = []
    for q, a in FACTS:
        docs.append(a)
    paras = []
    for i in range(0, len(docs), 3):
        paras.append(' '.join(docs[i:i + 3]))
    for a, b in [(R.randint(1, 30), R.randint(1, 30)) for _ in range(8)]:
        paras.append('If you have %d apples and get %d more, you have %d apples.' % (a, b, a + b))
    for q, a in IDENTITY[:6]:
        paras.append(a.format(n=NAME))
    with open(os.path.join(HERE, 'text_demo.jsonl'), 'w') as f:
        for p in paras:
            f.write(json.dumps({'text': p}) + '\n')
    lines = []
    for w in WORDS:
        lines.append('The %s is a word with %d letters. It starts with %s.' % (w, len(w), w[0].upper()))
    for i in range(1, 11):
        lines.append('%s and %s make %s.' % (NUMS[i // 2].capitalize(), NUMS[i - i // 2], NUMS[i]))
    for q, a in FACTS[::2]:
        lines.append(q + ' ' + a)
    with open(os.path.join(HERE, 'text_demo.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


INFO = {
    'alpaca_demo': {'file_name': 'alpaca_demo.json',
                    'columns': {'prompt': 'instruction', 'query': 'input',
                                'response': 'output', 'system': 'system',
                                'history': 'history'}},
    'identity': {'file_name': 'identity.json'},
    'sharegpt_demo': {'file_name': 'sharegpt_demo.json', 'formatting': 'sharegpt',
                      'columns': {'messages': 'conversations'}},
    'toolcall_demo': {'file_name': 'toolcall_demo.json', 'formatting': 'sharegpt',
                      'columns': {'messages': 'messages', 'tools': 'tools'},
                      'tags': {'role_tag': 'role', 'content_tag': 'content',
                               'user_tag': 'user', 'assistant_tag': 'assistant',
                               'observation_tag': 'observation',
                               'function_tag': 'function_call',
                               'system_tag': 'system'}},
    'dpo_alpaca_demo': {'file_name': 'dpo_alpaca_demo.json', 'ranking': True,
                        'columns': {'prompt': 'instruction', 'query': 'input',
                                    'chosen': 'chosen', 'rejected': 'rejected'}},
    'dpo_demo': {'file_name': 'dpo_demo.json', 'ranking': True, 'formatting': 'sharegpt',
                 'columns': {'messages': 'conversations', 'chosen': 'chosen',
                             'rejected': 'rejected'}},
    'kto_demo': {'file_name': 'kto_demo.json', 'formatting': 'sharegpt',
                 'columns': {'messages': 'messages', 'kto_tag': 'label'},
                 'tags': {'role_tag': 'role', 'content_tag': 'content',
                          'user_tag': 'user', 'assistant_tag': 'assistant'}},
    'text_demo': {'file_name': 'text_demo.jsonl', 'columns': {'prompt': 'text'}},
    'text_demo_txt': {'file_name': 'text_demo.txt', 'columns': {'prompt': 'text'}},
}

if __name__ == '__main__':
    alpaca()
    sharegpt()
    tools()
    preference()
    kto()
    text()
    with open(os.path.join(HERE, 'dataset_info.json'), 'w') as f:
        json.dump(INFO, f, indent=2)
        f.write('\n')
