#!/usr/bin/env bash
# `make bench-http`: the module end to end, side by side with nginx itself.
#
# One static invoice backend (nginx serving conf-examples/invoices/) behind
# every target; wrk POSTs loadentity to each target in turn, every request
# with the next of BENCH_TOKENS distinct pre-minted tokens:
#
#   return200   nginx `return 200`
#   proxy_pass  nginx proxy_pass to the invoice backend (GET the invoice)
#   static      nginx built with the module (build/nginx-static/nginx)
#   dynamic     Debian's nginx with the dynamic module
#
# Then the static module again: paced at half its peak rate (p99 there),
# and the worker's RSS after BENCH_MEMORY_FIRST and BENCH_MEMORY_REQUESTS
# requests. Prints the table, writes bench/results/bench-http.{md,dat,png}
# (the copy shown in README.md) and leaves logs in build/bench-http/.
# Figures only: nothing here is a pass/fail test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
OUT=$BUILD/bench-http
RESULTS=$ROOT/bench/results
# The Makefile passes where it built them. (Not as NGINX: nginx reads
# that variable for inherited sockets.)
NGINX_VERSION=${BENCH_NGINX_VERSION:-1.22.1}
NGINX=$(realpath "${BENCH_NGINX:-$BUILD/$NGINX_VERSION/nginx-static/nginx}")
MODULE_SO=$(realpath "${BENCH_MODULE_SO:-$BUILD/$NGINX_VERSION/nginx-dynamic/ngx_http_opay_module.so}")
OPAY=$(realpath "${BENCH_OPAY:-$BUILD/cmake/opay}")
SYSTEM_NGINX=/usr/sbin/nginx
TARGETS="return200 proxy_pass static dynamic"
SYSTEM_VERSION=$($SYSTEM_NGINX -v 2>&1 | sed -n 's|.*nginx/||p')
if [ "$SYSTEM_VERSION" != "$NGINX_VERSION" ]; then
    # a dynamic module loads only into the nginx version it was built for
    echo "bench-http: no dynamic target (Debian's nginx is $SYSTEM_VERSION," \
         "the module is built for $NGINX_VERSION)"
    TARGETS="return200 proxy_pass static"
fi

DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
TOKENS=${BENCH_TOKENS:-2000}
MEMORY_FIRST=${BENCH_MEMORY_FIRST:-100000}
MEMORY_REQUESTS=${BENCH_MEMORY_REQUESTS:-1000000}
MERCHANT=3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10
URI=/opay/payment-request

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
        --no-install-recommends "${need[@]}"
fi

rm -rf "$OUT"
mkdir -p "$OUT/tmp" "$RESULTS"

started=()
stop_all() {
    for conf in "${started[@]}"; do
        local pidfile=$OUT/$conf.pid
        if [ -f "$pidfile" ]; then
            kill -QUIT "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
    sleep 1
}
trap stop_all EXIT

free_port() {
    local p
    for p in $(shuf -i 20000-60000 -n 100); do
        if ! ss -Htln "sport = :$p" | grep -q .; then
            echo "$p"
            return
        fi
    done
    echo "bench-http: no free port" >&2
    exit 1
}

USER_LINE=""
[ "$(id -u)" -eq 0 ] && USER_LINE="user root;"

# write_conf NAME PORT LOCATIONS [MAIN-LINES]
write_conf() {
    local name=$1 port=$2 locations=$3 main=${4:-}
    cat > "$OUT/$name.conf" <<EOF
$main
worker_processes  1;
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
EOF
}

# start NAME BINARY
start() {
    "$2" -p "$OUT/" -c "$OUT/$1.conf" -e "$OUT/$1.error.log" -t -q
    "$2" -p "$OUT/" -c "$OUT/$1.conf" -e "$OUT/$1.error.log"
    started+=("$1")
    for _ in $(seq 50); do [ -s "$OUT/$1.pid" ] && break; sleep 0.1; done
    sleep 0.5
}

stop() {
    kill -QUIT "$(cat "$OUT/$1.pid")"
    for _ in $(seq 50); do [ -f "$OUT/$1.pid" ] || break; sleep 0.1; done
}

worker_rss_kb() {
    local master worker
    master=$(cat "$OUT/$1.pid")
    worker=$(ps -o pid= --ppid "$master" | head -1 | tr -d ' ')
    awk '/^VmRSS:/ { print $2 }' "/proc/$worker/status"
}

echo "== minting $TOKENS distinct tokens"
seq 1 "$TOKENS" | xargs -P 2 -I{} "$OPAY" mint-token \
    --key "$ROOT/conf-examples/demo-only-key.pem" --kid demo-only \
    --claim "aud=$MERCHANT" --claim sub=payer@example.com \
    --claim sender=billing@contoso.com --claim "jti=bench-{}" \
    > "$OUT/tokens.txt"
distinct=$(sort -u "$OUT/tokens.txt" | grep -c .)
if [ "$distinct" -ne "$TOKENS" ]; then
    echo "bench-http: $distinct distinct tokens, wanted $TOKENS" >&2
    exit 1
