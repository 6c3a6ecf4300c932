#!/usr/bin/env bash
# How much a second core can give on this machine (issue 12's two-thread target). Two
# independent processes share nothing but the hardware, so the records/s of two single-threaded
# `netpulse process` runs side by side, against one run alone, is the most that two threads of
# one process could reach on this workload: no barrier, no serial step, no shared cache line.
# A CPU-only control (`openssl speed -multi`, which stays in the core's own caches) tells the
# cores apart from what they share (last-level cache, memory bandwidth, the host's placement of
# the virtual CPUs).
#
# On the issue-12 file (PRESET=issue12 bench/engine_bench.sh makes it), RUNS rounds, each:
#   alone      process --threads 1
#   side by side  two process --threads 1 at once (each its own copy of the file, so neither
#                 reads the other's page-cache pages; both copies are read once before timing)
#   threads 2  process --threads 2
# and prints the best of each, the ratios, and the CPU-only control; then the medians of each
# round's own ratios and rates (its three runs are seconds apart, so the host's drift from minute to
# minute, 25% and more here, mostly cancels in them) and how many rounds reached 1.8x.
#
#   bench/scaling_ceiling.sh
#   RUNS=5 bench/scaling_ceiling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
RUNS=${RUNS:-3}
COUNT=${COUNT:-5000000}
DATA=${DATA:-bench/data/flows-issue12-$((COUNT / 1000000))m.txt}
ARGS=(--T 60 --lateness 1 --H 1 --k 10 --X 3 --slide 1 --output /dev/null --progress 0)
[ -x "$NETPULSE" ] || { echo "scaling_ceiling: $NETPULSE not built (run scripts/build)" >&2; exit 1; }
if [ ! -s "$DATA" ]; then
  PRESET=issue12 COUNT="$COUNT" RUNS=1 NETPULSE="$NETPULSE" bench/engine_bench.sh >/dev/null
fi
copy="$DATA.copy"
[ -s "$copy" ] || cp "$DATA" "$copy"
cat "$DATA" "$copy" > /dev/null

now() { date +%s.%N; }
# One `process` run over FILE with THREADS threads.
run() { "$NETPULSE" process --input "$1" --threads "$2" "${ARGS[@]}" 2>/dev/null; }
min() { if [ -z "$1" ] || (( $(echo "$2 < $1" | bc -l) )); then echo "$2"; else echo "$1"; fi; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1 /proc/loadavg) at the start"
echo "data: $DATA, $COUNT records; process ${ARGS[*]}; wall times from start to exit, best of $RUNS"
alone="" pair="" two=""
rounds=$(mktemp)
trap 'rm -f "$rounds"' EXIT
for _ in $(seq "$RUNS"); do
  s=$(now); run "$DATA" 1; e=$(now)
  a1=$(echo "$e - $s" | bc -l)
  alone=$(min "$alone" "$a1")
  # Both start together; the pair's time is the wall time until the second one ends.
  s=$(now)
  run "$DATA" 1 &
  a=$!
  run "$copy" 1 &
  b=$!
  wait "$a" "$b"
  e=$(now)
  p1=$(echo "$e - $s" | bc -l)
  pair=$(min "$pair" "$p1")
  s=$(now); run "$DATA" 2; e=$(now)
  t1=$(echo "$e - $s" | bc -l)
  two=$(min "$two" "$t1")
  echo "$(echo "2 * $a1 / $p1" | bc -l) $(echo "$a1 / $t1" | bc -l) $a1 $t1" >> "$rounds"
done
rate() { echo "$1 / $2 / 1000000" | bc -l; }
printf 'one process, 1 thread:            %.3f s  %6.2f M records/s\n' "$alone" "$(rate "$COUNT" "$alone")"
printf 'two processes side by side:       %.3f s  %6.2f M records/s together (%.2fx one alone)\n' \
  "$pair" "$(rate $((2 * COUNT)) "$pair")" "$(echo "2 * $alone / $pair" | bc -l)"
printf 'one process, 2 threads:           %.3f s  %6.2f M records/s (%.2fx one thread)\n' \
  "$two" "$(rate "$COUNT" "$two")" "$(echo "$alone / $two" | bc -l)"

# Each round's own figures: medians, ranges, and how many rounds reached the issue's targets.
/usr/bin/python3 - "$rounds" "$COUNT" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
count = int(sys.argv[2])
pairs, threads = [r[0] for r in rows], [r[1] for r in rows]
rel = [r[1] / r[0] for r in rows]
one = sorted(count / r[2] / 1e6 for r in rows)
two = sorted(count / r[3] / 1e6 for r in rows)
print(f"median of {len(rows)} rounds: 1 thread {statistics.median(one):.2f} M records/s "
      f"({one[0]:.2f}-{one[-1]:.2f}; {sum(x >= 10 for x in one)} rounds at 10 M or more), "
      f"2 threads {statistics.median(two):.2f} M ({two[0]:.2f}-{two[-1]:.2f})")
print(f"each round's ratios, median of {len(rows)} (min-max): processes side by side "
      f"{statistics.median(pairs):.2f}x ({min(pairs):.2f}-{max(pairs):.2f}), "
      f"2 threads {statistics.median(threads):.2f}x ({min(threads):.2f}-{max(threads):.2f}); "
      f"threads / processes {statistics.median(rel):.2f}")
print(f"rounds at 1.8x or more: processes {sum(p >= 1.8 for p in pairs)} of {len(rows)}, "
      f"threads {sum(t >= 1.8 for t in threads)} of {len(rows)}")
PY

# CPU-only control: SHA-256 over 16-byte blocks stays in each core's L1.
one_cpu=$(openssl speed -seconds 3 -bytes 16 sha256 2>/dev/null | awk '/^sha256/ {v = $2} END {print v}')
two_cpu=$(openssl speed -multi 2 -seconds 3 -bytes 16 sha256 2>/dev/null | awk '/^sha256/ {v = $2} END {print v}')
printf 'CPU-only control (openssl sha256, 16-byte blocks): one %s, two at once %s (%.2fx)\n' \
  "$one_cpu" "$two_cpu" "$(echo "${two_cpu%k} / ${one_cpu%k}" | bc -l)"
