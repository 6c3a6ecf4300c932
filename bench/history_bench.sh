#!/usr/bin/env bash
# What writing traffic history costs `netpulse process` (issue 17: at most 5% of throughput).
# Runs `process --store sqlite:...` on the same file with --history-keys 0 (no history), with
# the default 10,000 keys as shipped (sampled: --history-sample, SAMPLE to change it), and summed
# exactly (--history-sample 0), in turn (A, B, C, A, B, C, ...: the machine's speed drifts), on
# 1 and 2 threads, best of RUNS each, and prints records/s, peak RSS and the cost in percent.
# Data: issue 12's shape (5 M records, 100,000 records/s of event time, Zipf over 1 M sources,
# 3% IPv6; bench/data/flows-issue12-5m.txt, made by engine_bench.sh's PRESET=issue12) and, as a
# smaller network, 5 M records over 10,000 sources (bench/data/flows-10k-5m.txt), and issue
# 12's shape spread over four minutes of event time (bench/data/flows-4min-5m.txt).
#
#   bench/history_bench.sh                  # the three files, RUNS=5
#   DATA=path/to/flows.txt RUNS=5 bench/history_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
RUNS=${RUNS:-5}
THREADS=${THREADS:-"1 2"}
KEYS=${KEYS:-10000}
[ -x "$NETPULSE" ] || { echo "history_bench: $NETPULSE not built" >&2; exit 1; }
work=$(mktemp -d /tmp/history_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

make_data() {  # FILE IPS RATE [extra generate options...]
  local file=$1 ips=$2 rate=$3; shift 3
  [ -s "$file" ] && return
  mkdir -p "$(dirname "$file")"
  echo "history_bench: generating $file" >&2
  "$NETPULSE" generate --count 5000000 --rate "$rate" --ips "$ips" --zipf 1.0 --protocols 19 \
    "$@" --seed 1 --start-time "2020-05-09 00:00:00" --output "file:$file"
}

if [ -n "${DATA:-}" ]; then
  files=("$DATA")
else
  make_data bench/data/flows-issue12-5m.txt 1000000 100000 --ipv6-percent 3 --time-digits mixed
  make_data bench/data/flows-10k-5m.txt 10000 100000
  # Both files above span 50 s of event time, one minute of history; this one spans four (20,000
  # records/s), so the recorder's tables are reused as they are in a long run.
  make_data bench/data/flows-4min-5m.txt 1000000 20000 --ipv6-percent 3
  files=(bench/data/flows-issue12-5m.txt bench/data/flows-10k-5m.txt bench/data/flows-4min-5m.txt)
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u '+%Y-%m-%d %H:%M UTC')"

run_once() {  # FILE THREADS ARGS... -> "seconds rss"
  rm -f "$work"/h.db*
  local file=$1 threads=$2 line; shift 2
  line=$("$NETPULSE" process --input "$file" --T 60 --slide 1 --threads "$threads" --output /dev/null \
    --store "sqlite:$work/h.db" --progress 0 "$@" 2>&1 >/dev/null | grep 'records read')
  echo "$(echo "$line" | sed -E 's/.*windows; ([0-9.]+) s.*/\1/') $(echo "$line" | sed -E 's/.*peak memory (.*)$/\1/')"
}

# The variants, run in turn within each round: no history, history as shipped (sampled), and
# history summed exactly.
variants=("--history-keys 0" "--history-keys $KEYS ${SAMPLE:+--history-sample $SAMPLE}" "--history-keys $KEYS --history-sample 0")
names=("no history" "history (--history-sample ${SAMPLE:-default})" "history summed exactly")
for file in "${files[@]}"; do
  count=$(wc -l < "$file")
  echo "data: $file ($count records)"
  for threads in $THREADS; do
    best=(); rss=()
    for _ in $(seq "$RUNS"); do
      for i in "${!variants[@]}"; do
        # shellcheck disable=SC2086
        read -r s r <<<"$(run_once "$file" "$threads" ${variants[$i]})"
        if [ -z "${best[$i]:-}" ] || (( $(echo "$s < ${best[$i]}" | bc -l) )); then best[$i]=$s; rss[$i]=$r; fi
      done
    done
    echo "  threads $threads:"
    for i in "${!variants[@]}"; do
      printf '    %-40s %6.2f M records/s  cost %5.1f%%  peak %s\n' "${names[$i]}" \
        "$(echo "$count / ${best[$i]} / 1000000" | bc -l)" \
        "$(echo "(${best[$i]} - ${best[0]}) * 100 / ${best[0]}" | bc -l)" "${rss[$i]}"
    done
  done
done
