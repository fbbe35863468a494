#!/usr/bin/env bash
# `make bench-http`: the module end to end, side by side with nginx itself.
#
# One static invoice backend (nginx serving conf-examples/invoices/) behind
# every target; wrk POSTs loadentity to each target in turn, every request
# with the next of BENCH_TOKENS distinct pre-minted tokens. Each target runs
# with 1 and with 2 workers (-w1, -w2):
#
#   proxy_pass      the static build's nginx, proxy_pass to the invoice
#                   backend (GET the invoice): the static module's reference
#   proxy_pass-deb  the same on Debian's nginx: the dynamic module's
#   limit           the static build's nginx, proxy_pass as above after one
#                   raw RSA-2048 verify of the token (bench/limit, loaded
#                   from BENCH_LIMIT_SO): the limit measured, not summed
#   limit-deb       the same on Debian's nginx
#   static          nginx built with the module (build/nginx-static/nginx)
#   dynamic         Debian's nginx with the dynamic module
#   njs             Debian's nginx + njs (libnginx-mod-http-js): bench/opay.js,
#                   what a merchant would write for loadentity (2 workers only)
#
# Every target is started once and kept running; they are measured in
# BENCH_ROUNDS interleaved rounds of BENCH_DURATION seconds (all targets in
# turn, then all again, ...), with `openssl speed rsa2048` (the raw RSA-2048
# verify) in each round, so that the machine's load drifting over minutes
# falls on every target alike. For each round: req/s, latency and the CPU
# time per request of that nginx's master and workers (utime + stime from
# /proc/<pid>/stat before and after the round, over the requests served),
# so that wrk and the backend sharing the machine do not blur it. Each
# target's figures are those of its median round (by CPU per request),
# with the rounds' spread beside them; the limit is the median proxy_pass
# CPU/request + the median verify. Then the static module (2 workers) paced
# at half its peak rate (p99 there), its reference and the measured limit
# paced alike (CPU per request away from the peak), and the worker's RSS after
# BENCH_MEMORY_FIRST and BENCH_MEMORY_REQUESTS requests (1 worker). Prints
# the table, writes bench/results/bench-http.{md,dat,png} (the copy shown
# in README.md) and leaves logs in build/bench-http/. Figures only: nothing
# here is a pass/fail test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
OUT=$BUILD/bench-http
RESULTS=$ROOT/bench/results
BENCH=bench-http
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
# The Makefile passes where it built them. (Not as NGINX: nginx reads
# that variable for inherited sockets.)
NGINX_VERSION=${BENCH_NGINX_VERSION:-1.22.1}
NGINX=$(realpath "${BENCH_NGINX:-$BUILD/$NGINX_VERSION/nginx-static/nginx}")
MODULE_SO=$(realpath -m "${BENCH_MODULE_SO:-$BUILD/$NGINX_VERSION/nginx-dynamic/ngx_http_opay_module.so}")
LIMIT_SO=$(realpath -m "${BENCH_LIMIT_SO:-$BUILD/$NGINX_VERSION/nginx-limit/ngx_http_bench_verify_module.so}")
[ -f "$LIMIT_SO" ] || die "no $LIMIT_SO (make bench-http builds it)"
OPAY=$(realpath "${BENCH_OPAY:-$BUILD/cmake/opay}")
SYSTEM_NGINX=/usr/sbin/nginx
NJS_SO=/usr/lib/nginx/modules/ngx_http_js_module.so
# the order of a round: each module target near its reference
ALL_TARGETS="proxy_pass-w1 limit-w1 proxy_pass-deb-w1 limit-deb-w1"
ALL_TARGETS+=" static-w1 dynamic-w1 proxy_pass-w2 limit-w2 proxy_pass-deb-w2"
ALL_TARGETS+=" limit-deb-w2 static-w2 dynamic-w2 njs-w2"
SYSTEM_VERSION=$($SYSTEM_NGINX -v 2>&1 | sed -n 's|.*nginx/||p')
if [ "$SYSTEM_VERSION" != "$NGINX_VERSION" ]; then
    # a dynamic module loads only into the nginx version it was built for
    echo "bench-http: no dynamic target (Debian's nginx is $SYSTEM_VERSION," \
         "the module is built for $NGINX_VERSION)"
    ALL_TARGETS=${ALL_TARGETS//dynamic-w? /}
    ALL_TARGETS=${ALL_TARGETS//limit-deb-w? /}
fi

# the reference of a module target: proxy_pass on the same nginx build,
# with the same number of workers
reference() {
    case $1 in
    static-*) echo "proxy_pass-w${1##*-w}" ;;
    dynamic-*) echo "proxy_pass-deb-w${1##*-w}" ;;
    esac
}

