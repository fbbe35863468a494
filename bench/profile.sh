#!/usr/bin/env bash
# `make bench-profile`: where a loadentity request's CPU time goes, by
# part, for the module, plain proxy_pass and the limit side by side, from
# `perf record` of the loaded worker: the kernel, the RSA verify in
# libcrypto, nginx, the core, libc, the shim. make bench-instructions
# counts instructions (repeatable, user space only); this is CPU time as
# make bench-http measures it, the kernel's part included.
#
# One worker of the static build per target, one static invoice backend
# behind all; wrk (BENCH_CONNECTIONS, 32) POSTs loadentity for
# BENCH_DURATION (10) s, each request with the next of BENCH_TOKENS
# (2000) tokens, while perf samples the worker (cpu-clock, 999 Hz: no
# hardware counters needed) and /proc gives its CPU time over the same
# requests. `openssl speed rsa2048` gives the raw verify. The report
# (bench/results/bench-profile.md) has each part's CPU µs per request for
# the module, plain proxy_pass and the limit measured (proxy_pass after
# one raw verify: bench/limit, loaded from BENCH_LIMIT_SO); what the
# module spends beyond proxy_pass + one raw verify and beyond the measured
# limit, part by part; the kernel's time waking the reader of a socket;
# and the module's top BENCH_TOP (20) functions. The perf files stay in
# build/bench-profile/. Figures only: nothing here is a pass/fail test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
OUT=$BUILD/bench-profile
RESULTS=$ROOT/bench/results
BENCH=bench-profile
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
NGINX_VERSION=${BENCH_NGINX_VERSION:-1.22.1}
NGINX=$(realpath "${BENCH_NGINX:-$BUILD/$NGINX_VERSION/nginx-static/nginx}")
OPAY=$(realpath "${BENCH_OPAY:-$BUILD/cmake/opay}")
LIMIT_SO=$(realpath -m "${BENCH_LIMIT_SO:-$BUILD/$NGINX_VERSION/nginx-limit/ngx_http_bench_verify_module.so}")
[ -f "$LIMIT_SO" ] || die "no $LIMIT_SO (make bench-profile builds it)"
PYTHON=/usr/bin/python3
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
TOKENS=${BENCH_TOKENS:-2000}
TOP=${BENCH_TOP:-20}

need=()
command -v wrk >/dev/null || need+=(wrk)
# Debian's /usr/bin/perf may be linux-base's wrapper without the tool
perf --version >/dev/null 2>&1 || need+=(linux-perf)
install_packages "${need[@]}"
# the kernel's part needs kernel samples: root, or perf_event_paranoid <= 1
if [ "$(id -u)" -ne 0 ] &&
   [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -gt 1 ]; then
    die "perf cannot sample the kernel (not root and" \
        "kernel.perf_event_paranoid > 1): the parts would be wrong"
fi

rm -rf "$OUT"
mkdir -p "$OUT/tmp" "$RESULTS"
PERF_PID=""
cleanup() {
    if [ -n "$PERF_PID" ]; then kill "$PERF_PID" 2>/dev/null || true; fi
    stop_all
}
trap cleanup EXIT

echo "== minting $TOKENS distinct tokens"
mint_tokens "$OPAY" "$TOKENS"
start_backend "$NGINX"

echo "== openssl speed rsa2048"
openssl speed -seconds 3 rsa2048 > "$OUT/openssl-speed.txt" 2>&1
VERIFY_US=$(awk '$1 == "rsa" && $2 == "2048" && $3 == "bits" {
    printf "%.1f", 1e6 / $NF }' "$OUT/openssl-speed.txt")
[ -n "$VERIFY_US" ] || die "no rsa2048 verify figure in $OUT/openssl-speed.txt"

