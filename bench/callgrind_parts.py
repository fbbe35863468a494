#!/usr/bin/python3
"""Instructions per request by part, from callgrind runs: for
bench/instructions.sh.

usage: callgrind_parts.py REQUESTS TOP MODULE_BASE MODULE_FULL REF_BASE REF_FULL

Each pair is a run with few requests and a run with REQUESTS more of the
same: the difference is the requests alone (start-up, configuration and
exit cancel), divided by REQUESTS. MODULE is nginx with the module, REF
plain proxy_pass. Prints, as Markdown, each part's instructions per request
for both, the instruction-count limit efficiency and each one's TOP
functions by their own (self) instructions.
"""
import collections
import re
import sys

# (part, what it holds), in the order printed
PARTS = [
    ('nginx', "nginx's own (request and headers, subrequest, upstream, answer)"),
    ('crypto', 'the RSA verify (libcrypto: SHA-256, `EVP_PKEY_verify`)'),
    ('core', "the core (our C++ and JSON, RapidJSON's documents, libstdc++)"),
    ('libc', 'libc (malloc, memcpy, …)'),
    ('shim', 'the shim (`ngx_http_opay_*`)'),
    ('elsewhere', 'elsewhere'),
]
NAMED = re.compile(r'\((\d+)\)(?: (.*))?$')


def part(obj, fn):
    """The part an object file and function belong to."""
    base = obj.rsplit('/', 1)[-1]
    if base.startswith(('libcrypto.', 'libssl.')):
        return 'crypto'
    if base.startswith(('libc.so', 'ld-linux')):
        return 'libc'
    if base.startswith(('libstdc++.', 'libgcc_s.')):
        return 'core'
    # nginx itself (the static build has the shim and the core in it) or
    # the dynamic module
    if base == 'nginx' or (base.endswith('.so') and 'opay' in base):
        if fn.startswith('ngx_http_opay_'):
            return 'shim'
        if fn.startswith('ngx_') or fn == 'main':
            return 'nginx'
        return 'core'
    return 'elsewhere'


def self_costs(path):
    """Instructions spent in each (object, function) itself, and the file's
    total, which they must add up to."""
    names = {'ob': {}, 'fn': {}}
    costs = collections.Counter()
    total = None
    obj = fn = None
    call_cost_next = False

    def name(kind, text):
        # compressed names: "(id) name" the first time, "(id)" after
        m = NAMED.match(text)
        if not m:
            return text
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind][m.group(1)]

    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in '+-*':
                if call_cost_next:
                    # the inclusive cost of the call above: not this
                    # function's own
                    call_cost_next = False
                elif fn is not None:
                    fields = line.split()
                    if len(fields) > 1:
                        costs[(obj, fn)] += int(fields[1])
            elif line.startswith('ob='):
                obj = name('ob', line[3:])
            elif line.startswith('fn='):
                fn = name('fn', line[3:])
            elif line.startswith('cob='):
                name('ob', line[4:])
            elif line.startswith('cfn='):
                name('fn', line[4:])
            elif line.startswith('calls='):
                call_cost_next = True
            elif line.startswith('totals:'):
                total = int(line.split()[1])
    counted = sum(costs.values())
    if total is not None and counted != total:
        sys.exit('%s: functions add up to %d, the file says %d'
                 % (path, counted, total))
    return costs


def per_request(base, full, requests):
    a, b = self_costs(base), self_costs(full)
    return {k: (b[k] - a[k]) / requests for k in set(a) | set(b)}


def by_part(fns):
    parts = collections.Counter()
    for (obj, fn), n in fns.items():
        parts[part(obj, fn)] += n
    return parts


TEMPLATE_ARGS = re.compile(r'<[^<>]*>')


def short(fn):
    """A function's name without its template arguments: C++ names of
    RapidJSON's readers run to hundreds of letters."""
    while True:
        cut = TEMPLATE_ARGS.sub('\0', fn)
        if cut == fn:
            return fn.replace('\0', '<…>')
        fn = cut


def num(n):
    return '{:,.0f}'.format(n)


def top(title, fns, count):
    print()
    print('%s, top %d by own instructions per request:' % (title, count))
    print()
    print('| instructions | part | function |')
    print('|---|---|---|')
    rows = sorted(fns.items(), key=lambda kv: -kv[1])[:count]
    for (obj, fn), n in rows:
        print('| %s | %s | `%s` |' % (num(n), part(obj, fn), short(fn)))


def main():
    requests, count = int(sys.argv[1]), int(sys.argv[2])
    module = per_request(sys.argv[3], sys.argv[4], requests)
    ref = per_request(sys.argv[5], sys.argv[6], requests)
    mp, rp = by_part(module), by_part(ref)
    print('| part | module | plain `proxy_pass` |')
    print('|---|---|---|')
    for key, text in PARTS:
        print('| %s | %s | %s |' % (text, num(mp[key]),
                                   num(rp[key]) if round(rp[key]) else '—'))
    mt, rt = sum(mp.values()), sum(rp.values())
    print('| **total** | **%s** | **%s** |' % (num(mt), num(rt)))
    print()
    # The limit: plain proxy_pass plus the one verification every request
    # must do, which is the module's libcrypto part (callgrind has no
    # `openssl speed`; the module's own verify is that raw verify).
    print('Limit efficiency in instructions: (`proxy_pass` total + the '
          "module's libcrypto part) / module total = (%s + %s) / %s = %.3f"
          % (num(rt), num(mp['crypto']), num(mt), (rt + mp['crypto']) / mt))
    top('Module', module, count)
    top('Plain `proxy_pass`', ref, count)


if __name__ == '__main__':
    main()