fi
export BENCH_TOKENS="$OUT/tokens.txt"
export BENCH_BODY="$ROOT/conf-examples/requests/loadentity.json"

BACKEND_PORT=$(free_port)
write_conf backend "$BACKEND_PORT" "
        location /invoices/ {
            alias         $ROOT/conf-examples/invoices/;
            default_type  application/json;
        }"
start backend "$NGINX"

PROXY_TO_BACKEND="
            proxy_http_version  1.1;
            proxy_set_header    Connection \"\";"
MODULE_LOCATIONS="
        opay_merchant_id  $MERCHANT;
        opay_jwks_file    $ROOT/conf-examples/demo-only-jwks.json;
        location = $URI {
            opay_payment_request;
            opay_invoice_uri  /_invoices/\$opay_ctx_invoiceId.json;
        }
        location /_invoices/ {
            internal;
            proxy_pass  http://invoices/invoices/;$PROXY_TO_BACKEND
        }"

declare -A PORT
for t in return200 proxy_pass static dynamic; do PORT[$t]=$(free_port); done
write_conf return200 "${PORT[return200]}" "
        location = $URI {
            default_type  application/json;
            return 200 '{\"ok\":true}';
        }"
write_conf proxy_pass "${PORT[proxy_pass]}" "
        location = $URI {
            proxy_pass               http://invoices/invoices/12345.json;
            proxy_method             GET;
            proxy_pass_request_body  off;
            proxy_set_header         Content-Length \"\";$PROXY_TO_BACKEND
        }"
write_conf static "${PORT[static]}" "$MODULE_LOCATIONS"
write_conf dynamic "${PORT[dynamic]}" "$MODULE_LOCATIONS" \
    "load_module $MODULE_SO;"

# run_wrk NAME PORT SECONDS [ENV...]: sets REQ_S, P50_MS, P99_MS
run_wrk() {
    local name=$1 port=$2 seconds=$3
    shift 3
    local line wrk_pid stop_file=$OUT/$name.stopped
    rm -f "$stop_file"
    env "$@" BENCH_STOP_FILE="$stop_file" \
        wrk -t "$THREADS" -c "$CONNECTIONS" -d "${seconds}s" \
        --timeout 5s -s "$ROOT/bench/http.lua" \
        "http://127.0.0.1:$port$URI" > "$OUT/$name.wrk.txt" &
    wrk_pid=$!
    # A counted run ends when every thread has seen its count.
    while kill -0 "$wrk_pid" 2>/dev/null; do
        if [ -f "$stop_file" ]; then
            sleep 0.5
            kill -INT "$wrk_pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    wait "$wrk_pid"
    line=$(grep '^RESULT ' "$OUT/$name.wrk.txt" | tail -1)
    read -r _ requests duration p50 p99 _ bad_status sock_errors <<< "$line"
    if [ "$bad_status" -ne 0 ] || [ "$sock_errors" -ne 0 ]; then
        echo "bench-http: $name: $bad_status non-2xx answers," \
             "$sock_errors socket errors (see $OUT)" >&2
        exit 1
    fi
    read -r REQ_S P50_MS P99_MS <<< "$(awk -v r="$requests" -v d="$duration" \
        -v a="$p50" -v b="$p99" \
        'BEGIN { printf "%.0f %.2f %.2f\n", r / (d / 1e6), a / 1e3, b / 1e3 }')"
}

check_answer() {
    local token answer
    token=$(head -1 "$OUT/tokens.txt")
    answer=$(curl -sS -o "$OUT/$1.answer.json" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
        --data-binary "@$BENCH_BODY" "http://127.0.0.1:$2$URI")
    if [ "$answer" != 200 ]; then
        echo "bench-http: $1 answered $answer: $(cat "$OUT/$1.answer.json")" >&2
        exit 1
    fi
}

declare -A RPS P50 P99
for t in $TARGETS; do
    bin=$NGINX
    [ "$t" = dynamic ] && bin=$SYSTEM_NGINX
    start "$t" "$bin"
    check_answer "$t" "${PORT[$t]}"
    echo "== $t: warm-up, then ${DURATION}s"
    run_wrk "$t-warmup" "${PORT[$t]}" 2
    run_wrk "$t" "${PORT[$t]}" "$DURATION"
    RPS[$t]=$REQ_S
    P50[$t]=$P50_MS
    P99[$t]=$P99_MS
    echo "   ${RPS[$t]} req/s, p50 ${P50[$t]} ms, p99 ${P99[$t]} ms"
    if [ "$t" != static ]; then stop "$t"; fi
done
if ! grep -q '"Invoice"' "$OUT/static.answer.json"; then
    echo "bench-http: the module's answer has no invoice" >&2
    exit 1
fi

