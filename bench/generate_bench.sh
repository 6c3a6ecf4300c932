#!/usr/bin/env bash
# End-to-end benchmark of `netpulse generate` (docs/generator.md, "Measured figures").
# Builds nothing: uses $NETPULSE, or build/netpulse from the repository root.
#
#   bench/generate_bench.sh            # all three measurements, 3 runs of the first
#   RUNS=5 bench/generate_bench.sh
#
# 1. Full speed: --rate 0 --count 50000000 > /dev/null  (records/s; target >= 10 million on one
#    core; the generator writes from a single thread)
# 2. Held rate:  --rate 100000 --duration 10s | wc -l  (achieved records/s; target within 2%)
# 3. The engine benchmark's input, to /dev/null: 20 million records, Zipf over 1 million sources
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
RUNS=${RUNS:-3}
if [ ! -x "$NETPULSE" ]; then
  echo "generate_bench: $NETPULSE not found; build first (scripts/build) or set NETPULSE" >&2
  exit 1
fi

calc() { awk "BEGIN { printf \"%.6f\", $* }"; }
# The generator's own summary: "netpulse: generated N records (...) in S s, R records/s".
summary_field() { sed -n "s/^netpulse: generated \([0-9]*\) records .* in \([0-9.]*\) s,.*/\\$1/p" "$2"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary:  $NETPULSE"
err=$(mktemp)
tm=$(mktemp)
trap 'rm -f "$err" "$tm"' EXIT
TIMEFORMAT='%3R %3U %3S'
# Runs a command with stdout to /dev/null, stderr to $err; sets wall, cpu (user + sys seconds).
timed() {
  { time "$@" > /dev/null 2> "$err"; } 2> "$tm"
  read -r wall user sys < "$tm"
  cpu=$(calc "$user + $sys")
}

echo
echo "1. $NETPULSE generate --rate 0 --count 50000000 > /dev/null"
rates=()
for i in $(seq "$RUNS"); do
  timed "$NETPULSE" generate --rate 0 --count 50000000
  records=$(summary_field 1 "$err")
  rate=$(calc "$records / $wall")
  rates+=("$rate")
  printf "   run %d: %.3f s wall, %.3f s CPU: %.2f million records/s (%.2f million per CPU second)\n" \
    "$i" "$wall" "$cpu" "$(calc "$rate / 1000000")" "$(calc "$records / $cpu / 1000000")"
done
best=$(printf "%s\n" "${rates[@]}" | sort -g | tail -1)
median=$(printf "%s\n" "${rates[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p")
printf "   best %.2f, median %.2f million records/s\n" "$(calc "$best / 1000000")" "$(calc "$median / 1000000")"

echo
echo "2. $NETPULSE generate --rate 100000 --duration 10s | wc -l"
# Counted outside the generator (wc -l) over the wall time of the whole pipeline (start-up
# included), and as the generator reports it.
{ time "$NETPULSE" generate --rate 100000 --duration 10s 2> "$err" | wc -l > "$err.lines"; } 2> "$tm"
read -r wall user sys < "$tm"
lines=$(cat "$err.lines")
rm -f "$err.lines"
records=$(summary_field 1 "$err")
seconds=$(summary_field 2 "$err")
achieved=$(calc "$lines / $wall")
printf "   wc -l: %d records in %.3f s of wall clock: %.0f records/s, %+.2f%% from the target\n" \
  "$lines" "$wall" "$achieved" "$(calc "($achieved - 100000) / 1000")"
printf "   generator's summary: %d records in %.3f s: %.0f records/s\n" "$records" "$seconds" \
  "$(calc "$records / $seconds")"
if grep -q "could not keep up" "$err"; then echo "   (the output fell behind: $(cat "$err"))"; fi

echo
echo "3. $NETPULSE generate --count 20000000 --rate 200000 --ips 1000000 --zipf 1.0 --protocols 19 --seed 1 --start-time \"2020-05-09 00:00:00\" > /dev/null"
timed "$NETPULSE" generate --count 20000000 --rate 200000 --ips 1000000 --zipf 1.0 --protocols 19 --seed 1 \
  --start-time "2020-05-09 00:00:00"
printf "   %.3f s wall, %.3f s CPU (set-up included): %.2f million records/s (%.2f million per CPU second)\n" \
  "$wall" "$cpu" "$(calc "20 / $wall")" "$(calc "20 / $cpu")"
