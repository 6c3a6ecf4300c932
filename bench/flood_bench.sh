#!/usr/bin/env bash
# The memory budget under a spoofed-source flood (issue 14). Makes (once) a file of normal
# traffic (200,000 records/s of event time, Zipf over 100,000 sources) with a flood of
# FLOOD_RATE new IPv4 sources a second from second 10 to 40 on top (default 2 M/s: 60 million
# distinct sources in all, 20 million in a 10 s window), then runs `netpulse process` on it with
# T = 10 and each --memory-limit of LIMITS (0: unbounded, exact), best of RUNS, and prints
# records/s, peak RSS (the kernel's, from /usr/bin/time) and how many windows were
# approximate, with the bound the summary line names.
#
#   bench/flood_bench.sh                        # build/netpulse, bench/data/flood-2m.txt
#   FLOOD_RATE=1000000 RUNS=1 LIMITS="0 1GiB" bench/flood_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
FLOOD_RATE=${FLOOD_RATE:-2000000}
RUNS=${RUNS:-3}
LIMITS=${LIMITS:-"0 1GiB 256MiB 128MiB"}
THREADS=${THREADS:-1}
DATA=${DATA:-bench/data/flood-$((FLOOD_RATE / 1000000))m.txt}
[ -x "$NETPULSE" ] || { echo "flood_bench: $NETPULSE not built (run scripts/build)" >&2; exit 1; }
mkdir -p "$(dirname "$DATA")"
if [ ! -s "$DATA" ]; then
  echo "flood_bench: generating $DATA" >&2
  "$NETPULSE" generate --rate 200000 --duration 50s --ips 100000 --zipf 1.0 --protocols 19 \
    --scenario flood@10s+30s --flood-rate "$FLOOD_RATE" \
    --seed 1 --start-time "2020-05-09 00:00:00" --output "file:$DATA"
fi
LINES=$(wc -l < "$DATA")
echo "flood_bench: $(uname -n), $(nproc) cores, $(date -u +%Y-%m-%d), $LINES records in $DATA, --threads $THREADS"
printf '%-10s %14s %12s %s\n' "limit" "records/s" "peak RSS" "approximate windows"
for limit in $LIMITS; do
  best=0 rss=0 note=""
  for _ in $(seq "$RUNS"); do
    err=$( { /usr/bin/time -f "RSS %M" "$NETPULSE" process --input "file:$DATA" --T 10 --H 1 \
               --k 10 --X 3 --threads "$THREADS" --memory-limit "$limit" > /dev/null; } 2>&1 )
    secs=$(sed -n 's/.*windows; \([0-9.]*\) s,.*/\1/p' <<< "$err")
    rate=$(awk -v n="$LINES" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
    if [ "$rate" -gt "$best" ]; then best=$rate; fi
    r=$(sed -n 's/^RSS \([0-9]*\)/\1/p' <<< "$err")
    if [ "$r" -gt "$rss" ]; then rss=$r; fi
    note=$(sed -n 's/.*netpulse: \([0-9]* windows had approximate.*\)/\1/p' <<< "$err")
  done
  printf '%-10s %14s %9s MiB %s\n' "$limit" "$(awk -v r="$best" 'BEGIN { printf "%.2f M", r / 1e6 }')" \
    "$((rss / 1024))" "${note:-none (exact)}"
done
