#!/usr/bin/env bash
# Kafka scale-out benchmark (issue 6), the table of the original Storm system. For each request
# count and each instance count (1, 2, 4): a fresh mock cluster (`netpulse kafka-mock`, 3
# brokers, topic flows with PARTITIONS partitions, default 8); the instances of one consumer
# group and one `netpulse merge` start first; once every instance holds partitions,
# `netpulse generate --output kafka://` produces the records (keyed by source address) as fast
# as it can (100,000 records per second of event time). Records are streamed, not loaded first, because the mock keeps
# only the newest 5 MiB of each partition.
#
#   caught up: seconds from the first record produced until the instances have read them all
#              (their --progress lines, every 0.2 s), and records/s over that time;
#   results:   seconds until merge has written every window: the instances are stopped (they
#              commit and leave) and one more member with --exit-at-end publishes the last panes
#              and the end of every partition; this includes that member's group join (~3 s on
#              the mock).
# merge's results are compared with `netpulse process` on the same records.
#
#   bench/kafka_bench.sh                          # 5000 300000 20000000 requests
#   INSTANCES="1 2" PARTITIONS=16 bench/kafka_bench.sh 300000
#   INSTANCE_ARGS="--history-keys 0" bench/kafka_bench.sh 20000000   # no conversation samples
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
INSTANCES=${INSTANCES:-1 2 4}
PARTITIONS=${PARTITIONS:-8}
read -r -a INSTANCE_ARGS <<< "${INSTANCE_ARGS:-}"  # extra arguments for every instance
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(5000 300000 20000000)
[ -x "$NETPULSE" ] || { echo "kafka_bench: $NETPULSE not built (run scripts/build)" >&2; exit 1; }
OUT=bench/out/kafka
mkdir -p "$OUT"
PROPS=(--kafka-property session.timeout.ms=6000 --kafka-property heartbeat.interval.ms=500)
QUERY=(--T 10 --H 5 --k 3 --X 2)
GEN=(--ips 100000 --seed 1 --start-time "2020-05-09 00:00:00")

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg); topic flows: $PARTITIONS partitions"
printf '%-10s %-9s %12s %14s %12s  %s\n' requests instances "caught up s" records/s "results s" check
for n in "${COUNTS[@]}"; do
  "$NETPULSE" generate --count "$n" --rate 100000 "${GEN[@]}" 2>/dev/null |
    "$NETPULSE" process --input - --quiet "${QUERY[@]}" > "$OUT/expected-$n.json"
  for i in $INSTANCES; do
    "$NETPULSE" kafka-mock --brokers 3 --topic "flows:$PARTITIONS" --topic "panes:$PARTITIONS" > "$OUT/mock.out" 2>/dev/null &
    mock=$!
    # On any failure, stop every child (instances, merge, mock), not just the cluster.
    trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
    for _ in $(seq 100); do [ -s "$OUT/mock.out" ] && break; sleep 0.1; done
    boot=$(head -1 "$OUT/mock.out")
    pids=()
    for j in $(seq "$i"); do
      "$NETPULSE" process --input "kafka://$boot/flows?group=bench" --panes-topic panes \
        --idle-timeout 0 --progress 0.2 "${PROPS[@]}" ${INSTANCE_ARGS[@]+"${INSTANCE_ARGS[@]}"} \
        2> "$OUT/instance-$n-$i-$j.err" &
      pids+=($!)
    done
    # Every instance holds partitions (each one's last assignment is not empty).
    for _ in $(seq 600); do
      ready=0
      for j in $(seq "$i"); do
        last=$(grep 'assigned partitions' "$OUT/instance-$n-$i-$j.err" | tail -1 || true)
        case "$last" in *"[]"*|"") ;; *) ready=$((ready + 1)) ;; esac
      done
      [ "$ready" -eq "$i" ] && break
      sleep 0.1
    done
    "$NETPULSE" merge --input "kafka://$boot/panes" --exit-at-end "${QUERY[@]}" \
      > "$OUT/merged-$n-$i.json" 2> "$OUT/merge-$n-$i.err" &
    merge=$!
    start=$(date +%s.%N)
    "$NETPULSE" generate --count "$n" --rate 100000 "${GEN[@]}" --output "kafka://$boot/flows" \
      2> "$OUT/generate-$n-$i.err"
    # Caught up: the instances' latest progress lines add up to every record.
    for _ in $(seq 60000); do
      total=0
      for j in $(seq "$i"); do
        r=$(grep -o 'progress: [0-9]* records read' "$OUT/instance-$n-$i-$j.err" | tail -1 | awk '{print $2}')
        total=$((total + ${r:-0}))
      done
      [ "$total" -ge "$n" ] && break
      sleep 0.05
    done
    caught=$(date +%s.%N)
    kill -TERM "${pids[@]}"
    wait "${pids[@]}" || true
    "$NETPULSE" process --input "kafka://$boot/flows?group=bench" --panes-topic panes \
      --exit-at-end "${PROPS[@]}" ${INSTANCE_ARGS[@]+"${INSTANCE_ARGS[@]}"} 2> "$OUT/drain-$n-$i.err"
    wait "$merge"
    end=$(date +%s.%N)
    kill $mock; wait $mock 2>/dev/null || true
    trap - EXIT
    secs=$(echo "$caught - $start" | bc -l)
    all=$(echo "$end - $start" | bc -l)
    check=$(cmp -s "$OUT/merged-$n-$i.json" "$OUT/expected-$n.json" && echo "results equal" || echo "RESULTS DIFFER")
    printf '%-10s %-9s %12.2f %14.0f %12.2f  %s\n' "$n" "$i" "$secs" "$(echo "$n / $secs" | bc -l)" "$all" "$check"
  done
done