# Half the module's peak: each connection pauses between requests. A short
# run measures the time each request adds to the pause; the pause is then
# set so that connections / (pause + that time) is half the peak.
half=$(( RPS[static] / 2 ))
delay=$(awk -v c="$CONNECTIONS" -v r="$half" 'BEGIN { printf "%d", c * 1000 / r }')
run_wrk static-pace-probe "${PORT[static]}" 3 BENCH_DELAY_MS="$delay"
delay=$(awk -v c="$CONNECTIONS" -v r="$half" -v got="$REQ_S" -v d="$delay" \
    'BEGIN { per = c * 1000 / got - d; x = c * 1000 / r - per;
             printf "%d", x < 1 ? 1 : x }')
echo "== static, paced at ~$half req/s (${delay} ms pause per connection)"
run_wrk static-paced "${PORT[static]}" "$DURATION" BENCH_DELAY_MS="$delay"
PACED_RPS=$REQ_S
PACED_P99=$P99_MS
echo "   $PACED_RPS req/s, p99 $PACED_P99 ms"
stop static

echo "== static, memory: worker RSS after $MEMORY_FIRST and $MEMORY_REQUESTS requests"
start static "$NGINX"
per_thread() { echo $(( $1 / THREADS )); }
run_wrk memory-1 "${PORT[static]}" 3600 \
    BENCH_STOP_AT="$(per_thread "$MEMORY_FIRST")"
RSS_FIRST=$(worker_rss_kb static)
run_wrk memory-2 "${PORT[static]}" 3600 \
    BENCH_STOP_AT="$(per_thread $(( MEMORY_REQUESTS - MEMORY_FIRST )))"
RSS_LAST=$(worker_rss_kb static)
stop static

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v x="$1" -v t="$2" -v op="$3" \
    'BEGIN { ok = op == "ge" ? x >= t : x <= t; print ok ? "met" : "MISSED" }'; }
MODULE_RATIO=$(ratio "${RPS[static]}" "${RPS[proxy_pass]}")
DYNAMIC_NOTE=""
if [ -n "${RPS[dynamic]:-}" ]; then
    DYNAMIC_NOTE=" (dynamic $(ratio "${RPS[dynamic]}" "${RPS[proxy_pass]}"))"
fi
RSS_GROWTH=$(awk -v a="$RSS_FIRST" -v b="$RSS_LAST" \
    'BEGIN { printf "%.2f", (b - a) * 100 / a }')
GROWTH_ABS=${RSS_GROWTH#-}

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
MACHINE="$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC')
LABEL_return200='nginx `return 200`'
LABEL_proxy_pass='nginx `proxy_pass` to the invoice backend'
LABEL_static="nginx $NGINX_VERSION + module (static build)"
LABEL_dynamic="Debian nginx $SYSTEM_VERSION + module (dynamic)"
{
    echo "Last run: $WHEN, $MACHINE; wrk $THREADS thread, $CONNECTIONS connections,"
    echo "${DURATION} s per target, POST loadentity, $TOKENS distinct tokens in turn;"
    echo "every nginx with 1 worker, one static invoice backend behind all;"
    echo "load average at the end $LOAD (the machine is shared)."
    echo
    echo "| target | req/s | p50 | p99 | vs proxy_pass |"
    echo "|---|---|---|---|---|"
    for t in $TARGETS; do
        label=LABEL_$t
        echo "| ${!label} | ${RPS[$t]} | ${P50[$t]} ms | ${P99[$t]} ms | $(ratio "${RPS[$t]}" "${RPS[proxy_pass]}") |"
    done
    echo
    echo "| target (issue 12) | measured | target | |"
    echo "|---|---|---|---|"
    echo "| module / proxy_pass, loadentity | ${MODULE_RATIO}${DYNAMIC_NOTE} | ≥ 0.70 | $(verdict "$MODULE_RATIO" 0.70 ge) |"
    echo "| p99 at half the module's peak ($PACED_RPS req/s) | $PACED_P99 ms | ≤ 5 ms | $(verdict "$PACED_P99" 5 le) |"
    echo "| worker RSS, $MEMORY_FIRST → $MEMORY_REQUESTS requests | $RSS_FIRST → $RSS_LAST KiB ($RSS_GROWTH %) | within 2 % | $(verdict "$GROWTH_ABS" 2 le) |"
} > "$RESULTS/bench-http.md"

{
    echo "# target req/s p50_ms p99_ms"
    for t in $TARGETS; do
        echo "$t ${RPS[$t]} ${P50[$t]} ${P99[$t]}"
    done
} > "$RESULTS/bench-http.dat"

gnuplot <<EOF
set terminal pngcairo size 900,420 font "DejaVu Sans,10" noenhanced
set output "$RESULTS/bench-http.png"
set title "loadentity, wrk $CONNECTIONS connections, $MACHINE ($WHEN)"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.8
set ylabel "requests per second"
set y2label "p99 latency (ms)"
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
set grid ytics
set key top right
plot "$RESULTS/bench-http.dat" using 2:xtic(1) title "req/s" lc rgb "#4a7ab5", \
     "" using 0:4 axes x1y2 with points pt 7 ps 2 lc rgb "#c0392b" title "p99 (ms)"
EOF

echo
cat "$RESULTS/bench-http.md"
echo
echo "plot: $RESULTS/bench-http.png; logs: $OUT"
