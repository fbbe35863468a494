#!/usr/bin/env bash
# `make bench-http`: the module end to end, side by side with nginx itself.
#
# One static invoice backend (nginx serving conf-examples/invoices/) behind
# every target; wrk POSTs loadentity to each target in turn, every request
# with the next of BENCH_TOKENS distinct pre-minted tokens. Each target runs
# with 1 and with 2 workers (-w1, -w2):
#
#   proxy_pass  nginx proxy_pass to the invoice backend (GET the invoice)
#   static      nginx built with the module (build/nginx-static/nginx)
#   dynamic     Debian's nginx with the dynamic module
#   njs         Debian's nginx + njs (libnginx-mod-http-js): bench/opay.js,
#               what a merchant would write for loadentity (2 workers only)
#
# For each: req/s, latency and the CPU time per request of that nginx's
# master and workers (utime + stime from /proc/<pid>/stat before and after
# the run, over the requests served), so that wrk and the backend sharing
# the machine do not blur it. `openssl speed rsa2048` in the same run gives
# the raw RSA-2048 verify; the limit is proxy_pass CPU/request + one verify.
# Then the static module (2 workers) paced at half its peak rate (p99
# there), and the worker's RSS after BENCH_MEMORY_FIRST and
# BENCH_MEMORY_REQUESTS requests (1 worker). Prints the table, writes
# bench/results/bench-http.{md,dat,png} (the copy shown in README.md) and
# leaves logs in build/bench-http/. Figures only: nothing here is a
# pass/fail test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
OUT=$BUILD/bench-http
RESULTS=$ROOT/bench/results
# The Makefile passes where it built them. (Not as NGINX: nginx reads
# that variable for inherited sockets.)
NGINX_VERSION=${BENCH_NGINX_VERSION:-1.22.1}
NGINX=$(realpath "${BENCH_NGINX:-$BUILD/$NGINX_VERSION/nginx-static/nginx}")
MODULE_SO=$(realpath -m "${BENCH_MODULE_SO:-$BUILD/$NGINX_VERSION/nginx-dynamic/ngx_http_opay_module.so}")
OPAY=$(realpath "${BENCH_OPAY:-$BUILD/cmake/opay}")
SYSTEM_NGINX=/usr/sbin/nginx
NJS_SO=/usr/lib/nginx/modules/ngx_http_js_module.so
TARGETS="proxy_pass-w1 proxy_pass-w2 static-w1 static-w2 dynamic-w1 dynamic-w2 njs-w2"
SYSTEM_VERSION=$($SYSTEM_NGINX -v 2>&1 | sed -n 's|.*nginx/||p')
if [ "$SYSTEM_VERSION" != "$NGINX_VERSION" ]; then
    # a dynamic module loads only into the nginx version it was built for
    echo "bench-http: no dynamic target (Debian's nginx is $SYSTEM_VERSION," \
         "the module is built for $NGINX_VERSION)"
    TARGETS="proxy_pass-w1 proxy_pass-w2 static-w1 static-w2 njs-w2"
fi
# BENCH_TARGETS: a subset, for a quicker look (static-w2 and the
# proxy_pass of each module target's worker count are always run)
if [ -n "${BENCH_TARGETS:-}" ]; then
    TARGETS="proxy_pass-w1 proxy_pass-w2 static-w2"
    for t in $BENCH_TARGETS; do
        case " $TARGETS " in *" $t "*) ;; *) TARGETS="$TARGETS $t" ;; esac
    done
fi
MODULES=""
for t in $TARGETS; do
    case $t in static-*|dynamic-*) MODULES="$MODULES $t" ;; esac
done

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
[ -f "$NJS_SO" ] || need+=(libnginx-mod-http-js)
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

# write_conf NAME PORT WORKERS LOCATIONS [MAIN-LINES]
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

