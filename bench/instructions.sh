#!/usr/bin/env bash
# `make bench-instructions`: instructions per loadentity request, for the
# module and for plain proxy_pass, counted by valgrind's callgrind. Unlike
# CPU time (make bench-http) they repeat run to run on a shared machine,
# so they show what a change to the code did.
#
# One worker of the static build (master_process off, daemon off: the event
# loop alone) runs under callgrind with one static invoice backend behind
# it (nginx serving conf-examples/invoices/, not under valgrind), and
# bench/loadentity_client.py sends it loadentity over one keep-alive
# connection, each request with its own token minted by `opay mint-token`.
# A run of BENCH_BASE (50) requests is taken from a run of BENCH_REQUESTS
# (300), so that start-up, configuration and exit cancel, and the
# difference is divided by the requests between them. The same for plain
# proxy_pass of the invoice (the request answered with a GET of it).
# bench/callgrind_parts.py prints, per request, the instructions by part
# (nginx, the RSA verify in libcrypto, the core, libc, the shim) of both,
# the limit efficiency in instructions ((proxy_pass total + the module's
# libcrypto part) / module total) and the top BENCH_TOP (20) functions of
# each. Writes that to bench/results/bench-instructions.md and leaves the
# callgrind files and logs in build/bench-instructions/. Figures only:
# nothing here is a pass/fail test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
OUT=$BUILD/bench-instructions
RESULTS=$ROOT/bench/results
BENCH=bench-instructions
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
# The Makefile passes where it built them.
NGINX_VERSION=${BENCH_NGINX_VERSION:-1.22.1}
NGINX=$(realpath "${BENCH_NGINX:-$BUILD/$NGINX_VERSION/nginx-static/nginx}")
OPAY=$(realpath "${BENCH_OPAY:-$BUILD/cmake/opay}")
PYTHON=/usr/bin/python3
REQUESTS=${BENCH_REQUESTS:-300}
BASE=${BENCH_BASE:-50}
TOP=${BENCH_TOP:-20}
[ "$REQUESTS" -gt "$BASE" ] || die "BENCH_REQUESTS must be more than BENCH_BASE"

command -v valgrind >/dev/null || install_packages valgrind

rm -rf "$OUT"
mkdir -p "$OUT/tmp" "$RESULTS"
VALGRIND_PID=""
cleanup() {
    if [ -n "$VALGRIND_PID" ]; then kill -QUIT "$VALGRIND_PID" 2>/dev/null || true; fi
    stop_all
}
trap cleanup EXIT

echo "== minting $REQUESTS distinct tokens"
mint_tokens "$OPAY" "$REQUESTS"
start_backend "$NGINX"

# one process, in the foreground: valgrind follows it and writes its counts
# when it exits
SINGLE="master_process  off;
daemon          off;"

# callgrind_run NAME COUNT: COUNT requests to target NAME under callgrind,
# counts in $OUT/NAME-COUNT.callgrind
callgrind_run() {
    local name=$1 count=$2 port run=$1-$2 up=""
    port=$(free_port)
    case $name in
    module) write_conf "$run" "$port" 1 "$MODULE_LOCATIONS" "$SINGLE" ;;
    proxy_pass) write_conf "$run" "$port" 1 "$PROXY_PASS_LOCATIONS" "$SINGLE" ;;
    esac
    check_conf "$run" "$NGINX"
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$run.callgrind" \
        "$NGINX" -p "$OUT/" -c "$OUT/$run.conf" -e "$OUT/$run.error.log" \
        2> "$OUT/$run.valgrind.log" &
    VALGRIND_PID=$!
    for _ in $(seq 300); do
        kill -0 "$VALGRIND_PID" 2>/dev/null ||
            die "$run: nginx under valgrind exited (see $OUT/$run.*.log)"
        if ss -Htln "sport = :$port" | grep -q .; then up=1; break; fi
        sleep 0.1
    done
    [ -n "$up" ] || die "$run: nginx under valgrind did not listen in 30 s"
    "$PYTHON" "$ROOT/bench/loadentity_client.py" "$port" "$URI" "$count" \
        "$TOKENS_FILE" "$BODY" || die "$run: the requests failed"
    kill -QUIT "$VALGRIND_PID"
    wait "$VALGRIND_PID" || die "$run: nginx exited with $? (see $OUT/$run.*.log)"
    VALGRIND_PID=""
}

for target in module proxy_pass; do
    for count in "$BASE" "$REQUESTS"; do
        echo "== $target: $count requests under callgrind"
        callgrind_run "$target" "$count"
    done
done

COMMIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
{
    echo "Instructions per loadentity request (valgrind --tool=callgrind):"
    echo "nginx $NGINX_VERSION static build at $COMMIT, one worker (master_process"
    echo "off), one keep-alive connection, each request its own token; a $REQUESTS-request"
    echo "run less a $BASE-request run, over the $(( REQUESTS - BASE )) requests between;"
    echo "$(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    "$PYTHON" "$ROOT/bench/callgrind_parts.py" "$(( REQUESTS - BASE ))" "$TOP" \
        "$OUT/module-$BASE.callgrind" "$OUT/module-$REQUESTS.callgrind" \
        "$OUT/proxy_pass-$BASE.callgrind" "$OUT/proxy_pass-$REQUESTS.callgrind"
} > "$RESULTS/bench-instructions.md"

echo
cat "$RESULTS/bench-instructions.md"
echo
echo "callgrind files and logs: $OUT"
