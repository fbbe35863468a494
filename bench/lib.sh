# shellcheck shell=bash disable=SC2034  # (the callers use the variables)
# Helpers shared by bench/http.sh and bench/instructions.sh (sourced, not
# run). The caller sets ROOT (the repository), OUT (its work directory) and
# BENCH (its name, for messages) before sourcing.

MERCHANT=3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10
URI=/opay/payment-request
BODY=$ROOT/conf-examples/requests/loadentity.json
TOKENS_FILE=$OUT/tokens.txt

die() {
    echo "$BENCH: $*" >&2
    exit 1
}

# install_packages PACKAGE...: apt-get install them (the caller lists only
# what is missing)
install_packages() {
    [ $# -gt 0 ] || return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
        --no-install-recommends "$@"
}

# a port below the kernel's ephemeral range (so that no client connection
# of wrk's or nginx's takes it meanwhile) that no socket uses
free_port() {
    local p low
    read -r low _ < /proc/sys/net/ipv4/ip_local_port_range
    [ "$low" -gt 10100 ] || die "the ephemeral port range starts at $low"
    for p in $(shuf -i "10000-$(( low - 1 ))" -n 100); do
        if ! ss -Htan "sport = :$p" | grep -q .; then
            echo "$p"
            return
        fi
    done
    die "no free port"
}

USER_LINE=""
[ "$(id -u)" -eq 0 ] && USER_LINE="user root;"

# write_conf NAME PORT WORKERS LOCATIONS [MAIN-LINES]: $OUT/NAME.conf, its
# upstream "invoices" the backend on BACKEND_PORT
write_conf() {
    local name=$1 port=$2 workers=$3 locations=$4 main=${5:-}
    cat > "$OUT/$name.conf" <<CONF
$main
worker_processes  $workers;
$USER_LINE
error_log  $OUT/$name.error.log warn;
pid        $OUT/$name.pid;
events { worker_connections  1024; }
http {
    access_log             off;
    client_body_temp_path  $OUT/tmp/$name-body;
    proxy_temp_path        $OUT/tmp/$name-proxy;
    fastcgi_temp_path      $OUT/tmp/$name-fastcgi;
    uwsgi_temp_path        $OUT/tmp/$name-uwsgi;
    scgi_temp_path         $OUT/tmp/$name-scgi;
    upstream invoices {
        server     127.0.0.1:${BACKEND_PORT:-1};
        keepalive  32;
    }
    server {
        listen  127.0.0.1:$port backlog=1024;
$locations
    }
}
CONF
}

# check_conf NAME BINARY
check_conf() {
    "$2" -p "$OUT/" -c "$OUT/$1.conf" -e "$OUT/$1.error.log" -t -q
}

# start NAME BINARY: a daemon nginx, stopped by stop or at exit by stop_all
started=()
start() {
    check_conf "$1" "$2"
    "$2" -p "$OUT/" -c "$OUT/$1.conf" -e "$OUT/$1.error.log"
    started+=("$1")
    for _ in $(seq 50); do [ -s "$OUT/$1.pid" ] && break; sleep 0.1; done
    sleep 0.5
}

stop() {
    kill -QUIT "$(cat "$OUT/$1.pid")"
    for _ in $(seq 50); do [ -f "$OUT/$1.pid" ] || break; sleep 0.1; done
}

stop_all() {
    local name
    for name in "${started[@]}"; do
        if [ -f "$OUT/$name.pid" ]; then
            kill -QUIT "$(cat "$OUT/$name.pid")" 2>/dev/null || true
        fi
    done
    sleep 1
}

# mint_tokens OPAY COUNT: COUNT distinct tokens (jti bench-1 … bench-COUNT)
# for the demo merchant, one a line, in $TOKENS_FILE
mint_tokens() {
    local opay=$1 count=$2 distinct
    seq 1 "$count" | xargs -P 2 -I{} "$opay" mint-token \
        --key "$ROOT/conf-examples/demo-only-key.pem" --kid demo-only \
        --claim "aud=$MERCHANT" --claim sub=payer@example.com \
        --claim sender=billing@contoso.com --claim "jti=bench-{}" \
        > "$TOKENS_FILE"
    distinct=$(sort -u "$TOKENS_FILE" | grep -c .)
    [ "$distinct" -eq "$count" ] ||
        die "$distinct distinct tokens, wanted $count"
}

# start_backend BINARY: the invoice backend (nginx serving
# conf-examples/invoices/) on BACKEND_PORT, behind every target
start_backend() {
    BACKEND_PORT=$(free_port)
    write_conf backend "$BACKEND_PORT" 1 "
        location /invoices/ {
            alias         $ROOT/conf-examples/invoices/;
            default_type  application/json;
        }"
    start backend "$1"
}

# The targets' locations at $URI.
PROXY_TO_BACKEND="
            proxy_http_version  1.1;
            proxy_set_header    Connection \"\";"
INVOICES_LOCATION="
        location /_invoices/ {
            internal;
            proxy_pass  http://invoices/invoices/;$PROXY_TO_BACKEND
        }"
# the module answering loadentity
MODULE_LOCATIONS="
        opay_merchant_id  $MERCHANT;
        opay_jwks_file    $ROOT/conf-examples/demo-only-jwks.json;
        location = $URI {
            opay_payment_request;
            opay_invoice_uri  /_invoices/\$opay_ctx_invoiceId.json;
        }$INVOICES_LOCATION"
# plain proxy_pass: the same request answered with a GET of the invoice
PROXY_PASS_LOCATIONS="
        location = $URI {
            proxy_pass               http://invoices/invoices/12345.json;
            proxy_method             GET;
            proxy_pass_request_body  off;
            proxy_set_header         Content-Length \"\";$PROXY_TO_BACKEND
        }"

# the limit as a target: plain proxy_pass after one raw RSA-2048 verify of
# the token (bench/limit, loaded from BENCH_LIMIT_SO), nothing else
LIMIT_LOCATIONS="
        location = $URI {
            bench_verify_key         $ROOT/conf-examples/demo-only-key.pem;
            proxy_pass               http://invoices/invoices/12345.json;
            proxy_method             GET;
            proxy_pass_request_body  off;
            proxy_set_header         Content-Length \"\";$PROXY_TO_BACKEND
        }"

# check_refuses NAME PORT: a token with one character of its signature
# changed (not the last, whose low bits base64url leaves unused) is
# refused (401): the target does verify
check_refuses() {
    local token answer tail c
    token=$(head -1 "$TOKENS_FILE")
    tail=${token: -10}
    c=${tail:0:1}
    [ "$c" = A ] && c=B || c=A
    token=${token:0:${#token}-10}$c${tail:1}
    answer=$(curl -sS -o /dev/null -w '%{http_code}' \
        -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
        --data-binary "@$BODY" "http://127.0.0.1:$2$URI") ||
        die "$1: no answer on port $2 (see $OUT/$1.error.log)"
    [ "$answer" = 401 ] || die "$1 answered $answer to a bad signature"
}

# check_answer NAME PORT: one loadentity request answers 200 with the invoice
check_answer() {
    local token answer
    token=$(head -1 "$TOKENS_FILE")
    answer=$(curl -sS -o "$OUT/$1.answer.json" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
        --data-binary "@$BODY" "http://127.0.0.1:$2$URI") ||
        die "$1: no answer on port $2 (see $OUT/$1.error.log)"
    if [ "$answer" != 200 ] || ! grep -q '"Invoice"' "$OUT/$1.answer.json"
    then
        die "$1 answered $answer: $(cat "$OUT/$1.answer.json")"
    fi
}