# cpu_ticks NAME: utime + stime of that nginx's master and workers
cpu_ticks() {
    local master p total=0
    master=$(cat "$OUT/$1.pid")
    for p in $master $(ps -o pid= --ppid "$master"); do
        # the fields after the ")" that ends the command name
        total=$(( total + $(sed 's/.*) //' "/proc/$p/stat" |
                            awk '{ print $12 + $13 }') ))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

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

# The raw RSA-2048 public-key operation, in CPU time (openssl speed's
# default divisor is user time), on this machine in this run.
echo "== openssl speed rsa2048"
openssl speed -seconds 3 rsa2048 > "$OUT/openssl-speed.txt" 2>&1
VERIFY_US=$(awk '$1 == "rsa" && $2 == "2048" && $3 == "bits" {
    printf "%.1f", 1e6 / $NF }' "$OUT/openssl-speed.txt")
if [ -z "$VERIFY_US" ]; then
    echo "bench-http: no rsa2048 verify figure in $OUT/openssl-speed.txt" >&2
    exit 1
fi
echo "   $VERIFY_US µs per verify"

BACKEND_PORT=$(free_port)
write_conf backend "$BACKEND_PORT" 1 "
        location /invoices/ {
            alias         $ROOT/conf-examples/invoices/;
            default_type  application/json;
        }"
start backend "$NGINX"

PROXY_TO_BACKEND="
            proxy_http_version  1.1;
            proxy_set_header    Connection \"\";"
INVOICES_LOCATION="
        location /_invoices/ {
            internal;
            proxy_pass  http://invoices/invoices/;$PROXY_TO_BACKEND
        }"
MODULE_LOCATIONS="
        opay_merchant_id  $MERCHANT;
        opay_jwks_file    $ROOT/conf-examples/demo-only-jwks.json;
        location = $URI {
            opay_payment_request;
            opay_invoice_uri  /_invoices/\$opay_ctx_invoiceId.json;
        }$INVOICES_LOCATION"

# The njs peer's script, with the demo key's public half (SPKI) in it.
SPKI=$(openssl pkey -in "$ROOT/conf-examples/demo-only-key.pem" -pubout \
       -outform DER 2>/dev/null | base64 -w0)
sed -e "s|@MERCHANT@|$MERCHANT|" -e "s|@SPKI@|$SPKI|" \
    "$ROOT/bench/opay.js" > "$OUT/opay.js"
NJS_LOCATIONS="
        js_import  opay from $OUT/opay.js;
        location = $URI {
            js_content  opay.loadentity;
        }$INVOICES_LOCATION"

declare -A PORT BIN
for t in $TARGETS; do
    PORT[$t]=$(free_port)
    workers=${t##*-w}
    case $t in
    proxy_pass-*)
        BIN[$t]=$NGINX
        write_conf "$t" "${PORT[$t]}" "$workers" "
        location = $URI {
            proxy_pass               http://invoices/invoices/12345.json;
            proxy_method             GET;
            proxy_pass_request_body  off;
            proxy_set_header         Content-Length \"\";$PROXY_TO_BACKEND
        }" ;;
    static-*)
        BIN[$t]=$NGINX
        write_conf "$t" "${PORT[$t]}" "$workers" "$MODULE_LOCATIONS" ;;
    dynamic-*)
        BIN[$t]=$SYSTEM_NGINX
        write_conf "$t" "${PORT[$t]}" "$workers" "$MODULE_LOCATIONS" \
            "load_module $MODULE_SO;" ;;
    njs-*)
        BIN[$t]=$SYSTEM_NGINX
        write_conf "$t" "${PORT[$t]}" "$workers" "$NJS_LOCATIONS" \
            "load_module $NJS_SO;" ;;
    esac
done
PORT[memory]=$(free_port)
write_conf memory "${PORT[memory]}" 1 "$MODULE_LOCATIONS"

# run_wrk NAME PORT SECONDS [ENV...]: sets REQUESTS, REQ_S, P50_MS, P99_MS
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
    read -r _ REQUESTS duration p50 p99 _ bad_status sock_errors <<< "$line"
    if [ "$bad_status" -ne 0 ] || [ "$sock_errors" -ne 0 ]; then
        echo "bench-http: $name: $bad_status non-2xx answers," \
             "$sock_errors socket errors (see $OUT)" >&2
        exit 1
    fi
    read -r REQ_S P50_MS P99_MS <<< "$(awk -v r="$REQUESTS" -v d="$duration" \
        -v a="$p50" -v b="$p99" \
        'BEGIN { printf "%.0f %.2f %.2f\n", r / (d / 1e6), a / 1e3, b / 1e3 }')"
}