# the limit measured for a module target: the limit target on the same
# nginx build, with the same number of workers
measured_limit() {
    case $1 in
    static-*) echo "limit-w${1##*-w}" ;;
    dynamic-*) echo "limit-deb-w${1##*-w}" ;;
    esac
}

# BENCH_TARGETS: a subset, for a quicker look (static-w2, for the paced
# run, and the reference and measured limit of each module target are
# always run)
if [ -n "${BENCH_TARGETS:-}" ]; then
    wanted=" static-w2 proxy_pass-w2 limit-w2 "
    for t in $BENCH_TARGETS; do
        case " $ALL_TARGETS " in
        *" $t "*) wanted="$wanted $t $(reference "$t") $(measured_limit "$t") " ;;
        *) die "no target $t (of: $ALL_TARGETS)" ;;
        esac
    done
    TARGETS=""
    for t in $ALL_TARGETS; do
        case "$wanted" in *" $t "*) TARGETS+="${TARGETS:+ }$t" ;; esac
    done
else
    TARGETS=$ALL_TARGETS
fi
MODULES=""
for t in $TARGETS; do
    case $t in static-*|dynamic-*) MODULES="$MODULES $t" ;; esac
done

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-3}
VERIFY_SECONDS=${BENCH_VERIFY_SECONDS:-1}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
TOKENS=${BENCH_TOKENS:-2000}
MEMORY_FIRST=${BENCH_MEMORY_FIRST:-100000}
MEMORY_REQUESTS=${BENCH_MEMORY_REQUESTS:-1000000}
[ "$ROUNDS" -ge 1 ] || die "BENCH_ROUNDS must be at least 1"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
[ -f "$NJS_SO" ] || need+=(libnginx-mod-http-js)
install_packages "${need[@]}"

rm -rf "$OUT"
mkdir -p "$OUT/tmp" "$RESULTS"
trap stop_all EXIT

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
mint_tokens "$OPAY" "$TOKENS"
# for bench/http.lua
export BENCH_TOKENS=$TOKENS_FILE
export BENCH_BODY=$BODY

start_backend "$NGINX"

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
    main=""
    case $t in
    proxy_pass-*) locations=$PROXY_PASS_LOCATIONS ;;
    limit-*) locations=$LIMIT_LOCATIONS main="load_module $LIMIT_SO;" ;;
    static-*) locations=$MODULE_LOCATIONS ;;
    dynamic-*) locations=$MODULE_LOCATIONS main="load_module $MODULE_SO;" ;;
    njs-*) locations=$NJS_LOCATIONS main="load_module $NJS_SO;" ;;
    esac
    # Debian's nginx: its own references, the dynamic module, njs
    case $t in
    *-deb-*|dynamic-*|njs-*) BIN[$t]=$SYSTEM_NGINX ;;
    *) BIN[$t]=$NGINX ;;
    esac
    write_conf "$t" "${PORT[$t]}" "$workers" "$locations" "$main"
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
        die "$name: $bad_status non-2xx answers, $sock_errors socket errors" \
            "(see $OUT)"
    fi
    read -r REQ_S P50_MS P99_MS <<< "$(awk -v r="$REQUESTS" -v d="$duration" \
        -v a="$p50" -v b="$p99" \
        'BEGIN { printf "%.0f %.2f %.2f\n", r / (d / 1e6), a / 1e3, b / 1e3 }')"
}

