#!/usr/bin/env bash
# Kafka scale-out benchmark (issue 6), the table of the original Storm system: for each request
# count, a fresh mock cluster (`netpulse kafka-mock`, 3 brokers, topic flows with 8
# partitions), the records produced keyed by source address with kcat, then 1, 2 and 4
# `netpulse process` instances in one consumer group (--exit-at-end) and one `netpulse merge`;
# the time is wall-clock from starting the instances to merge's exit (group join included), and
# merge's results are checked against `netpulse process` on the same file.
#
#   bench/kafka_bench.sh                          # 5000 300000 20000000 requests
#   INSTANCES="1 2" bench/kafka_bench.sh 300000
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
INSTANCES=${INSTANCES:-1 2 4}
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(5000 300000 20000000)
[ -x "$NETPULSE" ] || { echo "kafka_bench: $NETPULSE not built (run scripts/build)" >&2; exit 1; }
command -v kcat >/dev/null || { echo "kafka_bench: kcat missing (run scripts/setup)" >&2; exit 1; }
OUT=bench/out/kafka
mkdir -p "$OUT"
PROPS=(--kafka-property session.timeout.ms=6000 --kafka-property heartbeat.interval.ms=500)
QUERY=(--T 10 --H 5 --k 3 --X 2)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %-9s %10s %14s  %s\n' requests instances seconds records/s check
for n in "${COUNTS[@]}"; do
  data="$OUT/flows-$n.txt"
  if [ ! -s "$data" ]; then
    "$NETPULSE" generate --count "$n" --rate 100000 --ips 100000 --seed 1 \
      --start-time "2020-05-09 00:00:00" --output "file:$data" 2>/dev/null
  fi
  "$NETPULSE" process --input "$data" --quiet "${QUERY[@]}" > "$OUT/expected-$n.json"
  topics=(--topic flows:8)
  for i in $INSTANCES; do topics+=(--topic "panes$i:1"); done
  "$NETPULSE" kafka-mock --brokers 3 "${topics[@]}" > "$OUT/mock.out" 2>/dev/null &
  mock=$!
  trap 'kill $mock 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [ -s "$OUT/mock.out" ] && break; sleep 0.1; done
  boot=$(head -1 "$OUT/mock.out")
  awk '{print $4 "\t" $0}' "$data" | kcat -P -b "$boot" -t flows -K $'\t' -X queue.buffering.max.messages=1000000
  for i in $INSTANCES; do
    start=$(date +%s.%N)
    pids=()
    for j in $(seq "$i"); do
      "$NETPULSE" process --input "kafka://$boot/flows?group=bench$i" --panes-topic "panes$i" \
        --exit-at-end "${PROPS[@]}" 2> "$OUT/instance-$n-$i-$j.err" &
      pids+=($!)
    done
    "$NETPULSE" merge --input "kafka://$boot/panes$i" --exit-at-end "${QUERY[@]}" \
      > "$OUT/merged-$n-$i.json" 2> "$OUT/merge-$n-$i.err"
    wait "${pids[@]}"
    end=$(date +%s.%N)
    secs=$(echo "$end - $start" | bc -l)
    check=$(cmp -s "$OUT/merged-$n-$i.json" "$OUT/expected-$n.json" && echo "results equal" || echo "RESULTS DIFFER")
    printf '%-10s %-9s %10.2f %14.0f  %s\n' "$n" "$i" "$secs" "$(echo "$n / $secs" | bc -l)" "$check"
  done
  kill $mock; wait $mock 2>/dev/null || true
  trap - EXIT
done
