#!/usr/bin/env bash
# End-to-end detector benchmark (issue 5): `netpulse classify` with two detectors (models/dos.json
# and models/bruteforce.json, as the original's two bolts) over NSL-KDD KDDTrain+ replicated
# COPIES times into one file (default 20: 2.52 million rows, 382 MB), on 1 and 2 threads, best of
# RUNS. Prints rows/s by wall clock and rows per CPU-second (user + sys: the per-core figure, which
# a busy machine disturbs less), next to the original's 4,100 records/s on 8 Storm workers.
#
#   bench/detect_bench.sh                    # build/netpulse, bench/data/kdd-x20.txt
#   NETPULSE=build-detect/netpulse COPIES=5 RUNS=1 bench/detect_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
COPIES=${COPIES:-20}
RUNS=${RUNS:-3}
SRC=${SRC:-../shared/data/nsl-kdd/KDDTrain+.txt}
DATA=${DATA:-bench/data/kdd-x$COPIES.txt}
MODELS=${MODELS:-"models/dos.json models/bruteforce.json"}
[ -x "$NETPULSE" ] || { echo "detect_bench: $NETPULSE not built (run scripts/build)" >&2; exit 1; }
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

for threads in 1 2; do
  best_wall=""; best_cpu=""
  for _ in $(seq "$RUNS"); do
    out=$( { /usr/bin/time -f 'TIME %e %U %S' "$NETPULSE" classify $model_args --input "$DATA" \
      --output /dev/null --threads "$threads" -q; } 2>&1 )
    read -r wall user sys <<<"$(echo "$out" | awk '/^TIME/{print $2, $3, $4}')"
    cpu=$(echo "$user + $sys" | bc -l)
    if [ -z "$best_wall" ] || (( $(echo "$wall < $best_wall" | bc -l) )); then best_wall=$wall; fi
    if [ -z "$best_cpu" ] || (( $(echo "$cpu < $best_cpu" | bc -l) )); then best_cpu=$cpu; fi
  done
  printf 'classify --threads %d: %.2f s wall, %.2f M rows/s; %.2f CPU-s, %.2f M rows per CPU-second\n' \
    "$threads" "$best_wall" "$(echo "$rows / $best_wall / 1000000" | bc -l)" "$best_cpu" \
    "$(echo "$rows / $best_cpu / 1000000" | bc -l)"
done
echo "original (Storm, 8 workers, 2 decision-tree bolts): 4,100 records/s in all, about 512 per worker"
