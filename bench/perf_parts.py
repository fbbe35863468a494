#!/usr/bin/python3
"""CPU time per request by part, from `perf record` samples of a loaded
worker: for bench/profile.sh.

usage: perf_parts.py TOP VERIFY_US MODULE_SCRIPT MODULE_US REF_SCRIPT REF_US
                     LIMIT_SCRIPT LIMIT_US

Each SCRIPT is `perf script -F ip,sym,dso` of one target's worker, US the
CPU µs per request that worker spent over the same requests (/proc). Each
part's share of the samples times that CPU is the part's µs per request.
The parts are bench/callgrind_parts.py's, and the kernel (system calls,
TCP over loopback, interrupts taken while the worker ran). Prints, as
Markdown, the parts of the module, of the measured limit (LIMIT: plain
proxy_pass after one verify of the token, bench/limit) and of plain proxy_pass;
what the module spends beyond issue 21's limit (proxy_pass + VERIFY_US,
the raw verify) and beyond the measured one, part by part; and the
module's TOP functions.
"""
import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from callgrind_parts import PARTS, part, short  # noqa: E402

SAMPLE = re.compile(r'^\s*[0-9a-f]+ (.*) \((.*)\)$')
KERNEL = ('kernel', 'the kernel (system calls, TCP over loopback, interrupts)')


def samples(path):
    """Samples per (object, function)."""
    counts = collections.Counter()
    with open(path) as f:
        for line in f:
            m = SAMPLE.match(line.rstrip('\n'))
            if m:
                counts[(m.group(2), m.group(1))] += 1
    if not counts:
        sys.exit('%s: no samples' % path)
    return counts


def part_of(obj, fn):
    if obj.startswith('[kernel') or obj == '[vdso]':
        return 'kernel'
    return part(obj, fn)


def per_request(path, us):
    """µs per request of each (object, function)."""
    counts = samples(path)
    total = sum(counts.values())
    return {k: n * us / total for k, n in counts.items()}


def by_part(fns):
    parts = collections.Counter()
    for (obj, fn), us in fns.items():
        parts[part_of(obj, fn)] += us
    return parts


def main():
    count, verify = int(sys.argv[1]), float(sys.argv[2])
    module = per_request(sys.argv[3], float(sys.argv[4]))
    ref = per_request(sys.argv[5], float(sys.argv[6]))
    lim = per_request(sys.argv[7], float(sys.argv[8]))
    mp, rp, lp = by_part(module), by_part(ref), by_part(lim)
    # without kernel samples (perf not allowed to take them) the whole CPU
    # would be spread over user space: refuse rather than mislead
    if not mp['kernel'] or not rp['kernel'] or not lp['kernel']:
        sys.exit('perf_parts.py: no kernel samples: perf could not sample '
                 'the kernel')
    print('| part | module | the limit, measured | plain `proxy_pass` '
          '| module beyond `proxy_pass` + raw verify '
          '| module beyond the measured limit |')
    print('|---|---|---|---|---|---|')
    for key, text in [KERNEL] + PARTS:
        # the sum's verify is the raw one: the module's libcrypto time
        # beyond it (SHA-256 of the signed part, a colder cache) is the
        # module's own
        summed = rp[key] + (verify if key == 'crypto' else 0)
        print('| %s | %.1f | %.1f | %.1f | %+.1f | %+.1f |'
              % (text, mp[key], lp[key], rp[key], mp[key] - summed,
                 mp[key] - lp[key]))
    mt, lt, rt = sum(mp.values()), sum(lp.values()), sum(rp.values())
    print('| **total** | **%.1f** | **%.1f** | **%.1f** | **%+.1f** '
          '| **%+.1f** |' % (mt, lt, rt, mt - rt - verify, mt - lt))
    print()
    print('CPU µs per request. Issue 21\'s limit is `proxy_pass` + one raw '
          'verify (%.1f µs): limit efficiency (%.1f + %.1f) / %.1f = %.2f. '
          'The measured limit (plain `proxy_pass` after one verify of the token, '
          'bench/limit) scores (%.1f + %.1f) / %.1f = %.2f by that formula; '
          'measured limit / module = %.1f / %.1f = %.2f.'
          % (verify, rt, verify, mt, (rt + verify) / mt,
             rt, verify, lt, (rt + verify) / lt, lt, mt, lt / mt))
    print()
    print('Module, top %d functions by CPU µs per request:' % count)
    print()
    print('| µs | part | function |')
    print('|---|---|---|')
    rows = sorted(module.items(), key=lambda kv: -kv[1])[:count]
    for (obj, fn), us in rows:
        print('| %.2f | %s | `%s` |' % (us, part_of(obj, fn), short(fn)))


if __name__ == '__main__':
    main()
