#!/usr/bin/python3
# boardhttp.py: HTTP checks of a running lmf-board, for t9500 and t9501.
# Usage: boardhttp.py URL CHECK [ARG...], URL the one lmf-board printed;
# exits 0 when the check holds, else prints why on stderr and exits 1.
# boardhttp.py URL batch: one check a line on stdin, DESC|CHECK|ARG|...;
# prints STATUS<tab>DESC[<tab>WHY] a line (0: it holds), for lib.sh.
import http.client
import json
import socket
import sys
import time
import urllib.parse

url = urllib.parse.urlsplit(sys.argv[1])
TOKEN = urllib.parse.parse_qs(url.query)['token'][0]
HOST, PORT = url.hostname, url.port


def req(method, path, body=None, token=True, headers=None):
    """(status, parsed JSON or text, response headers)"""
    if token:
        path += ('&' if '?' in path else '?') + 'token=' + TOKEN
    c = http.client.HTTPConnection(HOST, PORT, timeout=10)
    h = dict(headers or {})
    if body is not None:
        h.setdefault('Content-Type', 'application/x-www-form-urlencoded')
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        data = json.loads(data)
    except ValueError:
        data = data.decode('utf-8', 'replace')
    return r.status, data, r.headers


class Fail(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise Fail(why)


def status_is(method, path, code, body=None, token=True, headers=None):
    s, d, _ = req(method, path, body, token, headers)
    expect(s == code, '%s %s: %d, want %d: %r' % (method, path, s, code, d))
    if 400 <= code < 500:
        expect(isinstance(d, dict) and d.get('error'),
               '%s %s: no error message: %r' % (method, path, d))
    return d


def no_token():
    for m, p in [('GET', '/'), ('GET', '/board.js'), ('GET', '/api/info'),
                 ('GET', '/api/status'), ('POST', '/api/stop'),
                 ('POST', '/api/start')]:
        status_is(m, p, 403, body='' if m == 'POST' else None, token=False)
        status_is(m, p + '?token=' + '0' * 32, 403,
                  body='' if m == 'POST' else None, token=False)
    d = status_is('GET', '/api/status', 200)
    expect(d['job']['state'] == 'none', 'a job started: %r' % d)


def cookie():
    s, d, h = req('GET', '/')
    expect(s == 200 and '<title>lmf board</title>' in d, 'no page')
    ck = h.get('Set-Cookie', '')
    expect('HttpOnly' in ck and TOKEN in ck, 'no token cookie: ' + ck)
    status_is('GET', '/api/info', 200, token=False,
              headers={'Cookie': ck.split(';')[0]})


def bad_form(body, code, word):
    code = int(code)
    d = status_is('POST', '/api/preview', code, body=body)
    expect(word in d['error'], 'error %r lacks %r' % (d['error'], word))
    status_is('POST', '/api/start', code, body=body)
    d = status_is('GET', '/api/status', 200)
    expect(d['job']['state'] == 'none', 'a job started: %r' % d)


def big_body():
    """the reply may come before the body is sent: a raw socket"""
    for n in (10 << 20, 300 << 10):
        c = socket.create_connection((HOST, PORT), timeout=10)
        c.sendall(('POST /api/start?token=%s HTTP/1.1\r\nHost: x\r\n'
                   'Content-Length: %d\r\n\r\n' % (TOKEN, n)).encode())
        try:
            c.sendall(b'a' * n)
        except OSError:
            pass
        head = c.recv(100).decode('latin-1')
        c.close()
        expect(head.startswith('HTTP/1.1 413'), '%d bytes: %s' % (n, head))


def chunked_big():
    """a body with no length, too long: 413 after it"""
    c = socket.create_connection((HOST, PORT), timeout=10)
    c.sendall(('POST /api/preview?token=%s HTTP/1.1\r\nHost: x\r\n'
               'Transfer-Encoding: chunked\r\n\r\n' % TOKEN).encode())
    chunk = b'a' * 65536
    try:
        for _ in range(8):
            c.sendall(b'10000\r\n' + chunk + b'\r\n')
        c.sendall(b'0\r\n\r\n')
    except OSError:
        pass
    head = c.recv(100).decode('latin-1')
    c.close()
    expect(head.startswith('HTTP/1.1 413'), 'chunked: ' + head)


def raw(data, read=True):
    c = socket.create_connection((HOST, PORT), timeout=10)
    try:
        c.sendall(data)
        if read:
            c.shutdown(socket.SHUT_WR)
            c.recv(4096)
    except OSError:
        pass
    c.close()


def flood(n):
    n = int(n)
    t = TOKEN
    bad = [b'GARBAGE\r\n\r\n', b'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
           b'\x00\xff\x00\r\n\r\n',
           b'GET /api/../../etc/passwd?token=' + t.encode() +
           b' HTTP/1.1\r\nHost: x\r\n\r\n',
           b'POST /api/preview?token=' + t.encode() +
           b' HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nstage=%00',
           b'GET /api/datasets?token=' + t.encode() +
           b'&stage=zz&dataset_dir=x HTTP/1.1\r\nHost: x\r\n\r\n',
           b'GET /' + b'a' * 20000 + b' HTTP/1.1\r\nHost: x\r\n\r\n',
           b'PUT /api/start?token=' + t.encode() +
           b' HTTP/1.1\r\nHost: x\r\n\r\n']
    for i in range(n):
        # binary junk may get no reply: hang up without waiting
        raw(bad[i % len(bad)], read=bad[i % len(bad)][:1].isalpha())
    status_is('GET', '/api/info', 200)
    d = status_is('GET', '/api/status', 200)
    expect(d['job']['state'] == 'none', 'a job started: %r' % d)


def disconnect():
    t = TOKEN.encode()
    # a body cut short, a reply not read, a request never ended
    raw(b'POST /api/preview?token=' + t + b' HTTP/1.1\r\nHost: x\r\n'
        b'Content-Length: 100000\r\n\r\n_tab=train&stage=', read=False)
    raw(b'GET /board.js?token=' + t + b' HTTP/1.1\r\nHost: x\r\n\r\n',
        read=False)
    raw(b'GET /api/runs?tok', read=False)
    c = socket.create_connection((HOST, PORT), timeout=10)
    c.sendall(b'GET /index.html?token=' + t + b' HTTP/1.1\r\nHost: x\r\n\r\n')
    c.recv(10)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\0\0\0\0\0\0\0')
    c.close()   # a reset mid-reply
    time.sleep(0.2)
    status_is('GET', '/api/info', 200)
    s, d, _ = req('GET', '/board.js')
    expect(s == 200 and 'formBody' in d, 'board.js not served')


def datasets(ddir, stage, want):
    d = status_is('GET', '/api/datasets?dataset_dir=%s&stage=%s' %
                  (urllib.parse.quote(ddir), stage), 200)
    expect(','.join(d) == want, '%s: %r, want %s' % (stage, d, want))


def post(what, body, code='200', key=None, want=None):
    d = status_is('POST', '/api/' + what, int(code), body=body)
    if key:
        expect(str(d.get(key)) == want, '%s: %r, want %r' %
               (key, d.get(key), want))


def yaml_has(what, body, line):
    d = status_is('POST', '/api/' + what, 200, body=body)
    expect(line in d['yaml'].split('\n'), 'no %r in %r' % (line, d['yaml']))


def get(path, code='200'):
    status_is('GET', path, int(code))


def wait_state(state, secs):
    end = time.time() + float(secs)
    while time.time() < end:
        d = status_is('GET', '/api/status', 200)
        if d['job']['state'] == state:
            return
        time.sleep(0.2)
    expect(False, 'state %r, want %s' % (d['job'], state))


def wait_steps(n, secs):
    end = time.time() + float(secs)
    while time.time() < end:
        d = status_is('GET', '/api/status', 200)
        log = d.get('trainer_log', [])
        if len(log) >= int(n):
            return
        expect(d['job']['running'], 'the job ended: %r' % d['job'])
        time.sleep(0.2)
    expect(False, 'fewer than %s log entries' % n)


def wait_more(secs):
    """the job's last logged step passes the one logged now"""
    def last():
        d = status_is('GET', '/api/status', 200)
        log = d.get('trainer_log') or [{}]
        return d, log[-1].get('current_steps', 0)
    d, s0 = last()
    end = time.time() + float(secs)
    while time.time() < end:
        d, s = last()
        if s > s0:
            return
        expect(d['job']['running'], 'the job ended: %r' % d['job'])
        time.sleep(0.2)
    expect(False, 'no step logged after step %d' % s0)


def run_is(name, status, ck):
    d = status_is('GET', '/api/runs', 200)
    r = [r for r in d['runs'] if r['name'] == name]
    expect(r and r[0]['status'] == status, 'runs: %r' % d)
    expect(any(c.startswith(ck) for c in r[0]['checkpoints']),
           'no %s: %r' % (ck, r[0]))


def stage_is(name, stage):
    d = status_is('GET', '/api/runs', 200)
    r = [r for r in d['runs'] if r['name'] == name]
    expect(r and r[0]['stage'] == stage, 'runs: %r' % d)


def run(name, args):
    try:
        globals()[name](*args)
        return None
    except Exception as e:
        return '%s: %s' % (type(e).__name__, e)


def batch():
    for line in sys.stdin:
        f = line.rstrip('\n').split('|')
        if len(f) < 2:
            continue
        why = run(f[1], f[2:])
        print('%d\t%s%s' % (why is not None, f[0],
                             '\t' + why.replace('\n', ' ') if why else ''))
        sys.stdout.flush()


if __name__ == '__main__':
    if sys.argv[2] == 'batch':
        batch()
        sys.exit(0)
    why = run(sys.argv[2], sys.argv[3:])
    if why:
        print(why, file=sys.stderr)
    sys.exit(why is not None)
