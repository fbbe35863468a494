import re
def anchor(h):
    h=h.strip().lower()
    h=re.sub(r'[^\w\- ]','',h)
    return h.replace(' ','-')
pages=[('ngx_http_opay_module.md','The module reference (nginx.org shape): what to put in nginx.conf'),
('backends.md','What the backends receive and must answer'),
('payment-complete.md','The charge: checks, one PaymentIntent per invoice, outcomes, the journal'),
('operations.md','Running it: keys, nginx versions, building, the package, the opay tool'),
('security.md','What the module refuses, never passes on, and bounds'),
('development.md','For contributors (not shipped in the package): tests, fuzzing, performance, layout')]
out=["# Documentation of ngx_http_opay_module\n",
"The table of contents: every page, each of its sections and the topics",
"inside them. Start with the [README](../README.md) (what it is, `make run`,",
"`make test`), then the [module reference](ngx_http_opay_module.md) for the",
"directives. This list is made from the pages' headings and bold topic",
"lines (`python3 scripts/docs-toc.py > docs/README.md`);",
"`nginx-tests/01-docs.t` checks that it is up to date.\n"]
for p,desc in pages:
    lines=open('docs/'+p).read().split('\n')
    infence=False; title=None; items=[]; cur=None; curlvl=1
    for l in lines:
        if l.startswith('```'): infence=not infence; continue
        if infence: continue
        m=re.match(r'^(#{1,3}) (.*)',l)
        if m:
            lvl=len(m.group(1)); t=m.group(2)
            if lvl==1: title=t
            else:
                items.append('  '*(lvl-2)+f"- [{t}]({p}#{anchor(t)})"); cur=anchor(t); curlvl=lvl
            continue
        b=re.match(r'^\*\*([A-Z][^*]+?)\.?\*\*',l)
        if b and p!='ngx_http_opay_module.md':
            t=b.group(1).rstrip('.').rstrip(':')
            target=f"{p}#{cur}" if cur else p
            items.append('  '*(curlvl-1)+f"- [{t}]({target})")
    out.append(f"## [{title}]({p})\n\n{desc}.\n")
    out.extend(items); out.append('')
out.append("## Elsewhere\n")
out.append("- [opay(1)](opay.1): the manual page of the `opay` tool (`man ./docs/opay.1`).")
out.append("- [CHANGES](../CHANGES): the changes of each version, in nginx's format.")
out.append("- [LICENSE](../LICENSE): BSD 2-Clause.")
print('\n'.join(out))
