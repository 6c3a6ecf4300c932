#!/usr/bin/env bash
# End-to-end engine benchmark (issue 2). Makes (once) a file of 20 million line-format records,
# 200,000 records per second of event time, source addresses Zipf-distributed over 1 million
# addresses, 19 protocols; then runs `netpulse process` with all six queries, T = 60, slide 1,
# on 1 and 2 threads, best of RUNS, and prints records/s, peak RSS and, as the I/O ceiling, the
# time of `wc -l` on the same file.
#
# PRESET=issue12 takes issue 12's data shape instead: 5 million records, 100,000 records per
# second of event time, Zipf over 1 million source addresses of which 3% IPv6, 0 to 9 fraction
# digits per record (bench/data/flows-issue12-5m.txt).
#
#   bench/engine_bench.sh                 # uses build/netpulse, bench/data/flows-20m.txt
#   COUNT=2000000 RUNS=1 bench/engine_bench.sh
#   PRESET=issue12 bench/engine_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
PRESET=${PRESET:-}
RUNS=${RUNS:-3}
case "$PRESET" in
  "")
    COUNT=${COUNT:-20000000}
    DATA=${DATA:-bench/data/flows-$((COUNT / 1000000))m.txt}
    SHAPE=(--rate 200000 --ips 1000000 --zipf 1.0 --protocols 19) ;;
  issue12)
    COUNT=${COUNT:-5000000}
    DATA=${DATA:-bench/data/flows-issue12-$((COUNT / 1000000))m.txt}
    SHAPE=(--rate 100000 --ips 1000000 --zipf 1.0 --protocols 19 --ipv6-percent 3
           --time-digits mixed) ;;
  *) echo "engine_bench: unknown PRESET '$PRESET' (issue12)" >&2; exit 2 ;;
esac
[ -x "$NETPULSE" ] || { echo "engine_bench: $NETPULSE not built (run scripts/build)" >&2; exit 1; }
mkdir -p "$(dirname "$DATA")"

if [ ! -s "$DATA" ]; then
  echo "engine_bench: generating $COUNT records into $DATA" >&2
  "$NETPULSE" generate --count "$COUNT" "${SHAPE[@]}" \
    --seed 1 --start-time "2020-05-09 00:00:00" --output "file:$DATA"
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "data: $DATA, $(du -h "$DATA" | cut -f1), $(head -c 200 "$DATA" | head -1)"

best_wc=""
for _ in $(seq "$RUNS"); do
  s=$(date +%s.%N); wc -l "$DATA" >/dev/null; e=$(date +%s.%N)
  t=$(echo "$e - $s" | bc -l)
  if [ -z "$best_wc" ] || (( $(echo "$t < $best_wc" | bc -l) )); then best_wc=$t; fi
done
printf 'wc -l: %.3f s (%.1f M lines/s)\n' "$best_wc" "$(echo "$COUNT / $best_wc / 1000000" | bc -l)"

for threads in 1 2; do
  best=""; best_line=""
  for _ in $(seq "$RUNS"); do
    line=$("$NETPULSE" process --input "$DATA" --T 60 --slide 1 --threads "$threads" \
      --output /dev/null --progress 0 2>&1 >/dev/null | grep 'records read')
    secs=$(echo "$line" | sed -E 's/.*windows; ([0-9.]+) s.*/\1/')
    if [ -z "$best" ] || (( $(echo "$secs < $best" | bc -l) )); then best=$secs; best_line=$line; fi
  done
  rss=$(echo "$best_line" | sed -E 's/.*peak memory (.*)$/\1/')
  printf 'process --threads %d: %.3f s, %.2f M records/s, peak RSS %s\n' "$threads" "$best" \
    "$(echo "$COUNT / $best / 1000000" | bc -l)" "$rss"
done
