#!/usr/bin/python3
"""loadentity requests over one keep-alive connection, for
bench/instructions.sh: request i carries token i of TOKENS (one a line), so
no two requests share a token. Every answer must be 200 with the invoice in
it, and the connection must stay the same one throughout.

usage: loadentity_client.py PORT URI COUNT TOKENS BODY
"""
import http.client
import sys


def main():
    port, uri, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    with open(sys.argv[4]) as f:
        tokens = [line.strip() for line in f if line.strip()]
    with open(sys.argv[5], 'rb') as f:
        body = f.read()
    if len(tokens) < count:
        sys.exit('%d tokens for %d requests' % (len(tokens), count))
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
    sock = None
    for i in range(count):
        conn.request('POST', uri, body=body, headers={
            'Content-Type': 'application/json',
            'Authorization': 'Bearer ' + tokens[i]})
        answer = conn.getresponse()
        text = answer.read()
        if answer.status != 200 or b'"Invoice"' not in text:
            sys.exit('request %d: %d %r' % (i + 1, answer.status, text[:300]))
        if sock is None:
            sock = conn.sock
        elif conn.sock is not sock:
            sys.exit('request %d: the connection was not kept alive' % (i + 1))
    conn.close()


if __name__ == '__main__':
    main()