# verify_us: the raw RSA-2048 public-key operation in CPU time (openssl
# speed's default divisor is user time), on this machine now
verify_us() {
    local log=$OUT/openssl-speed-$1.txt us
    openssl speed -seconds "$VERIFY_SECONDS" rsa2048 > "$log" 2>&1
    us=$(awk '$1 == "rsa" && $2 == "2048" && $3 == "bits" {
        printf "%.1f", 1e6 / $NF }' "$log")
    [ -n "$us" ] || die "no rsa2048 verify figure in $log"
    echo "$us"
}

echo "== starting $(wc -w <<< "$TARGETS") targets, each warmed up for 2 s"
for t in $TARGETS; do
    start "$t" "${BIN[$t]}"
    check_answer "$t" "${PORT[$t]}"
    case $t in
    limit-*|static-*|dynamic-*|njs-*) check_refuses "$t" "${PORT[$t]}" ;;
    esac
    run_wrk "$t-warmup" "${PORT[$t]}" 2
done

# measure TARGET RUN SECONDS [ENV...]: run_wrk on TARGET, and CPU_US its
# nginx's CPU time per request over that run
measure() {
    local t=$1 run=$2 seconds=$3 before after
    shift 3
    before=$(cpu_ticks "$t")
    run_wrk "$run" "${PORT[$t]}" "$seconds" "$@"
    after=$(cpu_ticks "$t")
    CPU_US=$(awk -v t=$(( after - before )) -v hz="$CLK_TCK" \
        -v n="$REQUESTS" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    echo "   $t: $REQ_S req/s, $CPU_US µs CPU/request," \
         "p50 $P50_MS ms, p99 $P99_MS ms"
}

# Per round r: CPU_R[t r], RPS_R, P50_R, P99_R, and VERIFY_R[r].
declare -A CPU_R RPS_R P50_R P99_R VERIFY_R
for r in $(seq "$ROUNDS"); do
    echo "== round $r of $ROUNDS, ${DURATION}s per target"
    VERIFY_R[$r]=$(verify_us "$r")
    echo "   openssl speed rsa2048: ${VERIFY_R[$r]} µs per verify"
    for t in $TARGETS; do
        measure "$t" "$t-$r" "$DURATION"
        RPS_R[$t $r]=$REQ_S
        P50_R[$t $r]=$P50_MS
        P99_R[$t $r]=$P99_MS
        CPU_R[$t $r]=$CPU_US
    done
done
# the paced targets: the module and, at the same pace, its reference and
# the measured limit
PACED_TARGETS="static-w2 proxy_pass-w2 limit-w2"
for t in $TARGETS; do
    case " $PACED_TARGETS " in *" $t "*) ;; *) stop "$t" ;; esac
done

# sorted VALUES...: one a line, in numeric order
sorted() { printf '%s\n' "$@" | sort -g; }
# The median round of a target: the round of its median CPU/request (of an
# even number of rounds, the lower of the middle two). The other figures
# are that round's, so that each row is one measurement.
declare -A RPS P50 P99 CPU CPU_MIN CPU_MAX
for t in $TARGETS; do
    m=$(for r in $(seq "$ROUNDS"); do echo "${CPU_R[$t $r]} $r"; done |
        sort -g | sed -n "$(( (ROUNDS + 1) / 2 ))p" | cut -d' ' -f2)
    CPU[$t]=${CPU_R[$t $m]}
    RPS[$t]=${RPS_R[$t $m]}
    P50[$t]=${P50_R[$t $m]}
    P99[$t]=${P99_R[$t $m]}
    cpus=()
    for r in $(seq "$ROUNDS"); do cpus+=("${CPU_R[$t $r]}"); done
    CPU_MIN[$t]=$(sorted "${cpus[@]}" | head -1)
    CPU_MAX[$t]=$(sorted "${cpus[@]}" | tail -1)
