#!/usr/bin/env python3
"""Render chat templates with jinja2 as transformers' apply_chat_template does
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
raise_exception, tojson = json.dumps(ensure_ascii=False)) and write
tests/golden/jinja/cases.json for tests/unit/jinja_test.c.

Usage: make_jinja_golden.py SHARED_DIR > tests/golden/jinja/cases.json
Needs python3-jinja2; make check does not."""
import json
import sys

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None,
           sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                      separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                    extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

U = lambda c: {"role": "user", "content": c}
A = lambda c: {"role": "assistant", "content": c}
S = lambda c: {"role": "system", "content": c}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city, \"now\".",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "城市"},
        "days": {"type": "integer"}}, "required": ["city"]}}}]
CALL = {"role": "assistant", "content": "", "tool_calls": [
    {"type": "function", "function": {"name": "get_weather",
                                      "arguments": {"city": "Paris",
                                                    "days": 2}}},
    {"type": "function", "function": {"name": "get_weather",
                                      "arguments": "{\"city\": \"Rome\"}"}}]}
TOOLRES = lambda c: {"role": "tool", "content": c}

CONVS = {
    "user": ([U("Hello, who are you?")], True, {}),
    "user_nogen": ([U("Hello")], False, {}),
    "system": ([S("You are a pirate."), U("Hi"), A("Arr!")], False, {}),
    "multi": ([U("How are you"), A("I am fine!"), U("你好"),
               A("很高兴认识你！")], False, {}),
    "multi_gen": ([S("Be brief."), U("  padded  "), A(" yes \n"),
                   U("again\n")], True, {}),
    "probe_system": ([S("{{content}}")], False, {}),
    "probe_user_empty_system": ([S(""), U("{{content}}")], True, {}),
    "probe_user": ([U("{{content}}")], True, {}),
    "probe_assistant": ([U("{{content}}"), A("{{content}}")], False, {}),
}
QWEN3_CONVS = {
    "think": ([U("2+2?"), A("<think>\nadd them\n</think>\n\n4"), U("3+3?"),
               A("<think>\nagain\n</think>\n\n6")], False, {}),
    "reasoning_field": ([U("q"), dict(A("answer"),
                         reasoning_content="\nwhy\n")], False, {}),
    "nothink_gen": ([U("q")], True, {"enable_thinking": False}),
    "tools": ([S("Use tools."), U("Weather in Paris and Rome?"), CALL,
               TOOLRES("{\"temp\": 20}"), TOOLRES("sunny"),
               A("20 and sunny.")], False, {"tools": TOOLS}),
    "tools_gen": ([U("Weather?"), CALL, TOOLRES("<b>rain</b>")], True,
                  {"tools": TOOLS}),
}

