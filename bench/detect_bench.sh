#!/usr/bin/env bash
# End-to-end detector benchmark (issue 5): `netpulse classify` with two detectors (models/dos.json
# and models/bruteforce.json, as the original's two bolts) over NSL-KDD KDDTrain+ replicated
# COPIES times into one file (default 20: 2.52 million rows, 382 MB), on 1 and 2 threads, best of
# RUNS. Prints rows/s by wall clock (start-up included: loading and compiling the models, reading
# the file) and rows per CPU-second (user + sys: the per-core figure, which a busy machine
# disturbs less), the ratio of the 1-thread wall-clock rate to the target (TARGET rows/s, default
# 4 million), and the original's 4,100 records/s on 8 Storm workers.
#
# With BASELINE set to another netpulse binary, both run alternately (baseline, then NETPULSE, in
# every round), so that other jobs on the machine disturb both alike, and are printed side by side.
#
#   bench/detect_bench.sh                    # build/netpulse, bench/data/kdd-x20.txt
#   NETPULSE=build-detect/netpulse COPIES=5 RUNS=1 bench/detect_bench.sh
#   BASELINE=/tmp/netpulse-old NETPULSE=build/netpulse bench/detect_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
BASELINE=${BASELINE:-}
COPIES=${COPIES:-20}
RUNS=${RUNS:-3}
TARGET=${TARGET:-4000000}
SRC=${SRC:-../shared/data/nsl-kdd/KDDTrain+.txt}
DATA=${DATA:-bench/data/kdd-x$COPIES.txt}
MODELS=${MODELS:-"models/dos.json models/bruteforce.json"}
for b in "$NETPULSE" $BASELINE; do
  [ -x "$b" ] || { echo "detect_bench: $b not built (run scripts/build)" >&2; exit 1; }
done
for m in $MODELS; do [ -s "$m" ] || { echo "detect_bench: no $m (run scripts/train-models)" >&2; exit 1; }; done
mkdir -p "$(dirname "$DATA")"
if [ ! -s "$DATA" ]; then
  echo "detect_bench: writing $COPIES copies of $SRC into $DATA" >&2
  for _ in $(seq "$COPIES"); do cat "$SRC"; done >"$DATA"
fi
rows=$(wc -l <"$DATA")
model_args=""
for m in $MODELS; do model_args="$model_args --model $m"; done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: $DATA, $rows rows, $(du -h "$DATA" | cut -f1); models: $MODELS"
cat "$DATA" >/dev/null  # warm the page cache

binaries=()
[ -n "$BASELINE" ] && binaries+=("$BASELINE")
binaries+=("$NETPULSE")

for threads in 1 2; do
  declare -A best_wall=() best_cpu=()
  for _ in $(seq "$RUNS"); do
    for b in "${binaries[@]}"; do
      out=$( { /usr/bin/time -f 'TIME %e %U %S' "$b" classify $model_args --input "$DATA" \
        --output /dev/null --threads "$threads" -q; } 2>&1 )
      read -r wall user sys <<<"$(echo "$out" | awk '/^TIME/{print $2, $3, $4}')"
      cpu=$(echo "$user + $sys" | bc -l)
      if [ -z "${best_wall[$b]:-}" ] || (( $(echo "$wall < ${best_wall[$b]}" | bc -l) )); then
        best_wall[$b]=$wall
      fi
      if [ -z "${best_cpu[$b]:-}" ] || (( $(echo "$cpu < ${best_cpu[$b]}" | bc -l) )); then
        best_cpu[$b]=$cpu
      fi
    done
  done
  for b in "${binaries[@]}"; do
    label=""
    [ -n "$BASELINE" ] && label="$( [ "$b" = "$BASELINE" ] && echo "baseline " || echo "netpulse ")"
    printf '%sclassify --threads %d: %.2f s wall, %.2f M rows/s; %.2f CPU-s, %.2f M rows per CPU-second\n' \
      "$label" "$threads" "${best_wall[$b]}" "$(echo "$rows / ${best_wall[$b]} / 1000000" | bc -l)" \
      "${best_cpu[$b]}" "$(echo "$rows / ${best_cpu[$b]} / 1000000" | bc -l)"
  done
  if [ "$threads" = 1 ]; then
    printf 'target: %.2f M rows/s on 1 thread (wall, start-up included): %.2fx the target\n' \
      "$(echo "$TARGET / 1000000" | bc -l)" \
      "$(echo "$rows / ${best_wall[$NETPULSE]} / $TARGET" | bc -l)"
  fi
  unset best_wall best_cpu
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "original (Storm, 8 workers, 2 decision-tree bolts): 4,100 records/s in all, about 512 per worker"