done
VERIFY_US=$(sorted "${VERIFY_R[@]}" | sed -n "$(( (ROUNDS + 1) / 2 ))p")
VERIFY_MIN=$(sorted "${VERIFY_R[@]}" | head -1)
VERIFY_MAX=$(sorted "${VERIFY_R[@]}" | tail -1)

# Half the module's peak: each connection pauses between requests. A short
# run measures the time each request adds to the pause; the pause is then
# set so that connections / (pause + that time) is half the peak.
half=$(( RPS[static-w2] / 2 ))
delay=$(awk -v c="$CONNECTIONS" -v r="$half" 'BEGIN { printf "%d", c * 1000 / r }')
run_wrk static-pace-probe "${PORT[static-w2]}" 3 BENCH_DELAY_MS="$delay"
delay=$(awk -v c="$CONNECTIONS" -v r="$half" -v got="$REQ_S" -v d="$delay" \
    'BEGIN { per = c * 1000 / got - d; x = c * 1000 / r - per;
             printf "%d", x < 1 ? 1 : x }')
PACED_SECONDS=$(( ROUNDS * DURATION ))
echo "== $PACED_TARGETS, each paced as the module at ~$half req/s" \
     "(${delay} ms pause per connection), ${PACED_SECONDS}s"
# CPU per request away from the peak: is the module's excess over the
# limit a cost of saturation (wake-ups, contention), or its own?
declare -A PACED_CPU PACED_REQ_S
for t in $PACED_TARGETS; do
    measure "$t" "$t-paced" "$PACED_SECONDS" BENCH_DELAY_MS="$delay"
    PACED_CPU[$t]=$CPU_US
    PACED_REQ_S[$t]=$REQ_S
    if [ "$t" = static-w2 ]; then
        PACED_RPS=$REQ_S
        PACED_P99=$P99_MS
    fi
    stop "$t"
done

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
# limit PROXY_CPU VERIFY MODULE_CPU: (plain proxy_pass CPU/request + one raw
# verify) / module CPU/request
limit() {
    awk -v p="$1" -v v="$2" -v m="$3" 'BEGIN { printf "%.2f", (p + v) / m }'
}
# efficiency MODULE: the medians' limit efficiency, against the module's
# reference; and the range of the rounds' own (each round's module against
# the same round's reference and verify), to show the noise
efficiency() {
    local ref r each=()
    ref=$(reference "$1")
    EFFICIENCY=$(limit "${CPU[$ref]}" "$VERIFY_US" "${CPU[$1]}")
    for r in $(seq "$ROUNDS"); do
        each+=("$(limit "${CPU_R[$ref $r]}" "${VERIFY_R[$r]}" "${CPU_R[$1 $r]}")")
    done
    EFFICIENCY_RANGE="$(sorted "${each[@]}" | head -1)–$(sorted "${each[@]}" | tail -1)"
}
# against_limit TARGET: the medians' measured limit CPU / TARGET's CPU, and
# the range of the rounds' own
against_limit() {
    local lim r each=()
    lim=$(measured_limit "$1")
    AGAINST=$(ratio "${CPU[$lim]}" "${CPU[$1]}")
    for r in $(seq "$ROUNDS"); do
        each+=("$(ratio "${CPU_R[$lim $r]}" "${CPU_R[$1 $r]}")")
    done
    AGAINST_RANGE="$(sorted "${each[@]}" | head -1)–$(sorted "${each[@]}" | tail -1)"
}
RSS_GROWTH=$(awk -v a="$RSS_FIRST" -v b="$RSS_LAST" \
    'BEGIN { printf "%.2f", (b - a) * 100 / a }')