# small templates for the constructs the unit test checks one by one
CONSTRUCTS = [
    "{{ 'a' ~ 1 ~ none ~ true }}|{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ -7 % 3 }}"
    "|{{ 7 / 2 }}|{{ 2 ** 10 }}",
    "{% for x in [3, 1, 2] %}{{ loop.index0 }}{{ loop.index }}"
    "{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}"
    "{% if not loop.last %},{% endif %}{% else %}empty{% endfor %}",
    "{% for x in [] %}x{% else %}empty{% endfor %}",
    "{% for k, v in {'a': 1, 'b': [1, 'x']}.items() %}{{ k }}={{ v }};"
    "{% endfor %}{% for k, v in d | items %}{{ k }}{{ v }}{% endfor %}",
    "{% set ns = namespace(n=0, s='') %}{% for i in range(5) %}"
    "{% if i == 3 %}{% continue %}{% endif %}{% set ns.n = ns.n + i %}"
    "{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}",
    "{% for i in range(10) %}{% if i > 2 %}{% break %}{% endif %}{{ i }}"
    "{% endfor %}",
    "{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}",
    "{{ '  ab  ' | trim }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}"
    "|{{ [1, 2, 3] | length }}|{{ 'héllo' | length }}|{{ undefined_x "
    "| default('dflt') }}|{{ '' | default('e', true) }}|{{ [1, 2] | first }}"
    "|{{ [1, 2] | last }}|{{ ['a', 'b'] | join(', ') }}|{{ 3 | string }}"
    "|{{ [1, 2] | reverse | list }}|{{ 'abc' | reverse }}",
    "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é\"\\n' | tojson }}"
    "|{{ [1.5, none, true] | tojson }}",
    "{{ x is defined }}{{ y is defined }}{{ none is none }}{{ 'a' is string }}"
    "{{ d is mapping }}{{ [1] is iterable }}{{ 3 is equalto 3 }}"
    "{{ 4 is even }}{{ 3 is odd }}{{ x is not none }}{{ 1 is number }}",
    "{{ 'a' in 'cat' }}{{ 2 in [1, 2] }}{{ 'k' in d }}{{ 'z' not in d }}"
    "{{ 1 == 1.0 }}{{ 'a' != 'b' }}{{ 1 < 2 and 2 > 3 or 'x' }}"
    "{{ not 0 }}{{ 2 <= 2 >= 1 }}",
    "{{ [1, 2, 3, 4][::-1] }}{{ [1, 2, 3, 4][1:3] }}{{ 'hello'[1:] }}"
    "{{ 'hello'[-1] }}{{ [1, 2, 3][-2] }}{{ [0, 1, 2, 3, 4, 5][::2] }}"
    "{{ 'héllo'[::-1] }}{{ [1, 2, 3][5:] }}",
    "{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a-b-c'.split('-', 1) }}"
    "{{ 'x</think>y'.split('</think>')[-1] }}{{ '\\n\\nx\\n'.strip('\\n') }}"
    "{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ 'aaa'.replace('a', 'b', 2) }}"
    "{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('bc') }}{{ 'abc'.upper() }}"
    "{{ 'hello world'.title() }}{{ d.get('k') }}{{ d.get('z', 'no') }}",
    "{% if x == 1 %}one{% elif x == 2 %}two{% else %}other{% endif %}"
    "{% if y %}y{% elif x %}x{% endif %}",
    "  {% if true %}\n    text\n  {% endif %}\n  {{- ' after' }}\n"
    "{# comment #}\nend {{ 'x' -}}   \n  tail\n",
    "{{ 'yes' if x else 'no' }}{{ 'yes' if y else 'no' }}{{ 'a' if y }}"
    "{{ messages | selectattr('role', 'equalto', 'user') | list | length }}"
    "{{ messages | map(attribute='role') | join(',') }}",
    "{{ {'b': 1, 'a': 'x'} }}{{ [\"it's\", 1.0, none, false] }}"
    "{{ 0.1 + 0.2 }}{{ 10 / 4 }}",
    "{% set l = [1, 2] + [3] %}{{ l }}{{ l[0] ~ l.1 }}",
]


def main():
    shared = sys.argv[1]
    cases = []
    for tok, convs in (("llama3", dict(CONVS)),
                       ("qwen3", dict(CONVS, **QWEN3_CONVS))):
        cfg = json.load(open(f"{shared}/tokenizers/{tok}/tokenizer_config.json"))
        tmpl = env.from_string(cfg["chat_template"])
        special = {k: cfg[k] for k in ("bos_token", "eos_token", "pad_token",
                                       "unk_token") if isinstance(cfg.get(k), str)}
        for name, (msgs, gen, extra) in convs.items():
            v = dict(special, messages=msgs, add_generation_prompt=gen,
                     tools=None)
            v.update(extra)
            cases.append({"name": f"{tok}/{name}", "tokenizer": tok,
                          "vars": v, "out": tmpl.render(**v)})
    cv = {"x": 1, "y": "", "d": {"k": "v", "n": [1, 2.5]},
          "messages": [U("a"), A("b"), U("c")]}
    for i, src in enumerate(CONSTRUCTS):
        cases.append({"name": f"construct/{i}", "template": src, "vars": cv,
                      "out": env.from_string(src).render(**cv)})
    json.dump(cases, sys.stdout, ensure_ascii=False, indent=1)
    print()


main()