check_answer() {
    local token answer
    token=$(head -1 "$OUT/tokens.txt")
    answer=$(curl -sS -o "$OUT/$1.answer.json" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
        --data-binary "@$BENCH_BODY" "http://127.0.0.1:$2$URI")
    if [ "$answer" != 200 ] || ! grep -q '"Invoice"' "$OUT/$1.answer.json"
    then
        echo "bench-http: $1 answered $answer: $(cat "$OUT/$1.answer.json")" >&2
        exit 1
    fi
}

declare -A RPS P50 P99 CPU
for t in $TARGETS; do
    start "$t" "${BIN[$t]}"
    check_answer "$t" "${PORT[$t]}"
    echo "== $t: warm-up, then ${DURATION}s"
    run_wrk "$t-warmup" "${PORT[$t]}" 2
    before=$(cpu_ticks "$t")
    run_wrk "$t" "${PORT[$t]}" "$DURATION"
    after=$(cpu_ticks "$t")
    RPS[$t]=$REQ_S
    P50[$t]=$P50_MS
    P99[$t]=$P99_MS
    CPU[$t]=$(awk -v t=$(( after - before )) -v hz="$CLK_TCK" -v n="$REQUESTS" \
        'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    echo "   ${RPS[$t]} req/s, ${CPU[$t]} µs CPU/request," \
         "p50 ${P50[$t]} ms, p99 ${P99[$t]} ms"
    if [ "$t" != static-w2 ]; then stop "$t"; fi
done

# Half the module's peak: each connection pauses between requests. A short
# run measures the time each request adds to the pause; the pause is then
# set so that connections / (pause + that time) is half the peak.
half=$(( RPS[static-w2] / 2 ))
delay=$(awk -v c="$CONNECTIONS" -v r="$half" 'BEGIN { printf "%d", c * 1000 / r }')
run_wrk static-pace-probe "${PORT[static-w2]}" 3 BENCH_DELAY_MS="$delay"
delay=$(awk -v c="$CONNECTIONS" -v r="$half" -v got="$REQ_S" -v d="$delay" \
    'BEGIN { per = c * 1000 / got - d; x = c * 1000 / r - per;
             printf "%d", x < 1 ? 1 : x }')
echo "== static-w2, paced at ~$half req/s (${delay} ms pause per connection)"
run_wrk static-paced "${PORT[static-w2]}" "$DURATION" BENCH_DELAY_MS="$delay"
PACED_RPS=$REQ_S
PACED_P99=$P99_MS
echo "   $PACED_RPS req/s, p99 $PACED_P99 ms"
stop static-w2

echo "== static, 1 worker, memory: worker RSS after $MEMORY_FIRST and $MEMORY_REQUESTS requests"
start memory "$NGINX"
per_thread() { echo $(( $1 / THREADS )); }
run_wrk memory-1 "${PORT[memory]}" 3600 \
    BENCH_STOP_AT="$(per_thread "$MEMORY_FIRST")"
RSS_FIRST=$(worker_rss_kb memory)
run_wrk memory-2 "${PORT[memory]}" 3600 \
    BENCH_STOP_AT="$(per_thread $(( MEMORY_REQUESTS - MEMORY_FIRST )))"
RSS_LAST=$(worker_rss_kb memory)
stop memory

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v x="$1" -v t="$2" -v op="$3" \
    'BEGIN { ok = op == "ge" ? x >= t : x <= t; print ok ? "met" : "MISSED" }'; }
# (plain proxy_pass CPU/request + one raw verify) / module CPU/request,
# the proxy_pass measured with the same number of workers
efficiency() {
    awk -v p="${CPU[proxy_pass-w${1##*-w}]}" -v v="$VERIFY_US" -v m="${CPU[$1]}" \
        'BEGIN { printf "%.2f", (p + v) / m }'
}
RSS_GROWTH=$(awk -v a="$RSS_FIRST" -v b="$RSS_LAST" \
    'BEGIN { printf "%.2f", (b - a) * 100 / a }')
