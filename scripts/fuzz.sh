#!/usr/bin/env bash
# Runs every libFuzzer target of build/fuzz for SECONDS each, from its seeds
# (testdata/fuzz/TARGET/) and the corpus earlier runs grew, with its
# dictionary; LeakSanitizer on. Prints one line per target (executions,
# corpus size, result) and exits non-zero if any target found a crash, a
# leak or a broken property.
#
#   scripts/fuzz.sh FUZZ_BUILD_DIR SECONDS
set -uo pipefail
cd "$(dirname "$0")/.."
dir=$1
seconds=$2
seeds=testdata/fuzz
mkdir -p "$dir/corpus" "$dir/crashes" "$dir/logs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

failed=0
printf '%-16s %12s %8s  %s\n' target executions corpus result
for bin in "$dir"/*_fuzz; do
    name=$(basename "$bin" _fuzz)
    corpus=$dir/corpus/$name
    log=$dir/logs/$name.log
    mkdir -p "$corpus"
    dict=()
    [ -f "$seeds/$name.dict" ] && dict=(-dict="$seeds/$name.dict")
    "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$dir/crashes/$name-" \
        "${dict[@]}" "$corpus" "$seeds/$name" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    size=$(find "$corpus" "$seeds/$name" -type f | wc -l)
    if [ $rc -eq 0 ] && ! grep -q 'Sanitizer\|runtime error' "$log"; then
        result=ok
    else
        result="FAILED (rc $rc, see $log)"
        failed=1
    fi
    printf '%-16s %12s %8s  %s\n' "$name" "${runs:-?}" "$size" "$result"
    [ $rc -eq 0 ] || tail -40 "$log"
done
exit $failed
