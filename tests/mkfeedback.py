#!/usr/bin/python3
# mkfeedback.py: synthetic KTO feedback whose desirability is learnable:
# a desirable answer (kto tag true) always ends with the keyword "yes",
# an undesirable one (false) with "no"; the rest are random words; tags
# alternate. Writes DIR/feedback.json (sharegpt form, the tag in column
# "label" as kto_en_demo) and DIR/dataset_info.json naming it "fb", and
# "fb_notag", the same file without the kto_tag column.
# Usage: mkfeedback.py DIR [N]
import json
import os
import random
import sys

d = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
r = random.Random(7)
words = ['red', 'blue', 'green', 'cat', 'dog', 'sun', 'moon', 'tree',
         'rock', 'fish', 'bird']


def some(k):
    return ' '.join(r.choice(words) for _ in range(k))


rows = []
for i in range(n):
    good = i % 2 == 0
    rows.append({'messages': [
        {'role': 'user', 'content': 'Say ' + some(3)},
        {'role': 'assistant', 'content': some(2) + (' yes' if good else
                                                    ' no')}],
        'label': good})
tags = {'role_tag': 'role', 'content_tag': 'content', 'user_tag': 'user',
        'assistant_tag': 'assistant'}
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, 'feedback.json'), 'w') as f:
    json.dump(rows, f, indent=1)
with open(os.path.join(d, 'dataset_info.json'), 'w') as f:
    json.dump({'fb': {'file_name': 'feedback.json', 'formatting': 'sharegpt',
                      'columns': {'messages': 'messages', 'kto_tag': 'label'},
                      'tags': tags},
               'fb_notag': {'file_name': 'feedback.json',
                            'formatting': 'sharegpt',
                            'columns': {'messages': 'messages'},
                            'tags': tags}}, f, indent=1)