GROWTH_ABS=${RSS_GROWTH#-}

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
MACHINE="$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC')
label() {
    local w=" (${1##*-w} worker"
    [ "${1##*-w}" = 1 ] || w="${w}s"
    w="$w)"
    case $1 in
    proxy_pass-*) echo "nginx \`proxy_pass\` to the invoice backend$w" ;;
    static-*) echo "nginx $NGINX_VERSION + module, static build$w" ;;
    dynamic-*) echo "Debian nginx $SYSTEM_VERSION + module, dynamic$w" ;;
    njs-*) echo "Debian nginx $SYSTEM_VERSION + njs (WebCrypto RS256 verify, \`r.subrequest\`, JSON answer)$w" ;;
    esac
}
{
    echo "Last run: $WHEN, $MACHINE; wrk $THREADS thread, $CONNECTIONS connections,"
    echo "${DURATION} s per target, POST loadentity, $TOKENS distinct tokens in turn;"
    echo "one static invoice backend behind all; CPU is the target nginx's master"
    echo "and workers (/proc utime + stime) over the requests served;"
    echo "load average at the end $LOAD (the machine is shared)."
    echo
    echo "| target | req/s | CPU µs / request | p50 | p99 |"
    echo "|---|---|---|---|---|"
    for t in $TARGETS; do
        echo "| $(label "$t") | ${RPS[$t]} | ${CPU[$t]} | ${P50[$t]} ms | ${P99[$t]} ms |"
    done
    echo "| one raw RSA-2048 verify (\`openssl speed rsa2048\`) | — | $VERIFY_US | — | — |"
    echo
    echo "| target (issue 21) | measured | target | |"
    echo "|---|---|---|---|"
    for t in $MODULES; do
        e=$(efficiency "$t")
        echo "| limit efficiency, $(label "$t"): (proxy_pass + verify) / module, CPU per request | $e | ≥ 0.90 | $(verdict "$e" 0.90 ge) |"
    done
    for t in $MODULES; do
        [ "${t##*-w}" = 2 ] && [ -n "${RPS[njs-w2]:-}" ] || continue
        r=$(ratio "${RPS[$t]}" "${RPS[njs-w2]}")
        echo "| req/s, $(label "$t") / njs peer | $r | ≥ 3 | $(verdict "$r" 3 ge) |"
    done
    echo "| p99 at half the module's peak (static, 2 workers, $PACED_RPS req/s) | $PACED_P99 ms | ≤ 5 ms | $(verdict "$PACED_P99" 5 le) |"
    echo "| worker RSS, $MEMORY_FIRST → $MEMORY_REQUESTS requests (static, 1 worker) | $RSS_FIRST → $RSS_LAST KiB ($RSS_GROWTH %) | within 2 % | $(verdict "$GROWTH_ABS" 2 le) |"
} > "$RESULTS/bench-http.md"

LIMIT_W2=$(awk -v p="${CPU[proxy_pass-w2]}" -v v="$VERIFY_US" \
    'BEGIN { printf "%.1f", p + v }')
{
    echo "# target req/s cpu_us_per_request p50_ms p99_ms"
    for t in $TARGETS; do
        echo "$t ${RPS[$t]} ${CPU[$t]} ${P50[$t]} ${P99[$t]}"
    done
} > "$RESULTS/bench-http.dat"

gnuplot <<PLOT
set terminal pngcairo size 1000,460 font "DejaVu Sans,10" noenhanced
set output "$RESULTS/bench-http.png"
set title "loadentity, wrk $CONNECTIONS connections, $MACHINE ($WHEN)"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.8
set ylabel "CPU µs per request (target nginx)"
set y2label "requests per second"
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
set grid ytics
set key outside bottom center horizontal
plot "$RESULTS/bench-http.dat" using 3:xtic(1) title "CPU µs / request" lc rgb "#4a7ab5", \
     "" using 0:2 axes x1y2 with points pt 7 ps 2 lc rgb "#c0392b" title "req/s", \
     $LIMIT_W2 with lines dt 2 lw 2 lc rgb "#27ae60" title "limit: proxy_pass (2 workers) + one RSA-2048 verify"
PLOT

echo
cat "$RESULTS/bench-http.md"
echo
echo "plot: $RESULTS/bench-http.png; logs: $OUT"