GROWTH_ABS=${RSS_GROWTH#-}

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
MACHINE="$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC')
COMMIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
label() {
    local w=" (${1##*-w} worker"
    [ "${1##*-w}" = 1 ] || w="${w}s"
    w="$w)"
    case $1 in
    proxy_pass-deb-*) echo "Debian nginx $SYSTEM_VERSION \`proxy_pass\` to the invoice backend$w" ;;
    proxy_pass-*) echo "nginx $NGINX_VERSION \`proxy_pass\` to the invoice backend, static build$w" ;;
    limit-deb-*) echo "Debian nginx $SYSTEM_VERSION, one raw verify, then \`proxy_pass\` (the limit, measured)$w" ;;
    limit-*) echo "nginx $NGINX_VERSION, one raw verify, then \`proxy_pass\` (the limit, measured), static build$w" ;;
    static-*) echo "nginx $NGINX_VERSION + module, static build$w" ;;
    dynamic-*) echo "Debian nginx $SYSTEM_VERSION + module, dynamic$w" ;;
    njs-*) echo "Debian nginx $SYSTEM_VERSION + njs (WebCrypto RS256 verify, \`r.subrequest\`, JSON answer)$w" ;;
    esac
}
# whose proxy_pass a module target is measured against
reference_label() {
    case $1 in
    static-*) echo "static build's" ;;
    dynamic-*) echo "Debian nginx's" ;;
    esac
}
{
    echo "Last run: $WHEN, $MACHINE, at $COMMIT; wrk $THREADS thread, $CONNECTIONS connections,"
    echo "POST loadentity, $TOKENS distinct tokens in turn; one static invoice backend"
    echo "behind all; $ROUNDS interleaved rounds of ${DURATION} s per target (every target"
    echo "in turn, then again), \`openssl speed\` in each. Each row is the target's"
    echo "median round by CPU/request; CPU is the target nginx's master and workers"
    echo "(/proc utime + stime) over the requests served; load average at the end"
    echo "$LOAD (the machine is shared). The \"limit, measured\" targets are"
    echo "plain \`proxy_pass\` after one RSA-2048 verify of the token (SHA-256"
    echo "of its signed part, its signature decoded, \`EVP_PKEY_verify\`) and"
    echo "nothing else (bench/limit): what issue 21's sum stands for, as a target."
    echo
    echo "| target (median of $ROUNDS rounds) | req/s | CPU µs / request | CPU µs, rounds min–max | p50 | p99 |"
    echo "|---|---|---|---|---|---|"
    for t in $TARGETS; do
        echo "| $(label "$t") | ${RPS[$t]} | ${CPU[$t]} | ${CPU_MIN[$t]}–${CPU_MAX[$t]} | ${P50[$t]} ms | ${P99[$t]} ms |"
    done
    echo "| one raw RSA-2048 verify (\`openssl speed rsa2048\`) | — | $VERIFY_US | $VERIFY_MIN–$VERIFY_MAX | — | — |"
    echo
    echo "| target (issue 21) | measured (medians; rounds min–max) | target | |"
    echo "|---|---|---|---|"
    for t in $MODULES; do
        efficiency "$t"
        echo "| limit efficiency, $(label "$t"): ($(reference_label "$t") \`proxy_pass\` + verify) / module, CPU per request | $EFFICIENCY ($EFFICIENCY_RANGE) | ≥ 0.90 | $(verdict "$EFFICIENCY" 0.90 ge) |"
    done
    for t in $MODULES; do
        lim=$(measured_limit "$t")
        LIMIT_SELF=$(limit "${CPU[$(reference "$t")]}" "$VERIFY_US" "${CPU[$lim]}")
        against_limit "$t"
        echo "| (for comparison) the same formula for the measured limit, $(label "$lim") | $LIMIT_SELF | — | — |"
        echo "| (for comparison) measured limit / module, CPU per request, $(label "$t") | $AGAINST ($AGAINST_RANGE) | — | — |"
    done
    for t in $MODULES; do
        [ "${t##*-w}" = 2 ] && [ -n "${RPS[njs-w2]:-}" ] || continue
        r=$(ratio "${RPS[$t]}" "${RPS[njs-w2]}")
        echo "| req/s, $(label "$t") / njs peer | $r | ≥ 3 | $(verdict "$r" 3 ge) |"
    done
    echo "| p99 at half the module's peak (static, 2 workers, $PACED_RPS req/s, ${PACED_SECONDS} s) | $PACED_P99 ms | ≤ 5 ms | $(verdict "$PACED_P99" 5 le) |"
    echo "| (for comparison) paced as the module at half its peak (static, 2 workers; ${PACED_REQ_S[proxy_pass-w2]}, ${PACED_REQ_S[limit-w2]} and $PACED_RPS req/s), CPU µs/request: \`proxy_pass\` ${PACED_CPU[proxy_pass-w2]}, the limit measured ${PACED_CPU[limit-w2]}, module ${PACED_CPU[static-w2]}; the issue's formula for the module | $(limit "${PACED_CPU[proxy_pass-w2]}" "$VERIFY_US" "${PACED_CPU[static-w2]}") | — | — |"
    echo "| (for comparison) paced as above: the same formula for the measured limit; measured limit / module | $(limit "${PACED_CPU[proxy_pass-w2]}" "$VERIFY_US" "${PACED_CPU[limit-w2]}"); $(ratio "${PACED_CPU[limit-w2]}" "${PACED_CPU[static-w2]}") | — | — |"
    echo "| worker RSS, $MEMORY_FIRST → $MEMORY_REQUESTS requests (static, 1 worker) | $RSS_FIRST → $RSS_LAST KiB ($RSS_GROWTH %) | within 2 % | $(verdict "$GROWTH_ABS" 2 le) |"
} > "$RESULTS/bench-http.md"