CLK_TCK=$(getconf CLK_TCK)
worker_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# profile NAME LOCATIONS [MAIN-LINES]: sets US (the worker's CPU µs per
# request)
declare -A US WAKE MASKED
profile() {
    local name=$1 port worker before after requests line
    port=$(free_port)
    write_conf "$name" "$port" 1 "$2" "${3:-}"
    start "$name" "$NGINX"
    check_answer "$name" "$port"
    [ "$name" = proxy_pass ] || check_refuses "$name" "$port"
    worker=$(ps -o pid= --ppid "$(cat "$OUT/$name.pid")" | tr -d ' ')
    echo "== $name: warm-up, then ${DURATION}s under perf"
    BENCH_TOKENS=$TOKENS_FILE BENCH_BODY=$BODY wrk -t 1 -c "$CONNECTIONS" \
        -d 2s -s "$ROOT/bench/http.lua" "http://127.0.0.1:$port$URI" \
        > "$OUT/$name-warmup.wrk.txt"
    perf record -q -g -F 999 -e cpu-clock -p "$worker" -o "$OUT/$name.perf" \
        -- sleep $(( DURATION + 1 )) 2> "$OUT/$name.perf.log" &
    PERF_PID=$!
    sleep 0.3
    before=$(worker_ticks "$worker")
    BENCH_TOKENS=$TOKENS_FILE BENCH_BODY=$BODY wrk -t 1 -c "$CONNECTIONS" \
        -d "${DURATION}s" -s "$ROOT/bench/http.lua" \
        "http://127.0.0.1:$port$URI" > "$OUT/$name.wrk.txt"
    after=$(worker_ticks "$worker")
    wait "$PERF_PID" || die "$name: perf record failed (see $OUT/$name.perf.log)"
    PERF_PID=""
    line=$(grep '^RESULT ' "$OUT/$name.wrk.txt" | tail -1)
    read -r _ requests _ _ _ _ bad_status sock_errors <<< "$line"
    [ "$bad_status" -eq 0 ] && [ "$sock_errors" -eq 0 ] ||
        die "$name: $bad_status non-2xx answers, $sock_errors socket errors"
    US[$name]=$(awk -v t=$(( after - before )) -v hz="$CLK_TCK" \
        -v n="$requests" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
    perf script -i "$OUT/$name.perf" -F ip,sym,dso -G \
        > "$OUT/$name.samples.txt" 2>> "$OUT/$name.perf.log"
    # the share of samples under sock_def_readable: the kernel waking the
    # reader of a socket the worker wrote to (wrk, the backend); and of
    # those, the share whose leaf is _raw_spin_unlock_irqrestore, where
    # the wake-up turns interrupts back on: a cpu-clock sample falling while
    # they are off waits there, so this is time spent with them off
    read -r "WAKE[$name]" "MASKED[$name]" <<< "$(perf script \
        -i "$OUT/$name.perf" -F ip,sym 2>> "$OUT/$name.perf.log" |
        awk -v us="${US[$name]}" '
        BEGIN { RS = "" }
        {
            n++
            if ($0 ~ /sock_def_readable/) {
                w++
                split($0, frame, "\n")
                if (frame[1] ~ /_raw_spin_unlock_irqrestore/) m++
            }
        }
        END { printf "%.1f %.0f", n ? w * us / n : 0, w ? m * 100 / w : 0 }')"
    echo "   $requests requests, ${US[$name]} µs CPU/request"
    stop "$name"
}

profile proxy_pass "$PROXY_PASS_LOCATIONS"
profile limit "$LIMIT_LOCATIONS" "load_module $LIMIT_SO;"
profile module "$MODULE_LOCATIONS"

COMMIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
{
    echo "CPU time per loadentity request by part (perf record, cpu-clock):"
    echo "nginx $NGINX_VERSION static build at $COMMIT, one worker per target,"
    echo "wrk $CONNECTIONS connections for ${DURATION} s, each request its own token;"
    echo "the worker's CPU from /proc over the same requests, split by the"
    echo "samples; $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    "$PYTHON" "$ROOT/bench/perf_parts.py" "$TOP" "$VERIFY_US" \
        "$OUT/module.samples.txt" "${US[module]}" \
        "$OUT/proxy_pass.samples.txt" "${US[proxy_pass]}" \
        "$OUT/limit.samples.txt" "${US[limit]}"
    echo
    echo "Of the kernel's part, waking the reader of a socket the worker"
    echo "wrote to (wrk, the backend; samples under \`sock_def_readable\`):"
    echo "module ${WAKE[module]}, the limit measured ${WAKE[limit]}," \
         "\`proxy_pass\` ${WAKE[proxy_pass]} µs per request. Of these samples,"
    echo "${MASKED[module]} %, ${MASKED[limit]} % and ${MASKED[proxy_pass]} % fall where the wake-up turns"
    echo "interrupts back on (\`_raw_spin_unlock_irqrestore\`): time spent with"
    echo "interrupts off (choosing the reader's CPU, queueing it there), which"
    echo "cpu-clock samples cannot see into."
} > "$RESULTS/bench-profile.md"

echo
cat "$RESULTS/bench-profile.md"
echo
echo "perf files and logs: $OUT"
