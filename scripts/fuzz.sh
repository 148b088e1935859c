#!/usr/bin/env bash
# Coverage-guided fuzzing of the trip processor's decoding and processing (Sources/ChronicleFuzz) with libFuzzer,
# for a bounded time: `scripts/fuzz.sh [SECONDS]` (default 60). Needs no broker and no store on disk.
# Starts from a copy of fuzz/corpus in a scratch folder (printed, and kept: the grown corpus and any finding stay
# there), and ends with one line: runs, coverage, corpus, and whether a crash was found. Exits 1 if one was,
# with the path of the input that crashed. Replay an input with `swift run chronicle-fuzz --verbose FILE` (a
# plain build of the target replays files and says what each did), or with the fuzz binary itself:
# `.build-fuzz/release/chronicle-fuzz FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS]   (a whole number of seconds, default 60)" >&2
    exit 2
fi

# Its own scratch path: every module is instrumented for coverage, and nothing of it may mix with .build.
# SwiftPM's --sanitize=fuzzer links libFuzzer, whose main runs the fuzzer (with -Xswiftc -sanitize=fuzzer instead,
# SwiftPM still points main at the module's own entry and the link fails); -DFUZZING leaves out that entry, the
# replayer of a plain `swift build`.
swift build --scratch-path .build-fuzz -c release --product chronicle-fuzz --sanitize=fuzzer -Xswiftc -DFUZZING
binary=.build-fuzz/release/chronicle-fuzz

work=$(mktemp -d "${TMPDIR:-/tmp}/chronicle-fuzz.XXXXXX")
mkdir "$work/corpus"
cp fuzz/corpus/* "$work/corpus/"
echo "fuzz: ${seconds}s, scratch folder $work"

# The Swift runtime's own crash report is turned off so that libFuzzer's handler reports a crash and saves the
# input. A hang of more than 10 s on one input is a finding too (a timeout- file).
export SWIFT_BACKTRACE=enable=no
fuzz=("$binary" -timeout=10 -artifact_prefix="$work/" -print_final_stats=1)

# A StartTrip whose body is over the processor's limit (ProcessorConfiguration.maximumMessageBytes, 1 MiB), made
# here rather than kept in git, runs once on its own: in the corpus it would make libFuzzer mutate 1 MiB inputs
# from the start, at a sixth less speed and lower coverage for the same time. The five leading bytes are the
# StartTrip seed's (FuzzInput.swift has the layout).
{
    head -c 5 fuzz/corpus/start-trip
    printf '{"pad":"'
    head -c $((1 << 20)) /dev/zero | tr '\0' x
    printf '"}'
} >"$work/oversized-start-trip"
"${fuzz[@]}" "$work/oversized-start-trip" >"$work/oversized.log" 2>&1 || {
    echo "fuzz: the over-limit StartTrip crashed the processor: see $work/oversized.log" >&2
    exit 1
}

# libFuzzer's output goes to fuzz.log; its periodic status lines are shown. The longest input leaves room for a
# body over the limit (libFuzzer starts short and lengthens its inputs as coverage stops growing).
set +e
"${fuzz[@]}" -max_total_time="$seconds" -max_len=$(((1 << 20) + 4096)) -dict=fuzz/trip.dict "$work/corpus" 2>&1 \
    | tee "$work/fuzz.log" | grep --line-buffered -E '^#[0-9]+[[:space:]]+(INITED|pulse|DONE)'
status=${PIPESTATUS[0]}
set -e

# The figures: the final stats, and the last status line for coverage (cov: edges; ft: features) and corpus.
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log" | tail -1)
last=$(grep -E '^#[0-9]+.* cov: ' "$work/fuzz.log" | tail -1 || true)
runs=${runs:-$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")}
cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
corpus=$(sed -nE 's/.* corp: ([^ ]+).*/\1/p' <<<"$last")
findings=$(find "$work" -maxdepth 1 -type f \
    \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \))

summary="fuzz: ${runs:-?} runs in ${seconds}s (${per_second:-?}/s), cov ${cov:-?}, ft ${ft:-?}"
summary+=", corpus ${corpus:-?} (inputs/size)"
if [ -n "$findings" ]; then
    # Swift's message (a failed precondition's, say) and libFuzzer's report with its stack, Swift names readable.
    sed -n -E '/(Fatal error|Precondition failed|Assertion failed|ERROR: libFuzzer|ALARM:)/,/^SUMMARY/p' \
        "$work/fuzz.log" | swift demangle --simplified >&2 || true
    echo "$summary, CRASH FOUND: $(tr '\n' ' ' <<<"$findings")"
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "$summary, no crash file, but libFuzzer exited with $status: see $work/fuzz.log"
    exit "$status"
fi
echo "$summary, no crash"
