#!/usr/bin/env bash
# Fuzzing campaign (issue 16): builds every fuzz target of tests/fuzz with clang, libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer (build-fuzz/), then runs each for its share
# of SECONDS (default 600) from its committed seed corpus. New inputs go to a work corpus
# (bench/out/fuzz/corpus/TARGET); at the end the ones that add coverage are merged into
# tests/fuzz/corpus/TARGET (commit them: scripts/test replays them). A crash or a violated
# property (FUZZ_CHECK) leaves its input in bench/out/fuzz/crashes/TARGET/ and the log in
# bench/out/fuzz/TARGET.log; the script goes on with the next target and exits 1 at the end.
#
#   bench/fuzz.sh 3600                      # an hour over all targets
#   TARGETS="netflow sflow" bench/fuzz.sh 600
#   JOBS=2 bench/fuzz.sh 600                # two fuzzing processes per target (both cores)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TOTAL=${1:-600}
ALL="flow_lines nslkdd_rows control_commands http_api ws_messages pane_codec model_loader netflow sflow"
TARGETS=${TARGETS:-$ALL}
JOBS=${JOBS:-1}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
OUT=bench/out/fuzz
scripts/setup clang libclang-rt-14-dev >/dev/null  # the compiler and its libFuzzer runtime

cmake -S . -B "$BUILD" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNETPULSE_FUZZ=ON -DNETPULSE_SANITIZE=ON -DNETPULSE_BUILD_TESTS=OFF -DNETPULSE_BUILD_BENCH=OFF >/dev/null
targets=()
for t in $TARGETS; do targets+=("fuzz_$t"); done
mkdir -p "$OUT"
cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]}" > "$OUT/build.log" 2>&1 \
  || { tail -30 "$OUT/build.log" >&2; echo "fuzz.sh: build failed ($OUT/build.log)" >&2; exit 1; }

n=$(wc -w <<< "$TARGETS")
each=$(( SECONDS_TOTAL / n ))
[ "$each" -ge 1 ] || each=1
mkdir -p "$OUT"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%FT%TZ); ${each}s per target, $JOBS job(s)"
printf '%-17s %8s %12s %9s %7s %7s %8s %8s\n' target seconds executions exec/s edges features corpus+ crashes
failed=0
for t in $TARGETS; do
  work="$OUT/corpus/$t"
  crashes="$OUT/crashes/$t"
  mkdir -p "$work" "$crashes"
  before=$(ls tests/fuzz/corpus/$t | wc -l)
  # ASan's leak check stays on; a target's memory is bounded by -rss_limit_mb.
  set +e
  if [ "$JOBS" -gt 1 ]; then
    "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$each" -print_final_stats=1 -timeout=20 \
      -rss_limit_mb=3072 -artifact_prefix="$crashes/" -jobs="$JOBS" -workers="$JOBS" \
      "$work" "tests/fuzz/corpus/$t" > "$OUT/$t.log" 2>&1
  else
    "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$each" -print_final_stats=1 -timeout=20 \
      -rss_limit_mb=3072 -artifact_prefix="$crashes/" "$work" "tests/fuzz/corpus/$t" > "$OUT/$t.log" 2>&1
  fi
  rc=$?
  set -e
  # Inputs that add coverage join the committed corpus.
  "$BUILD/tests/fuzz/fuzz_$t" -merge=1 "tests/fuzz/corpus/$t" "$work" > "$OUT/$t.merge.log" 2>&1 || true
  after=$(ls tests/fuzz/corpus/$t | wc -l)
  log=$(cat "$OUT/$t.log" fuzz-*.log 2>/dev/null || true)
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' <<< "$log" | awk '{s+=$2} END {print s+0}')
  last=$(grep -E '#[0-9]+.*cov: ' <<< "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' <<< "$last" | awk '{print $2}')
  ft=$(grep -o 'ft: [0-9]*' <<< "$last" | awk '{print $2}')
  found=$(ls "$crashes" | wc -l)
  rm -f fuzz-*.log
  printf '%-17s %8d %12d %9d %7s %7s %8d %8d\n' "$t" "$each" "$execs" $(( execs / each )) "${cov:-?}" "${ft:-?}" $(( after - before )) "$found"
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    failed=1
    echo "  $t: exit $rc; see $OUT/$t.log and $crashes/" >&2
  fi
done
exit $failed
