#!/usr/bin/python3
# boardbrowser.py: lmf-board in headless Chromium, driven over the W3C
# WebDriver protocol (chromedriver's HTTP JSON API, python3's stdlib, no
# selenium): open the board, pick each stage and see the dataset list
# change, preview, start a tiny sft run, watch the loss plot grow, stop
# it, see its checkpoint in the runs list; a screenshot after each step.
# Usage: boardbrowser.py BOARD_URL DRIVER_URL SHOTS_DIR MODEL_DIR DATA_DIR
# Prints STATUS<tab>DESC[<tab>WHY] a line (0: it holds), for lib.sh.
import base64
import json
import os
import sys
import time
import urllib.request

board, driver, shots, model, data = sys.argv[1:6]


class Fail(Exception):
    pass


class Session:
    def __init__(self, base):
        self.base = base
        caps = {'capabilities': {'alwaysMatch': {
            'browserName': 'chrome',
            'goog:chromeOptions': {
                'binary': os.environ.get('CHROMIUM', '/usr/bin/chromium'),
                'args': ['--headless=new', '--no-sandbox', '--disable-gpu',
                         '--disable-dev-shm-usage', '--window-size=1200,1500',
                         '--user-data-dir=' + os.path.abspath('profile')]}}}}
        self.id = self.call('POST', '/session', caps)['sessionId']

    def call(self, method, path, body=None):
        if path != '/session':
            path = '/session/%s%s' % (self.id, path)
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.base + path, data=data, method=method,
                                   headers={'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(r, timeout=60) as f:
                return json.load(f)['value']
        except urllib.error.HTTPError as e:
            raise Fail('webdriver %s %s: %s' % (method, path,
                       e.read().decode()[:300]))

    def js(self, script, *args):
        return self.call('POST', '/execute/sync', {'script': script,
                                                  'args': list(args)})

    def find(self, css):
        v = self.call('POST', '/element', {'using': 'css selector',
                                           'value': css})
        return list(v.values())[0]

    def click(self, css):
        self.call('POST', '/element/%s/click' % self.find(css), {})

    def type(self, css, text):
        e = self.find(css)
        self.call('POST', '/element/%s/clear' % e, {})
        self.call('POST', '/element/%s/value' % e, {'text': text})

    def shot(self, name):
        png = base64.b64decode(self.call('GET', '/screenshot'))
        with open(os.path.join(shots, name + '.png'), 'wb') as f:
            f.write(png)

    def until(self, script, secs, why, *args):
        end = time.time() + secs
        while time.time() < end:
            v = self.js(script, *args)
            if v:
                return v
            time.sleep(0.2)
        raise Fail(why)

    def quit(self):
        try:
            self.call('DELETE', '')
        except Exception:
            pass


def report(ok, desc, why=''):
    print('%d\t%s%s' % (not ok, desc, '\t' + why if why else ''))
    sys.stdout.flush()


OPTIONS = ('return Array.from(document.querySelectorAll("#datasets option"),'
           ' o => o.value).join(",")')


def stages(s):
    s.type('#dataset_dir', data)
    s.js('document.getElementById("dataset_dir")'
         '.dispatchEvent(new Event("change"))')
    want = {'dpo': 'dpo_alpaca_demo,dpo_demo', 'rm': 'dpo_alpaca_demo,dpo_demo',
            'kto': 'kto_demo'}
    for st in ['pt', 'sft', 'rm', 'dpo', 'kto', 'ppo']:
        s.click('#stage option[value="%s"]' % st)
        s.until('return document.getElementById("datasets").dataset.stage'
                ' === arguments[0]', 10, 'no list for ' + st, st)
        got = s.js(OPTIONS)
        s.shot('2-stage-' + st)
        if st in want:
            ok = got == want[st]
        else:
            ok = 'alpaca_demo' in got.split(',') and 'dpo_demo' not in got
        report(ok, 'stage %s: its datasets listed' % st, got)


def fill(s):
    s.click('#stage option[value="sft"]')
    s.type('#model', model)
    s.type('[name=template]', 'llama3')
    s.until('return document.querySelector(\'#datasets option[value='
            '"identity"]\')', 10, 'no identity dataset')
    s.js('for (const o of document.getElementById("datasets").options)'
         ' o.selected = o.value === "alpaca_demo" || o.value === "identity"')
    for k, v in [('cutoff_len', '64'), ('max_samples', '40'),
                 ('learning_rate', '5e-3'), ('num_train_epochs', '200'),
                 ('logging_steps', '1'), ('save_steps', '1000'),
                 ('per_device_train_batch_size', '4'),
                 ('output_dir', 'runs/b')]:
        s.type('[name=%s]' % k, v)


def main():
    s = Session(driver)
    try:
        s.call('POST', '/url', {'url': board})
        s.until('return document.body.dataset.ready === "1"', 20,
                'the page never got ready')
        s.shot('1-open')
        report(s.js('return document.title') == 'lmf board', 'the board opens')
        stages(s)
        fill(s)
        s.click('#preview')
        cmd = s.until('return document.getElementById("command").textContent',
                      10, 'no preview')
        yaml = s.js('return document.getElementById("yaml").textContent')
        s.shot('3-preview')
        report(cmd == 'lmf train runs/b.yaml' and 'stage: sft' in yaml and
               'dataset: alpaca_demo,identity' in yaml,
               'preview: the command and the YAML', cmd)
        s.click('#start')
        s.until('return +document.getElementById("plot").dataset.points >= 2',
                30, 'no loss plotted')
        n0 = s.js('return +document.getElementById("plot").dataset.points')
        s.shot('4-training')
        n1 = s.until('return +document.getElementById("plot").dataset.points'
                     ' > arguments[0] && +document.getElementById("plot")'
                     '.dataset.points', 30, 'the plot never grew', n0)
        s.shot('5-plot-grows')
        report(n1 > n0, 'start: the loss plot updates', '%s -> %s' % (n0, n1))
        s.click('#stop')
        s.until('return document.getElementById("state").dataset.state'
                ' === "stopped"', 30, 'never stopped')
        s.shot('6-stopped')
        report(True, 'stop: the job ends stopped')
        s.click('#refresh')
        row = s.until('const r = document.querySelector(\'#runs tr[data-name'
                      '="b"]\'); return r && r.querySelector(".checkpoints")'
                      '.textContent.includes("checkpoint-") && r.textContent',
                      15, 'no checkpoint in the runs list')
        s.shot('7-runs')
        report('stopped' in row, 'the runs list: the checkpoint, stopped',
               row)
    except Fail as e:
        report(False, 'the browser session', str(e))
    finally:
        s.quit()


main()