{
    echo "# target req/s cpu_us_per_request p50_ms p99_ms cpu_min cpu_max" \
         "(the median round of $ROUNDS; CPU min and max over the rounds)"
    for t in $TARGETS; do
        echo "$t ${RPS[$t]} ${CPU[$t]} ${P50[$t]} ${P99[$t]} ${CPU_MIN[$t]} ${CPU_MAX[$t]}"
    done
} > "$RESULTS/bench-http.dat"

# the limit of each build, 2 workers, as lines across the plot
limit_line() {
    awk -v p="${CPU[$1]}" -v v="$VERIFY_US" 'BEGIN { printf "%.1f", p + v }'
}
LIMITS="$(limit_line proxy_pass-w2) with lines dt 2 lw 2 lc rgb \"#27ae60\" title \"limit: static build's proxy_pass (2 workers) + one RSA-2048 verify\""
if [ -n "${CPU[proxy_pass-deb-w2]:-}" ]; then
    LIMITS="$LIMITS, $(limit_line proxy_pass-deb-w2) with lines dt 3 lw 2 lc rgb \"#8e44ad\" title \"limit: Debian nginx's proxy_pass (2 workers) + one verify\""
fi
gnuplot <<PLOT
set terminal pngcairo size 1100,500 font "DejaVu Sans,10" noenhanced
set output "$RESULTS/bench-http.png"
set title "loadentity, wrk $CONNECTIONS connections, median of $ROUNDS rounds (bars: min–max), $MACHINE ($WHEN)"
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.8 border -1
set boxwidth 0.8
set ylabel "CPU µs per request (target nginx)"
set y2label "requests per second"
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
set xtics rotate by 25 right
set grid ytics
set key outside bottom center horizontal maxrows 2
plot "$RESULTS/bench-http.dat" using 3:6:7:xtic(1) title "CPU µs / request" lc rgb "#4a7ab5", \
     "" using 0:2 axes x1y2 with points pt 7 ps 2 lc rgb "#c0392b" title "req/s", \
     $LIMITS
PLOT

echo
cat "$RESULTS/bench-http.md"
echo
echo "plot: $RESULTS/bench-http.png; logs: $OUT"
