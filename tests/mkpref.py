#!/usr/bin/python3
# mkpref.py: synthetic preference data whose chosen answer is learnable:
# it always ends with the keyword "yes", the rejected one with "no"; the
# rest are random words. Writes DIR/pref.json (alpaca ranking form) and
# DIR/dataset_info.json naming it "pref". Usage: mkpref.py DIR [N]
import json
import os
import random
import sys

d = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 96
r = random.Random(7)
words = ['red', 'blue', 'tree', 'sky', 'cat', 'dog', 'sun', 'rain', 'box',
         'cup']


def some(k):
    return ' '.join(r.choice(words) for _ in range(k))


rows = [{'instruction': some(3), 'input': '', 'chosen': some(3) + ' yes',
         'rejected': some(3) + ' no'} for _ in range(n)]
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, 'pref.json'), 'w') as f:
    json.dump(rows, f, indent=1)
with open(os.path.join(d, 'dataset_info.json'), 'w') as f:
    json.dump({'pref': {'file_name': 'pref.json', 'ranking': True,
                        'columns': {'prompt': 'instruction', 'query': 'input',
                                    'chosen': 'chosen',
                                    'rejected': 'rejected'}}}, f, indent=1)
